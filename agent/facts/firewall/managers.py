"""The firewall managers' own words: ufw, firewalld and systemd unit states.

The live ruleset (nftables / iptables) is the truth about what the kernel does; these
are the managers' claims, needed to say WHICH manager owns the host firewall (CIS
Ubuntu 24.04 4.1.1 "a single firewall configuration utility"), whether it comes back at
boot, and what an operator would see in their own tool. Formats:

* `ufw status verbose` (ufw 0.36): "Status: active", "Logging: on (low)",
  "Default: deny (incoming), allow (outgoing), disabled (routed)", then a rule table.
* `firewall-cmd --list-all-zones` (firewalld 0.6-2.x): a zone header
  "public (default, active)" followed by indented "key: value" lines; rich rules
  continue on further indented lines.
* /etc/ufw/ufw.conf and /etc/default/ufw: shell-style KEY=value.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_LINES = 20_000
_UFW_DEFAULT = re.compile(r"(\w+) \((incoming|outgoing|routed)\)")
_ZONE_HEADER = re.compile(r"^(\S+)(?: \(([^)]*)\))?\s*$")


@dataclass(frozen=True, slots=True)
class UfwStatus:
    active: bool
    logging: str  # "on (low)", "off", "" when not shown
    defaults: Mapping[str, str]  # incoming/outgoing/routed -> deny|allow|reject|disabled
    rules: tuple[str, ...]  # the rule table lines, as ufw printed them


def parse_ufw_status(text: str) -> UfwStatus | None:
    """None when the text is not ufw's status output at all."""
    lines = text.splitlines()[:MAX_LINES]
    status = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Status:")), None)
    if status is None:
        return None
    logging = ""
    defaults: dict[str, str] = {}
    rules: list[str] = []
    in_table = False
    for line in lines:
        if line.startswith("Logging:"):
            logging = line.split(":", 1)[1].strip()[:64]
        elif line.startswith("Default:"):
            defaults = {direction: verdict for verdict, direction in _UFW_DEFAULT.findall(line)}
        elif line.startswith("--"):
            in_table = True
        elif in_table and line.strip():
            rules.append(" ".join(line.split())[:200])
    return UfwStatus(active=status == "active", logging=logging, defaults=defaults, rules=tuple(rules))


def parse_shell_assignments(text: str) -> dict[str, str]:
    """ufw.conf and /etc/default/ufw: KEY=value, values optionally quoted."""
    values: dict[str, str] = {}
    for line in text.splitlines()[:MAX_LINES]:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw, comments=True)
        except ValueError:
            words = [raw.strip("\"'")]
        values[key.strip()[:64]] = " ".join(words)[:256]
    return values


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    default: bool
    active: bool
    settings: Mapping[str, str]  # target, interfaces, sources, services, ports, ...
    rich_rules: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return self.settings.get("target", "default")

    def comparable(self) -> tuple[tuple[str, str], ...]:
        """What must agree between runtime and permanent configuration (interfaces are
        assigned at run time by NetworkManager, so they are left out)."""
        keys = ("target", "sources", "services", "ports", "protocols", "forward-ports", "source-ports",
                "icmp-blocks", "icmp-block-inversion", "masquerade")  # fmt: skip
        items = [(k, " ".join(sorted(self.settings.get(k, "").split()))) for k in keys]
        items.append(("rich rules", " | ".join(sorted(self.rich_rules))))
        return tuple(items)


@dataclass(frozen=True, slots=True)
class FirewalldInfo:
    running: bool
    state: str  # "running", "not running", ...
    default_zone: str
    zones: tuple[Zone, ...] = ()
    permanent_zones: tuple[Zone, ...] | None = None  # None when not gathered

    def zone(self, name: str) -> Zone | None:
        return next((z for z in self.zones if z.name == name), None)


def parse_zones(text: str) -> tuple[Zone, ...]:
    zones: list[Zone] = []
    name = ""
    attributes: list[str] = []
    settings: dict[str, str] = {}
    rich: list[str] = []
    in_rich = False

    def flush() -> None:
        if name:
            zones.append(
                Zone(name, "default" in attributes, "active" in attributes, dict(settings), tuple(rich))
            )

    for line in text.splitlines()[:MAX_LINES]:
        if not line.strip():
            continue
        if not line[0].isspace():
            header = _ZONE_HEADER.match(line)
            if header is None:
                continue
            flush()
            name = header.group(1)[:64]
            attributes = [a.strip() for a in (header.group(2) or "").split(",")]
            settings, rich, in_rich = {}, [], False
            continue
        stripped = line.strip()
        key, sep, value = stripped.partition(":")
        if sep and re.fullmatch(r"[a-z][a-z -]*", key) and not stripped.startswith("rule "):
            settings[key] = value.strip()[:1024]
            in_rich = key == "rich rules"
        elif in_rich:
            rich.append(stripped[:512])
    flush()
    return tuple(zones)


@dataclass(frozen=True, slots=True)
class UnitState:
    name: str  # nftables, firewalld, ufw, netfilter-persistent, iptables, ip6tables
    active: str  # active, inactive, failed, ... or "" when systemd does not know the unit
    enabled: str  # enabled, disabled, masked, static, ... or ""


def parse_units(text: str) -> tuple[UnitState, ...]:
    """Lines "<unit> <is-active> <is-enabled>" printed by the gather snippet."""
    units: list[UnitState] = []
    for line in text.splitlines()[:64]:
        parts = line.split()
        if parts and re.fullmatch(r"[a-z0-9-]{1,40}", parts[0]):
            units.append(UnitState(parts[0], *[*parts[1:3], "", ""][:2]))
    return tuple(units)


@dataclass(frozen=True, slots=True)
class UfwConfig:
    """What ufw will do at boot: ufw.conf ENABLED and the default policies."""

    enabled_at_boot: bool | None  # None when ufw.conf is missing
    defaults: Mapping[str, str] = field(default_factory=dict)  # DEFAULT_INPUT_POLICY, IPV6, ...
