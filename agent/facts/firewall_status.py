"""Derived firewall state: which manager runs the host firewall, and the input defaults.

A manager is "active" by the best evidence the node offers: systemd's unit state where
systemd runs, the manager's own status (`ufw status`, `firewall-cmd --state`), and
otherwise the live ruleset itself: host-owned nftables base chains that do something,
or iptables rules that are not kube-proxy's, a CNI's, docker's, ufw's or firewalld's.
Lynis reports "no firewall" on nftables-only hosts because it asks only iptables; here
every backend counts, and kube-proxy or a CNI never counts as the host's firewall.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from agent.facts.firewall import FirewallState
from agent.facts.firewall_model import MANAGER_OWNERS, RUNTIME_OWNERS, Chain, is_cluster_owner
from agent.facts.firewall_walk import HookResult, Packet, quiet_port, walk

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


def owner_is_host_firewall(owner: str) -> bool:
    return owner == "host" or owner in MANAGER_OWNERS


def is_foreign(chain: Chain) -> bool:
    """Chains that are never the host firewall: cluster networking and container runtimes."""
    return is_cluster_owner(chain.owner) or chain.owner in RUNTIME_OWNERS


@dataclass(frozen=True, slots=True)
class InputDefault:
    family: int
    deny: bool
    port: int  # the "no rule mentions it" port the probes used
    tcp: HookResult
    udp: HookResult


def external_iface(state: FirewallState, family: int) -> str | None:
    return state.external_iface4 if family == 4 else state.external_iface6


def input_default(state: FirewallState, family: int) -> InputDefault:
    """Is new inbound traffic that no rule allows dropped? Probed with TCP and UDP to a
    port no rule mentions, from an arbitrary outside address on the default-route link."""
    port = quiet_port(state.chains)
    iface = external_iface(state, family)
    results = [walk(state.chains, Packet(family, proto, port, iface)) for proto in ("tcp", "udp")]
    tcp, udp = results
    return InputDefault(family, not tcp.accepted and not udp.accepted, port, tcp, udp)


def loopback_address(family: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address("127.0.0.1" if family == 4 else "::1")
