"""Debian and Ubuntu: pending updates from an apt SIMULATION, holds, unattended-upgrades.

Never `apt-get update` during a scan (Lynis PKGS-7392 does unless told not to): the
node is read as it is, and the age of its package lists is reported instead so a
stale cache is visible. The simulation is `apt-get -s ... --ignore-hold dist-upgrade`:

* dist-upgrade, not upgrade: Debian ships kernel security fixes as a new ABI package
  (linux-image-6.1.0-22-amd64) that `upgrade` keeps back;
* --ignore-hold: a held package with a security fix is still an unpatched package; it
  is reported, marked held;
* apt's binary cache points into NW_TMP (a copy of /var/cache/apt/pkgcache.bin, or
  in memory without NW_TMP), so apt never rewrites /var/cache/apt, and
  Debug::NoLocking keeps it from taking dpkg's locks.

An `Inst` line names the candidate's origins as `Label:Version/Archive` items
(apt-pkg `VerIterator::RelStr`), e.g.

    Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])

and an update is a security update when any item names a security pocket
(`...-security`, `Debian-Security`) — the classification apt-check and Lynis use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.facts.model import FactValue, Unavailable
from agent.facts.packages.model import AutoUpdates, IndexSource, PackageState, PendingUpdate, mtimes
from agent.facts.parts import Part, part_or_empty

SIMULATE = "apt-get -s --ignore-hold dist-upgrade"
METADATA = "apt-get indextargets; stat /var/lib/apt/lists/*Release"
AUTO = "apt-config dump APT::Periodic Unattended-Upgrade; dpkg-query -W unattended-upgrades"

_INST = re.compile(r"^Inst (\S{1,256})(?: \[([^\]]{0,256})\])? \((\S{1,256}) ([^()]{0,4096})\)")
_ARCH = re.compile(r"\s*\[[^\]]*\]\s*$")
_CONFIG = re.compile(r'^([A-Za-z0-9:._-]{1,256}) "(.{0,4096})";$')
_OFF = re.compile(r"^0+[smhd]?$")
_CREDENTIALS = re.compile(r"(://)[^/@|]*@")


def is_security_origin(origin: str) -> bool:
    """`Debian-Security:12/stable-security`, `Ubuntu:22.04/jammy-security`, ESM pockets."""
    return "-security" in origin.lower()


def parse_simulation(part: Part, held: frozenset[str]) -> tuple[PendingUpdate, ...]:
    updates: list[PendingUpdate] = []
    for line in part.lines:
        match = _INST.match(line)
        if match is None:
            continue
        name, installed, candidate, release = match.groups()
        origins = tuple(o.strip() for o in _ARCH.sub("", release).split(",") if o.strip())
        updates.append(
            PendingUpdate(
                name=name,
                installed=installed or "",
                candidate=candidate,
                origins=origins,
                security=any(is_security_origin(o) for o in origins),
                held=name in held or name.split(":", 1)[0] in held,
                new_package=installed is None,
            )
        )
    return tuple(updates)


def parse_config(part: Part) -> dict[str, list[str]]:
    """`apt-config dump` lines (`Key "value";`, list items as `Key:: "value";`)."""
    values: dict[str, list[str]] = {}
    for line in part.lines:
        match = _CONFIG.match(line.strip())
        if match is not None:
            key = match.group(1).rstrip(":").lower()
            values.setdefault(key, []).append(match.group(2))
    return values


def _enabled(config: Mapping[str, list[str]], key: str) -> bool:
    # apt.systemd.daily treats an unset interval as 0 (off) and "always" or any
    # non-zero interval as on.
    value = next(iter(config.get(key.lower(), [])), "0").strip().lower()
    return bool(value) and _OFF.match(value) is None


def _dpkg_rows(part: Part) -> dict[str, tuple[str, str]]:
    """`dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Version}\\n'` rows by name."""
    rows: dict[str, tuple[str, str]] = {}
    for line in part.lines:
        fields = line.split("\t")
        if len(fields) == 3:
            rows[fields[1].strip()] = (fields[0].strip(), fields[2].strip())
    return rows


def _installed(abbrev: str) -> bool:
    # Status-Abbrev is want/status/error; status `i` is installed, `t`/`W` are installed
    # with triggers pending, which still runs.
    return len(abbrev) >= 2 and abbrev[1] in "itW"


def parse_auto(config_part: Part, uu_part: Part) -> AutoUpdates:
    config = parse_config(config_part)
    uu = _dpkg_rows(uu_part).get("unattended-upgrades")
    origins = [
        *config.get("unattended-upgrade::origins-pattern", []),
        *config.get("unattended-upgrade::allowed-origins", []),
    ]
    periodic_on = next(iter(config.get("apt::periodic::enable", [])), "1").strip() != "0"
    return AutoUpdates(
        installed=uu is not None and _installed(uu[0]),
        enabled=periodic_on and _enabled(config, "APT::Periodic::Unattended-Upgrade"),
        lists_refresh=periodic_on and _enabled(config, "APT::Periodic::Update-Package-Lists"),
        security_origin=any("security" in o.lower() for o in origins),
        blacklist=tuple(config.get("unattended-upgrade::package-blacklist", [])),
        version=uu[1] if uu is not None else "",
    )


@dataclass
class _Archive:
    label: str
    suite: str
    files: list[str] = field(default_factory=list)


def _release_of(files: list[str], releases: Mapping[str, int]) -> str | None:
    """The Release file of an archive shares the archive's prefix with its indexes:
    lists/<host_path_dists_suite_>InRelease beside <that prefix>main_binary-amd64_Packages."""
    owning = [
        path
        for path in releases
        if any(f.startswith(path.removesuffix("InRelease").removesuffix("Release")) for f in files)
    ]
    return max(owning, key=len, default=None)


def parse_held(part: Part) -> tuple[str, ...]:
    """Packages whose dpkg selection is `hold` (what `apt-mark showhold` lists), from
    `dpkg-query -W -f='${db:Status-Want} ${binary:Package}'` lines."""
    held = set()
    for line in part.lines:
        want, _, name = line.strip().partition(" ")
        if want == "hold" and name.strip():
            held.add(name.strip()[:256])
    return tuple(sorted(held))


def parse_sources(targets: Part, configured: Part) -> tuple[tuple[IndexSource, ...], tuple[str, ...]]:
    """Downloaded index targets grouped per archive, dated by their Release file.

    The part holds `BASE_URI|LABEL|ORIGIN|SUITE|CODENAME|FILENAME` lines from
    `apt-get indextargets`, then `<mtime> <path>` lines for those files and every
    Release file. `indextargets` lists only targets whose index was downloaded;
    `--no-release-info` lists every configured one, so the difference is the set of
    archives the node has never fetched (their updates are invisible to apt).
    """
    stamped = mtimes(targets.lines)
    releases = {p: t for p, t in stamped.items() if p.endswith("Release")}
    archives: dict[str, _Archive] = {}
    for line in targets.lines:
        fields = [f.strip() for f in line.split("|")]
        if len(fields) != 6:
            continue
        base, label, _origin, suite, codename, filename = fields
        archive = archives.setdefault(_CREDENTIALS.sub(r"\1", base), _Archive(label, suite or codename))
        archive.files.append(filename)
    sources: list[IndexSource] = []
    for base, archive in archives.items():
        release = _release_of(archive.files, releases)
        if release is not None:
            mtime: int | None = releases[release]
            path = release
        else:
            dated = sorted((stamped[f], f) for f in archive.files if f in stamped)
            mtime, path = dated[-1] if dated else (None, "")
        sources.append(
            IndexSource(
                name=base,
                label=archive.label,
                suite=archive.suite,
                security=is_security_origin(f"{archive.label}:{archive.suite}"),
                mtime=mtime,
                path=path,
            )
        )
    wanted = {_CREDENTIALS.sub(r"\1", line.strip()) for line in configured.lines if line.strip()}
    return tuple(sources), tuple(sorted(wanted - archives.keys()))


def parse(parts: Mapping[str, Part], now: int | None) -> FactValue:
    simulate = part_or_empty(parts, "apt_simulate")
    if simulate.exit_code != 0:
        why = "was cut off" if simulate.exit_code is None else f"failed (exit {simulate.exit_code})"
        return Unavailable(f"{SIMULATE} {why}: {simulate.error_text}")
    if simulate.truncated:
        return Unavailable(f"{SIMULATE} printed more than the size cap")
    held_part = part_or_empty(parts, "apt_held")
    held = parse_held(held_part)
    sources, never = parse_sources(
        part_or_empty(parts, "apt_sources"), part_or_empty(parts, "apt_configured")
    )
    k8s = _dpkg_rows(part_or_empty(parts, "apt_k8s"))
    notes = []
    if not held_part.ok:
        notes.append(f"the dpkg hold states could not be read: {held_part.error_text}")
    return PackageState(
        manager="apt",
        updates=parse_simulation(simulate, frozenset(held)),
        updates_source=SIMULATE,
        held=held,
        sources=sources,
        sources_never_fetched=never,
        now=now,
        metadata_source=METADATA,
        auto=parse_auto(part_or_empty(parts, "apt_config"), part_or_empty(parts, "apt_uu")),
        auto_source=AUTO,
        installed=tuple(sorted((n, v) for n, (s, v) in k8s.items() if _installed(s))),
        notes=tuple(notes),
    )
