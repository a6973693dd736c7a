"""Patch level: pending security updates, holds, automatic updates, metadata age.

The snippet picks the node's package manager by what is installed (apt, then dnf or
yum, zypper, apk) and runs only read-only, offline commands: an apt simulation, dnf
and zypper from their caches, apk without network. Nothing refreshes metadata during
a scan (no `apt-get update`, `dnf makecache`, `zypper refresh`): the node is judged as
it is, and the age of its metadata travels with the answer, so "no pending updates"
from a month-old cache is visibly untrustworthy. Parsing per manager lives in
apt.py / rpm.py / zypper.py / apk.py; the checks see one
normalised PackageState.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.facts import parts
from agent.facts.model import FactValue, RawSection, Unavailable
from agent.facts.packages import apk, apt, rpm, zypper
from agent.facts.parts import part_or_empty, split_parts

# Reads NW_TMP only (for dnf's and libzypp's logs). Caps: 4 MiB for the update lists,
# far above the few hundred KiB a years-behind node prints.
SCRIPT = (
    parts.SHELL
    + r"""
nw_mtimes() { for f in "$@"; do if [ -f "$f" ]; then stat -c '%Y %n' -- "$f"; fi; done; return 0; }
nw_part now 64 date +%s
if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  # apt rebuilds /var/cache/apt/pkgcache.bin when it is out of date: point it at a copy
  # in NW_TMP (reused when still valid, else rebuilt once per scan and shared by the apt
  # calls below; ~40 MB for a full Debian archive), or keep it in memory when there is
  # no NW_TMP. The source cache is never written; no lock is taken (Debug::NoLocking).
  nw_apt() {
    if [ -n "${NW_TMP-}" ]; then
      if [ ! -d "$NW_TMP/apt" ]; then
        mkdir -p "$NW_TMP/apt" && cp -p /var/cache/apt/pkgcache.bin "$NW_TMP/apt/" 2>/dev/null
      fi
      apt-get -o Debug::NoLocking=1 -o Dir::Cache::pkgcache="$NW_TMP/apt/pkgcache.bin" \
        -o Dir::Cache::srcpkgcache= "$@"
    else
      apt-get -o Debug::NoLocking=1 -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"
    fi
  }
  # Downloaded index targets (credentials cut from URIs on the node), then the mtimes of
  # their files and of every Release file.
  nw_apt_sources() {
    nw_t=$(nw_apt indextargets --format '$(BASE_URI)|$(LABEL)|$(ORIGIN)|$(SUITE)|$(CODENAME)|$(FILENAME)' \
      'Created-By: Packages') || return $?
    printf '%s\n' "$nw_t" | sed 's#://[^/@|]*@#://#'
    printf '%s\n' "$nw_t" | cut -d'|' -f6 | while IFS= read -r nw_f; do nw_mtimes "$nw_f"; done
    nw_mtimes /var/lib/apt/lists/*Release
  }
  nw_apt_configured() {
    nw_apt indextargets --no-release-info --format '$(BASE_URI)' 'Created-By: Packages' | sed 's#://[^/@|]*@#://#'
  }
  nw_dpkg() { dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\n' "$@"; }
  nw_part manager 64 echo apt
  nw_part apt_simulate 4194304 nw_apt -s --ignore-hold dist-upgrade
  nw_holds() {
    nw_h=$(dpkg-query -W -f='${db:Status-Want} ${binary:Package}\n') || return $?
    printf '%s\n' "$nw_h" | grep '^hold ' || :
  }
  nw_part apt_held 1048576 nw_holds
  nw_part apt_config 262144 apt-config dump APT::Periodic Unattended-Upgrade
  nw_part apt_uu 4096 nw_dpkg unattended-upgrades
  nw_part apt_k8s 4096 nw_dpkg kubelet kubeadm kubectl
  nw_part apt_sources 1048576 nw_apt_sources
  nw_part apt_configured 262144 nw_apt_configured
elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then
  nw_pm=dnf; command -v dnf >/dev/null 2>&1 || nw_pm=yum
  nw_dnf() {
    if [ -n "${NW_TMP-}" ] && [ "$nw_pm" = dnf ]; then "$nw_pm" -q -C --setopt=logdir="$NW_TMP" "$@"
    else "$nw_pm" -q -C "$@"; fi
  }
  nw_part manager 64 echo "$nw_pm"
  nw_part rpm_check 4194304 nw_dnf check-update --security
  nw_part rpm_advisories 4194304 nw_dnf updateinfo list --security
  nw_part rpm_meta 262144 nw_mtimes /var/cache/dnf/*/repodata/repomd.xml \
    /var/cache/libdnf5/*/repodata/repomd.xml /var/cache/yum/*/*/*/repomd.xml
elif command -v zypper >/dev/null 2>&1; then
  nw_zypper() {
    nw_zl=/dev/null; if [ -n "${NW_TMP-}" ]; then nw_zl="$NW_TMP/zypper.log"; fi
    ZYPP_LOGFILE="$nw_zl" zypper --non-interactive --no-refresh "$@"
  }
  nw_part manager 64 echo zypper
  nw_part zypper_patches 4194304 nw_zypper list-patches --category security
  nw_part zypper_meta 262144 nw_mtimes /var/cache/zypp/raw/*/repodata/repomd.xml
elif command -v apk >/dev/null 2>&1; then
  nw_part manager 64 echo apk
  nw_part apk_version 4194304 apk --no-network version -l '<'
  nw_part apk_meta 262144 nw_mtimes /var/cache/apk/APKINDEX.*.tar.gz /etc/apk/cache/APKINDEX.*.tar.gz
else
  # The declared tools got us here (agent/facts/registry.py): apt whose dpkg-query is
  # gone is a broken install, not a node without a package manager.
  echo "dpkg-query is not installed beside apt" >&2; exit 1
fi
"""
)


def _now(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 12 else None


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    found = split_parts(section.text)
    now = _now(part_or_empty(found, "now").text)
    manager = part_or_empty(found, "manager").text.strip()
    if manager == "apt":
        return apt.parse(found, now)
    if manager in ("dnf", "yum"):
        return rpm.parse(found, now, manager)
    if manager == "zypper":
        return zypper.parse(found, now)
    if manager == "apk":
        return apk.parse(found, now)
    return Unavailable(f"the packages snippet named no package manager ({manager[:40]!r})")
