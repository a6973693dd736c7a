"""Is auditd installed, running and enabled at boot (catalogue AUD-01)?

Its own fact, never Absent: "auditd is not installed" is the finding of
audit_auditd_installed, while the `audit` fact (rules, auditd.conf, file modes) is
Absent on such a node so those checks are not applicable rather than failing
once per setting. Running is decided from the process table (a process whose comm is
`auditd`), cross-checked with /run/auditd.pid; "enabled" is systemd's answer when
systemd is there, else unknown (OpenRC, containers), which is shown, not failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.facts import parts
from agent.facts.model import FactValue, Observation, RawSection, Unavailable
from agent.facts.parts import part_or_empty, split_parts

SCRIPT = (
    parts.SHELL
    + r"""
nw_which() { command -v "$1"; }
nw_procs() {
  for nw_d in /proc/[0-9]*; do
    if read -r nw_c 2>/dev/null <"$nw_d/comm" && [ "$nw_c" = auditd ]; then echo "${nw_d#/proc/}"; fi
  done
  return 0
}
nw_part binary 1024 nw_which auditd
nw_part processes 65536 nw_procs
nw_file pidfile 64 /run/auditd.pid
if command -v systemctl >/dev/null 2>&1; then
  nw_part enabled 1024 systemctl is-enabled auditd.service
fi
"""
)

# systemctl is-enabled: states that start the unit at boot, and states that never do.
_ENABLED = frozenset({"enabled", "enabled-runtime", "static", "indirect", "generated", "alias", "linked"})
_DISABLED = frozenset({"disabled", "masked", "masked-runtime", "linked-runtime"})


@dataclass(frozen=True, slots=True)
class AuditdService:
    installed: bool
    binary: str
    pids: tuple[int, ...]
    pidfile: int | None
    enabled: str  # a systemctl is-enabled state, or "unknown"

    @property
    def running(self) -> bool:
        return bool(self.pids)

    def lookup(self, path: str) -> Observation | None:
        values: dict[str, tuple[object, str]] = {
            "installed": (self.installed, "command -v auditd"),
            "running": (
                self.running,
                "/proc/*/comm == auditd" + (", /run/auditd.pid" if self.pidfile else ""),
            ),
            "enabled": (self.enabled, "systemctl is-enabled auditd.service"),
        }
        if path not in values:
            return None
        value, source = values[path]
        return Observation(value, source)


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    found = split_parts(section.text)
    binary = part_or_empty(found, "binary")
    processes = part_or_empty(found, "processes")
    if not processes.ok:
        return Unavailable(f"the process table could not be read: {processes.error_text or 'no output'}")
    pids = tuple(
        int(p) for p in (line.strip() for line in processes.lines[:64]) if p.isdigit() and len(p) < 10
    )
    pidfile_text = part_or_empty(found, "pidfile").text.strip()
    enabled_part = part_or_empty(found, "enabled")
    state = enabled_part.text.strip().splitlines()[0].strip() if enabled_part.text.strip() else ""
    return AuditdService(
        installed=binary.ok and bool(binary.text.strip()),
        binary=binary.text.strip()[:256],
        pids=pids,
        pidfile=int(pidfile_text) if pidfile_text.isdigit() and len(pidfile_text) < 10 else None,
        enabled=state if state in _ENABLED | _DISABLED else "unknown",
    )
