"""Who and what the node is: os-release, kernel, and whether the script ran as root.

Distro differences are facts, not assumptions: checks choose by `os.id` and
`os.id_like`, which come from the node's own /etc/os-release.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from agent.facts.model import FactValue, Observation, RawSection, Unavailable

SCRIPT = r"""
if [ -r /etc/os-release ]; then cat /etc/os-release
elif [ -r /usr/lib/os-release ]; then cat /usr/lib/os-release; fi
printf 'NODEWARD_KERNEL=%s\n' "$(uname -r)"
printf 'NODEWARD_ARCH=%s\n' "$(uname -m)"
printf 'NODEWARD_HOSTNAME=%s\n' "$(uname -n)"
printf 'NODEWARD_EUID=%s\n' "$(id -u)"
"""


@dataclass(frozen=True, slots=True)
class SystemInfo:
    os_id: str  # "debian", "ubuntu", "rhel", ... ("" when os-release is missing)
    os_id_like: tuple[str, ...]
    os_version_id: str
    os_pretty_name: str
    kernel: str
    arch: str
    hostname: str
    root: bool  # the gather script ran with euid 0

    @property
    def os_family(self) -> str:
        """debian, rhel, suse, alpine or the id itself: what package tooling to expect."""
        ids = (self.os_id, *self.os_id_like)
        for family, members in _FAMILIES.items():
            if any(i in members for i in ids):
                return family
        return self.os_id

    def lookup(self, path: str) -> Observation | None:
        values: dict[str, object] = {
            "os.id": self.os_id,
            "os.family": self.os_family,
            "os.version_id": self.os_version_id,
            "os.pretty_name": self.os_pretty_name,
            "kernel": self.kernel,
            "arch": self.arch,
            "hostname": self.hostname,
            "root": self.root,
        }
        if path not in values:
            return None
        return Observation(values[path], "/etc/os-release, uname, id")


_FAMILIES: Mapping[str, frozenset[str]] = {
    "debian": frozenset({"debian", "ubuntu"}),
    "rhel": frozenset({"rhel", "fedora", "centos", "rocky", "almalinux", "amzn", "ol"}),
    "suse": frozenset({"suse", "opensuse", "sles", "opensuse-leap"}),
    "alpine": frozenset({"alpine"}),
}


def parse_assignments(text: str) -> dict[str, str]:
    """os-release is shell-like KEY=value with optional quotes (os-release(5))."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw, posix=True)
        except ValueError:
            words = [raw.strip("\"'")]
        values[key.strip()] = " ".join(words)[:512]
    return values


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    values = parse_assignments(section.text)
    if "NODEWARD_KERNEL" not in values:
        return Unavailable(f"system facts missing: {section.error_text or 'no message'}")
    return SystemInfo(
        os_id=values.get("ID", "").lower(),
        os_id_like=tuple(values.get("ID_LIKE", "").lower().split()),
        os_version_id=values.get("VERSION_ID", ""),
        os_pretty_name=values.get("PRETTY_NAME", ""),
        kernel=values["NODEWARD_KERNEL"],
        arch=values.get("NODEWARD_ARCH", ""),
        hostname=values.get("NODEWARD_HOSTNAME", ""),
        root=values.get("NODEWARD_EUID") == "0",
    )
