"""Patch level and reboot (catalogue section 5).

"No pending security updates" is only worth a PASS when the package metadata is
recent (how recent is the check's `max_metadata_age_days`); the kernel check needs
version ordering and the "not applicable" case of a kernel supplied from outside the
node (a container, an externally booted VM).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import PositiveInt, StrictStr

from agent.facts.kernel import KernelState
from agent.facts.model import FactValue
from agent.facts.packages.model import DAY, PackageState
from agent.facts.system import SystemInfo
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.families import Family, FamilyArgs
from agent.rules.phrasing import ago, evidence_line, listing, verdict
from agent.rules.verdict import Predicate, Verdict


class SecurityUpdates(FamilyArgs):
    # Debian's and Ubuntu's security archives republish their Release files at least daily
    # and apt-daily.timer refreshes twice a day: metadata a week old means the node cannot
    # see a week of advisories, so "nothing pending" from it is not worth a PASS.
    max_metadata_age_days: PositiveInt


class PackagesHeld(FamilyArgs):
    packages: tuple[StrictStr, ...]  # kubelet, kubeadm, kubectl: held as kubeadm's guide does


def security_updates_applied(
    facts: Mapping[str, FactValue], node: Node, max_metadata_age_days: int = 7
) -> Verdict:
    """PATCH-01..03: no pending security update; WARN when "none" cannot be trusted."""
    state = facts.get("packages")
    if not isinstance(state, PackageState):
        return verdict(Status.ERROR, "the packages fact is missing")
    pending = state.security_updates
    age, chosen = state.metadata_age()
    where = f"{state.metadata_source} ({chosen.path})" if chosen and chosen.path else state.metadata_source
    age_text = "unknown" if age is None else f"refreshed {ago(age)}"
    evidence = [
        evidence_line(
            f"{len(pending)} pending: {listing(u.describe() for u in pending)}"
            if pending
            else "none pending",
            "no pending security updates",
            state.updates_source,
        ),
        evidence_line(
            f"package metadata {age_text}", f"refreshed within {max_metadata_age_days} days", where
        ),
    ]
    if pending:
        why = "" if state.classified else f" ({state.manager} cannot tell security updates apart: all count)"
        stale = (
            f"; the metadata is {age_text}, so more may be missing"
            if age and age > max_metadata_age_days * DAY
            else ""
        )
        reason = f"{len(pending)} security update(s) pending{why}: {listing(u.describe() for u in pending)}"
        return verdict(Status.FAIL, reason + stale, evidence)
    doubts = list(state.notes)
    if state.sources_never_fetched:
        doubts.append(f"metadata was never downloaded for {listing(state.sources_never_fetched, 4)}")
    if not state.sources and not state.sources_never_fetched:
        doubts.append("no repository metadata was found on the node")
    if state.sources and age is None:
        doubts.append("the metadata age could not be read")
    elif age is not None and age > max_metadata_age_days * DAY:
        doubts.append(f"the package metadata was {age_text}")
    if state.manager == "apt" and state.sources and not state.security_sources:
        doubts.append(
            "no security archive (a '-security' suite) is configured, so security updates are invisible"
        )
    if doubts:
        return verdict(
            Status.WARN,
            "no pending security updates reported, but that cannot be trusted: " + "; ".join(doubts),
            evidence,
        )
    return verdict(Status.PASS, f"no pending security updates; package metadata {age_text}", evidence)


def packages_held(facts: Mapping[str, FactValue], node: Node, packages: tuple[str, ...]) -> Verdict:
    """PATCH-05: kubelet/kubeadm/kubectl held, as kubeadm's install guide does it."""
    state = facts.get("packages")
    if not isinstance(state, PackageState):
        return verdict(Status.ERROR, "the packages fact is missing")
    if state.manager != "apt":
        return verdict(
            Status.NOT_APPLICABLE, f"package holds are checked for apt; this node uses {state.manager}"
        )
    installed = [name for name, _ in state.installed if name in packages]
    if not installed:
        return verdict(Status.NOT_APPLICABLE, f"{', '.join(packages)} are not installed as packages")
    loose = [name for name in installed if name not in state.held]
    evidence = [
        evidence_line(
            f"held: {listing(n for n in installed if n in state.held) or 'none'}; "
            f"not held: {listing(loose) or 'none'}",
            f"{', '.join(installed)} on hold",
            f"dpkg-query -W {' '.join(packages)}; dpkg selections (hold)",
        )
    ]
    if loose:
        reason = (
            f"{listing(loose)} not on hold: an `apt upgrade` or unattended-upgrades can move them past "
            "the version skew the control plane supports"
        )
        return verdict(Status.FAIL, reason, evidence)
    return verdict(Status.PASS, f"{', '.join(installed)} are on hold", evidence)


def kernel_running_newest(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """PATCH-04 / Lynis KRNL-5830: the node runs the newest kernel it has installed."""
    state = facts.get("kernel")
    if not isinstance(state, KernelState):
        return verdict(Status.ERROR, "the kernel fact is missing")
    if not state.installed:
        return verdict(
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
        evidence_line(
            running, f"running the newest installed kernel, {expected_text}", f"uname -r -v; {newest.source}"
        )
    ]
    if behind is not None:
        return verdict(Status.FAIL, f"{behind[1]}: reboot into it to apply its fixes", evidence)
    return verdict(
        Status.PASS, f"running {state.running}, the newest of {len(state.installed)} installed", evidence
    )


def reboot_not_required(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """PATCH-04: no package update waits for a reboot (flag files, needs-restarting)."""
    state = facts.get("kernel")
    if not isinstance(state, KernelState):
        return verdict(Status.ERROR, "the kernel fact is missing")
    required = [s for s in state.signals if s.required is True]
    evidence = [
        evidence_line(
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
        return verdict(Status.FAIL, f"a reboot is pending: {details}", evidence)
    if any(s.required is False for s in state.signals):
        return verdict(Status.PASS, "no reboot pending", evidence)
    system = facts.get("system")
    family = system.os_family if isinstance(system, SystemInfo) else ""
    unknown = [s for s in state.signals if s.required is None]
    if family in ("debian", "suse") and not unknown:
        # Their package tools create the flag file when an update needs a reboot; no
        # flag is the documented "nothing pending" (Lynis KRNL-5830 reads it the same).
        flag = "/var/run/reboot-required" if family == "debian" else "/run/reboot-needed"
        evidence.append(evidence_line("absent", "absent", flag))
        return verdict(Status.PASS, f"no reboot pending ({flag} is absent)", evidence)
    why = "; ".join(f"{s.source}: {s.detail}" for s in unknown) or (
        "no reboot signal available (install dnf-utils / yum-utils for needs-restarting)"
    )
    evidence.append(evidence_line("cannot tell", "no reboot pending", "needs-restarting -r"))
    return verdict(Status.WARN, f"cannot tell whether a reboot is pending: {why}", evidence)


SECURITY_UPDATES = Family(
    name="security_updates",
    args=SecurityUpdates,
    judge=lambda args, facts, node: security_updates_applied(facts, node, args.max_metadata_age_days),
    summary="no security update is pending, judged from package metadata no older than N days",
)
PACKAGES_HELD = Family(
    name="packages_held",
    args=PackagesHeld,
    judge=lambda args, facts, node: packages_held(facts, node, args.packages),
    summary="the installed packages of a list are on hold (apt)",
)
PACKAGES_PREDICATES: Mapping[str, Predicate] = {
    "kernel_running_newest": kernel_running_newest,
    "reboot_not_required": reboot_not_required,
}
