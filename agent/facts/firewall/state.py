"""FirewallState, the firewall fact's value, and which manager runs the host firewall.

The state is plain data built by fact.py; "which managers are active" is derived from it
here, beside it, because the fact's lookup() reports it ("managers.active"). Judgements
that need the packet walk (input defaults) live in status.py, which builds on this
module; nothing here imports status.py or walk.py, so the firewall package has no cycle.

A manager is "active" by the best evidence the node offers: systemd's unit state where
systemd runs, the manager's own status (`ufw status`, `firewall-cmd --state`), and
otherwise the live ruleset itself: host-owned nftables base chains that do something,
or iptables rules that are not kube-proxy's, a CNI's, docker's, ufw's or firewalld's.
Lynis reports "no firewall" on nftables-only hosts because it asks only iptables; here
every backend counts, and kube-proxy or a CNI never counts as the host's firewall.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.facts.firewall.managers import FirewalldInfo, UfwConfig, UfwStatus, UnitState
from agent.facts.firewall.model import Chain, is_cluster_owner
from agent.facts.firewall.persisted import Persisted
from agent.facts.model import Observation


@dataclass(frozen=True, slots=True)
class NftTable:
    family: str
    name: str
    owner: str


@dataclass(frozen=True, slots=True)
class FirewallState:
    chains: tuple[Chain, ...]  # every live chain we could read, all backends and owners
    nft_tables: tuple[NftTable, ...]  # from `nft list tables` (also those we did not list)
    unreadable: tuple[str, ...]  # parts of the live ruleset that could not be read, and why
    systemd: bool
    units: tuple[UnitState, ...]
    ufw: UfwStatus | None  # None: ufw not installed
    ufw_config: UfwConfig | None
    firewalld: FirewalldInfo | None  # None: firewalld not installed
    firewalld_process: bool
    persisted: tuple[Persisted, ...]
    ipv6: bool  # the node has an IPv6 stack with IPv6 enabled
    external_iface4: str | None  # the interface of the default route: where "anyone" arrives
    external_iface6: str | None
    client_addr: str  # the scanning host's address as the node sees it (127.0.0.1 for local scans)
    server_port: int | None  # the SSH port we came in through

    def unit(self, name: str) -> UnitState | None:
        return next((u for u in self.units if u.name == name), None)

    def cluster_chains(self) -> tuple[str, ...]:
        """Chains and tables owned by kube-proxy or a CNI: reported, never the host firewall."""
        labels = [f"{c.label} ({c.owner})" for c in self.chains if is_cluster_owner(c.owner)]
        labels += [
            f"table {t.family} {t.name} ({t.owner})"
            for t in self.nft_tables
            if is_cluster_owner(t.owner)
            and not any(c.table == t.name and c.family == t.family for c in self.chains)
        ]
        return tuple(labels)

    def lookup(self, path: str) -> Observation | None:
        values: dict[str, object] = {
            "managers.active": tuple(m.name for m in active_managers(self)),
            "cluster_chains": self.cluster_chains(),
            "unreadable": self.unreadable,
            "ufw.active": None if self.ufw is None else self.ufw.active,
            "firewalld.running": None if self.firewalld is None else self.firewalld.running,
            "firewalld.default_zone": None if self.firewalld is None else self.firewalld.default_zone,
            "persisted.files": tuple(p.path for p in self.persisted),
            "ipv6": self.ipv6,
        }
        if path not in values:
            return None
        return Observation(values[path], "nft, iptables-save, ufw, firewall-cmd")


_PERSISTENCE_UNITS = {
    "nftables": ("nftables",),
    "iptables": ("netfilter-persistent", "iptables", "ip6tables"),
}


@dataclass(frozen=True, slots=True)
class Manager:
    name: str  # nftables | iptables | ufw | firewalld
    evidence: str
    source: str
    enabled_at_boot: bool | None  # None: cannot tell (no systemd)


def active_managers(state: FirewallState) -> tuple[Manager, ...]:
    found: list[Manager] = []
    firewalld = _firewalld(state)
    if firewalld is not None:
        found.append(firewalld)
    if state.ufw is not None and state.ufw.active:
        enabled = state.ufw_config.enabled_at_boot if state.ufw_config is not None else None
        found.append(Manager("ufw", "ufw status: active", "ufw status verbose", enabled))
    for name in ("nftables", "iptables"):
        manager = _ruleset_manager(state, name, ufw_or_firewalld=bool(found))
        if manager is not None:
            found.append(manager)
    return tuple(found)


def _enabled(state: FirewallState, *units: str) -> bool | None:
    if not state.systemd:
        return None
    return any((u := state.unit(name)) is not None and u.enabled == "enabled" for name in units)


def _firewalld(state: FirewallState) -> Manager | None:
    unit = state.unit("firewalld")
    enabled = _enabled(state, "firewalld")
    if state.firewalld is not None and state.firewalld.running:
        return Manager("firewalld", "firewall-cmd --state: running", "firewall-cmd --state", enabled)
    if unit is not None and unit.active == "active":
        return Manager("firewalld", "systemctl is-active firewalld: active", "systemctl", enabled)
    if not state.systemd and state.firewalld_process:
        return Manager("firewalld", "a firewalld process runs", "pgrep -x firewalld", None)
    return None


def _ruleset_manager(state: FirewallState, name: str, *, ufw_or_firewalld: bool) -> Manager | None:
    enabled = _enabled(state, *_PERSISTENCE_UNITS[name])
    for unit_name in _PERSISTENCE_UNITS[name]:
        unit = state.unit(unit_name)
        if unit is not None and unit.active == "active":
            return Manager(name, f"systemctl is-active {unit_name}: active", "systemctl", enabled)
    content = (
        nft_host_content(state) if name == "nftables" else iptables_host_content(state, ufw_or_firewalld)
    )
    if content:
        first = content[0]
        more = f" and {len(content) - 1} more" if len(content) > 1 else ""
        return Manager(name, f"live host rules: {first[0]}{more}", first[1], enabled)
    return None


def nft_host_content(state: FirewallState) -> list[tuple[str, str]]:
    """Native nftables base chains of the host that filter something: (what, source)."""
    out: list[tuple[str, str]] = []
    for chain in state.chains:
        doing = bool(chain.rules) or chain.policy == "drop"
        if chain.backend == "nftables" and chain.owner == "host" and chain.base and doing:
            out.append((f"{chain.label} (policy {chain.policy}, {len(chain.rules)} rules)", chain.source))
    return out


def iptables_host_content(
    state: FirewallState, ufw_or_firewalld: bool, family: str | None = None
) -> list[tuple[str, str]]:
    """iptables rules and policies that belong to no other manager or cluster component."""
    out: list[tuple[str, str]] = []
    owners = {(c.backend, c.family, c.table, c.name): c.owner for c in state.chains}
    docker = any(c.owner == "docker" for c in state.chains)
    for chain in state.chains:
        if not chain.backend.startswith("iptables") or chain.owner != "host":
            continue
        if family is not None and chain.family != family:
            continue
        for rule in chain.rules:
            target_owner = owners.get((chain.backend, chain.family, chain.table, rule.target), "host")
            if rule.verdict in ("jump", "goto") and target_owner != "host":
                continue
            out.append((rule.text, rule.source))
        if chain.policy == "drop" and not ufw_or_firewalld and not (docker and chain.hook == "forward"):
            out.append((f"{chain.label} policy DROP", chain.source))
    return out
