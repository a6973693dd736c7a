"""The Linux audit configuration: loaded rules, auditd.conf actions, boot flags, file modes.

Rules are what the kernel has loaded (`auditctl -l`), not what rules.d says: a rules
file that augenrules never loaded audits nothing. `auditctl -s` gives the kernel's
audit state (`enabled 2` = rules immutable). auditd.conf is read like auditd reads it
(`key = value`, case-insensitive values, the last assignment wins), and every setting
the checks use carries its file:line, or "auditd.conf(5) default" when unset, with the
documented defaults. File modes are `stat` of the audit configuration, the log
directory auditd.conf actually names (log_file), its files, and the audit tools.

Absent when auditd is not installed: audit_auditd_installed reports that once.
"""

from __future__ import annotations

import posixpath
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from agent.facts import bootargs, parts
from agent.facts.bootargs import BootArgs
from agent.facts.model import FactValue, Observation, RawSection, Unavailable
from agent.facts.parts import Part, part_or_empty, split_parts

SCRIPT = (
    parts.SHELL
    + r"""
nw_modes() {
  nw_log=$(sed -n 's/^[[:space:]]*log_file[[:space:]]*=[[:space:]]*//p' /etc/audit/auditd.conf 2>/dev/null \
    | tail -n 1)
  nw_dir=$(dirname -- "${nw_log:-/var/log/audit/audit.log}")
  for nw_f in /etc/audit /etc/audit/*.conf /etc/audit/rules.d /etc/audit/rules.d/*.rules \
      /etc/audit/audit.rules "$nw_dir" "$nw_dir"/*; do
    if [ -e "$nw_f" ] || [ -L "$nw_f" ]; then stat -c '%f %u %g %U %G %n' -- "$nw_f"; fi
  done
  for nw_t in auditctl aureport ausearch autrace auditd augenrules; do
    if nw_p=$(command -v "$nw_t"); then stat -L -c '%f %u %g %U %G %n' -- "$nw_p"; fi
  done
  return 0
}
nw_part rules 4194304 auditctl -l
nw_part status 8192 auditctl -s
nw_file conf 262144 /etc/audit/auditd.conf
nw_file cmdline 65536 /proc/cmdline
nw_part modes 262144 nw_modes
"""
)

CONF = "/etc/audit/auditd.conf"
DEFAULT_SOURCE = "auditd.conf(5) default"
TOOLS = frozenset({"auditctl", "aureport", "ausearch", "autrace", "auditd", "augenrules"})

# auditd.conf(5) (audit 3.x) defaults for the settings the checks read.
DEFAULTS: Mapping[str, str] = {
    "log_file": "/var/log/audit/audit.log",
    "log_group": "root",
    "max_log_file": "8",
    "max_log_file_action": "rotate",
    "space_left_action": "syslog",
    "admin_space_left_action": "suspend",
    "disk_full_action": "suspend",
    "disk_error_action": "syslog",
}
_CONF_LINE = re.compile(r"^\s*([A-Za-z_]{1,64})\s*=\s*(.*?)\s*$")
_STAT = re.compile(r"^([0-9a-f]{1,8}) (\d{1,10}) (\d{1,10}) (\S{1,64}) (\S{1,64}) (/.{0,4095})$")


@dataclass(frozen=True, slots=True)
class AuditRule:
    text: str  # the line as auditctl printed it
    watch: str | None  # the watched path (-w, or -F path= / -F dir=)
    perms: str  # r w x a, for watches
    key: str
    recursive: bool = False  # -w and -F dir= watch everything below a directory


@dataclass(frozen=True, slots=True)
class FileMode:
    path: str
    mode: int  # permission bits only
    kind: str  # "file", "dir", "link", "other"
    owner: str
    group: str


@dataclass(frozen=True, slots=True)
class Setting:
    value: str  # lower-cased first word ("exec /usr/sbin/x" -> "exec")
    raw: str
    source: str  # /etc/audit/auditd.conf:<line> or the default


@dataclass(frozen=True, slots=True)
class AuditConfig:
    rules: tuple[AuditRule, ...] | None  # None: auditctl -l could not be run
    rules_error: str
    status: Mapping[str, str]  # auditctl -s
    settings: Mapping[str, Setting]
    boot: BootArgs
    files: tuple[FileMode, ...]

    def setting(self, name: str) -> Setting:
        found = self.settings.get(name)
        if found is not None:
            return found
        default = DEFAULTS.get(name, "")
        return Setting(default, default, DEFAULT_SOURCE)

    @property
    def log_dir(self) -> str:
        return posixpath.dirname(self.setting("log_file").raw) or "/var/log/audit"

    def files_of(self, role: str) -> tuple[FileMode, ...]:
        """'log_dir', 'log' (files in it), 'config' (files under /etc/audit), 'tool'."""
        log_dir = self.log_dir
        return tuple(entry for entry in self.files if _has_role(entry, role, log_dir))

    def lookup(self, path: str) -> Observation | None:
        if path.startswith("conf."):
            setting = self.setting(path[5:])
            return Observation(setting.value, setting.source)
        if path.startswith("status."):
            # Missing when `auditctl -s` failed: the check is then an ERROR, not a guess.
            found = self.status.get(path[7:])
            return None if found is None else Observation(found, "auditctl -s")
        if path.startswith("boot."):
            return Observation(self.boot.value(path[5:]), self.boot.source)
        if path == "rules.count":
            return None if self.rules is None else Observation(len(self.rules), "auditctl -l")
        return None


def _has_role(entry: FileMode, role: str, log_dir: str) -> bool:
    if role == "log_dir":
        return entry.path == log_dir
    if role == "log":
        return posixpath.dirname(entry.path) == log_dir and entry.kind == "file"
    if role == "config":
        return entry.path.startswith("/etc/audit/") and entry.kind == "file"
    if role == "tool":
        inside = entry.path.startswith(("/etc/audit/", log_dir + "/"))
        return posixpath.basename(entry.path) in TOOLS and not inside
    return False


def parse_rules(part: Part) -> tuple[AuditRule, ...]:
    rules = []
    for raw in part.lines[:100_000]:
        line = raw.strip()
        if not line.startswith("-") or line == "No rules":
            continue
        words = line.split()
        watch, perms, key, recursive = None, "", "", False
        for i, word in enumerate(words[:-1]):
            following = words[i + 1]
            if word == "-w":
                watch, recursive = following, True
            elif word == "-p":
                perms = following
            elif word == "-k":
                key = following
            elif word == "-F":
                name, _, value = following.partition("=")
                if name in ("path", "dir"):
                    watch, recursive = value, name == "dir"
                elif name == "perm":
                    perms = value
                elif name == "key":
                    key = value
        rules.append(AuditRule(line[:1024], watch, perms, key, recursive))
    return tuple(rules)


def parse_status(part: Part) -> dict[str, str]:
    status = {}
    for line in part.lines[:200]:
        name, _, value = line.strip().partition(" ")
        if name.isidentifier():
            status[name] = value.strip()[:64]
    return status


def parse_conf(text: str) -> dict[str, Setting]:
    settings: dict[str, Setting] = {}
    for number, line in enumerate(text.splitlines()[:10_000], start=1):
        if line.lstrip().startswith("#"):
            continue
        match = _CONF_LINE.match(line)
        if match is None:
            continue
        raw = match.group(2)[:1024]
        first = raw.split()[0].lower() if raw.split() else ""
        settings[match.group(1).lower()] = Setting(first, raw, f"{CONF}:{number}")
    return settings


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def parse_modes(part: Part) -> tuple[FileMode, ...]:
    entries = []
    for line in part.lines[:10_000]:
        match = _STAT.match(line)
        if match is None:
            continue
        raw_mode, _uid, _gid, owner, group, path = match.groups()
        mode = int(raw_mode, 16)
        entries.append(FileMode(path, stat.S_IMODE(mode), _kind(mode), owner, group))
    return tuple(entries)


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    found = split_parts(section.text)
    rules_part = part_or_empty(found, "rules")
    rules = parse_rules(rules_part) if rules_part.ok and not rules_part.truncated else None
    rules_error = "" if rules is not None else f"auditctl -l failed: {rules_part.error_text or 'no output'}"
    conf = part_or_empty(found, "conf")
    if not conf.ok and not conf.missing:
        return Unavailable(f"{CONF} could not be read: {conf.error_text}")
    return AuditConfig(
        rules=rules,
        rules_error=rules_error,
        status=parse_status(part_or_empty(found, "status")),
        settings=parse_conf(conf.text) if conf.ok else {},
        boot=bootargs.running(part_or_empty(found, "cmdline").text),
        files=parse_modes(part_or_empty(found, "modes")),
    )
