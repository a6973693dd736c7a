"""Privileged access through sudo (catalogue §3); root and system accounts are predicates_accounts.py.

Every sudo judgement reads the assembled policy (agent/facts/sudoers/fact.py), never raw text:
a NOPASSWD finding names the file and line of the rule sudo actually applies, a rule in a
file sudo skips (`x.conf` in sudoers.d) is reported as skipped rather than as a privilege,
and a later `Defaults` line that restores a value is honoured (sudo applies Defaults in
file order). Checks whose answer depends on rules nodeward cannot see — a policy also
served from sss/ldap (nsswitch.conf), or a file the gather did not ship — find what the
files show and otherwise return ERROR, never PASS.

Inventory variables (Node.vars) that tune the judgements:
  sudo_nopasswd_allowed: [scanner, "%automation"]  users/%groups whose passwordless rules are intended
  sudo_root_allowed:     [alice, "%ops"]           principals approved to hold root, besides the
                                                   distro admin groups, root and the scan account
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import StrictBool, StrictStr, model_validator

from agent.facts.model import FactValue
from agent.facts.sudoers.fact import ADMIN_GROUPS, Evaluator, Grant, SudoersFact
from agent.facts.sudoers.parse_file import DefaultsEntry
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.families import Family, FamilyArgs
from agent.rules.family_file_permissions import Mode
from agent.rules.privilege_common import MAX_EVIDENCE
from agent.rules.privilege_common import ev as _ev
from agent.rules.privilege_common import fail as _fail
from agent.rules.privilege_common import mode_problems as _mode_problems
from agent.rules.verdict import Predicate, Verdict

_SudoJudge = Callable[[SudoersFact, Node], Verdict]


def _on_sudo(judge: _SudoJudge, *, needs_policy: bool = True) -> Predicate:
    def predicate(facts: Mapping[str, FactValue], node: Node) -> Verdict:
        fact = facts.get("sudoers")
        if not isinstance(fact, SudoersFact):
            return Verdict(Status.ERROR, "the sudoers fact is not available")
        if needs_policy and not fact.installed:
            return Verdict(Status.NOT_APPLICABLE, "sudo is not installed")
        if needs_policy and fact.policy.disabled:
            return Verdict(
                Status.FAIL,
                fact.policy.disabled,
                (_ev(fact.policy.disabled, "a policy sudo reads", fact.main),),
            )
        return judge(fact, node)

    return predicate


def _names(node: Node, key: str) -> tuple[frozenset[str], str | None]:
    """An inventory list of user and %group names (case-insensitive), or why it is wrong."""
    raw = node.vars.get(key, [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple) or not all(isinstance(item, str) for item in raw):
        return frozenset(), f"the inventory variable {key} must be a list of user or %group names"
    return frozenset(str(item).casefold() for item in raw), None


def _blind_spot(fact: SudoersFact) -> str | None:
    """Why the files shown may not be the whole policy (so a clean result is not a PASS)."""
    if fact.policy.dropped:
        # sudo's error recovery keeps what it parsed of a broken line: "bob ALL=(ALL) ALL,
        # NOPASSWORD: ALL" still grants (ALL) ALL; nodeward drops the whole line.
        return f"the policy has a syntax error sudo partly recovers from: {fact.policy.dropped[0]}"
    if fact.policy.uncollected:
        return f"parts of the policy were not collected: {', '.join(fact.policy.uncollected[:3])}"
    if fact.external_sources:
        sources = ", ".join(fact.external_sources)
        return f"nsswitch.conf also reads sudo rules from {sources}, which nodeward cannot see"
    return None


def _clean(fact: SudoersFact, reason: str, evidence: Sequence[Evidence] = ()) -> Verdict:
    blind = _blind_spot(fact)
    if blind is not None:
        return Verdict(Status.ERROR, f"no finding in the local files, but {blind}", tuple(evidence))
    return Verdict(Status.PASS, reason, tuple(evidence))


def _members(fact: SudoersFact, principal: str) -> str:
    if not principal.startswith("%") or principal.startswith(("%#", "%:")):
        return ""
    group = fact.groups.get(principal[1:])
    if group is None:
        return ""
    primary = [name for name, _, gid, _ in fact.accounts if group.gid is not None and gid == group.gid]
    members = sorted(set(group.members) | set(primary))
    return f" (members: {', '.join(members) or 'none'})"


def _granted_to(grant: Grant) -> list[str]:
    """The principals a rule hands privileges to (negated items only carve exceptions)."""
    return [p for p in grant.principals if not p.startswith("!")]


def _scan_account_note(fact: SudoersFact, principal: str, key: str) -> str:
    user = fact.scan_user
    if not user:
        return ""
    is_scan = principal.casefold() == user.casefold() or (
        principal.startswith("%") and principal[1:] in fact.scan_groups
    )
    if not is_scan:
        return ""
    return (
        f" ({principal} is how nodeward's scan account {user} gets root; if that is intended, "
        f"add {principal!r} to the inventory variable {key})"
    )


# --------------------------------------------------------------------------- SUDO-01, -02


def _installed(fact: SudoersFact, node: Node) -> Verdict:
    if fact.installed:
        return Verdict(
            Status.PASS,
            f"sudo {fact.version or ''} is installed at {fact.sudo_path}",
            (_ev(fact.sudo_path, "sudo installed", "command -v sudo"),),
        )
    return Verdict(
        Status.FAIL,
        "sudo is not installed: administrators need root logins or a shared root password",
        (_ev("no sudo on PATH", "sudo installed", "command -v sudo"),),
    )


def _policy_valid(fact: SudoersFact, node: Node) -> Verdict:
    visudo = fact.visudo
    ours = list(fact.policy.errors)
    if visudo is not None and visudo.exit_code is None:
        return Verdict(Status.ERROR, "visudo -c's output was cut off before its exit status")
    if visudo is not None and not visudo.syntax_ok:
        evidence = [_ev(line, "no error", "visudo -c") for line in visudo.syntax[:MAX_EVIDENCE]]
        first = visudo.syntax[0] if visudo.syntax else f"exit {visudo.exit_code}"
        return _fail([f"visudo -c rejects the policy: {first}"], evidence)
    if visudo is None and ours:
        evidence = [_ev(error, "no error", error.split(": ", 1)[0]) for error in ours[:MAX_EVIDENCE]]
        return _fail([f"the policy has errors (visudo is not installed to confirm): {ours[0]}"], evidence)
    read = ", ".join(fact.policy.read)
    note = ""
    if ours:
        note = f"; nodeward's parser disagrees and reports: {ours[0]}"
    source = "visudo -c" if visudo is not None else "nodeward's sudoers parser"
    return Verdict(
        Status.PASS, f"{source} accepts the policy ({read}){note}", (_ev("parsed OK", "parsed OK", source),)
    )


# --------------------------------------------------------------------------- SUDO-03


class SudoersModes(FamilyArgs):
    """The policy files at most `file_mode` and the included directories at most
    `dir_mode`, owned by root (CIS, SSG file_permissions_sudoers*). Two weights: a file
    or directory others can write (or another user owns) decides what sudo grants; a
    mode above CIS's 0440/0750 with nothing writable is hygiene."""

    file_mode: Mode
    dir_mode: Mode | None = None  # judged by the includes checks only
    root_group: StrictBool = True  # the group must be root too (not only the owner)

    @property
    def owner(self) -> str:
        return "root:root" if self.root_group else "owned by root"


def _main_file_permissions(args: SudoersModes, fact: SudoersFact, node: Node) -> Verdict:
    info = fact.files.get(fact.main)
    if info is None or not info.exists:
        return Verdict(Status.ERROR, f"{fact.main} was not found")
    problems = _mode_problems(info.perms, info.uid, info.gid, args.file_mode, root_group=args.root_group)
    evidence = _ev(
        f"{info.perms:04o} uid {info.uid} gid {info.gid}", f"{args.file_mode:04o} {args.owner}", fact.main
    )
    if problems:
        return Verdict(Status.FAIL, f"{fact.main}: {', '.join(problems)}", (evidence,))
    return Verdict(Status.PASS, f"{fact.main} is {info.perms:04o} root:root", (evidence,))


def _include_permissions(args: SudoersModes, fact: SudoersFact, node: Node) -> Verdict:
    reasons: list[str] = []
    evidence: list[Evidence] = []
    checked = 0
    for use in fact.policy.includes:
        if use.directive.is_dir:
            info = fact.dirs.get(use.resolved)
            if info is None or not info.exists:
                continue
            checked += 1
            if args.dir_mode is None:
                continue
            problems = _mode_problems(
                info.perms, info.uid, info.gid, args.dir_mode, root_group=args.root_group
            )
            if problems:
                why = info.insecure()
                ignored = f" — sudo ignores the whole directory ({why})" if why else ""
                reasons.append(f"{use.resolved}/: {', '.join(problems)}{ignored}")
                evidence.append(
                    _ev(
                        f"{info.perms:04o} uid {info.uid} gid {info.gid}",
                        f"{args.dir_mode:04o} or stricter, {args.owner}",
                        use.resolved,
                    )
                )
    for path, info in fact.files.items():
        if path == fact.main or not info.exists or info.role == "ignored":
            continue  # names sudo skips are reported by sudo_no_ignored_include_files
        if not info.is_regular:
            continue
        checked += 1
        problems = _mode_problems(info.perms, info.uid, info.gid, args.file_mode, root_group=args.root_group)
        if problems:
            why = info.insecure()
            effect = (
                f" — sudo skips it ({why}), but anyone who can write it decides what it will grant"
                if why
                else ""
            )
            if info.perms & 0o002:
                effect = " — world writable: any user can write rules into it, which apply once it is fixed"
            reasons.append(f"{path}: {', '.join(problems)}{effect}")
            evidence.append(
                _ev(
                    f"{info.perms:04o} uid {info.uid} gid {info.gid}",
                    f"{args.file_mode:04o} or stricter, {args.owner}",
                    path,
                )
            )
    if reasons:
        return _fail(reasons, evidence)
    return Verdict(
        Status.PASS, f"{checked} included files and directories are root-owned and not writable by others"
    )


# --------------------------------------------------------------------------- SUDO-04, -05


def _nopasswd(fact: SudoersFact, node: Node) -> Verdict:
    allowed, problem = _names(node, "sudo_nopasswd_allowed")
    if problem:
        return Verdict(Status.ERROR, problem)
    evaluator = fact.evaluator()
    reasons: list[str] = []
    evidence: list[Evidence] = []
    waived: list[str] = []
    for grant in evaluator.grants(root_only=False):
        if not grant.nopasswd:
            continue
        for principal in _granted_to(grant):
            what = (
                f"{principal} may run {', '.join(grant.commands)[:120]} as {grant.runas} without a password"
            )
            if principal.casefold() in allowed:
                waived.append(f"{principal} ({grant.source})")
                continue
            reasons.append(
                f"{what} ({grant.source}){_members(fact, principal)}"
                + _scan_account_note(fact, principal, "sudo_nopasswd_allowed")
            )
            evidence.append(_ev(f"{principal}: NOPASSWD", "a password for every sudo rule", grant.source))
    if reasons:
        return _fail(reasons, evidence)
    if waived:
        shown = [
            _ev(w, "allow-listed in sudo_nopasswd_allowed", w.rsplit("(", 1)[-1].rstrip(")")) for w in waived
        ]
        return _clean(
            fact, f"only allow-listed accounts run commands without a password: {', '.join(waived)}", shown
        )
    return _clean(fact, "no rule grants commands without a password")


def _later_restores(
    entries: Sequence[DefaultsEntry], index: int, good: Callable[[DefaultsEntry], bool]
) -> bool:
    """A later global Defaults line with a good value wins over an earlier scoped one: sudo
    applies global, host, user and runas Defaults in one pass, in file order."""
    entry = entries[index]
    if entry.scope == "cmnd":
        return False  # command Defaults are applied after all others
    return any(e.name == entry.name and e.scope == "global" and good(e) for e in entries[index + 1 :])


def _binding(evaluator: Evaluator, entry: DefaultsEntry) -> str:
    if entry.scope == "global":
        return "everyone"
    kind = {"user": "User_Alias", "runas": "Runas_Alias", "host": "Host_Alias", "cmnd": "Cmnd_Alias"}[
        entry.scope
    ]
    what = ", ".join(evaluator.expand(kind, entry.binding))
    return {
        "user": f"users {what}",
        "runas": f"commands run as {what}",
        "host": f"hosts {what}",
        "cmnd": f"the commands {what}",
    }[entry.scope]


def _weakened(
    fact: SudoersFact, name: str, bad: Callable[[DefaultsEntry], bool], good: Callable[[DefaultsEntry], bool]
) -> list[tuple[DefaultsEntry, str]]:
    """Defaults entries that set `name` to a bad value for someone, and are not undone."""
    evaluator = fact.evaluator()
    entries = fact.policy.defaults
    found = []
    for index, entry in enumerate(entries):
        if entry.name != name or not bad(entry):
            continue
        if entry.scope == "host" and evaluator.binds(entry, None, None, None) is not True:
            continue
        if _later_restores(entries, index, good):
            continue
        found.append((entry, _binding(evaluator, entry)))
    return found


def _authenticate(fact: SudoersFact, node: Node) -> Verdict:
    allowed, problem = _names(node, "sudo_nopasswd_allowed")
    if problem:
        return Verdict(Status.ERROR, problem)
    reasons: list[str] = []
    evidence: list[Evidence] = []
    evaluator = fact.evaluator()
    off = _weakened(fact, "authenticate", lambda e: e.op == "false", lambda e: e.op == "true")
    for entry, who in off:
        principals = evaluator.expand("User_Alias", entry.binding) if entry.scope == "user" else []
        if principals and all(p.casefold() in allowed for p in principals if not p.startswith("!")):
            continue
        notes = "".join(_scan_account_note(fact, p, "sudo_nopasswd_allowed") for p in principals)
        members = "".join(_members(fact, p) for p in principals)
        reasons.append(f"!authenticate for {who}{members} ({entry.where}){notes}")
        evidence.append(_ev("!authenticate", "authenticate", str(entry.where)))
    exempt = _weakened(fact, "exempt_group", lambda e: e.op == "=", lambda e: e.op == "false")
    for entry, who in exempt:
        group = (entry.value or "").lstrip("%")
        if f"%{group}".casefold() in allowed:
            continue
        reasons.append(
            f"exempt_group={group} for {who} ({entry.where}): its members never authenticate"
            + _members(fact, "%" + group)
        )
        evidence.append(_ev(f"exempt_group={group}", "no exempt_group", str(entry.where)))
    if reasons:
        return _fail(reasons, evidence)
    setting = evaluator.setting("authenticate")
    return _clean(
        fact,
        "sudo asks for a password unless a rule says NOPASSWD",
        (_ev("authenticate", "authenticate", setting.source),),
    )


# --------------------------------------------------------------------------- SUDO-06..08, -11


class SudoDefault(FamilyArgs):
    """A sudo Defaults option, judged for everyone it applies to (global and scoped lines):
    `{option: use_pty, require: "on"}`, `{option: timestamp_timeout, require: minutes,
    minutes: [0, 15]}`, `{option: logfile, require: set}`, `{option: secure_path,
    require: absolute_dirs}`."""

    option: StrictStr
    require: Literal["on", "set", "absolute_dirs", "minutes"]
    minutes: tuple[int, int] | None = None  # the allowed range, for require `minutes`
    expected: StrictStr  # what a good policy says, in the evidence

    @model_validator(mode="after")
    def _range(self) -> SudoDefault:
        if (self.require == "minutes") != (self.minutes is not None):
            raise ValueError("`minutes: [low, high]` goes with require `minutes`, and only with it")
        if self.minutes is not None and self.minutes[0] > self.minutes[1]:
            raise ValueError("minutes: the low end is above the high end")
        return self


def _requirement(args: SudoDefault) -> tuple[Callable[[object], bool], Callable[[object], str]]:
    """(is this value good, how to show a value) for the option's requirement."""
    if args.require == "on":
        return (lambda v: v is True), _flag_text
    if args.require == "set":
        return (lambda v: isinstance(v, str) and bool(v)), _text_or_unset
    if args.require == "absolute_dirs":
        return _secure_path_ok, _text_or_unset
    low, high = args.minutes or (0, 0)
    return (lambda v: isinstance(v, float | int) and low <= float(v) <= high), _timeout_text


def _option(args: SudoDefault) -> _SudoJudge:
    name, expected = args.option, args.expected
    ok, describe = _requirement(args)

    def bad_entry(entry: DefaultsEntry) -> bool:
        # A negated flag (!use_pty) is bad for a flag; for a value option, its value decides.
        if args.require in ("on", "set"):
            return entry.op == "false"
        return not ok(_entry_value(entry))

    def judge(fact: SudoersFact, node: Node) -> Verdict:
        evaluator = fact.evaluator()
        setting = evaluator.setting(name)
        reasons: list[str] = []
        evidence: list[Evidence] = []
        if not ok(setting.value):
            reasons.append(f"{name} is {describe(setting.value)} ({setting.source})")
            evidence.append(_ev(describe(setting.value), expected, setting.source))

        def good(entry: DefaultsEntry) -> bool:
            return not bad_entry(entry)

        for entry, who in _weakened(fact, name, bad_entry, good):
            if entry.scope == "global":
                continue  # the effective global value above already says it
            shown = describe(_entry_value(entry))
            reasons.append(f"{name} is {shown} for {who} ({entry.where})")
            evidence.append(_ev(shown, expected, str(entry.where)))
        if reasons:
            return _fail(reasons, evidence)
        blind = _blind_spot(fact)
        if blind is not None:
            return Verdict(
                Status.ERROR, f"{name} is {describe(setting.value)} as far as nodeward can see, but {blind}"
            )
        return Verdict(
            Status.PASS,
            f"{name} is {describe(setting.value)} ({setting.source})",
            (_ev(describe(setting.value), expected, setting.source),),
        )

    return judge


def _sudo_family(
    name: str, args: type[FamilyArgs], judge: Callable[[Any, SudoersFact, Node], Verdict], summary: str
) -> Family:
    """A family judged over the sudoers fact, with the same not-installed and
    policy-disabled answers as the named sudo predicates."""
    return Family(
        name, args, lambda a, facts, node: _on_sudo(lambda fact, n: judge(a, fact, n))(facts, node), summary
    )


SUDOERS_MAIN_FILE_MODE = _sudo_family(
    "sudoers_main_file_mode",
    SudoersModes,
    _main_file_permissions,
    "the main sudoers file is root:root and at most a mode",
)
SUDOERS_INCLUDES_MODE = _sudo_family(
    "sudoers_includes_mode",
    SudoersModes,
    _include_permissions,
    "every included sudoers file and directory is root:root and at most a mode",
)
SUDO_DEFAULT = _sudo_family(
    "sudo_default",
    SudoDefault,
    lambda args, fact, node: _option(args)(fact, node),
    "a sudo Defaults option is on, set, absolute or in range for everyone it applies to",
)


def _entry_value(entry: DefaultsEntry) -> object:
    if entry.op == "true":
        return True
    if entry.op == "false":
        return (
            0.0
            if entry.name == "timestamp_timeout"
            else None
            if entry.name in ("logfile", "secure_path")
            else False
        )
    if entry.name == "timestamp_timeout" and entry.value is not None:
        try:
            return float(entry.value)
        except ValueError:
            return entry.value
    return entry.value


def _flag_text(value: object) -> str:
    return "on" if value is True else "off"


def _timeout_text(value: object) -> str:
    if isinstance(value, float | int):
        minutes = float(value)
        return f"{minutes:g} minutes" + (" (never expires)" if minutes < 0 else "")
    return str(value)


def _secure_path_ok(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    return all(part.startswith("/") for part in value.split(":"))


def _text_or_unset(value: object) -> str:
    return str(value) if isinstance(value, str) and value else "not set"


# --------------------------------------------------------------------------- SUDO-09, -10


def _approved(fact: SudoersFact, node: Node) -> tuple[frozenset[str], str | None]:
    extra, problem = _names(node, "sudo_root_allowed")
    base = {"root", *(f"%{g}" for g in ADMIN_GROUPS)}
    if fact.scan_user:
        base.add(fact.scan_user)
    return frozenset(n.casefold() for n in base) | extra, problem


def _root_grants(fact: SudoersFact, node: Node) -> Verdict:
    approved, problem = _approved(fact, node)
    if problem:
        return Verdict(Status.ERROR, problem)
    reasons: list[str] = []
    evidence: list[Evidence] = []
    inventory: list[str] = []
    for grant in fact.evaluator().grants():
        auth = "without a password" if grant.nopasswd else "with a password"
        scope = "any command" if grant.all_commands else ", ".join(grant.commands)[:100]
        for principal in _granted_to(grant):
            line = f"{principal}{_members(fact, principal)}: {scope} as {grant.runas} {auth} ({grant.source})"
            inventory.append(line)
            if principal.casefold() in approved:
                continue
            everyone = " — every user on the node" if principal == "ALL" else ""
            reasons.append(f"{principal} can run {scope} as root{everyone} ({grant.source})")
            evidence.append(
                _ev(f"{principal}: {scope} as {grant.runas}", "only approved principals", grant.source)
            )
    if reasons:
        verdict = _fail(reasons, evidence)
        return Verdict(
            verdict.status, verdict.reason + ". Root-capable: " + "; ".join(inventory)[:600], verdict.evidence
        )
    shown = "; ".join(inventory) or "nobody"
    return _clean(
        fact,
        f"root-capable principals: {shown}"[:900],
        [_ev(i, "approved", i.rsplit("(", 1)[-1].rstrip(")")) for i in inventory[:MAX_EVIDENCE]],
    )


def _no_negation(fact: SudoersFact, node: Node) -> Verdict:
    evaluator = fact.evaluator()
    reasons: list[str] = []
    evidence: list[Evidence] = []
    for privilege in evaluator.root_privileges():
        allowed = [c for c in privilege.commands if not c.startswith("!")]
        excluded = [c for c in privilege.commands if c.startswith("!")]
        if not allowed or not excluded:
            continue
        principals = ", ".join(p for p in privilege.principals if not p.startswith("!")) or "nobody"
        reasons.append(
            f"{principals} may run {', '.join(allowed)[:80]} as root except {', '.join(excluded)[:80]}: "
            f"copying or renaming the program gets around the exclusion ({privilege.source})"
        )
        evidence.append(
            _ev(", ".join(privilege.commands)[:200], "commands listed positively", privilege.source)
        )
    if reasons:
        return _fail(reasons, evidence)
    return _clean(fact, "no root-capable rule excludes commands with '!'")


def _default_includes(fact: SudoersFact, node: Node) -> Verdict:
    reasons: list[str] = []
    evidence: list[Evidence] = []
    main = fact.main
    default_dir = main.rsplit("/", 1)[0] + "/sudoers.d"
    for use in fact.policy.includes:
        where = use.directive.where
        if use.directive.is_dir and use.resolved == default_dir and where.file == main:
            continue
        reasons.append(f"{use.directive.directive} {use.resolved} ({where})")
        evidence.append(
            _ev(
                f"{use.directive.directive} {use.resolved}",
                f"only #includedir {default_dir} in {main}",
                str(where),
            )
        )
    if reasons:
        return _fail(reasons, evidence)
    return Verdict(Status.PASS, f"the only include is {default_dir}", (_ev(default_dir, default_dir, main),))


def _ignored_files(fact: SudoersFact, node: Node) -> Verdict:
    reasons: list[str] = []
    evidence: list[Evidence] = []
    for ignored in fact.policy.ignored:
        rules = f", with {ignored.rules} rule(s) that do NOT apply" if ignored.rules else ""
        reasons.append(f"sudo ignores {ignored.path}: {ignored.reason}{rules}")
        evidence.append(
            _ev(f"{ignored.path} skipped", "every file in an include directory is read", ignored.path)
        )
    if reasons:
        return _fail(reasons, evidence)
    return Verdict(Status.PASS, f"sudo reads every file present: {', '.join(fact.policy.read)}")


SUDO_PREDICATES: Mapping[str, Predicate] = {
    "sudo_installed": _on_sudo(_installed, needs_policy=False),
    "sudo_policy_valid": _on_sudo(_policy_valid),
    "sudo_nopasswd_not_used": _on_sudo(_nopasswd),
    "sudo_authentication_not_disabled": _on_sudo(_authenticate),
    "sudo_root_grants_approved": _on_sudo(_root_grants),
    "sudo_no_command_negation": _on_sudo(_no_negation),
    "sudo_includes_default_only": _on_sudo(_default_includes),
    "sudo_no_ignored_include_files": _on_sudo(_ignored_files),
}
