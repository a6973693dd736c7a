"""Mandatory access control (catalogue section 9): SELinux or AppArmor enforcing, and
nothing on the kernel command line that switches either off."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import StrictStr

from agent.facts.mac import MacState
from agent.facts.model import FactValue
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.families import Family, FamilyArgs
from agent.rules.phrasing import evidence_line, verdict
from agent.rules.verdict import Predicate, Verdict


class BootSwitches(FamilyArgs):
    """Kernel command-line parameters whose value 0 switches MAC off (selinux, apparmor,
    enforcing), on the running and the configured command line."""

    off_when_zero: tuple[StrictStr, ...]


def mac_framework_enforcing(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """MAC-01/MAC-05: SELinux enforcing, or AppArmor enabled with profiles enforcing."""
    state = facts.get("mac")
    if not isinstance(state, MacState):
        return verdict(Status.ERROR, "the mac fact is missing")
    se, aa = state.selinux, state.apparmor
    enforced = len(aa.names_in("enforce"))
    evidence = [
        evidence_line(se.mode, "enforcing (or AppArmor below)", se.mode_source),
        evidence_line(
            f"{'enabled' if aa.enabled else 'disabled'}, {enforced} of {len(aa.profiles)} profiles enforcing",
            "enabled with profiles in enforce mode (or SELinux above)",
            aa.source,
        ),
    ]
    if se.mode == "enforcing":
        return verdict(Status.PASS, f"SELinux is enforcing (policy {se.policy or 'unknown'})", evidence)
    if aa.enabled and enforced:
        return verdict(Status.PASS, f"AppArmor is enabled with {enforced} profiles enforcing", evidence)
    aa_text = "enabled but enforces no profile" if aa.enabled else "not enabled"
    return verdict(
        Status.FAIL,
        f"no mandatory access control is enforcing: SELinux is {se.mode}, AppArmor is {aa_text}",
        evidence,
    )


def mac_not_disabled_at_boot(args: BootSwitches, facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """MAC-02: no selinux=0, apparmor=0 or enforcing=0 on the running or configured command line."""
    state = facts.get("mac")
    if not isinstance(state, MacState):
        return verdict(Status.ERROR, "the mac fact is missing")
    evidence = []
    offending = []
    expected = "none of " + ", ".join(f"{name}=0" for name in args.off_when_zero)
    for line, when in ((state.boot, "running"), (state.boot_configured, "configured")):
        if line is None:
            continue
        bad = [f"{name}=0" for name in args.off_when_zero if line.value(name) == "0"]
        evidence.append(evidence_line(" ".join(bad) or "no MAC switch-off", expected, line.source))
        offending += [f"{b} ({when}, {line.source})" for b in bad]
    if offending:
        return verdict(
            Status.FAIL, f"the kernel command line turns MAC off: {', '.join(offending)}", evidence
        )
    return verdict(Status.PASS, "no MAC switch-off on the kernel command line", evidence)


MAC_PREDICATES: Mapping[str, Predicate] = {
    "mac_framework_enforcing": mac_framework_enforcing,
}
MAC_BOOT_SWITCHES = Family(
    name="mac_boot_switches",
    args=BootSwitches,
    judge=mac_not_disabled_at_boot,
    summary="no kernel command-line parameter in a list is 0 (running or configured)",
)
