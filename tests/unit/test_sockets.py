"""Listening sockets: ss output captured on Debian 12, and the /proc/net fallback."""

from __future__ import annotations

from pathlib import Path

from agent.facts import sockets
from agent.facts.model import RawSection, Unavailable
from agent.facts.sockets import Sockets

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts" / "sockets"


def test_ss_golden_families_and_processes() -> None:
    data = (FIXTURES / "debian12_kube_proxy_accept.out").read_bytes()
    found = sockets.parse(RawSection("sockets", data, b"", 0, False), {})
    assert isinstance(found, Sockets)
    by_port = {(s.proto, s.address, s.port): s for s in found.listeners}
    assert by_port[("tcp", "*", 10250)].families == frozenset({4, 6})  # dual-stack
    assert by_port[("tcp", "::", 22)].families == frozenset({6})  # IPV6_V6ONLY
    assert by_port[("tcp", "0.0.0.0", 22)].families == frozenset({4})  # noqa: S104
    assert by_port[("udp", "0.0.0.0", 8472)].process == "python"  # noqa: S104
    assert by_port[("tcp", "127.0.0.1", 10248)].loopback_only
    assert by_port[("udp", "127.0.0.53", 53)].loopback_only
    exposed = found.lookup("exposed")
    assert exposed is not None and "tcp/*:10250 (python)" in exposed.value  # type: ignore[operator]
    assert len(found.exposed()) == 4


def test_ss_device_bound_and_mapped_addresses() -> None:
    text = (
        "udp UNCONN 0 0 127.0.0.54%lo:53 0.0.0.0:*\n"
        "tcp LISTEN 0 128 [::ffff:192.0.2.20]:80 [::]:*\n"
        "tcp LISTEN 0 128 [fe80::1]%eth0:8080 [::]:*\n"
    )
    lo, mapped, link = sockets.parse_ss(text)
    assert lo.interface == "lo" and lo.loopback_only
    assert mapped.address == "192.0.2.20" and mapped.families == frozenset({4})
    assert link.address == "fe80::1" and link.interface == "eth0" and not link.loopback_only


def test_proc_fallback_decodes_little_endian_and_assumes_dual_stack() -> None:
    # /proc/net/tcp6 and /proc/net/udp as Linux prints them (captured on Debian 12; the
    # 10.0.0.1:8472 line was added by hand): a dual-stack :::10250, UDP 127.0.0.54:53.
    data = (FIXTURES / "debian12_proc.out").read_bytes()
    parsed = sockets.parse(RawSection("sockets", data, b"", 0, False), {})
    assert isinstance(parsed, Sockets) and parsed.source.startswith("/proc/net")
    found = list(parsed.listeners)
    assert [(s.proto, s.address, s.port) for s in found] == [
        ("tcp", "::", 10250),
        ("udp", "127.0.0.54", 53),
        ("udp", "10.0.0.1", 8472),
    ]
    assert found[0].families == frozenset({4, 6})  # IPV6_V6ONLY is not in /proc
    assert found[1].loopback_only and not found[2].loopback_only


def test_failures_are_unavailable() -> None:
    assert isinstance(sockets.parse(RawSection("sockets", b"", b"boom", 1, False), {}), Unavailable)
    assert isinstance(sockets.parse(RawSection("sockets", b"what\n", b"", 0, False), {}), Unavailable)
