"""Kernel parameters: the running values (`sysctl -a`) and what boot will set (sysctl.d).

Shared by every kernel check (forwarding here; redirects, rp_filter, ASLR... later).
Runtime values come from `sysctl -a`; per-interface `net.ipv4.conf.<if>.*` and
`neigh.<if>.*` keys are kept only for `all`, `default` and `lo`, because a Kubernetes
node with hundreds of veth interfaces would print megabytes of them.

Persisted values follow sysctl.d(5) / systemd-sysctl: *.conf files from /etc/sysctl.d,
/run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d and /lib/sysctl.d, a file
name in an earlier directory hiding the same name in a later one, all read in file-name
order, then /etc/sysctl.conf; the last assignment wins. Every line arrives prefixed
with its file and line number, so file contents cannot forge the framing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from agent.facts.model import FactValue, Observation, RawSection, Unavailable

SCRIPT = r"""
sysctl -a 2>/dev/null | awk '!/^net\.ipv[46]\.(conf|neigh)\./ ||
  /^net\.ipv[46]\.(conf|neigh)\.(all|default|lo)\./ { print "=\t" $0 }'
for nw_d in /etc/sysctl.d /run/sysctl.d /usr/local/lib/sysctl.d /usr/lib/sysctl.d /lib/sysctl.d; do
  for nw_f in "$nw_d"/*.conf; do
    if [ -f "$nw_f" ]; then awk -v f="$nw_f" '{ print f "\t" NR "\t" $0 }' "$nw_f" | head -c 262144; fi
  done
done
if [ -f /etc/sysctl.conf ]; then
  awk '{ print "/etc/sysctl.conf\t" NR "\t" $0 }' /etc/sysctl.conf | head -c 262144
fi
"""

_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
MAX_LINES = 200_000


@dataclass(frozen=True, slots=True)
class Setting:
    value: str
    source: str  # "/etc/sysctl.d/99-k8s.conf:3"


@dataclass(frozen=True, slots=True)
class Sysctl:
    runtime: Mapping[str, str]  # key -> value, whitespace collapsed
    persisted: Mapping[str, Setting]  # key -> the assignment boot will apply last

    def lookup(self, path: str) -> Observation | None:
        """`net.ipv4.ip_forward` is the running value; `persisted:<key>` the boot value."""
        if path.startswith("persisted:"):
            key = normalise_key(path.split(":", 1)[1])
            setting = self.persisted.get(key)
            if setting is None:
                return None
            return Observation(setting.value, setting.source)
        key = normalise_key(path)
        if key not in self.runtime:
            return None
        return Observation(self.runtime[key], f"sysctl -a (/proc/sys/{key.replace('.', '/')})")


def normalise_key(key: str) -> str:
    # sysctl.d accepts "/" as the separator too (sysctl.d(5)).
    key = key.strip()
    return key.replace("/", ".") if "/" in key and "." not in key.split("/", 1)[0] else key


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    runtime: dict[str, str] = {}
    files: dict[str, list[tuple[int, str]]] = {}
    for line in section.text.splitlines()[:MAX_LINES]:
        if line.startswith("=\t"):
            key, sep, value = line[2:].partition(" = ")
            if sep:
                runtime[key.strip()[:256]] = " ".join(value.split())[:1024]
            continue
        path, sep, rest = line.partition("\t")
        number, sep2, text = rest.partition("\t")
        if sep and sep2 and number.isdigit():
            files.setdefault(path[:512], []).append((int(number), text))
    if not runtime:
        return Unavailable("sysctl -a printed no parameters")
    return Sysctl(runtime=runtime, persisted=_persisted(files))


def _persisted(files: Mapping[str, list[tuple[int, str]]]) -> dict[str, Setting]:
    chosen: dict[str, str] = {}  # basename -> path: the earliest directory wins
    for directory in _DIRS:
        for path in files:
            if os.path.dirname(path) == directory:
                chosen.setdefault(os.path.basename(path), path)
    order = [chosen[name] for name in sorted(chosen)]
    if "/etc/sysctl.conf" in files:
        order.append("/etc/sysctl.conf")
    settings: dict[str, Setting] = {}
    for path in order:
        for number, text in files[path]:
            line = text.strip()
            if not line or line[0] in "#;":
                continue
            key, sep, value = line.partition("=")
            if not sep:
                continue
            key = normalise_key(key.lstrip("-"))  # "-key = v": ignore errors, same value
            settings[key[:256]] = Setting(" ".join(value.split())[:1024], f"{path}:{number}")
    return settings
