"""Who and where sudo matches against: accounts, groups and this host's names and addresses.

Built from what the gather script ships (getent group lines, /etc/passwd, uname -n and
`ip -o addr`), bounded in size because remote output is hostile.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.facts.sudoers.collect import int_or_none


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    uid: int | None
    gid: int | None
    groups: frozenset[str]  # group names (primary included) as far as the node told us
    gids: frozenset[int]


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    gid: int | None
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HostInfo:
    short: str
    long: str  # the fully-qualified name when the node resolves one, else uname -n
    interfaces: tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...]  # loopback excluded, as sudo


def parse_groups(lines: Iterable[str]) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    for line in lines:
        fields = line.split(":")
        if len(fields) < 4 or not fields[0]:
            continue
        members = tuple(m for m in fields[3].split(",") if m)
        groups.setdefault(fields[0], Group(fields[0], int_or_none(fields[2]), members[:10_000]))
    return groups


def parse_passwd(text: str) -> list[tuple[str, int | None, int | None, int]]:
    """(name, uid, gid, line number) of each well-formed /etc/passwd line."""
    rows = []
    for number, line in enumerate(text.splitlines()[:100_000], start=1):
        fields = line.split(":")
        if len(fields) >= 7 and fields[0] and not fields[0].startswith(("#", "+", "-")):
            rows.append((fields[0], int_or_none(fields[2]), int_or_none(fields[3]), number))
    return rows


def person(
    name: str, uid: int | None, gid: int | None, groups: Mapping[str, Group], extra: Iterable[str] = ()
) -> Person:
    names = {g.name for g in groups.values() if name in g.members or (gid is not None and g.gid == gid)}
    names.update(extra)
    gids = {g.gid for g in groups.values() if g.name in names and g.gid is not None}
    if gid is not None:
        gids.add(gid)
    return Person(name, uid, gid, frozenset(names), frozenset(gids))


def parse_interfaces(text: str) -> tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...]:
    found = []
    for line in text.splitlines()[:256]:
        parts = line.split()
        if len(parts) != 2:
            continue
        try:
            interface = ipaddress.ip_interface(parts[1])
        except ValueError:
            continue
        if not interface.ip.is_loopback:
            found.append(interface)
    return tuple(found)
