"""The `file_permissions` family: Kubernetes files at most a mode, owned by root.

One judging function for every "file X is 0600 or stricter" and "file X is owned by
root:root" check of CIS Kubernetes §1.1 and §4.1. The check's YAML names which files
(a role of the k8s_files fact: what the running processes and the standard locations
say the kubelet config, the PKI, the manifests... are) and the limits:

    assert:
      predicate: file_permissions
      args: {files: kubelet_config, what: kubelet config file, mode: "0600", cis: CIS 4.1.9}

Every file the processes use must satisfy the limits. A file named by a process but
missing is ERROR (never PASS); a role with no file at all is not applicable. A FAIL
names the file, its mode AND owner, who uses it, and, when a parent directory already
keeps users out (kube-bench #1598: a 0644 file in a 0700 directory), says so instead of
hiding the finding: CIS judges the file, the operator decides whether to waive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Literal

from pydantic import BeforeValidator, StrictBool, StrictStr, model_validator

from agent.facts import k8s_files as kf
from agent.facts.k8s_components import KINDS, K8sComponents
from agent.facts.k8s_files import FileRef, K8sFiles, Stat
from agent.facts.kubelet import KubeletConfig
from agent.facts.model import Absent, Unavailable
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.families import Facts, Family, FamilyArgs
from agent.rules.phrasing import bounded_verdict
from agent.rules.verdict import Verdict
from agent.textsafe import printable


def octal_mode(value: object) -> int:
    """A mode is octal text ("0600"; agent/yamlsafe.py keeps an unquoted 0600 a string).
    An integer is refused: 600 is six hundred to YAML and 0o600 hides its digits."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) not in (3, 4):
        raise ValueError('a mode is a quoted octal string such as "0600"')
    if any(ch not in "01234567" for ch in value):
        raise ValueError(f"{value!r} is not octal")
    return int(value, 8)


def one_of(allowed: Sequence[str], what: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"unknown {what} {value!r} (known: {', '.join(allowed)})")
        return value

    return check


Mode = Annotated[int, BeforeValidator(octal_mode)]
FileRole = Annotated[str, BeforeValidator(one_of(kf.ROLES, "file role"))]  # roles of the k8s_files fact
ComponentKind = Annotated[str, BeforeValidator(one_of(KINDS, "component"))]


class OnlyWhere(FamilyArgs):
    """Judge only where the inventory gives the node `role` or one of `running` is found."""

    role: Literal["control-plane", "worker", "etcd"]
    running: tuple[ComponentKind, ...]


class FilePermissions(FamilyArgs):
    files: FileRole  # the k8s_files role to judge
    what: StrictStr  # "kubelet config file", for sentences
    mode: Mode | None = None  # the loosest permission bits allowed for files
    owner: Literal["root", "root:root"] | None = None  # "root": the uid only
    sorts: tuple[Literal["key", "cert"], ...] = ()  # judge only these sorts of files; empty: all
    dir_mode: Mode | None = None  # judge the role's directories against this mode
    dirs_for_owner: StrictBool = False  # directories count for the owner rule (CIS 1.1.19)
    only_where: OnlyWhere | None = None
    cis: StrictStr = ""  # the benchmark wording, quoted in the expectation
    missing_passes_because: StrictStr = ""  # a named file that is missing PASSES, for this reason

    @model_validator(mode="after")
    def _judges_something(self) -> FilePermissions:
        if self.mode is None and self.owner is None and self.dir_mode is None:
            raise ValueError("give at least one of mode, owner, dir_mode")
        return self


def files_fact(facts: Facts) -> K8sFiles | Verdict:
    found = facts.get(kf.FACT)
    if isinstance(found, K8sFiles):
        return found
    if isinstance(found, Unavailable):
        return bounded_verdict(Status.ERROR, f"{kf.FACT}: {found.reason}")
    if isinstance(found, Absent):
        return bounded_verdict(Status.NOT_APPLICABLE, f"{kf.FACT}: {found.reason}")
    return bounded_verdict(Status.ERROR, f"this check needs the {kf.FACT} fact, which was not gathered")


def discovered(facts: Facts, kinds: Sequence[str]) -> bool:
    found = facts.get("k8s_components")
    if isinstance(found, K8sComponents):
        return any(found.get(kind) is not None for kind in kinds)
    files = facts.get(kf.FACT)
    return isinstance(files, K8sFiles) and any(files.running(kind) for kind in kinds)


def only_where(gate: OnlyWhere | None, facts: Facts, node: Node) -> Verdict | None:
    """NOT_APPLICABLE unless the inventory role is given or a component is found."""
    if gate is None or gate.role in node.roles or discovered(facts, gate.running):
        return None
    return bounded_verdict(
        Status.NOT_APPLICABLE,
        f"no {' or '.join(gate.running)} runs here (process or static pod manifest) and the inventory "
        f"does not give this node the {gate.role} role",
    )


def _selected(args: FilePermissions, ref: FileRef) -> bool:
    is_dir = (ref.stat is not None and ref.stat.kind == "dir") or ref.sort == "dir"
    if is_dir:
        return args.dir_mode is not None or args.dirs_for_owner
    return not args.sorts or ref.sort in args.sorts


def _bits(extra: int, *, is_dir: bool) -> str:
    """The permission bits beyond the allowed ones, in words, most dangerous first."""
    verbs = (
        ("writable", 0o2),
        ("listable" if is_dir else "readable", 0o4),
        ("searchable" if is_dir else "executable", 0o1),
    )
    words: list[str] = []
    for who, shift in (("every user", 0), ("its group", 3), ("its owner", 6)):
        granted = [verb for verb, bit in verbs if extra & (bit << shift)]
        if granted:
            words.append(f"{' and '.join(granted)} by {who}")
    if extra & 0o7000:
        words.append("setuid/setgid/sticky set")
    return ", ".join(words) or "more permissive"


def _barrier_note(ref: FileRef) -> str:
    found = ref.barrier()
    if found is None:
        return ""
    path, parent, whom = found
    return (
        f"; note: the parent directory {printable(path, 200)} ({parent.text}) already keeps {whom} out, "
        "so the exposure is limited (CIS judges the file itself: fix it, or waive with that reason)"
    )


def _limit(args: FilePermissions, found: Stat | None) -> int | None:
    return args.dir_mode if found is not None and found.kind == "dir" else args.mode


def _exposed(args: FilePermissions, ref: FileRef) -> bool:
    """Does the mode give group or other users access a parent directory might block?"""
    if ref.stat is None:
        return False
    limit = _limit(args, ref.stat)
    return limit is not None and bool(ref.stat.mode & ~limit & 0o066)


def _owner_ok(owner: str, found: Stat) -> bool:
    if owner == "root":
        return found.uid == 0
    return found.uid == 0 and found.gid == 0


def _expected(args: FilePermissions, ref: FileRef) -> str:
    parts: list[str] = []
    limit = _limit(args, ref.stat)
    if limit is not None:
        parts.append(f"{limit:04o} or stricter")
    if args.owner is not None:
        parts.append("owner root" if args.owner == "root" else "owned by root:root")
    text = ", ".join(parts) or "present"
    return f"{text} ({args.cis})" if args.cis else text


def _problem(args: FilePermissions, ref: FileRef, found: Stat) -> str | None:
    problems: list[str] = []
    limit = _limit(args, found)
    if limit is not None and found.mode & ~limit & 0o7777:
        problems.append(_bits(found.mode & ~limit & 0o7777, is_dir=found.kind == "dir"))
        if args.owner is None and found.uid != 0:
            # The mode check shows the owner too: a non-root owner can loosen the mode at will.
            problems.append(f"its owner {printable(found.owner, 64)} is not root and can change that at will")
    owner_bad = args.owner is not None and not _owner_ok(args.owner, found)
    if found.kind == "dir" and not args.dirs_for_owner and args.dir_mode is None:
        owner_bad = False
    if owner_bad:
        problems.append(f"not owned by {args.owner}")
    if not problems:
        return None
    return f"{ref.shown} is {found.text}: {'; '.join(problems)}"


def file_evidence(ref: FileRef, expected: str) -> Evidence:
    if ref.stat is None:
        observed = f"{ref.shown}: not found"
    else:
        observed = f"{ref.shown}: {ref.stat.text} ({ref.stat.kind})"
    source = f"stat -L {printable(ref.root + ref.path, 300)} on the node; used as: {ref.why}"
    return Evidence(printable(observed, 400), expected, printable(source, 600))


def judge_file_permissions(args: FilePermissions, facts: Facts, node: Node) -> Verdict:
    files = files_fact(facts)
    if isinstance(files, Verdict):
        return files
    gated = only_where(args.only_where, facts, node)
    if gated is not None:
        return gated
    named = [ref for ref in _role_files(args.files, files, facts) if _selected(args, ref)]
    # A file only a container uses (kube-proxy's kubeconfig from its DaemonSet's ConfigMap)
    # is not a file of this node: nothing looks through a container's root (a pod's
    # absolute links would resolve on the host), so it is named, never judged.
    inside = [ref for ref in named if ref.inside]
    chosen = [ref for ref in named if not ref.inside]
    if not chosen and inside:
        ref = inside[0]
        return bounded_verdict(
            Status.NOT_APPLICABLE,
            f"the {args.what} is used only inside a container: {ref.shown}, {ref.why}; it is not a file "
            "of this node (judge it where the pod's volume comes from)",
            [file_evidence(r, "a file on this node") for r in inside],
        )
    if not chosen:
        return bounded_verdict(
            Status.NOT_APPLICABLE, f"no {args.what} on this node{none_found(args.files, files)}"
        )
    missing = [ref for ref in chosen if ref.stat is None]
    problems = [
        (ref, text) for ref in chosen if ref.stat is not None and (text := _problem(args, ref, ref.stat))
    ]
    bad = {id(ref) for ref, _ in problems} | {id(ref) for ref in missing}
    ordered = [ref for ref in chosen if id(ref) in bad] + [ref for ref in chosen if id(ref) not in bad]
    evidence = [file_evidence(ref, _expected(args, ref)) for ref in ordered]
    if problems:
        texts = [text for _, text in problems]
        more = f" (and {len(texts) - 3} more)" if len(texts) > 3 else ""
        notes = dict.fromkeys(_barrier_note(ref) for ref, _ in problems if _exposed(args, ref))
        return bounded_verdict(Status.FAIL, " | ".join(texts[:3]) + more + "".join(notes), evidence)
    if missing and not args.missing_passes_because:
        ref = missing[0]
        return bounded_verdict(
            Status.ERROR,
            f"{ref.shown} is named ({ref.why}) but stat found no such file on the node",
            evidence,
        )
    if missing and len(missing) == len(chosen):
        return bounded_verdict(
            Status.PASS, f"{missing[0].shown} does not exist: {args.missing_passes_because}", evidence
        )
    good = ", ".join(sorted({ref.stat.text for ref in chosen if ref.stat is not None}))
    also = f"; {len(inside)} more used only inside a container, not node files" if inside else ""
    return bounded_verdict(Status.PASS, f"{args.what}: {len(chosen)} checked, {good}{also}", evidence)


def none_found(role: str, files: K8sFiles) -> str:
    owner = kf.OWNER.get(role)
    if owner is not None and files.running(owner):
        return f" (the running {owner} names none)"
    return " (no running process names one and none is at the standard locations)"


def _role_files(role: str, files: K8sFiles, facts: Facts) -> tuple[FileRef, ...]:
    found = files.role(role)
    if role != kf.KUBELET_CLIENT_CA:
        return found
    # The client CA the kubelet really uses: the kubelet fact's effective value when it was
    # gathered (flags > drop-ins > config file, with sources), else the same order here.
    kubelet = facts.get("kubelet")
    wanted: str | None = None
    why = "its effective clientCAFile"
    if isinstance(kubelet, KubeletConfig):
        setting = kubelet.setting("authentication.x509.clientCAFile")
        if setting is not None and isinstance(setting.value, str):
            wanted, why = setting.value, setting.source
    else:
        wanted = _client_ca_by_precedence(files)
    if not wanted:
        return found if not files.running("kubelet") else ()
    matching = tuple(ref for ref in found if ref.path == wanted)
    if matching or not files.running("kubelet"):
        return matching or found
    # The kubelet uses a CA file the node-side scan did not stat: say so (ERROR), never
    # judge another file in its place.
    return (
        FileRef(
            kf.KUBELET_CLIENT_CA, wanted, f"the kubelet's client CA ({why}); not examined", None, named=True
        ),
    )


def _client_ca_by_precedence(files: K8sFiles) -> str | None:
    refs = [r for r in files.refs if r.kind == "kubelet" and r.pid is not None]
    flag = [r for r in refs if r.name == "client-ca-file"]
    if flag:
        return flag[-1].value
    configs = {r.value for r in refs if r.name == "config"}
    in_files = [r for r in refs if r.name == "clientCAFile"]
    in_files.sort(key=lambda r: (r.source not in configs, r.source))  # config file, then drop-ins in order
    return in_files[-1].value if in_files else None


FILE_PERMISSIONS = Family(
    name="file_permissions",
    args=FilePermissions,
    judge=judge_file_permissions,
    summary="every Kubernetes file of one role is at most a mode and/or owned by root",
)
