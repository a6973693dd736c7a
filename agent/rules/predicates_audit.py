"""Host audit (catalogue section 10): auditd running, rules loaded, the paths that must be
watched, and the modes of audit logs, configuration and tools.

Which paths must be watched and which modes the audit files may have are the checks'
YAML (families `audit_watches` and `audit_files_protected`); a watch on a directory
covers everything below it, as auditd applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import StrictBool, StrictStr

from agent.facts.audit import AuditConfig, AuditRule, FileMode
from agent.facts.audit_service import AuditdService
from agent.facts.model import FactValue
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.families import Family, FamilyArgs
from agent.rules.family_file_permissions import Mode
from agent.rules.phrasing import evidence_line, listing, verdict
from agent.rules.verdict import Predicate, Verdict


class AuditWatches(FamilyArgs):
    paths: tuple[StrictStr, ...]  # each must have a -p wa watch (directly or via a watched directory)
    what: StrictStr  # "user and group files", for sentences


class AuditFilesProtected(FamilyArgs):
    files: tuple[Literal["log_dir", "log", "config", "tool"], ...]  # kinds of the audit fact
    mode: Mode  # the loosest mode for files; directories may add search bits (x)
    also_log_group: StrictBool = False  # auditd.conf's log_group counts as a root group
    what: StrictStr


def auditd_running(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """AUD-01: auditd runs now and starts at boot."""
    state = facts.get("auditd")
    if not isinstance(state, AuditdService):
        return verdict(Status.ERROR, "the auditd fact is missing")
    if not state.installed:
        return verdict(Status.NOT_APPLICABLE, "auditd is not installed (audit_auditd_installed reports it)")
    evidence = [
        evidence_line(
            f"running, pid {listing(str(p) for p in state.pids)}" if state.running else "not running",
            "running",
            "/proc/*/comm",
        ),
        evidence_line(state.enabled, "enabled (starts at boot)", "systemctl is-enabled auditd.service"),
    ]
    problems = []
    if not state.running:
        problems.append("auditd is not running: no audit events are written")
    if state.enabled in ("disabled", "masked", "masked-runtime", "linked-runtime"):
        problems.append(f"auditd.service is {state.enabled}: it will not start at boot")
    if problems:
        return verdict(Status.FAIL, "; ".join(problems), evidence)
    return verdict(Status.PASS, f"auditd is running (enabled at boot: {state.enabled})", evidence)


def _audit(facts: Mapping[str, FactValue]) -> AuditConfig | Verdict:
    state = facts.get("audit")
    if not isinstance(state, AuditConfig):
        return verdict(Status.ERROR, "the audit fact is missing")
    if state.rules is None:
        return verdict(Status.ERROR, state.rules_error)
    return state


def audit_rules_loaded(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """AUD-03 / Lynis ACCT-9630: the kernel has audit rules loaded."""
    state = _audit(facts)
    if not isinstance(state, AuditConfig):
        return state
    count = len(state.rules or ())
    evidence = [evidence_line(f"{count} rules loaded", "at least one rule", "auditctl -l")]
    if not count:
        return verdict(Status.FAIL, "no audit rules are loaded (auditctl -l: No rules)", evidence)
    return verdict(Status.PASS, f"{count} audit rules loaded", evidence)


def _covers(rule: AuditRule, path: str, perms: str) -> bool:
    if rule.watch is None or not all(p in rule.perms for p in perms):
        return False
    watched = rule.watch.rstrip("/") or "/"
    # A watch on a directory (-w /etc/audit/, -F dir=) covers everything below it.
    return path == watched or (rule.recursive and path.startswith(watched.rstrip("/") + "/"))


def _watches(facts: Mapping[str, FactValue], paths: tuple[str, ...], what: str) -> Verdict:
    """Every path has a write-and-attribute watch, directly or through a watched ancestor."""
    state = _audit(facts)
    if not isinstance(state, AuditConfig):
        return state
    rules = state.rules or ()
    missing = [p for p in paths if not any(_covers(r, p, "wa") for r in rules)]
    evidence = [
        evidence_line(
            "unwatched: " + listing(missing) if missing else "all watched",
            f"write and attribute watches (-p wa) on {', '.join(paths)}",
            "auditctl -l",
        )
    ]
    if missing:
        return verdict(
            Status.FAIL, f"changes to {what} are not audited: no -p wa watch on {listing(missing)}", evidence
        )
    return verdict(Status.PASS, f"changes to {what} are audited", evidence)


def _modes(args: AuditFilesProtected, facts: Mapping[str, FactValue]) -> Verdict:
    roles, limit, what = args.files, args.mode, args.what
    state = facts.get("audit")
    if not isinstance(state, AuditConfig):
        return verdict(Status.ERROR, "the audit fact is missing")
    entries: list[FileMode] = [e for role in roles for e in state.files_of(role)]
    if not entries:
        return verdict(Status.NOT_APPLICABLE, f"no {what} found on the node")
    allowed_groups = frozenset({"root"})
    if args.also_log_group:  # auditd.conf's log_group may read the logs (CIS-U 6.2.4.3)
        allowed_groups |= {state.setting("log_group").raw or "root"}
    bad = [
        e
        for e in entries
        if e.mode & ~(limit if e.kind != "dir" else (limit | 0o110))
        or e.owner != "root"
        or e.group not in allowed_groups
    ]
    group = "/".join(sorted(allowed_groups))
    expected = f"mode {limit:04o} or stricter (directories {limit | 0o110:04o}), owner root, group {group}"
    evidence = [
        evidence_line(f"{e.mode:04o} {e.owner}:{e.group}", expected, e.path) for e in (bad or entries)[:10]
    ]
    if bad:
        return verdict(Status.FAIL, f"{len(bad)} {what} too open: {listing(e.path for e in bad)}", evidence)
    return verdict(Status.PASS, f"{len(entries)} {what} are protected", evidence)


AUDIT_WATCHES = Family(
    name="audit_watches",
    args=AuditWatches,
    judge=lambda args, facts, node: _watches(facts, args.paths, args.what),
    summary="every listed path has an audit watch for writes and attribute changes",
)
AUDIT_FILES_PROTECTED = Family(
    name="audit_files_protected",
    args=AuditFilesProtected,
    judge=lambda args, facts, node: _modes(args, facts),
    summary="audit logs, configuration or tools are at most a mode, owned by root",
)
AUDIT_PREDICATES: Mapping[str, Predicate] = {
    "auditd_running": auditd_running,
    "audit_rules_loaded": audit_rules_loaded,
}
