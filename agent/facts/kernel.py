"""Running kernel versus installed kernels, and whether the node waits for a reboot.

A patched kernel protects nothing until the node boots it (Lynis KRNL-5830). Installed
kernels come from the package database where it names them exactly (dpkg:
`linux-image-<release>`; rpm: kernel / kernel-core, whose VERSION-RELEASE.ARCH is the
release `uname -r` prints), else from /boot/vmlinuz-<release> (SUSE, whose package
versions differ from the release string). Releases are ordered with dpkg's or rpm's
own algorithm, never as strings. Debian also rebuilds a kernel under the same release
name; its `uname -v` names the running build ("Debian 6.1.76-1"), which is compared
with the installed package version.

Reboot-required signals, each as its tool documents it: /var/run/reboot-required (+
.pkgs) on Debian/Ubuntu, `needs-restarting -r` exit 1 on RHEL (dnf-needs-restarting(8)),
/run/reboot-needed and `zypper needs-rebooting` exit 102 on SUSE.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.facts import parts
from agent.facts.model import FactValue, Observation, RawSection, Unavailable
from agent.facts.packages.version import dpkg_compare, rpm_compare
from agent.facts.parts import Part, part_or_empty, split_parts

SCRIPT = (
    parts.SHELL
    + r"""
nw_part running 512 uname -r
nw_part build 1024 uname -v
if command -v dpkg-query >/dev/null 2>&1; then
  nw_part dpkg 262144 dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\n' 'linux-image-*'
fi
if command -v rpm >/dev/null 2>&1; then
  nw_part rpm 262144 rpm -q --qf '%{NAME}\t%{VERSION}-%{RELEASE}.%{ARCH}\n' \
    kernel kernel-core kernel-uek kernel-uek-core kernel-rt-core
fi
nw_part boot 65536 ls -1 /boot
nw_file reboot_required 4096 /var/run/reboot-required
nw_file reboot_required_pkgs 65536 /var/run/reboot-required.pkgs
nw_file reboot_needed 4096 /run/reboot-needed
if command -v needs-restarting >/dev/null 2>&1; then
  nw_part needs_restarting 65536 needs-restarting -r
elif command -v dnf >/dev/null 2>&1; then
  nw_nr() {
    if [ -n "${NW_TMP-}" ]; then dnf -q -C --setopt=logdir="$NW_TMP" needs-restarting -r
    else dnf -q -C needs-restarting -r; fi
  }
  nw_part needs_restarting 65536 nw_nr
fi
if command -v zypper >/dev/null 2>&1; then
  nw_zr() {
    nw_zl=/dev/null; if [ -n "${NW_TMP-}" ]; then nw_zl="$NW_TMP/zypper.log"; fi
    ZYPP_LOGFILE="$nw_zl" zypper --non-interactive --no-refresh needs-rebooting
  }
  nw_part zypper_needs_rebooting 4096 nw_zr
fi
"""
)

_RELEASE = re.compile(r"^[0-9][A-Za-z0-9._+~-]{0,127}$")
# Debian packages: linux-image-<release>; meta packages (linux-image-amd64,
# linux-image-cloud-amd64) do not start with a digit, debug images end in -dbg.
_DPKG_IMAGE = re.compile(r"^linux-image-(?:unsigned-)?([0-9][A-Za-z0-9._+~-]*)$")
_DEBIAN_BUILD = re.compile(r"\bDebian ([0-9][A-Za-z0-9.+~:-]*)")
_BOOT_IMAGE = re.compile(r"^(?:vmlinuz|vmlinux|Image)-([0-9][A-Za-z0-9._+~-]*)$")
_NEEDS_REBOOT = "reboot is required"
_NO_REBOOT = "reboot should not be necessary"
_ZYPPER_REBOOT_NEEDED = 102


@dataclass(frozen=True, slots=True)
class InstalledKernel:
    release: str  # what `uname -r` prints when this kernel runs
    version: str  # the package version (dpkg) or the release again
    source: str


@dataclass(frozen=True, slots=True)
class RebootSignal:
    required: bool | None  # None: this signal could not tell
    source: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class KernelState:
    running: str
    build: str  # uname -v
    installed: tuple[InstalledKernel, ...]
    scheme: str  # "dpkg" or "rpm": whose version ordering applies
    signals: tuple[RebootSignal, ...]

    def _compare(self) -> Callable[[str, str], int]:
        return dpkg_compare if self.scheme == "dpkg" else rpm_compare

    @property
    def newest(self) -> InstalledKernel | None:
        newest: InstalledKernel | None = None
        compare = self._compare()
        for kernel in self.installed:
            if newest is None or compare(kernel.release, newest.release) > 0:
                newest = kernel
        return newest

    @property
    def running_build(self) -> str:
        """The package version of the running build, when `uname -v` names it (Debian)."""
        match = _DEBIAN_BUILD.search(self.build)
        return match.group(1) if match else ""

    def newer_than_running(self) -> tuple[InstalledKernel, str] | None:
        """The installed kernel the node should be running instead, and why; None if current."""
        newest = self.newest
        if newest is None:
            return None
        compare = self._compare()
        if compare(newest.release, self.running) > 0:
            return newest, f"kernel {newest.release} is installed, {self.running} is running"
        same = next((k for k in self.installed if k.release == self.running), None)
        built = self.running_build
        if same is not None and built and self.scheme == "dpkg" and dpkg_compare(same.version, built) > 0:
            return same, f"{self.running} build {same.version} is installed, build {built} is running"
        return None

    def lookup(self, path: str) -> Observation | None:
        newest = self.newest
        values: dict[str, tuple[object, str]] = {
            "running": (self.running, "uname -r"),
            "installed": (tuple(k.release for k in self.installed), self._installed_source()),
            "installed.count": (len(self.installed), self._installed_source()),
            "newest": (None if newest is None else newest.release, self._installed_source()),
        }
        if path not in values:
            return None
        value, source = values[path]
        return Observation(value, source)

    def _installed_source(self) -> str:
        return self.installed[0].source if self.installed else "dpkg-query / rpm -q / ls /boot"


def _dpkg_kernels(part: Part) -> list[InstalledKernel]:
    kernels = []
    for line in part.lines:
        fields = line.split("\t")
        if len(fields) != 3 or len(fields[0]) < 2 or fields[0][1] not in "itW":
            continue  # not installed (rc: removed, config files left)
        match = _DPKG_IMAGE.match(fields[1].strip())
        if match is None or match.group(1).endswith(("-dbg", "-dbgsym")):
            continue
        kernels.append(InstalledKernel(match.group(1), fields[2].strip(), "dpkg-query -W 'linux-image-*'"))
    return kernels


def _rpm_kernels(part: Part) -> list[InstalledKernel]:
    seen: dict[str, InstalledKernel] = {}
    for line in part.lines:
        fields = line.split("\t")
        if len(fields) == 2 and _RELEASE.match(fields[1].strip()):
            release = fields[1].strip()
            seen.setdefault(release, InstalledKernel(release, release, "rpm -q kernel kernel-core"))
    return list(seen.values())


def _boot_kernels(part: Part) -> list[InstalledKernel]:
    kernels = []
    for line in part.lines:
        match = _BOOT_IMAGE.match(line.strip())
        if match is not None and not match.group(1).endswith((".old", "-rescue")):
            kernels.append(InstalledKernel(match.group(1), match.group(1), "ls /boot"))
    return kernels


def _signals(found: Mapping[str, Part]) -> list[RebootSignal]:
    signals = []
    flag = part_or_empty(found, "reboot_required")
    if not flag.missing:
        pkgs = part_or_empty(found, "reboot_required_pkgs")
        detail = ", ".join(sorted({p.strip() for p in pkgs.lines if p.strip()})[:20])
        signals.append(RebootSignal(True, "/var/run/reboot-required", detail))
    if not part_or_empty(found, "reboot_needed").missing:
        signals.append(RebootSignal(True, "/run/reboot-needed"))
    restarting = found.get("needs_restarting")
    if restarting is not None and not restarting.missing:
        text = restarting.text.lower()
        if restarting.exit_code == 1 and _NEEDS_REBOOT in text:
            detail = ", ".join(w.strip(" *") for w in restarting.lines if w.strip().startswith("*"))
            signals.append(RebootSignal(True, "needs-restarting -r", detail))
        elif restarting.exit_code == 0 and _NO_REBOOT in text:
            signals.append(RebootSignal(False, "needs-restarting -r"))
        else:
            # exit 1 also means "no such command" when the dnf plugin is missing:
            # only the documented sentences count.
            signals.append(
                RebootSignal(None, "needs-restarting -r", restarting.error_text or restarting.text[:200])
            )
    zypper = found.get("zypper_needs_rebooting")
    if zypper is not None and not zypper.missing and zypper.exit_code in (0, _ZYPPER_REBOOT_NEEDED):
        signals.append(RebootSignal(zypper.exit_code == _ZYPPER_REBOOT_NEEDED, "zypper needs-rebooting"))
    return signals


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    found = split_parts(section.text)
    running = part_or_empty(found, "running").text.strip()
    if not _RELEASE.match(running):
        return Unavailable(f"uname -r printed no kernel release ({running[:60]!r})")
    dpkg, rpm = _dpkg_kernels(part_or_empty(found, "dpkg")), _rpm_kernels(part_or_empty(found, "rpm"))
    if dpkg:
        installed, scheme = dpkg, "dpkg"
    elif rpm:
        installed, scheme = rpm, "rpm"
    else:
        installed, scheme = _boot_kernels(part_or_empty(found, "boot")), "rpm"
    return KernelState(
        running=running,
        build=part_or_empty(found, "build").text.strip()[:256],
        installed=tuple(installed),
        scheme=scheme,
        signals=tuple(_signals(found)),
    )
