"""Judgements over the firewall state that need the packet walk: the input defaults.

Which manager is active is state.py's job (the fact's lookup() reports it); this module
asks walk.py what happens to new inbound traffic that no rule mentions.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from agent.facts.firewall.state import FirewallState
from agent.facts.firewall.walk import HookResult, Packet, quiet_port, walk


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
