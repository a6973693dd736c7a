"""FW-10: the live firewall is the one the node will load at boot, and the other way round.

A good /etc/nftables.conf that was never loaded protects nothing today; live rules that
were never saved vanish at the next reboot (CIS Ubuntu 24.04 4.3.10, SSG
nftables_rules_permanent, service_nftables_enabled, package_iptables-persistent_installed).

"Same" means same behaviour, not same text: both rulesets are walked with the same probe
packets (new TCP/UDP to a quiet port and to every port the rules name, IPv4 and IPv6,
loopback, replies, forwarding, the bastion's SSH) and any probe with a different verdict
is a difference, shown with both sides. So the stock Debian nftables.conf (accept-all
chains, never loaded) equals an empty live ruleset, and a rules.v4 hand-written without
`-m tcp` equals what iptables-save prints.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence

from agent.facts.firewall.model import Chain, is_cluster_owner
from agent.facts.firewall.persisted import Persisted
from agent.facts.firewall.state import FirewallState, active_managers, iptables_host_content, nft_host_content
from agent.facts.firewall.walk import Packet, walk
from agent.facts.model import FactValue
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.predicates_firewall_common import decision_text, firewall, listing, verdict
from agent.rules.verdict import Verdict

_Facts = Mapping[str, FactValue]
MAX_PROBE_PORTS = 48
_QUIET = 47321


def probes(
    chains: Iterable[Chain], *, with_ports: bool, bastion: str, ssh_port: int | None
) -> list[tuple[Packet, str]]:
    """The packets both rulesets are asked about, each with its hook."""
    ports: dict[int, None] = {_QUIET: None}
    if with_ports:
        for chain in chains:
            for rule in chain.rules:
                for match in rule.matches:
                    if match.field == "dport":
                        for value in match.values:
                            low = value.partition("-")[0]
                            if low.isdigit():
                                ports[int(low)] = None
    out: list[tuple[Packet, str]] = []
    for family in (4, 6):
        for port in list(ports)[:MAX_PROBE_PORTS]:
            out += [(Packet(family, proto, port, None), "input") for proto in ("tcp", "udp")]
        out.append((Packet(family, "tcp", _QUIET, None), "forward"))
        if with_ports:
            lo = ipaddress.ip_address("127.0.0.1" if family == 4 else "::1")
            out.append((Packet(family, "tcp", _QUIET, "lo", lo), "input"))
            out.append((Packet(family, "tcp", _QUIET, None, None, "established"), "input"))
    if bastion and ssh_port is not None:
        try:
            address = ipaddress.ip_address(bastion)
            out.append((Packet(address.version, "tcp", ssh_port, None, address), "input"))
        except ValueError:
            pass
    return out


def differences(
    live: Sequence[Chain], saved: Sequence[Chain], packets: Sequence[tuple[Packet, str]]
) -> list[str]:
    found: list[str] = []
    for packet, hook in packets:
        now, boot = walk(live, packet, hook), walk(saved, packet, hook)
        if now.accepted != boot.accepted:
            found.append(
                f"{hook} {packet.describe()}: live {'accepts' if now.accepted else 'drops'} "
                f"({decision_text(now.deciding)}), persisted {'accepts' if boot.accepted else 'drops'} "
                f"({decision_text(boot.deciding)})"
            )
    return found


def _host(chains: Iterable[Chain]) -> list[Chain]:
    return [c for c in chains if not is_cluster_owner(c.owner)]


def rules_persistent(facts: _Facts, node: Node) -> Verdict:
    state = firewall(facts)
    if not isinstance(state, FirewallState):
        return state
    evidence: list[Evidence] = []
    evidence += _nftables(state)
    evidence += _iptables(state)
    evidence += _ufw(state)
    evidence += _firewalld(state)
    evidence += _boot_units(state)
    if evidence:
        return verdict(Status.FAIL, evidence[0].observed, evidence[:10])
    files = ", ".join(p.path for p in state.persisted) or "no persisted ruleset files"
    return verdict(Status.PASS, f"the live firewall matches what boot will load ({files})")


def _nftables(state: FirewallState) -> list[Evidence]:
    live = _host(c for c in state.chains if c.backend == "nftables" and c.owner == "host")
    files = [p for p in state.persisted if p.backend == "nftables"]
    out: list[Evidence] = []
    for saved in files:
        if saved.valid is False:
            out.append(
                Evidence(f"{saved.path} does not load: {saved.error}", "a ruleset nft -c accepts", saved.path)
            )
            continue
        diff = _compare(live, _host(saved.chains), saved, state)
        if diff:
            expected = f"the live nftables ruleset behaves like {saved.path}"
            observed = f"{saved.path} is not what runs: {listing(diff, 3)}"
            if not live:
                observed = (
                    f"{saved.path} was never loaded: no host nftables table is live; {listing(diff, 2)}"
                )
            out.append(Evidence(observed[:900], expected, f"{saved.method} vs nft -j list ruleset"))
    configured = [p for p in files if p.chains]
    if nft_host_content(state) and not configured:
        where = ", ".join(p.path for p in files) or "/etc/nftables.conf, /etc/sysconfig/nftables.conf"
        first = nft_host_content(state)[0]
        observed = f"live nftables rules are not saved ({first[0]}); checked {where}"
        out.append(Evidence(observed, "the live ruleset saved where nftables.service loads it", first[1]))
    return out


def _compare(live: list[Chain], saved: list[Chain], persisted: Persisted, state: FirewallState) -> list[str]:
    if not persisted.complete:  # text fallback: only base chains and policies are known
        live_policies = [c for c in live if c.base]
        return differences(
            _policies_only(live_policies), saved, probes((), with_ports=False, bastion="", ssh_port=None)
        )
    packets = probes([*live, *saved], with_ports=True, bastion=state.client_addr, ssh_port=state.server_port)
    return differences(live, saved, packets)


def _policies_only(chains: Sequence[Chain]) -> list[Chain]:
    from dataclasses import replace

    return [replace(c, rules=()) for c in chains]


def _iptables(state: FirewallState) -> list[Evidence]:
    out: list[Evidence] = []
    ufw_or_firewalld = any(m.name in ("ufw", "firewalld") for m in active_managers(state))
    for family in ("ip", "ip6"):
        live = _host(c for c in state.chains if c.backend.startswith("iptables") and c.family == family)
        files = [p for p in state.persisted if p.backend == "iptables" and p.family == family]
        for saved in files:
            if saved.error:
                out.append(
                    Evidence(f"{saved.path} cannot be read: {saved.error}", "a readable ruleset", saved.path)
                )
                continue
            diff = _compare(live, _host(saved.chains), saved, state)
            if diff:
                observed = f"{saved.path} differs from the live {family} rules: {listing(diff, 3)}"
                expected = f"live iptables rules behave like {saved.path}"
                out.append(Evidence(observed[:900], expected, f"{saved.path} vs iptables-save"))
        content = iptables_host_content(state, ufw_or_firewalld, family)
        if content and not files and not ufw_or_firewalld:
            where = "/etc/iptables/rules.v6, /etc/sysconfig/ip6tables" if family == "ip6" else (
                "/etc/iptables/rules.v4, /etc/sysconfig/iptables")  # fmt: skip
            observed = f"live {family} iptables rules are not saved (e.g. {content[0][0]}); checked {where}"
            expected = "the live rules saved where iptables-persistent/iptables-services load them"
            out.append(Evidence(observed, expected, content[0][1]))
    return out


def _ufw(state: FirewallState) -> list[Evidence]:
    if state.ufw is None or state.ufw_config is None or state.ufw_config.enabled_at_boot is None:
        return []
    if state.ufw.active == state.ufw_config.enabled_at_boot:
        return []
    live = "active" if state.ufw.active else "inactive"
    boot = "yes" if state.ufw_config.enabled_at_boot else "no"
    return [
        Evidence(f"ufw is {live} but ENABLED={boot}", "ufw status and ENABLED agree", "/etc/ufw/ufw.conf")
    ]


def _firewalld(state: FirewallState) -> list[Evidence]:
    info = state.firewalld
    if info is None or not info.running or info.permanent_zones is None:
        return []
    permanent = {z.name: z for z in info.permanent_zones}
    out: list[Evidence] = []
    for zone in info.zones:
        saved = permanent.get(zone.name)
        if saved is None:
            observed = f"runtime zone {zone.name} is not in the permanent configuration"
            out.append(
                Evidence(observed, "runtime == permanent", "firewall-cmd --permanent --list-all-zones")
            )
            continue
        changed = [k for (k, v), (_, w) in zip(zone.comparable(), saved.comparable(), strict=True) if v != w]
        if changed:
            observed = f"zone {zone.name}: runtime and permanent differ in {', '.join(changed)}"
            out.append(Evidence(observed, "runtime == permanent (firewall-cmd --runtime-to-permanent)",
                                "firewall-cmd --list-all-zones vs --permanent --list-all-zones"))  # fmt: skip
    return out


def _boot_units(state: FirewallState) -> list[Evidence]:
    out: list[Evidence] = []
    for manager in active_managers(state):
        if manager.enabled_at_boot is False and manager.name != "ufw":  # ufw: ENABLED= above
            observed = f"{manager.name} is active but not enabled at boot"
            out.append(
                Evidence(observed, f"{manager.name} enabled (systemctl enable)", "systemctl is-enabled")
            )
    return out


PREDICATES: Mapping[str, Callable[[_Facts, Node], Verdict]] = {"firewall_rules_persistent": rules_persistent}
