"""Listening TCP and UDP sockets: what the node offers to the network (catalogue FW-05).

`ss -lntup` (iproute2) is the source: numeric, listening TCP and unconnected UDP, with
the owning process (we run as root). Its address column tells the families apart:
`0.0.0.0:22` is IPv4 only, `[::]:22` is an IPv6-only socket, `*:10250` is a dual-stack
socket that also takes IPv4 (`bindv6only=0`), `127.0.0.53%lo:53` is bound to a device.
Without ss (busybox images) /proc/net/{tcp,udp}{,6} is read instead; it cannot show
`IPV6_V6ONLY`, so a `::` socket is then taken as dual-stack, the cautious reading.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from agent.facts.model import FactValue, Observation, RawSection, Unavailable

SCRIPT = r"""
if command -v ss >/dev/null 2>&1; then
  echo "source ss"
  ss -lntup
else
  echo "source proc"
  for nw_f in /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6; do
    if [ -r "$nw_f" ]; then echo "file $nw_f"; cat "$nw_f"; fi
  done
fi
"""

MAX_SOCKETS = 20_000


@dataclass(frozen=True, slots=True)
class Listener:
    proto: str  # tcp | udp
    address: str  # "0.0.0.0", "::", "*" (dual-stack any), "127.0.0.53", ...
    port: int
    families: frozenset[int]  # IP versions that can reach it: {4}, {6} or {4, 6}
    interface: str  # bound device ("lo"), or ""
    process: str  # "sshd" (first process name), or ""
    source: str

    @property
    def loopback_only(self) -> bool:
        if self.interface == "lo":
            return True
        if self.address in ("*", ""):
            return False
        try:
            return ipaddress.ip_address(self.address).is_loopback
        except ValueError:
            return False

    @property
    def label(self) -> str:
        where = f"[{self.address}]" if ":" in self.address else self.address
        who = f" ({self.process})" if self.process else ""
        return f"{self.proto}/{where}:{self.port}{who}"


@dataclass(frozen=True, slots=True)
class Sockets:
    listeners: tuple[Listener, ...]
    source: str  # "ss -lntup" or "/proc/net/*"

    def exposed(self) -> tuple[Listener, ...]:
        return tuple(s for s in self.listeners if not s.loopback_only)

    def on_port(self, proto: str, low: int, high: int | None = None) -> tuple[Listener, ...]:
        return tuple(s for s in self.listeners if s.proto == proto and low <= s.port <= (high or low))

    def lookup(self, path: str) -> Observation | None:
        if path == "listening":
            return Observation(tuple(s.label for s in self.listeners), self.source)
        if path == "exposed":
            return Observation(tuple(s.label for s in self.exposed()), self.source)
        return None


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    first, _, rest = section.text.partition("\n")
    if first.strip() == "source ss":
        return Sockets(tuple(parse_ss(rest)), "ss -lntup")
    if first.strip() == "source proc":
        return Sockets(tuple(parse_proc(rest)), "/proc/net/tcp,tcp6,udp,udp6")
    return Unavailable("the socket section did not say where its list came from")


def parse_ss(text: str) -> list[Listener]:
    out: list[Listener] = []
    for number, line in enumerate(text.splitlines()[:MAX_SOCKETS], start=1):
        words = line.split()
        if len(words) < 5 or words[0] not in ("tcp", "udp"):
            continue  # the header ("Netid State ...") and anything odd
        proto, local = words[0], words[4]
        parsed = _ss_address(local)
        if parsed is None:
            continue
        address, port, interface = parsed
        process = ""
        rest = " ".join(words[6:])
        if 'users:(("' in rest:
            process = rest.split('users:(("', 1)[1].split('"', 1)[0][:64]
        out.append(
            Listener(
                proto, address, port, _families(address), interface, process, f"ss -lntup (line {number})"
            )
        )
    return out


def _ss_address(text: str) -> tuple[str, int, str] | None:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    interface = ""
    if "%" in host:
        host, _, interface = host.partition("%")
        interface = interface.rstrip("]")[:32]
    host = host.strip("[]")
    if host.startswith("::ffff:") and "." in host:
        host = host[len("::ffff:") :]
    return host, int(port), interface


def _families(address: str) -> frozenset[int]:
    if address == "*":
        return frozenset({4, 6})
    return frozenset({6}) if ":" in address else frozenset({4})


_PROC_STATES = {"tcp": "0A", "udp": "07"}  # LISTEN, and UDP's unconnected CLOSE


def parse_proc(text: str) -> list[Listener]:
    out: list[Listener] = []
    current = ""
    for line in text.splitlines()[: MAX_SOCKETS * 4]:
        if line.startswith("file "):
            current = line[5:].strip()
            continue
        words = line.split()
        if len(words) < 4 or not current or ":" not in words[1]:
            continue
        proto = "udp" if "udp" in current else "tcp"
        if words[3] != _PROC_STATES[proto]:
            continue
        hex_address, _, hex_port = words[1].partition(":")
        address = _proc_address(hex_address)
        if address is None or not all(c in "0123456789ABCDEFabcdef" for c in hex_port):
            continue
        families = _families(address)
        if address == "::":
            families = frozenset({4, 6})  # IPV6_V6ONLY is not in /proc: assume dual-stack
        out.append(Listener(proto, address, int(hex_port, 16), families, "", "", current))
    return out


def _proc_address(value: str) -> str | None:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    if len(raw) == 16:  # four host-order 32-bit words
        swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        address = ipaddress.IPv6Address(swapped)
        mapped = address.ipv4_mapped
        return str(mapped) if mapped is not None else str(address)
    return None
