"""Listening sockets against the rules (FW-05), Kubernetes ports per node role (FW-07,
FW-08) and forwarding per role (FW-09).

A port is judged by walking a new connection to it from an arbitrary outside address
(catalogue: "every listening non-loopback port has an explicit allow or is
intentionally blocked"), then from each source prefix the rules name:

* open: the arbitrary source gets in (by a rule, or by a default that accepts);
* restricted: only some named sources get in;
* blocked: nobody from outside gets in.

Kubernetes ports (kubelet 10250, read-only kubelet 10255, etcd 2379-2380, apiserver
6443, controller-manager/scheduler 10257/10259, CNI overlays) are judged wherever they
listen, with the role deciding what is expected: a worker must not expose etcd either.
IP forwarding is the one OS-baseline rule that is inverted on a Kubernetes node
(kubernetes/kubernetes#112777: "kubernetes nodes are actually routers for pods").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StrictStr

from agent.facts.firewall.model import is_cluster_owner
from agent.facts.firewall.state import FirewallState
from agent.facts.firewall.status import external_iface
from agent.facts.firewall.walk import (
    Address,
    HookResult,
    Packet,
    base_chains,
    quiet_port,
    source_candidates,
    walk,
)
from agent.facts.model import FactValue
from agent.facts.sockets import Listener, Sockets
from agent.facts.sysctl import Sysctl
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.families import Family, FamilyArgs
from agent.rules.predicates_firewall_common import (
    decision_source,
    decision_text,
    firewall,
    is_kubernetes,
    listing,
    roles_text,
    sockets,
    sysctl,
    verdict,
)
from agent.rules.verdict import Verdict

_Facts = Mapping[str, FactValue]
NODEPORT_DECLARED = "nodeward_nodeports"  # inventory variable: "public" declares them open on purpose


def port_range(value: object) -> tuple[int, int]:
    """ "6443" or "2379-2380" (text, so a range reads as one); a bare integer is one port."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        raise ValueError('ports are "N" or "LOW-HIGH"')
    low, _, high = text.partition("-")
    if not low.isdigit() or not (high or low).isdigit():
        raise ValueError(f'ports are "N" or "LOW-HIGH", not {text!r}')
    first, last = int(low), int(high or low)
    if not 0 < first <= last <= 65535:
        raise ValueError(f"{text!r} is not a port range within 1-65535")
    return first, last


@dataclass(frozen=True, slots=True)
class Exposure:
    listener: Listener
    family: int
    status: str  # open | restricted | blocked
    result: HookResult  # the walk for an arbitrary outside source
    allowed: tuple[str, ...] = ()  # sources that get in when the arbitrary one does not

    def describe(self) -> str:
        head = f"{self.listener.label} over IPv{self.family}"
        if self.status == "open":
            return f"{head} is open to any source: {decision_text(self.result.deciding)}"
        if self.status == "restricted":
            return f"{head} is reachable only from {', '.join(self.allowed[:5])}"
        return f"{head} is blocked for outside sources: {decision_text(self.result.deciding)}"

    @property
    def by_default(self) -> bool:
        """Open because a default accepted it, not because a rule allowed it."""
        return all(not d.by_rule for d in self.result.decisions)

    def evidence(self, expected: str) -> Evidence:
        observed = self.describe()
        if self.result.uncertain:
            observed += (
                f" (passed over rules nodeward cannot evaluate: {'; '.join(self.result.uncertain[:2])})"
            )
        source = f"{self.listener.source}; {decision_source(self.result.deciding)}"
        return Evidence(observed[:600], expected, source)


def exposures(state: FirewallState, listener: Listener) -> list[Exposure]:
    out: list[Exposure] = []
    if listener.loopback_only:
        return out
    for family in sorted(listener.families):
        if family == 6 and not state.ipv6:
            continue
        iface = external_iface(state, family)
        anyone = walk(state.chains, Packet(family, listener.proto, listener.port, iface))
        if anyone.accepted:
            out.append(Exposure(listener, family, "open", anyone))
            continue
        candidates: list[Address] = source_candidates(state.chains, family)
        if state.client_addr:
            try:
                bastion = ipaddress.ip_address(state.client_addr)
                if bastion.version == family and not bastion.is_loopback:
                    candidates.append(bastion)
            except ValueError:
                pass
        allowed = tuple(
            str(a)
            for a in candidates
            if walk(state.chains, Packet(family, listener.proto, listener.port, None, a)).accepted
        )
        out.append(Exposure(listener, family, "restricted" if allowed else "blocked", anyone, allowed))
    return out


def _inputs(facts: _Facts) -> tuple[FirewallState, Sockets] | Verdict:
    state = firewall(facts)
    if not isinstance(state, FirewallState):
        return state
    found = sockets(facts)
    if not isinstance(found, Sockets):
        return found
    return state, found


def listening_ports_covered(facts: _Facts, node: Node) -> Verdict:
    """FW-05: no listening non-loopback port is reachable only because nothing decided
    about it (CIS Ubuntu 24.04 4.2.6, 4.4.2.4; SSG ensure_firewall_rules_for_open_ports)."""
    inputs = _inputs(facts)
    if not isinstance(inputs, tuple):
        return inputs
    state, found = inputs
    exposed = [e for s in found.exposed() for e in exposures(state, s)]
    unreviewed = [e for e in exposed if e.status == "open" and e.by_default]
    if unreviewed:
        expected = "an explicit allow rule for the port, or a default deny that blocks it"
        evidence = [e.evidence(expected) for e in unreviewed[:12]]
        ports = sorted({e.listener.label for e in unreviewed})
        return verdict(Status.FAIL, f"open by default, with no rule for them: {listing(ports)}", evidence)
    if not exposed:
        return verdict(Status.PASS, "nothing listens on a non-loopback address")
    summary = listing(sorted({f"{e.listener.label} {e.status}" for e in exposed}), 8)
    return verdict(Status.PASS, f"every listening port is decided by a rule or blocked: {summary}")


class PortExposure(FamilyArgs):
    """One Kubernetes port group and what is acceptable for it, e.g.
    `{service: the kubelet API, proto: tcp, ports: "10250", fail_when: [open]}`."""

    service: StrictStr  # "the kubelet API", for sentences
    proto: Literal["tcp", "udp"]
    ports: Annotated[tuple[int, int], BeforeValidator(port_range)]  # "10250" or "10257-10259"
    fail_when: tuple[Literal["open", "restricted"], ...]  # exposure statuses that fail
    expected: StrictStr  # what is acceptable, in the evidence


def judge_port_exposure(args: PortExposure, facts: _Facts, node: Node) -> Verdict:
    inputs = _inputs(facts)
    if not isinstance(inputs, tuple):
        return inputs
    state, found = inputs
    low, high = args.ports
    listeners = [s for s in found.on_port(args.proto, low, high) if not s.loopback_only]
    what = f"{args.service} ({args.proto} {low}{'-' + str(high) if high != low else ''})"
    if not listeners:
        role = "" if is_kubernetes(node) else " (not a Kubernetes node)"
        return verdict(Status.PASS, f"{what} does not listen on a non-loopback address{role}")
    judged = [e for s in listeners for e in exposures(state, s)]
    failing = [e for e in judged if e.status in args.fail_when]
    roles = f"node roles: {roles_text(node)}"
    if failing:
        evidence = [e.evidence(args.expected) for e in failing[:8]]
        return verdict(Status.FAIL, f"{failing[0].describe()} ({roles})", evidence)
    return verdict(Status.PASS, f"{listing([e.describe() for e in judged], 4)} ({roles})")


PORT_EXPOSURE = Family(
    name="port_exposure",
    args=PortExposure,
    judge=judge_port_exposure,
    summary="a Kubernetes port group is not reachable from outside beyond what its role allows",
)


class OverlayPort(FamilyArgs):
    proto: Literal["tcp", "udp"]
    port: Annotated[int, Field(ge=1, le=65535)]
    name: StrictStr  # "VXLAN", for the reader of the check


class OverlayPorts(FamilyArgs):
    """The CNI overlay and routing ports (VXLAN, Geneve, WireGuard, BGP) to judge."""

    ports: tuple[OverlayPort, ...]


def cni_overlay_ports_restricted(args: OverlayPorts, facts: _Facts, node: Node) -> Verdict:
    """FW-08: overlay and routing ports accept packets only from cluster nodes: an open
    VXLAN port lets anyone inject packets into the pod network."""
    inputs = _inputs(facts)
    if not isinstance(inputs, tuple):
        return inputs
    state, found = inputs
    judged: list[Exposure] = []
    for entry in args.ports:
        for listener in found.on_port(entry.proto, entry.port):
            judged.extend(exposures(state, listener))
    failing = [e for e in judged if e.status == "open"]
    if failing:
        expected = "reachable only from the cluster's node addresses"
        return verdict(Status.FAIL, failing[0].describe(), [e.evidence(expected) for e in failing[:8]])
    if not judged:
        return verdict(Status.PASS, "no CNI overlay or BGP port listens on a non-loopback address")
    return verdict(Status.PASS, listing([e.describe() for e in judged], 4))


class NodePorts(FamilyArgs):
    """The Service NodePort range: the API server's --service-node-port-range."""

    ports: Annotated[tuple[int, int], BeforeValidator(port_range)]  # "30000-32767" by default


def nodeport_range_restricted(args: NodePorts, facts: _Facts, node: Node) -> Verdict:
    """FW-08: NodePorts (30000-32767 by default). kube-proxy DNATs them in PREROUTING, so input rules
    never see them: only a rule before DNAT (prerouting priority < -100, iptables raw or
    mangle) or one matching the original destination port (ct original proto-dst,
    --ctorigdstport) restricts them. Without one they are open to every source that
    reaches the node, unless the inventory declares that on purpose."""
    if not is_kubernetes(node):
        return verdict(
            Status.NOT_APPLICABLE, f"NodePorts exist only on Kubernetes nodes (roles: {roles_text(node)})"
        )
    state = firewall(facts)
    if not isinstance(state, FirewallState):
        return state
    declared = str(node.vars.get(NODEPORT_DECLARED, "")).lower()
    if declared == "public":
        return verdict(Status.PASS, f"the inventory declares NodePorts public ({NODEPORT_DECLARED}: public)")
    restricting = _nodeport_rules(state, args.ports)
    if restricting:
        return verdict(
            Status.PASS, f"NodePorts are restricted before kube-proxy's DNAT: {listing(restricting, 3)}"
        )
    low, high = args.ports
    observed = f"no rule restricts {low}-{high} before DNAT or by original destination port"
    expected = f"a pre-DNAT restriction, or `{NODEPORT_DECLARED}: public` in the inventory"
    evidence = Evidence(observed, expected, "nft -j list table ..., iptables-save -t filter")
    return verdict(
        Status.FAIL, f"NodePorts are reachable from any source that reaches the node: {observed}", [evidence]
    )


def _nodeport_rules(state: FirewallState, ports: tuple[int, int]) -> list[str]:
    low, high = ports
    found: list[str] = []
    for chain in state.chains:
        if is_cluster_owner(chain.owner):
            continue
        before_dnat = chain.hook == "prerouting" and chain.priority < -100
        for rule in chain.rules:
            if rule.verdict not in ("drop", "reject", "accept", "jump", "goto"):
                continue
            for match in rule.matches:
                field_ok = match.field == "ct_orig_dport" or (match.field == "dport" and before_dnat)
                if field_ok and not match.negated and _overlaps(match.values, low, high):
                    restricting = rule.verdict in ("drop", "reject") or any(
                        m.field == "saddr" for m in rule.matches
                    )
                    if restricting:
                        found.append(f"`{rule.text}` ({rule.source})")
    return found


def _overlaps(values: Sequence[str], low: int, high: int) -> bool:
    for value in values:
        first, _, last = value.partition("-")
        if (
            first.isdigit()
            and (not last or last.isdigit())
            and int(first) <= high
            and int(last or first) >= low
        ):
            return True
    return False


def ip_forwarding_per_role(facts: _Facts, node: Node) -> Verdict:
    """FW-09: Kubernetes nodes route pod traffic, so forwarding must be ON there (kubeadm
    preflight; kubernetes/kubernetes#112777), while the OS baselines (CIS Ubuntu 24.04
    3.3.1, SSG sysctl_net_ipv4_ip_forward, dev-sec sysctl-01) want it OFF everywhere
    else. The node's roles decide which rule applies."""
    found = sysctl(facts)
    if not isinstance(found, Sysctl):
        return found
    keys = (
        ("net.ipv4.ip_forward",)
        if is_kubernetes(node)
        else ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")
    )
    wanted = "1" if is_kubernetes(node) else "0"
    why = (
        f"Kubernetes node (roles: {roles_text(node)}): pods are routed through it, forwarding must be on"
        if is_kubernetes(node)
        else f"not a Kubernetes node (roles: {roles_text(node)}): the OS baseline wants forwarding off"
    )
    evidence: list[Evidence] = []
    for key in keys:
        runtime = found.lookup(key)
        if runtime is None:
            continue  # e.g. IPv6 disabled at boot: no such key, nothing forwards
        if runtime.value != wanted:
            evidence.append(Evidence(f"{key} = {runtime.value}", f"{key} = {wanted} ({why})", runtime.source))
        persisted = found.lookup(f"persisted:{key}")
        if persisted is not None and persisted.value != wanted:
            observed = f"{key} = {persisted.value} at boot"
            evidence.append(Evidence(observed, f"{key} = {wanted} at boot ({why})", persisted.source))
    if found.lookup("net.ipv4.ip_forward") is None:
        return verdict(Status.ERROR, "sysctl did not report net.ipv4.ip_forward")
    if evidence:
        return verdict(Status.FAIL, f"{evidence[0].observed}; {why}", evidence)
    return verdict(Status.PASS, f"{' and '.join(f'{k} = {wanted}' for k in keys)}: {why}")


def forward_policy_per_role(facts: _Facts, node: Node) -> Verdict:
    """FW-09 (FORWARD): on a Kubernetes node a host FORWARD default of drop must leave
    room for kube-proxy's/the CNI's accept rules in the same chain (dev-sec and ufw's
    forward DROP break pod networking otherwise); elsewhere forwarded traffic is dropped
    by default (SSG set_iptables_default_rule_forward, ufw_disabled_routed)."""
    state = firewall(facts)
    if not isinstance(state, FirewallState):
        return state
    families = (4, 6) if state.ipv6 else (4,)
    port = quiet_port(state.chains)
    index = {(c.backend, c.family, c.table, c.name): c.owner for c in state.chains}
    evidence: list[Evidence] = []
    for family in families:
        result = walk(state.chains, Packet(family, "tcp", port, None), "forward")
        if is_kubernetes(node):
            for decision in result.decisions:
                chain = next(
                    c for c in base_chains(state.chains, family, "forward") if c.label == decision.chain
                )
                handoff = any(
                    rule.verdict in ("jump", "goto")
                    and is_cluster_owner(
                        index.get((chain.backend, chain.family, chain.table, rule.target), "")
                    )
                    for rule in chain.rules
                )
                if decision.verdict != "accept" and not handoff:
                    observed = (
                        f"IPv{family} forwarded traffic: {decision_text(decision)}, "
                        "with no kube-proxy/CNI rule in that chain"
                    )
                    expected = (
                        "pod traffic accepted: forward default accept, or kube-proxy/CNI rules in that chain"
                    )
                    evidence.append(Evidence(observed, expected, decision.source))
        elif result.accepted:
            observed = f"IPv{family} forwarded traffic: accepted; {decision_text(result.deciding)}"
            evidence.append(
                Evidence(
                    observed, "dropped by default (this is not a router)", decision_source(result.deciding)
                )
            )
    if evidence:
        return verdict(Status.FAIL, evidence[0].observed, evidence)
    if is_kubernetes(node):
        return verdict(Status.PASS, "the host FORWARD defaults leave pod traffic to kube-proxy and the CNI")
    return verdict(Status.PASS, "forwarded traffic is dropped by default")


PREDICATES: Mapping[str, Callable[[_Facts, Node], Verdict]] = {
    "firewall_listening_ports_covered": listening_ports_covered,
    "firewall_ip_forwarding_per_role": ip_forwarding_per_role,
    "firewall_forward_policy_per_role": forward_policy_per_role,
}


OVERLAY_PORTS = Family(
    name="overlay_ports_restricted",
    args=OverlayPorts,
    judge=cni_overlay_ports_restricted,
    summary="CNI overlay and routing ports accept packets only from the cluster's nodes",
)
NODEPORTS_RESTRICTED = Family(
    name="nodeports_restricted",
    args=NodePorts,
    judge=nodeport_range_restricted,
    summary="the NodePort range is restricted before kube-proxy's DNAT, or declared public",
)
