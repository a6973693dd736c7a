"""One vocabulary for every netfilter backend: chains, rules and the conditions in them.

nftables JSON, iptables-save (legacy and nf_tables variants) and the persisted files all
parse into these frozen values, so the judgement code (walk.py, the firewall
predicates) never cares which tool printed a rule. A condition nodeward cannot model is
kept as `Match(field="unknown")`: the walker then treats the rule as "may match" and says
so in the evidence instead of guessing.

Ownership: chains and tables created by kube-proxy or a CNI are reported but are never
the host firewall (catalogue §4, "ignore chains owned by kube-proxy/CNI when judging one
manager and default policy"). ufw and firewalld own their chains too, but they ARE host
firewalls: the walker follows jumps into them.
"""

from __future__ import annotations

from dataclasses import dataclass

# Who programs a chain, from its name. Order matters: first match wins.
_CHAIN_OWNERS: tuple[tuple[str, str], ...] = (
    ("KUBE-ROUTER-", "kube-router"),
    ("KUBE-", "kube-proxy"),
    ("cali-", "calico"),
    ("CILIUM_", "cilium"),
    ("CILIUM-", "cilium"),
    ("FLANNEL-", "flannel"),
    ("WEAVE-", "weave"),
    ("WEAVE", "weave"),
    ("ANTREA-", "antrea"),
    ("DOCKER", "docker"),
    ("ufw-", "ufw"),
    ("ufw6-", "ufw"),
)
# nftables tables are owned as a whole (kube-proxy's nftables mode uses `kube-proxy`).
_TABLE_OWNERS: tuple[tuple[str, str], ...] = (
    ("kube-proxy", "kube-proxy"),
    ("kube-router", "kube-router"),
    ("kube", "kube-proxy"),
    ("cilium", "cilium"),
    ("calico", "calico"),
    ("cali", "calico"),
    ("flannel", "flannel"),
    ("antrea", "antrea"),
    ("weave", "weave"),
    ("firewalld", "firewalld"),
)
# Kubernetes networking components: reported, never judged as the host firewall.
CLUSTER_OWNERS = frozenset({"kube-proxy", "kube-router", "calico", "cilium", "flannel", "antrea", "weave"})

TERMINAL = frozenset({"accept", "drop", "reject"})


def chain_owner(name: str) -> str:
    for prefix, owner in _CHAIN_OWNERS:
        if name.startswith(prefix):
            return owner
    return "host"


def table_owner(name: str) -> str:
    lowered = name.lower()
    for prefix, owner in _TABLE_OWNERS:
        if lowered.startswith(prefix):
            return owner
    return "host"


def is_cluster_owner(owner: str) -> bool:
    return owner in CLUSTER_OWNERS


@dataclass(frozen=True, slots=True)
class Match:
    """One condition of a rule.

    field: iif, oif, saddr, daddr, proto, dport, sport, ct_state, ct_orig_dport,
           nfproto (ipv4/ipv6), addrtype_dst, pkttype, unknown.
    values: interface names (iptables `+` / nft `*` wildcards kept), CIDR prefixes,
            protocol names, ports "22" or ranges "30000-32767", ct states.
    family: "ip"/"ip6" for address matches that only exist for one family ("" otherwise).
    """

    field: str
    values: tuple[str, ...]
    negated: bool = False
    family: str = ""
    text: str = ""  # what the rule said, for evidence of unknown conditions


@dataclass(frozen=True, slots=True)
class Rule:
    matches: tuple[Match, ...]
    verdict: str  # accept | drop | reject | jump | goto | return | queue | "" (no verdict)
    target: str = ""  # chain for jump/goto
    logs: bool = False  # a log/LOG/NFLOG statement
    limited: bool = False  # a rate limit in front of the verdict (the rule may not always fire)
    text: str = ""  # the rule as the tool printed it (iptables) or a summary (nft)
    source: str = ""  # "nft -j list table inet filter: chain input, handle 4" or "file:line"

    @property
    def unconditional(self) -> bool:
        return not self.matches and not self.limited


@dataclass(frozen=True, slots=True)
class Chain:
    backend: str  # nftables | iptables-legacy | iptables-nft
    family: str  # ip | ip6 | inet | arp | bridge | netdev
    table: str
    name: str
    hook: str  # input, forward, ... or "" for a regular chain
    chain_type: str  # filter | nat | route | "" (regular chain)
    priority: int
    policy: str  # accept | drop | "" (regular chain)
    rules: tuple[Rule, ...]
    owner: str  # host | ufw | firewalld | docker | kube-proxy | calico | cilium | ...
    source: str  # where the chain came from, for evidence

    @property
    def base(self) -> bool:
        return bool(self.hook)

    @property
    def label(self) -> str:
        if self.backend == "nftables":
            return f"table {self.family} {self.table} chain {self.name}"
        tool = "ip6tables" if self.family == "ip6" else "iptables"
        variant = "legacy" if self.backend == "iptables-legacy" else "nft"
        return f"{tool}-{variant} -t {self.table} {self.name}"

    def families(self) -> frozenset[int]:
        """IP versions whose packets traverse this chain."""
        if self.family == "ip":
            return frozenset({4})
        if self.family == "ip6":
            return frozenset({6})
        if self.family == "inet":
            return frozenset({4, 6})
        return frozenset()
