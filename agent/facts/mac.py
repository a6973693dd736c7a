"""Mandatory access control: AppArmor and SELinux, as running and as configured.

Runtime state comes from the kernel, not from tools that may be missing:
/sys/module/apparmor/parameters/enabled and the loaded profiles in
/sys/kernel/security/apparmor/profiles (`aa-status --json` only when securityfs is not
mounted); /sys/fs/selinux/enforce (no selinuxfs means SELinux is disabled) with
`getenforce` as a fallback. The configuration for the next boot is /etc/selinux/config,
read the way libselinux reads it (selinux_config.c): the first line starting with
`SELINUX=` whose value begins with enforcing/permissive/disabled wins;
`SELINUXTYPE=` lines skip leading blanks and comments and the last one wins, default
`targeted`. Runtime and configuration differing is itself a finding (Lynis MACF-6234).
The kernel command line (selinux=0, apparmor=0, enforcing=0) is read running and
configured (see bootargs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from agent.facts import bootargs, parts
from agent.facts.bootargs import BootArgs
from agent.facts.model import FactValue, Observation, RawSection, Unavailable
from agent.facts.parts import Part, part_or_empty, split_parts

SCRIPT = (
    parts.SHELL
    + r"""
nw_which() { command -v "$1"; }
nw_named() { printf '%s\n' "$1"; cat -- "$1"; }
nw_file aa_enabled 64 /sys/module/apparmor/parameters/enabled
nw_file aa_profiles 1048576 /sys/kernel/security/apparmor/profiles
if [ ! -r /sys/kernel/security/apparmor/profiles ] && command -v aa-status >/dev/null 2>&1; then
  nw_part aa_status 1048576 aa-status --json
fi
nw_part aa_parser 1024 nw_which apparmor_parser
nw_file selinux_enforce 64 /sys/fs/selinux/enforce
nw_part getenforce 256 getenforce
nw_file selinux_config 65536 /etc/selinux/config
nw_file cmdline 65536 /proc/cmdline
nw_file grub 262144 /etc/default/grub
nw_i=0
for nw_f in /etc/default/grub.d/*.cfg; do
  if [ -f "$nw_f" ] && [ "$nw_i" -lt 32 ]; then
    nw_part "grubd_$nw_i" 65536 nw_named "$nw_f"; nw_i=$((nw_i + 1))
  fi
done
"""
)

AA_ENABLED = "/sys/module/apparmor/parameters/enabled"
AA_PROFILES = "/sys/kernel/security/apparmor/profiles"
SELINUX_ENFORCE = "/sys/fs/selinux/enforce"
SELINUX_CONFIG = "/etc/selinux/config"
_SELINUX_MODES = ("enforcing", "permissive", "disabled")


@dataclass(frozen=True, slots=True)
class AppArmor:
    enabled: bool  # the kernel has AppArmor active
    profiles: tuple[tuple[str, str], ...]  # (profile name, mode) as loaded
    parser_installed: bool  # apparmor_parser: the userspace that loads profiles
    source: str

    def names_in(self, mode: str) -> tuple[str, ...]:
        return tuple(name for name, m in self.profiles if m == mode)


@dataclass(frozen=True, slots=True)
class SELinux:
    mode: str  # running: enforcing | permissive | disabled
    mode_source: str
    configured: str | None  # SELINUX= in /etc/selinux/config; None: no valid line / no file
    configured_source: str  # /etc/selinux/config:<line>
    policy: str  # SELINUXTYPE= (libselinux default "targeted" when unset)
    policy_source: str


@dataclass(frozen=True, slots=True)
class MacState:
    apparmor: AppArmor
    selinux: SELinux
    boot: BootArgs  # running kernel command line
    boot_configured: BootArgs | None  # GRUB_CMDLINE_LINUX* for the next boot

    def lookup(self, path: str) -> Observation | None:
        aa, se = self.apparmor, self.selinux
        values: dict[str, tuple[object, str]] = {
            "apparmor.enabled": (aa.enabled, aa.source),
            "apparmor.profiles.count": (len(aa.profiles), aa.source),
            "apparmor.profiles.enforce": (len(aa.names_in("enforce")), aa.source),
            "apparmor.complain": (aa.names_in("complain"), aa.source),
            "apparmor.complain.count": (len(aa.names_in("complain")), aa.source),
            "apparmor.parser_installed": (aa.parser_installed, "command -v apparmor_parser"),
            "selinux.mode": (se.mode, se.mode_source),
            "selinux.configured": (se.configured, se.configured_source),
            "selinux.policy": (se.policy, se.policy_source),
        }
        if path not in values:
            return None
        value, source = values[path]
        return Observation(value, source)


def parse_profiles(part: Part) -> tuple[tuple[str, str], ...]:
    """`<name> (<mode>)` per line; a name may contain blanks, the mode is the last (...)."""
    profiles = []
    for line in part.lines:
        name, sep, rest = line.strip().rpartition(" (")
        if sep and rest.endswith(")") and name:
            profiles.append((name[:512], rest[:-1].strip().lower()))
    return tuple(profiles)


def parse_aa_status(part: Part) -> tuple[tuple[str, str], ...]:
    """`aa-status --json`: {"profiles": {name: mode}, ...}; anything else counts as none."""
    try:
        document = json.loads(part.text[:1_048_576])
    except (ValueError, RecursionError):
        return ()
    profiles = document.get("profiles") if isinstance(document, dict) else None
    if not isinstance(profiles, dict):
        return ()
    return tuple((str(k)[:512], str(v).lower()) for k, v in profiles.items())


def parse_apparmor(found: Mapping[str, Part]) -> AppArmor:
    enabled_part = part_or_empty(found, "aa_enabled")
    enabled = enabled_part.ok and enabled_part.text.strip().upper().startswith("Y")
    profiles_part = part_or_empty(found, "aa_profiles")
    if profiles_part.ok:
        profiles, source = parse_profiles(profiles_part), f"{AA_ENABLED}, {AA_PROFILES}"
    else:
        profiles, source = (
            parse_aa_status(part_or_empty(found, "aa_status")),
            f"{AA_ENABLED}, aa-status --json",
        )
    parser = part_or_empty(found, "aa_parser")
    return AppArmor(enabled, profiles, parser.ok and bool(parser.text.strip()), source)


def _config_modes(text: str) -> tuple[str | None, int, str, int]:
    """(SELINUX= mode, its line, SELINUXTYPE=, its line) as libselinux reads them."""
    mode: str | None = None
    mode_line = 0
    policy, policy_line = "targeted", 0
    for number, line in enumerate(text.splitlines()[:10_000], start=1):
        if mode is None and line.startswith("SELINUX="):
            value = line[len("SELINUX=") :].lstrip().lower()
            mode = next((m for m in _SELINUX_MODES if value.startswith(m)), None)
            mode_line = number if mode is not None else 0
        stripped = line.lstrip()
        if stripped[:12].upper() == "SELINUXTYPE=":
            policy, policy_line = stripped[12:].rstrip()[:64], number
    return mode, mode_line, policy, policy_line


def parse_selinux(found: Mapping[str, Part]) -> SELinux:
    enforce = part_or_empty(found, "selinux_enforce")
    getenforce = part_or_empty(found, "getenforce")
    if enforce.ok and enforce.text.strip() in ("0", "1"):
        mode = "enforcing" if enforce.text.strip() == "1" else "permissive"
        mode_source = SELINUX_ENFORCE
    elif getenforce.ok and getenforce.text.strip().lower() in _SELINUX_MODES:
        mode, mode_source = getenforce.text.strip().lower(), "getenforce"
    else:
        # No selinuxfs: the kernel runs without SELinux, whatever the config says.
        mode, mode_source = "disabled", f"{SELINUX_ENFORCE} (absent)"
    config = part_or_empty(found, "selinux_config")
    if config.ok:
        configured, line, policy, policy_line = _config_modes(config.text)
        configured_source = (
            f"{SELINUX_CONFIG}:{line}" if line else f"{SELINUX_CONFIG} (no valid SELINUX= line)"
        )
        policy_source = f"{SELINUX_CONFIG}:{policy_line}" if policy_line else f"{SELINUX_CONFIG} (default)"
    else:
        configured, policy = None, ""
        configured_source = policy_source = f"{SELINUX_CONFIG} (absent)"
    return SELinux(mode, mode_source, configured, configured_source, policy, policy_source)


def grub_files(found: Mapping[str, Part]) -> list[tuple[str, str]]:
    """/etc/default/grub, then each /etc/default/grub.d/*.cfg (first line: its path)."""
    files = []
    grub = part_or_empty(found, "grub")
    if grub.ok:
        files.append(("/etc/default/grub", grub.text))
    for index in range(32):
        part = found.get(f"grubd_{index}")
        if part is None or not part.ok or not part.lines:
            continue
        files.append((part.lines[0][:256], "\n".join(part.lines[1:])))
    return files


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    found = split_parts(section.text)
    cmdline = part_or_empty(found, "cmdline")
    if not cmdline.ok:
        return Unavailable(f"/proc/cmdline could not be read: {cmdline.error_text or 'missing'}")
    return MacState(
        apparmor=parse_apparmor(found),
        selinux=parse_selinux(found),
        boot=bootargs.running(cmdline.text),
        boot_configured=bootargs.configured(grub_files(found)),
    )
