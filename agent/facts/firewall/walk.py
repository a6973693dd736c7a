"""What netfilter would do with one packet: walk the parsed chains like the kernel does.

Every base chain registered at a hook sees the packet in turn, whatever table, family
(ip / ip6 / inet) or backend (nftables, iptables-nft, iptables-legacy) it belongs to;
`accept` only ends that one chain, a `drop` or `reject` anywhere is final. Inside a
chain the first matching terminal rule decides, `jump` returns, `goto` does not, and a
base chain that runs out of rules applies its policy. So "a chain whose policy is
accept but whose last rule drops everything" is a deny, and an accept-all rule in front
of a drop policy is not: both fall out of the walk, not out of special cases.

Conditions are three-valued. A condition nodeward cannot model (an ipset, a mark, a
recent-list, a dynamic set) is "may match": the walk goes on as if it did not match and
the rule is listed in `uncertain`, so the evidence says exactly which rules could
change the answer. Sources are either a concrete address (the bastion, 127.0.0.1) or
"an arbitrary outside address", which is in no listed prefix except 0.0.0.0/0 or ::/0.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agent.facts.firewall.model import Chain, Match, Rule, is_cluster_owner

YES, NO, MAYBE = "yes", "no", "maybe"
MAX_DEPTH = 32
_PROTO_NUMBERS = {"tcp": "6", "udp": "17", "icmp": "1", "ipv6-icmp": "58", "sctp": "132", "udplite": "136"}
_PORTED = frozenset({"tcp", "udp", "sctp", "dccp", "udplite"})
# Ports tried as "a port no rule mentions" for default-policy probes.
_QUIET_PORTS = (47321, 40977, 52519, 61999, 1, 65535)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Packet:
    family: int  # 4 or 6
    proto: str  # tcp | udp | icmp | ipv6-icmp
    dport: int | None
    iif: str | None  # "lo", an interface name, or None: some non-loopback interface
    saddr: Address | None = None  # None: an arbitrary outside address
    ct_state: str = "new"

    def describe(self) -> str:
        source = "any outside address" if self.saddr is None else str(self.saddr)
        port = f" port {self.dport}" if self.dport is not None else ""
        iface = f" on {self.iif}" if self.iif else ""
        state = "" if self.ct_state == "new" else f" ({self.ct_state})"
        return f"IPv{self.family} {self.proto}{port} from {source}{iface}{state}"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: str  # accept | drop | reject
    chain: str  # label of the base chain
    by_rule: bool  # a rule decided (False: the chain's policy)
    text: str  # the rule, or "policy drop"
    source: str  # rule's file:line / command, or the chain's source


@dataclass(frozen=True, slots=True)
class HookResult:
    accepted: bool
    decisions: tuple[Decision, ...]  # one per base chain walked, in priority order
    uncertain: tuple[str, ...] = ()  # rules that "may match" and were passed over
    chains: int = 0  # base chains walked (0: no firewall at this hook at all)

    @property
    def deciding(self) -> Decision | None:
        """The drop that ended the packet, or the last accept."""
        drops = [d for d in self.decisions if d.verdict != "accept"]
        if drops:
            return drops[0]
        return self.decisions[-1] if self.decisions else None


@dataclass
class _Walk:
    index: dict[tuple[str, str, str, str], Chain]
    exclude_cluster: bool
    uncertain: list[str] = field(default_factory=list)


def base_chains(
    chains: Iterable[Chain], family: int, hook: str, *, exclude_cluster: bool = True
) -> list[Chain]:
    selected = [
        c
        for c in chains
        if c.hook == hook
        and c.chain_type in ("filter", "")
        and family in c.families()
        and not (exclude_cluster and is_cluster_owner(c.owner))
    ]
    return sorted(selected, key=lambda c: c.priority)


def walk(
    chains: Sequence[Chain], packet: Packet, hook: str = "input", *, exclude_cluster: bool = True
) -> HookResult:
    index = {(c.backend, c.family, c.table, c.name): c for c in chains}
    state = _Walk(index, exclude_cluster)
    decisions: list[Decision] = []
    bases = base_chains(chains, packet.family, hook, exclude_cluster=exclude_cluster)
    for chain in bases:
        verdict, rule = _chain(state, chain, packet, 0, (chain.name,))
        if rule is not None and verdict in ("accept", "drop", "reject"):
            decisions.append(Decision(verdict, chain.label, True, rule.text, rule.source))
        else:
            policy = chain.policy or "accept"
            decisions.append(Decision(policy, chain.label, False, f"policy {policy}", chain.source))
        if decisions[-1].verdict != "accept":
            break
    accepted = all(d.verdict == "accept" for d in decisions)
    return HookResult(accepted, tuple(decisions), tuple(dict.fromkeys(state.uncertain)), len(bases))


def _chain(
    state: _Walk, chain: Chain, packet: Packet, depth: int, path: tuple[str, ...]
) -> tuple[str, Rule | None]:
    """("accept"|"drop"|"reject", rule) or ("return", None)."""
    for rule in chain.rules:
        result = rule_matches(rule, packet)
        if result == NO or not rule.verdict:
            continue
        if result == MAYBE:
            state.uncertain.append(f"{rule.text} ({rule.source})")
            continue
        if rule.verdict in ("accept", "drop", "reject"):
            return rule.verdict, rule
        if rule.verdict == "return":
            return "return", None
        if rule.verdict == "queue":
            state.uncertain.append(f"{rule.text} ({rule.source}): queued to user space")
            continue
        if rule.verdict in ("jump", "goto"):
            target = state.index.get((chain.backend, chain.family, chain.table, rule.target))
            if target is None or (state.exclude_cluster and is_cluster_owner(target.owner)):
                continue
            if depth >= MAX_DEPTH or target.name in path:
                state.uncertain.append(f"{rule.text} ({rule.source}): jump loop or too deep")
                continue
            verdict, decided = _chain(state, target, packet, depth + 1, (*path, target.name))
            if verdict != "return":
                return verdict, decided
            if rule.verdict == "goto":
                return "return", None
    return "return", None


def rule_matches(rule: Rule, packet: Packet) -> str:
    results = [match_condition(m, packet) for m in rule.matches]
    if rule.limited and rule.verdict in ("drop", "reject"):
        results.append(MAYBE)  # a rate-limited drop only drops some packets
    if NO in results:
        return NO
    return MAYBE if MAYBE in results else YES


def match_condition(match: Match, packet: Packet) -> str:
    if (match.family == "ip" and packet.family != 4) or (match.family == "ip6" and packet.family != 6):
        return NO  # `ip saddr` in an inet chain never matches an IPv6 packet, negated or not
    result = _positive(match, packet)
    if match.negated and result != MAYBE:
        return NO if result == YES else YES
    return result


def _positive(match: Match, packet: Packet) -> str:
    field_, values = match.field, match.values
    if field_ == "iif":
        return _interface(values, packet.iif)
    if field_ == "oif":
        return NO  # locally delivered packets have no output interface
    if field_ == "saddr":
        return _address(values, packet.saddr)
    if field_ == "daddr":
        return _destination(values, packet)
    if field_ == "proto":
        return YES if any(_proto(v, packet) for v in values) else NO
    if field_ in ("dport", "ct_orig_dport"):
        if packet.proto not in _PORTED or packet.dport is None:
            return NO
        return _in_ports(values, packet.dport)
    if field_ == "sport":
        return NO if packet.proto not in _PORTED else MAYBE
    if field_ == "ct_state":
        return YES if packet.ct_state in values else NO
    if field_ == "nfproto":
        wanted = {"ipv4": 4, "ipv6": 6, "2": 4, "10": 6}
        return YES if any(wanted.get(v) == packet.family for v in values) else NO
    if field_ == "addrtype_dst":
        return (
            YES
            if "local" in values
            else (NO if set(values) <= {"broadcast", "multicast", "anycast"} else MAYBE)
        )
    if field_ == "pkttype":
        return YES if {"host", "unicast"} & set(values) else NO
    return MAYBE


def _interface(values: tuple[str, ...], iif: str | None) -> str:
    if iif is not None:
        return YES if any(_iface_match(v, iif) for v in values) else NO
    # Some non-loopback interface we cannot name: it is not lo, and might be anything else.
    if all(_iface_match(v, "lo") and not v.endswith(("+", "*")) for v in values):
        return NO
    return MAYBE


def _iface_match(pattern: str, name: str) -> bool:
    if pattern.endswith(("+", "*")):
        return name.startswith(pattern[:-1])
    return pattern == name


def _networks(values: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for value in values:
        try:
            if "-" in value:
                low, high = (ipaddress.ip_address(v) for v in value.split("-", 1))
                nets.extend(ipaddress.summarize_address_range(low, high))
            else:
                nets.append(ipaddress.ip_network(value, strict=False))
        except (ValueError, TypeError):
            return None
    return nets


def _address(values: tuple[str, ...], address: Address | None) -> str:
    nets = _networks(values)
    if nets is None:
        return MAYBE
    if address is None:  # an arbitrary outside address lies only in a catch-all prefix
        return YES if any(n.prefixlen == 0 for n in nets) else NO
    return YES if any(n.version == address.version and address in n for n in nets) else NO


def _destination(values: tuple[str, ...], packet: Packet) -> str:
    nets = _networks(values)
    if nets is None:
        return MAYBE
    if any(n.prefixlen == 0 for n in nets):
        return YES
    if packet.iif == "lo":
        loop = ipaddress.ip_address("127.0.0.1" if packet.family == 4 else "::1")
        return YES if any(n.version == loop.version and loop in n for n in nets) else NO
    return MAYBE  # one of the node's own addresses; which one we do not model


def _proto(value: str, packet: Packet) -> bool:
    value = value.lower()
    if value in ("all", "0", "any"):
        return True
    if value in ("icmpv6", "ipv6-icmp", "58"):
        return packet.proto == "ipv6-icmp"
    return value == packet.proto or value == _PROTO_NUMBERS.get(packet.proto)


def _in_ports(values: tuple[str, ...], port: int) -> str:
    for value in values:
        low, _, high = value.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return MAYBE
        if int(low) <= port <= int(high or low):
            return YES
    return NO


def quiet_port(chains: Iterable[Chain]) -> int:
    """A port that no rule mentions, so a probe to it meets only the defaults."""
    mentioned: list[str] = [
        v
        for c in chains
        for r in c.rules
        for m in r.matches
        if m.field in ("dport", "ct_orig_dport")
        for v in m.values
    ]
    for port in _QUIET_PORTS:
        if _in_ports(tuple(mentioned), port) == NO:
            return port
    return _QUIET_PORTS[0]


def source_candidates(chains: Iterable[Chain], family: int) -> list[Address]:
    """One address inside every source prefix the rules name: the sources that may be
    allowed where an arbitrary one is not."""
    found: dict[Address, None] = {}
    for chain in chains:
        for rule in chain.rules:
            for match in rule.matches:
                if match.field != "saddr" or match.negated:
                    continue
                for net in _networks(match.values) or []:
                    if net.version == family and net.prefixlen > 0:
                        first = next(iter(net.hosts()), net.network_address)
                        found[ipaddress.ip_address(str(first))] = None
                if len(found) > 256:
                    return list(found)
    return list(found)
