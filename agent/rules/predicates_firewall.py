"""Firewall judgements across every backend (catalogue §4): one manager, default deny for
IPv4 and IPv6, the SSH path from the bastion, loopback, replies, logging, emptiness.

All of them read the live ruleset through the packet walk (agent/facts/firewall/walk.py),
so nftables, iptables-legacy, iptables-nft, ufw and firewalld are judged by what the
kernel would do, not by which tool wrote the rules. Chains of kube-proxy and CNIs are
left out of every host judgement and named in the evidence instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from agent.facts.firewall.state import FirewallState, active_managers, iptables_host_content, nft_host_content
from agent.facts.firewall.status import external_iface, input_default, loopback_address
from agent.facts.firewall.walk import Packet, base_chains, quiet_port, walk
from agent.facts.model import FactValue
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules import predicates_firewall_persist, predicates_firewall_ports
from agent.rules.families import Family, FamilyArgs
from agent.rules.predicates_firewall_common import (
    GATHERED_BY,
    cluster_note,
    decision_source,
    decision_text,
    firewall,
    hook_evidence,
    listing,
    verdict,
)
from agent.rules.verdict import Verdict

_Facts = Mapping[str, FactValue]


def families(state: FirewallState) -> tuple[int, ...]:
    return (4, 6) if state.ipv6 else (4,)


def single_manager_active(facts: _Facts, node: Node) -> Verdict:
    """FW-01: exactly one host firewall manager (CIS Ubuntu 24.04 4.1.1, SSG
    firewall_single_service_active). Two managers fight over the same hooks; none means
    no host firewall at all (kube-proxy and CNIs do not count)."""
    state = firewall(facts)
    if not isinstance(state, FirewallState):
        return state
    managers = active_managers(state)
    expected = "exactly one of nftables, iptables, ufw, firewalld active"
    if len(managers) == 1:
        m = managers[0]
        return verdict(Status.PASS, f"{m.name} is the one active firewall manager ({m.evidence})")
    if not managers:
        observed = "no host firewall manager is active"
        if state.unreadable:
            return verdict(Status.ERROR, f"{observed}, but parts of the ruleset could not be read: "
                           + listing(state.unreadable))  # fmt: skip
        reason = observed + "." + cluster_note(state)
        return verdict(Status.FAIL, reason, [Evidence(observed + cluster_note(state), expected, GATHERED_BY)])
    evidence = [Evidence(f"{m.name} active: {m.evidence}", expected, m.source) for m in managers]
    names = ", ".join(m.name for m in managers)
    return verdict(Status.FAIL, f"{len(managers)} firewall managers are active at once: {names}", evidence)


class InputDefaultDeny(FamilyArgs):
    ip_version: Literal[4, 6]


def _input_default_deny(args: InputDefaultDeny, facts: _Facts, node: Node) -> Verdict:
    """FW-02 / FW-13: new inbound traffic no rule allows is dropped (CIS Ubuntu 24.04
    4.2.7, 4.3.8, 4.4.2.1, 4.4.3.1; SSG set_iptables_default_rule,
    nftables_ensure_default_deny_policy; Lynis FIRE-4508)."""
    family = args.ip_version
    state = firewall(facts)
    if not isinstance(state, FirewallState):
        return state
    if family == 6 and not state.ipv6:
        return verdict(Status.PASS, "IPv6 is disabled on this node: there is no IPv6 input to filter")
    result = input_default(state, family)
    claims = _manager_claims(state)
    if result.deny:
        deciding = result.tcp.deciding
        return verdict(Status.PASS, f"IPv{family} input is default-deny: {decision_text(deciding)}{claims}")
    if state.unreadable:
        return verdict(
            Status.ERROR,
            f"IPv{family} input looks open, but parts of the ruleset could not be read: "
            + listing(state.unreadable),
        )
    expected = "dropped: a base chain policy drop, or a final unconditional drop/reject"
    evidence = [
        hook_evidence(r, f"new IPv{family} {p} to port {result.port} from any outside address", expected)
        for r, p in ((result.tcp, "tcp"), (result.udp, "udp"))
        if r.accepted
    ]
    reason = f"IPv{family} input accepts traffic no rule allows{claims}.{cluster_note(state)}"
    return verdict(Status.FAIL, reason, evidence)


def _manager_claims(state: FirewallState) -> str:
    """What ufw and firewalld say about their defaults, to show beside the live verdict."""
    claims = []
    if state.ufw is not None and state.ufw.active and "incoming" in state.ufw.defaults:
        claims.append(f"ufw says default {state.ufw.defaults['incoming']} (incoming)")
    if state.firewalld is not None and state.firewalld.running:
        zone = state.firewalld.zone(state.firewalld.default_zone)
        target = zone.target if zone is not None else "?"
        claims.append(f"firewalld default zone {state.firewalld.default_zone} has target {target}")
    return f" ({'; '.join(claims)})" if claims else ""


def ssh_allowed_from_bastion(facts: _Facts, node: Node) -> Verdict:
    """FW-03: a NEW connection from the bastion to sshd is accepted, so a reconnect after
    conntrack state is lost (reboot, flush) does not lock the operator out (SSG
    firewalld_sshd_port_enabled)."""
    state = firewall(facts)
    if not isinstance(state, FirewallState):
        return state
    if not state.client_addr or state.server_port is None:
        return verdict(Status.ERROR, "the gather context did not say where the scan connected from")
    import ipaddress

    try:
        source = ipaddress.ip_address(state.client_addr)
    except ValueError:
        return verdict(Status.ERROR, f"the bastion address {state.client_addr!r} is not an IP address")
    family = 6 if source.version == 6 and source.ipv4_mapped is None else 4
    if source.version == 6 and source.ipv4_mapped is not None:
        source = source.ipv4_mapped
    # A loopback peer (a bastion on the node itself, or a local scan) arrives on lo.
    packet = Packet(family, "tcp", state.server_port, "lo" if source.is_loopback else None, source)
    result = walk(state.chains, packet)
    probe = f"new tcp from {source} (the scanning host, as the node sees it) to sshd port {state.server_port}"
    if result.accepted:
        return verdict(Status.PASS, f"{probe} is accepted: {decision_text(result.deciding)}")
    evidence = hook_evidence(result, probe, "accepted by a rule placed before any drop")
    return verdict(Status.FAIL, f"{probe} would be dropped: {decision_text(result.deciding)}", [evidence])


def loopback_traffic(facts: _Facts, node: Node) -> Verdict:
    """FW-04: loopback accepted; 127.0.0.0/8 and ::1 from other interfaces dropped (CIS
    Ubuntu 24.04 4.2.4, 4.3.6, 4.4.2.2; SSG set_nftables_loopback_traffic). Kubernetes
    needs the first: kubelet, apiserver and etcd talk over 127.0.0.1."""
    state = firewall(facts)
    if not isinstance(state, FirewallState):
        return state
    port = quiet_port(state.chains)
    evidence: list[Evidence] = []
    problems: list[str] = []
    for family in families(state):
        lo = loopback_address(family)
        inside = walk(state.chains, Packet(family, "tcp", port, "lo", lo))
        if not inside.accepted:
            problems.append(f"IPv{family} loopback traffic is dropped")
            evidence.append(hook_evidence(inside, f"tcp on lo from {lo} to port {port}", "accepted on lo"))
        spoofed = walk(state.chains, Packet(family, "tcp", port, external_iface(state, family), lo))
        if spoofed.accepted:
            problems.append(f"{lo} arriving on a non-loopback interface is accepted")
            expected = f"dropped: {lo} is only valid on lo"
            evidence.append(hook_evidence(spoofed, f"tcp from {lo} on a non-loopback interface", expected))
    if problems:
        return verdict(Status.FAIL, "; ".join(problems), evidence)
    return verdict(Status.PASS, "loopback is accepted on lo and loopback sources are dropped elsewhere")


def established_traffic(facts: _Facts, node: Node) -> Verdict:
    """FW-06: with a default-deny input, replies (ct state established,related) must be
    accepted or every outbound connection the node makes breaks (CIS Ubuntu 24.04 4.2.5,
    4.3.7; SSG set_iptables_outbound_n_established)."""
    state = firewall(facts)
    if not isinstance(state, FirewallState):
        return state
    evidence: list[Evidence] = []
    for family in families(state):
        port = quiet_port(state.chains)
        packet = Packet(family, "tcp", port, external_iface(state, family), None, "established")
        result = walk(state.chains, packet)
        if not result.accepted:
            probe = f"IPv{family} reply packet (established) to port {port}"
            evidence.append(hook_evidence(result, probe, "accepted (ct state established,related accept)"))
    if evidence:
        return verdict(Status.FAIL, "replies to the node's own connections are dropped", evidence)
    return verdict(Status.PASS, "replies to the node's own connections are accepted")


def ruleset_not_empty(facts: _Facts, node: Node) -> Verdict:
    """FW-11: netfilter is there but the host has loaded no rules of its own (Lynis
    FIRE-4512, FIRE-4538, FIRE-4540). kube-proxy and CNI chains do not count."""
    state = firewall(facts)
    if not isinstance(state, FirewallState):
        return state
    host = nft_host_content(state) + iptables_host_content(state, ufw_or_firewalld=False)
    managed = [c for c in state.chains if c.owner in ("ufw", "firewalld") and c.rules]
    if host or managed:
        what = host[0][0] if host else managed[0].label
        return verdict(Status.PASS, f"host firewall rules are loaded, e.g. {what}")
    if state.unreadable:
        return verdict(Status.ERROR, "no host rules found, but parts of the ruleset could not be read: "
                       + listing(state.unreadable))  # fmt: skip
    observed = "no host firewall rules or policies in nftables, iptables-legacy or iptables-nft"
    evidence = Evidence(observed + cluster_note(state), "a loaded host ruleset", GATHERED_BY)
    return verdict(Status.FAIL, observed + "." + cluster_note(state), [evidence])


def dropped_packets_logged(facts: _Facts, node: Node) -> Verdict:
    """FW-12: a log rule on the host input path, so drops leave a trace (Lynis FIRE-4586;
    ufw `logging on`, firewalld LogDenied)."""
    state = firewall(facts)
    if not isinstance(state, FirewallState):
        return state
    index = {(c.backend, c.family, c.table, c.name): c for c in state.chains}
    todo = [c for family in families(state) for c in base_chains(state.chains, family, "input")]
    seen: set[tuple[str, str, str, str]] = set()
    while todo:
        chain = todo.pop()
        key = (chain.backend, chain.family, chain.table, chain.name)
        if key in seen:
            continue
        seen.add(key)
        for rule in chain.rules:
            if rule.logs:
                return verdict(
                    Status.PASS, f"packets are logged on the input path: `{rule.text}` ({rule.source})"
                )
            target = index.get((chain.backend, chain.family, chain.table, rule.target))
            if (
                rule.verdict in ("jump", "goto")
                and target is not None
                and target.owner not in ("kube-proxy",)
            ):
                todo.append(target)
    observed = f"no log rule in the {len(seen)} host input chain(s) or the chains they jump to"
    source = next(iter(index.values())).source if index else GATHERED_BY
    evidence = Evidence(observed, "a rate-limited log rule before the final drop", source or GATHERED_BY)
    return verdict(Status.FAIL, observed, [evidence])


def _registry() -> dict[str, Callable[[_Facts, Node], Verdict]]:
    own: dict[str, Callable[[_Facts, Node], Verdict]] = {
        "firewall_single_manager_active": single_manager_active,
        "firewall_ssh_allowed_from_bastion": ssh_allowed_from_bastion,
        "firewall_loopback_traffic_configured": loopback_traffic,
        "firewall_established_traffic_accepted": established_traffic,
        "firewall_ruleset_not_empty": ruleset_not_empty,
        "firewall_dropped_packets_logged": dropped_packets_logged,
    }
    return {**own, **predicates_firewall_ports.PREDICATES, **predicates_firewall_persist.PREDICATES}


# Merged into agent.rules.predicates.PREDICATES.
FIREWALL_PREDICATES: Mapping[str, Callable[[_Facts, Node], Verdict]] = _registry()
__all__ = ["FIREWALL_PREDICATES", "decision_source"]


INPUT_DEFAULT_DENY = Family(
    name="input_default_deny",
    args=InputDefaultDeny,
    judge=_input_default_deny,
    summary="new inbound IPv4 or IPv6 traffic that no rule allows is dropped",
)
