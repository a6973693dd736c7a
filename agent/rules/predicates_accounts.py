"""Root and system accounts (catalogue §2): one root, no empty root password, a private
/root/.ssh, su restricted, system accounts locked, and no rhosts-style trust files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, StrictStr

from agent.facts.accounts import NOLOGIN_SHELLS, SHELL_EXCEPTIONS, AccountsFact
from agent.facts.model import FactValue
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.families import Family, FamilyArgs
from agent.rules.family_file_permissions import Mode
from agent.rules.privilege_common import ev as _ev
from agent.rules.privilege_common import fail as _fail
from agent.rules.privilege_common import mode_problems as _mode_problems
from agent.rules.verdict import Predicate, Verdict

_AccountsJudge = Callable[[AccountsFact, Node], Verdict]


def _on_accounts(judge: _AccountsJudge) -> Predicate:
    def predicate(facts: Mapping[str, FactValue], node: Node) -> Verdict:
        fact = facts.get("accounts")
        if not isinstance(fact, AccountsFact):
            return Verdict(Status.ERROR, "the accounts fact is not available")
        return judge(fact, node)

    return predicate


def _root_gid(fact: AccountsFact, node: Node) -> Verdict:
    root = fact.account("root")
    if root is None:
        return Verdict(Status.ERROR, "/etc/passwd has no root entry")
    evidence = (_ev(f"gid {root.gid}", "gid 0", f"/etc/passwd:{root.line}"),)
    if root.gid != 0:
        return Verdict(Status.FAIL, f"root's primary group is {root.gid}, not 0", evidence)
    return Verdict(Status.PASS, "root's primary group is 0", evidence)


class OnlyRootHasIdZero(FamilyArgs):
    """Only the entry named root has ID 0 in /etc/passwd (UID) or /etc/group (GID)."""

    database: Literal["passwd", "group"]


def _only_root_has_id_zero(args: OnlyRootHasIdZero, fact: AccountsFact, node: Node) -> Verdict:
    if args.database == "passwd":
        extra = [(a.name, a.line) for a in fact.accounts if a.uid == 0 and a.name != "root"]
        root = fact.account("root")
        where = f"/etc/passwd:{root.line}" if root else "/etc/passwd"
        if extra:
            return _fail(
                [f"{name} has UID 0 and is root under another name" for name, _ in extra],
                [_ev(f"{name} uid 0", "only root has UID 0", f"/etc/passwd:{line}") for name, line in extra],
            )
        return Verdict(Status.PASS, "only root has UID 0", (_ev("root", "only root", where),))
    groups = [(g.name, g.line) for g in fact.groups if g.gid == 0 and g.name != "root"]
    if groups:
        return _fail(
            [f"group {name} has GID 0" for name, _ in groups],
            [
                _ev(f"{name} gid 0", "only group root has GID 0", f"/etc/group:{line}")
                for name, line in groups
            ],
        )
    return Verdict(Status.PASS, "only group root has GID 0", (_ev("root", "only root", "/etc/group"),))


def _root_password(fact: AccountsFact, node: Node) -> Verdict:
    if not fact.shadow_readable:
        return Verdict(Status.ERROR, "/etc/shadow could not be read")
    state = fact.passwords.get("root")
    if state is None:
        return Verdict(Status.ERROR, "/etc/shadow has no entry for root")
    value, line = state
    evidence = (_ev(value, "locked or set", f"/etc/shadow:{line}"),)
    if value == "empty":
        return Verdict(
            Status.FAIL, "root has an empty password: anyone at a console (or su) becomes root", evidence
        )
    words = {"locked": "locked (no password login)", "set": "set (console and su need it)"}
    return Verdict(Status.PASS, f"root's password is {words[value]}", evidence)


ROOT_SSH_PATHS = ("/root/.ssh", "/root/.ssh/authorized_keys", "/root/.ssh/authorized_keys2")  # gathered


def _root_ssh_path(value: object) -> str:
    if value not in ROOT_SSH_PATHS:
        raise ValueError(f"the accounts fact stats only {', '.join(ROOT_SSH_PATHS)}")
    return str(value)


class RootSshModes(FamilyArgs):
    """/root/.ssh and root's authorized keys at most these modes, owned by root."""

    modes: dict[Annotated[str, BeforeValidator(_root_ssh_path)], Mode]


def _root_ssh(args: RootSshModes, fact: AccountsFact, node: Node) -> Verdict:
    paths = {p.path: p for p in fact.paths_of("root_ssh")}
    directory = paths.get("/root/.ssh")
    limit = args.modes.get("/root/.ssh")
    shown = f"{limit:04o} root" if limit is not None else "root's"
    if directory is None:
        return Verdict(
            Status.PASS,
            "/root/.ssh does not exist",
            (_ev("absent", f"{shown} or absent", "/root/.ssh"),),
        )
    reasons: list[str] = []
    evidence: list[Evidence] = []
    for path, limit in args.modes.items():
        state = paths.get(path)
        if state is None:
            continue
        problems = _mode_problems(state.perms, state.uid, 0, limit)
        if state.mode is None:
            problems = ["a dangling symlink"]
        if problems:
            reasons.append(f"{path}: {', '.join(problems)}")
            evidence.append(_ev(f"{state.perms:04o} uid {state.uid}", f"{limit:04o} root", path))
    keys = fact.root_keys
    restricted = sum(1 for k in keys if k.restricted)
    summary = f"root has {len(keys)} authorized key(s), {restricted} restricted by a forced command"
    if reasons:
        return _fail([*reasons, summary], evidence)
    return Verdict(
        Status.PASS,
        f"/root/.ssh is protected; {summary}",
        (_ev(directory.describe(), shown, "/root/.ssh"),),
    )


def _su_restricted(fact: AccountsFact, node: Node) -> Verdict:
    if fact.pam_su is None:
        return Verdict(
            Status.PASS,
            "/etc/pam.d/su does not exist (no su)",
            (_ev("absent", "pam_wheel", "/etc/pam.d/su"),),
        )
    for line in fact.pam_su:
        if (
            line.kind == "auth"
            and line.module == "pam_wheel.so"
            and line.control in ("required", "requisite")
        ):
            args = {a.partition("=")[0]: a.partition("=")[2] for a in line.args}
            if "trust" in args or "deny" in args:
                continue
            # pam_wheel(8): group=, else wheel, else the GID 0 group
            default = (
                "wheel"
                if fact.group("wheel") is not None
                else next((g.name for g in fact.groups if g.gid == 0), "root")
            )
            group_name = args.get("group") or default
            group = fact.group(group_name)
            members = ", ".join(group.members) if group and group.members else "no members"
            return Verdict(
                Status.PASS,
                f"su is limited to group {group_name} ({members})",
                (
                    _ev(
                        f"auth {line.control} pam_wheel.so {' '.join(line.args)}",
                        "pam_wheel.so",
                        f"/etc/pam.d/su:{line.line}",
                    ),
                ),
            )
    return Verdict(
        Status.FAIL,
        "any user who knows the root password can su to root: /etc/pam.d/su has no active pam_wheel line",
        (
            _ev(
                "no auth required pam_wheel.so",
                "auth required pam_wheel.so use_uid group=<admins>",
                "/etc/pam.d/su",
            ),
        ),
    )


def _system_passwords(fact: AccountsFact, node: Node) -> Verdict:
    if not fact.shadow_readable:
        return Verdict(Status.ERROR, "/etc/shadow could not be read")
    offenders = [
        (a, fact.passwords[a.name])
        for a in fact.accounts
        if fact.is_system(a) and a.name in fact.passwords and fact.passwords[a.name][0] != "locked"
    ]
    if offenders:
        return _fail(
            [f"system account {a.name} (uid {a.uid}) has a {state} password" for a, (state, _) in offenders],
            [_ev(f"{a.name}: {state}", "locked", f"/etc/shadow:{line}") for a, (state, line) in offenders],
        )
    count = sum(1 for a in fact.accounts if fact.is_system(a))
    return Verdict(
        Status.PASS,
        f"all {count} system accounts (uid < {fact.uid_min}) have locked passwords",
        (_ev("locked", "locked", fact.uid_min_source),),
    )


def _system_logins(fact: AccountsFact, node: Node) -> Verdict:
    keyed = {p.path for p in fact.paths_of("syskeys")}
    reasons: list[str] = []
    evidence: list[Evidence] = []
    shells: list[str] = []
    for account in fact.accounts:
        if not fact.is_system(account) or account.shell in NOLOGIN_SHELLS or account.name in SHELL_EXCEPTIONS:
            continue
        state = fact.passwords.get(account.name, ("unknown", 0))[0]
        keys = [p for p in keyed if p.startswith(account.home.rstrip("/") + "/.ssh/")]
        if keys or state in ("empty", "set"):
            via = f"authorized keys in {keys[0]}" if keys else f"a {state} password"
            reasons.append(f"system account {account.name} has the shell {account.shell} and {via}")
            evidence.append(
                _ev(f"{account.name}: {account.shell}", "a nologin shell", f"/etc/passwd:{account.line}")
            )
        else:
            shells.append(f"{account.name} ({account.shell}, locked, no keys)")
    if reasons:
        return _fail(reasons, evidence)
    note = f"; shells without a way in: {', '.join(shells)}" if shells else ""
    return Verdict(
        Status.PASS, f"no system account can log in{note}", (_ev("nologin", "nologin", "/etc/passwd"),)
    )


_TRUST_WHY = {
    "hosts.equiv": "users of the hosts it lists may log in without a password",
    "shosts.equiv": "users of the hosts it lists may log in over SSH host-based authentication",
    ".rhosts": "it lets remote users log in as its owner without a password",
    ".shosts": "it lets remote users log in as its owner over SSH host-based authentication",
    ".netrc": "it stores passwords in clear text (never read by nodeward)",
}


class TrustFilesAbsent(FamilyArgs):
    kind: Literal["equiv", "home"]  # /etc/hosts.equiv and shosts.equiv, or files in home directories
    label: StrictStr  # "host-based trust (hosts.equiv)", for sentences


def _trust_files(args: TrustFilesAbsent) -> _AccountsJudge:
    kind, label = args.kind, args.label

    def judge(fact: AccountsFact, node: Node) -> Verdict:
        found = fact.paths_of(kind)
        if found:
            return _fail(
                [f"{p.path} exists: {_TRUST_WHY.get(p.path.rsplit('/', 1)[-1], label)}" for p in found],
                [_ev(p.describe(), "absent", p.path) for p in found],
            )
        return Verdict(Status.PASS, f"no {label} files", (_ev("absent", "absent", "stat on the node"),))

    return judge


def _accounts_family(
    name: str, args: type[FamilyArgs], judge: Callable[[Any, AccountsFact, Node], Verdict], summary: str
) -> Family:
    """A family judged over the accounts fact (ERROR when it is not available)."""
    return Family(
        name,
        args,
        lambda a, facts, node: _on_accounts(lambda fact, n: judge(a, fact, n))(facts, node),
        summary,
    )


ONLY_ROOT_HAS_ID_ZERO = _accounts_family(
    "only_root_has_id_zero",
    OnlyRootHasIdZero,
    _only_root_has_id_zero,
    "only root has UID 0, or only group root has GID 0",
)
ROOT_SSH_MODES = _accounts_family(
    "root_ssh_modes",
    RootSshModes,
    _root_ssh,
    "/root/.ssh and root's authorized keys are root's and at most a mode",
)
TRUST_FILES_ABSENT = _accounts_family(
    "trust_files_absent",
    TrustFilesAbsent,
    lambda args, fact, node: _trust_files(args)(fact, node),
    "no rhosts-style trust or stored-password files of one kind exist",
)
ACCOUNTS_PREDICATES: Mapping[str, Predicate] = {
    "accounts_root_gid_zero": _on_accounts(_root_gid),
    "accounts_root_password_not_empty": _on_accounts(_root_password),
    "accounts_su_restricted": _on_accounts(_su_restricted),
    "accounts_system_accounts_password_locked": _on_accounts(_system_passwords),
    "accounts_system_accounts_no_login": _on_accounts(_system_logins),
}
