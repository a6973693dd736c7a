"""Named predicates for patch level, kernel, MAC and audit (catalogue sections 5, 9, 10).

Each judges what one comparison cannot: "no pending security updates" is only worth
a PASS when the package metadata is recent, the kernel check needs version ordering
and the "not applicable" case of a kernel supplied from outside the node, audit
watches cover a path through any watched ancestor directory, and file modes are
judged across every file of a kind. predicates.py merges PATCH_PREDICATES into the
one registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from agent.facts.audit import AuditConfig, AuditRule, FileMode
from agent.facts.audit_service import AuditdService
from agent.facts.kernel import KernelState
from agent.facts.mac import MacState
from agent.facts.model import FactValue
from agent.facts.packages_model import DAY, PackageState
from agent.facts.system import SystemInfo
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.verdict import Predicate, Verdict
from agent.textsafe import render_value

# Debian's and Ubuntu's security archives republish their Release files at least daily
# and apt-daily.timer refreshes twice a day: metadata a week old means the node cannot
# see a week of advisories, so "nothing pending" from it is not worth a PASS.
MAX_METADATA_AGE_DAYS = 7

KUBERNETES_PACKAGES = ("kubelet", "kubeadm", "kubectl")
IDENTITY_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/security/opasswd")
SUDOERS_FILES = ("/etc/sudoers", "/etc/sudoers.d")
KUBERNETES_PATHS = ("/etc/kubernetes",)
MAC_OFF_ARGS = ("selinux", "apparmor", "enforcing")  # `<name>=0` switches MAC off at boot


def _verdict(status: Status, reason: str, evidence: Iterable[Evidence] = ()) -> Verdict:
    return Verdict(status, reason, tuple(evidence))


def _evidence(observed: object, expected: str, source: str) -> Evidence:
    return Evidence(render_value(observed, 300) or "(empty)", expected, source or "nodeward")


def _listing(items: Iterable[str], limit: int = 8) -> str:
    shown = list(items)
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def _ago(seconds: int) -> str:
    if seconds < 2 * 3600:
        return f"{seconds // 60} minutes ago"
    if seconds < 2 * DAY:
        return f"{seconds // 3600} hours ago"
    return f"{seconds // DAY} days ago"


# ------------------------------------------------------------------ patch level


def security_updates_applied(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """PATCH-01..03: no pending security update; WARN when "none" cannot be trusted."""
    state = facts.get("packages")
    if not isinstance(state, PackageState):
        return _verdict(Status.ERROR, "the packages fact is missing")
    pending = state.security_updates
    age, chosen = state.metadata_age()
    where = f"{state.metadata_source} ({chosen.path})" if chosen and chosen.path else state.metadata_source
    age_text = "unknown" if age is None else f"refreshed {_ago(age)}"
    evidence = [
        _evidence(
            f"{len(pending)} pending: {_listing(u.describe() for u in pending)}"
            if pending
            else "none pending",
            "no pending security updates",
            state.updates_source,
        ),
        _evidence(f"package metadata {age_text}", f"refreshed within {MAX_METADATA_AGE_DAYS} days", where),
    ]
    if pending:
        why = "" if state.classified else f" ({state.manager} cannot tell security updates apart: all count)"
        stale = (
            f"; the metadata is {age_text}, so more may be missing"
            if age and age > MAX_METADATA_AGE_DAYS * DAY
            else ""
        )
        reason = f"{len(pending)} security update(s) pending{why}: {_listing(u.describe() for u in pending)}"
        return _verdict(Status.FAIL, reason + stale, evidence)
    doubts = list(state.notes)
    if state.sources_never_fetched:
        doubts.append(f"metadata was never downloaded for {_listing(state.sources_never_fetched, 4)}")
    if not state.sources and not state.sources_never_fetched:
        doubts.append("no repository metadata was found on the node")
    if state.sources and age is None:
        doubts.append("the metadata age could not be read")
    elif age is not None and age > MAX_METADATA_AGE_DAYS * DAY:
        doubts.append(f"the package metadata was {age_text}")
    if state.manager == "apt" and state.sources and not state.security_sources:
        doubts.append(
            "no security archive (a '-security' suite) is configured, so security updates are invisible"
        )
    if doubts:
        return _verdict(
            Status.WARN,
            "no pending security updates reported, but that cannot be trusted: " + "; ".join(doubts),
            evidence,
        )
    return _verdict(Status.PASS, f"no pending security updates; package metadata {age_text}", evidence)


def kubernetes_packages_held(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """PATCH-05: kubelet/kubeadm/kubectl held, as kubeadm's install guide does it."""
    state = facts.get("packages")
    if not isinstance(state, PackageState):
        return _verdict(Status.ERROR, "the packages fact is missing")
    if state.manager != "apt":
        return _verdict(
            Status.NOT_APPLICABLE, f"package holds are checked for apt; this node uses {state.manager}"
        )
    installed = [name for name, _ in state.installed if name in KUBERNETES_PACKAGES]
    if not installed:
        return _verdict(Status.NOT_APPLICABLE, "kubelet, kubeadm and kubectl are not installed as packages")
    loose = [name for name in installed if name not in state.held]
    evidence = [
        _evidence(
            f"held: {_listing(n for n in installed if n in state.held) or 'none'}; "
            f"not held: {_listing(loose) or 'none'}",
            f"{', '.join(installed)} on hold",
            "dpkg-query -W kubelet kubeadm kubectl; dpkg selections (hold)",
        )
    ]
    if loose:
        reason = (
            f"{_listing(loose)} not on hold: an `apt upgrade` or unattended-upgrades can move them past "
            "the version skew the control plane supports"
        )
        return _verdict(Status.FAIL, reason, evidence)
    return _verdict(Status.PASS, f"{', '.join(installed)} are on hold", evidence)


# ------------------------------------------------------------------ kernel and reboot


def kernel_running_newest(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """PATCH-04 / Lynis KRNL-5830: the node runs the newest kernel it has installed."""
    state = facts.get("kernel")
    if not isinstance(state, KernelState):
        return _verdict(Status.ERROR, "the kernel fact is missing")
    if not state.installed:
        return _verdict(
            Status.NOT_APPLICABLE,
            f"no installed kernel found (dpkg, rpm, /boot): kernel {state.running} is supplied from outside "
            "the node (container or externally booted VM)",
        )
    newest = state.newest or state.installed[0]
    behind = state.newer_than_running()
    running = f"{state.running} ({state.running_build})" if state.running_build else state.running
    expected_kernel = behind[0] if behind else newest
    expected_text = (
        f"{expected_kernel.release} build {expected_kernel.version}"
        if behind and expected_kernel.release == state.running
        else expected_kernel.release
    )
    evidence = [
        _evidence(
            running, f"running the newest installed kernel, {expected_text}", f"uname -r -v; {newest.source}"
        )
    ]
    if behind is not None:
        return _verdict(Status.FAIL, f"{behind[1]}: reboot into it to apply its fixes", evidence)
    return _verdict(
        Status.PASS, f"running {state.running}, the newest of {len(state.installed)} installed", evidence
    )


def reboot_not_required(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """PATCH-04: no package update waits for a reboot (flag files, needs-restarting)."""
    state = facts.get("kernel")
    if not isinstance(state, KernelState):
        return _verdict(Status.ERROR, "the kernel fact is missing")
    required = [s for s in state.signals if s.required is True]
    evidence = [
        _evidence(
            "reboot required"
            if s.required
            else ("no reboot needed" if s.required is False else f"unknown: {s.detail}"),
            "no reboot pending",
            s.source + (f" ({s.detail})" if s.detail and s.required else ""),
        )
        for s in state.signals
    ]
    if required:
        details = "; ".join(f"{s.source}" + (f" ({s.detail})" if s.detail else "") for s in required)
        return _verdict(Status.FAIL, f"a reboot is pending: {details}", evidence)
    if any(s.required is False for s in state.signals):
        return _verdict(Status.PASS, "no reboot pending", evidence)
    system = facts.get("system")
    family = system.os_family if isinstance(system, SystemInfo) else ""
    unknown = [s for s in state.signals if s.required is None]
    if family in ("debian", "suse") and not unknown:
        # Their package tools create the flag file when an update needs a reboot; no
        # flag is the documented "nothing pending" (Lynis KRNL-5830 reads it the same).
        flag = "/var/run/reboot-required" if family == "debian" else "/run/reboot-needed"
        evidence.append(_evidence("absent", "absent", flag))
        return _verdict(Status.PASS, f"no reboot pending ({flag} is absent)", evidence)
    why = "; ".join(f"{s.source}: {s.detail}" for s in unknown) or (
        "no reboot signal available (install dnf-utils / yum-utils for needs-restarting)"
    )
    evidence.append(_evidence("cannot tell", "no reboot pending", "needs-restarting -r"))
    return _verdict(Status.WARN, f"cannot tell whether a reboot is pending: {why}", evidence)


# ------------------------------------------------------------------ MAC


def mac_framework_enforcing(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """MAC-01/MAC-05: SELinux enforcing, or AppArmor enabled with profiles enforcing."""
    state = facts.get("mac")
    if not isinstance(state, MacState):
        return _verdict(Status.ERROR, "the mac fact is missing")
    se, aa = state.selinux, state.apparmor
    enforced = len(aa.names_in("enforce"))
    evidence = [
        _evidence(se.mode, "enforcing (or AppArmor below)", se.mode_source),
        _evidence(
            f"{'enabled' if aa.enabled else 'disabled'}, {enforced} of {len(aa.profiles)} profiles enforcing",
            "enabled with profiles in enforce mode (or SELinux above)",
            aa.source,
        ),
    ]
    if se.mode == "enforcing":
        return _verdict(Status.PASS, f"SELinux is enforcing (policy {se.policy or 'unknown'})", evidence)
    if aa.enabled and enforced:
        return _verdict(Status.PASS, f"AppArmor is enabled with {enforced} profiles enforcing", evidence)
    aa_text = "enabled but enforces no profile" if aa.enabled else "not enabled"
    return _verdict(
        Status.FAIL,
        f"no mandatory access control is enforcing: SELinux is {se.mode}, AppArmor is {aa_text}",
        evidence,
    )


def mac_not_disabled_at_boot(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """MAC-02: no selinux=0, apparmor=0 or enforcing=0 on the running or configured command line."""
    state = facts.get("mac")
    if not isinstance(state, MacState):
        return _verdict(Status.ERROR, "the mac fact is missing")
    evidence = []
    offending = []
    for args, when in ((state.boot, "running"), (state.boot_configured, "configured")):
        if args is None:
            continue
        bad = [f"{name}=0" for name in MAC_OFF_ARGS if args.value(name) == "0"]
        evidence.append(
            _evidence(
                " ".join(bad) or "no MAC switch-off",
                "none of selinux=0, apparmor=0, enforcing=0",
                args.source,
            )
        )
        offending += [f"{b} ({when}, {args.source})" for b in bad]
    if offending:
        return _verdict(
            Status.FAIL, f"the kernel command line turns MAC off: {', '.join(offending)}", evidence
        )
    return _verdict(Status.PASS, "no MAC switch-off on the kernel command line", evidence)


# ------------------------------------------------------------------ audit


def auditd_running(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """AUD-01: auditd runs now and starts at boot."""
    state = facts.get("auditd")
    if not isinstance(state, AuditdService):
        return _verdict(Status.ERROR, "the auditd fact is missing")
    if not state.installed:
        return _verdict(Status.NOT_APPLICABLE, "auditd is not installed (audit_auditd_installed reports it)")
    evidence = [
        _evidence(
            f"running, pid {_listing(str(p) for p in state.pids)}" if state.running else "not running",
            "running",
            "/proc/*/comm",
        ),
        _evidence(state.enabled, "enabled (starts at boot)", "systemctl is-enabled auditd.service"),
    ]
    problems = []
    if not state.running:
        problems.append("auditd is not running: no audit events are written")
    if state.enabled in ("disabled", "masked", "masked-runtime", "linked-runtime"):
        problems.append(f"auditd.service is {state.enabled}: it will not start at boot")
    if problems:
        return _verdict(Status.FAIL, "; ".join(problems), evidence)
    return _verdict(Status.PASS, f"auditd is running (enabled at boot: {state.enabled})", evidence)


def _audit(facts: Mapping[str, FactValue]) -> AuditConfig | Verdict:
    state = facts.get("audit")
    if not isinstance(state, AuditConfig):
        return _verdict(Status.ERROR, "the audit fact is missing")
    if state.rules is None:
        return _verdict(Status.ERROR, state.rules_error)
    return state


def audit_rules_loaded(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """AUD-03 / Lynis ACCT-9630: the kernel has audit rules loaded."""
    state = _audit(facts)
    if not isinstance(state, AuditConfig):
        return state
    count = len(state.rules or ())
    evidence = [_evidence(f"{count} rules loaded", "at least one rule", "auditctl -l")]
    if not count:
        return _verdict(Status.FAIL, "no audit rules are loaded (auditctl -l: No rules)", evidence)
    return _verdict(Status.PASS, f"{count} audit rules loaded", evidence)


def _covers(rule: AuditRule, path: str, perms: str) -> bool:
    if rule.watch is None or not all(p in rule.perms for p in perms):
        return False
    watched = rule.watch.rstrip("/") or "/"
    # A watch on a directory (-w /etc/audit/, -F dir=) covers everything below it.
    return path == watched or (rule.recursive and path.startswith(watched.rstrip("/") + "/"))


def _watches(facts: Mapping[str, FactValue], paths: tuple[str, ...], what: str) -> Verdict:
    state = _audit(facts)
    if not isinstance(state, AuditConfig):
        return state
    rules = state.rules or ()
    missing = [p for p in paths if not any(_covers(r, p, "wa") for r in rules)]
    evidence = [
        _evidence(
            "unwatched: " + _listing(missing) if missing else "all watched",
            f"write and attribute watches (-p wa) on {', '.join(paths)}",
            "auditctl -l",
        )
    ]
    if missing:
        return _verdict(
            Status.FAIL, f"changes to {what} are not audited: no -p wa watch on {_listing(missing)}", evidence
        )
    return _verdict(Status.PASS, f"changes to {what} are audited", evidence)


def audit_watches_identity(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """AUD-04 / CIS-U 6.2.3.8: user and group databases."""
    return _watches(facts, IDENTITY_FILES, "user and group files")


def audit_watches_sudoers(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """AUD-04 / CIS-U 6.2.3.1: the sudo policy (scope)."""
    return _watches(facts, SUDOERS_FILES, "the sudo policy")


def audit_watches_kubernetes(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """AUD-05: the Kubernetes configuration and PKI of the node."""
    return _watches(facts, KUBERNETES_PATHS, "the Kubernetes configuration")


def _modes(
    facts: Mapping[str, FactValue],
    roles: tuple[str, ...],
    limit: int,
    groups: Callable[[AuditConfig], frozenset[str]],
    what: str,
) -> Verdict:
    state = facts.get("audit")
    if not isinstance(state, AuditConfig):
        return _verdict(Status.ERROR, "the audit fact is missing")
    entries: list[FileMode] = [e for role in roles for e in state.files_of(role)]
    if not entries:
        return _verdict(Status.NOT_APPLICABLE, f"no {what} found on the node")
    allowed_groups = groups(state)
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
        _evidence(f"{e.mode:04o} {e.owner}:{e.group}", expected, e.path) for e in (bad or entries)[:10]
    ]
    if bad:
        return _verdict(Status.FAIL, f"{len(bad)} {what} too open: {_listing(e.path for e in bad)}", evidence)
    return _verdict(Status.PASS, f"{len(entries)} {what} are protected", evidence)


def audit_logs_protected(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """AUD-08 / CIS-U 6.2.4.1-6.2.4.4: logs 0640, their directory 0750, root, group root or log_group."""
    return _modes(
        facts,
        ("log_dir", "log"),
        0o640,
        lambda s: frozenset({"root", s.setting("log_group").raw or "root"}),
        "audit log files",
    )


def audit_config_protected(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """AUD-08 / CIS-U 6.2.4.5-6.2.4.7: audit configuration 0640 root:root."""
    return _modes(facts, ("config",), 0o640, lambda s: frozenset({"root"}), "audit configuration files")


def audit_tools_protected(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """AUD-08 / CIS-U 6.2.4.8-6.2.4.10: audit tools 0755 root:root."""
    return _modes(facts, ("tool",), 0o755, lambda s: frozenset({"root"}), "audit tools")


PATCH_PREDICATES: Mapping[str, Predicate] = {
    "security_updates_applied": security_updates_applied,
    "kubernetes_packages_held": kubernetes_packages_held,
    "kernel_running_newest": kernel_running_newest,
    "reboot_not_required": reboot_not_required,
    "mac_framework_enforcing": mac_framework_enforcing,
    "mac_not_disabled_at_boot": mac_not_disabled_at_boot,
    "auditd_running": auditd_running,
    "audit_rules_loaded": audit_rules_loaded,
    "audit_watches_identity": audit_watches_identity,
    "audit_watches_sudoers": audit_watches_sudoers,
    "audit_watches_kubernetes": audit_watches_kubernetes,
    "audit_logs_protected": audit_logs_protected,
    "audit_config_protected": audit_config_protected,
    "audit_tools_protected": audit_tools_protected,
}
