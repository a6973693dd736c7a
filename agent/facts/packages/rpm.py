"""RHEL family: pending security updates from dnf (or yum) with the metadata cache only.

`dnf check-update --security` exits 100 when updates are available, 0 when there are
none and 1 on error (dnf(8) "check-update"; yum(8) the same): exit 100 is a finding,
never an error. `dnf updateinfo list --security` names the advisory and its severity
for each package. Both run with `-C` (cache only: a scan never refreshes metadata,
which would fetch from the network and rewrite /var/cache/dnf) and dnf's log
directory moved into NW_TMP, so the scan writes nothing on the node.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from agent.facts.model import FactValue, Unavailable
from agent.facts.packages.model import PackageState, PendingUpdate, repository_sources
from agent.facts.parts import Part, part_or_empty

CHECK = "check-update --security -C"
METADATA = "stat /var/cache/{dnf,libdnf5,yum}/*/repodata/repomd.xml"

UPDATES_AVAILABLE = 100
_ARCHES = r"(?:x86_64|noarch|aarch64|i686|ppc64le|s390x|armv7hl|src)"
_PACKAGE = re.compile(rf"^(\S+)\.({_ARCHES})\s+(\S+)\s+(\S+)\s*$")
_NEVRA = re.compile(rf"^(.+)-(?:\d+:)?[^-]+-[^-]+\.{_ARCHES}$")
_SEVERITY = re.compile(r"^(Critical|Important|Moderate|Low|None|Unknown)(?:/Sec\.)?$", re.IGNORECASE)
_NO_CACHE = ("cache-only enabled but no cache", "cache-only mode", "no cache for")


def parse_check_update(part: Part) -> list[PendingUpdate]:
    """`name.arch  [epoch:]version-release  repo`; wrapped long names joined first."""
    updates: list[PendingUpdate] = []
    pending = ""
    for raw in part.lines:
        line = raw.rstrip()
        if line.startswith("Obsoleting Packages"):
            break  # the rest lists what the updates replace, not more updates
        if line.startswith("Security:") or not line.strip():
            continue
        if pending:
            line, pending = f"{pending} {line.strip()}", ""
        match = _PACKAGE.match(line.strip())
        if match is None:
            if len(line.split()) == 1 and "." in line:
                pending = line.strip()  # dnf wraps a long name.arch onto its own line
            continue
        name, _arch, version, repo = match.groups()
        updates.append(
            PendingUpdate(name=name, installed="", candidate=version, origins=(repo,), security=True)
        )
    return updates


def parse_advisories(part: Part) -> dict[str, tuple[str, str]]:
    """Advisory id and severity per package name, from `updateinfo list --security`
    (dnf4: `RHSA-2024:0253 Important/Sec. sqlite-libs-3.34.1-7.el9_3.x86_64`; dnf5:
    `FEDORA-2024-1a2b security Moderate curl-8.6.0-8.fc40.x86_64 2024-05-01 ...`)."""
    found: dict[str, tuple[str, str]] = {}
    for line in part.lines:
        words = line.split()
        if len(words) < 3 or words[0] in ("Name", "Loaded", "updateinfo"):
            continue
        severity = next((w.split("/")[0] for w in words[1:] if _SEVERITY.match(w)), "")
        for word in words[1:]:
            match = _NEVRA.match(word)
            if match is not None:
                found.setdefault(match.group(1), (words[0], severity))
                break
    return found


def parse(parts: Mapping[str, Part], now: int | None, manager: str) -> FactValue:
    check = part_or_empty(parts, "rpm_check")
    source = f"{manager} {CHECK}"
    sources = repository_sources(part_or_empty(parts, "rpm_meta").lines)
    if check.exit_code not in (0, UPDATES_AVAILABLE):
        if any(marker in check.error_text.lower() for marker in _NO_CACHE):
            # No metadata was ever downloaded: "no updates" would be a lie, so the
            # fact says so and the check warns (never a PASS on an empty cache).
            return PackageState(
                manager=manager, updates=(), updates_source=source, now=now, metadata_source=METADATA,
                sources=(), sources_never_fetched=("dnf metadata cache",),
            )  # fmt: skip
        why = "was cut off" if check.exit_code is None else f"failed (exit {check.exit_code})"
        return Unavailable(f"{source} {why}: {check.error_text}")
    updates = parse_check_update(check)
    if check.exit_code == UPDATES_AVAILABLE and not updates:
        return Unavailable(f"{source} reported updates (exit 100) but listed none that could be read")
    advisories = parse_advisories(part_or_empty(parts, "rpm_advisories"))
    enriched = tuple(
        PendingUpdate(
            name=u.name,
            installed=u.installed,
            candidate=u.candidate,
            origins=u.origins,
            security=True,
            advisory=advisories.get(u.name, ("", ""))[0],
            severity=advisories.get(u.name, ("", ""))[1],
        )
        for u in updates
    )
    return PackageState(
        manager=manager,
        updates=enriched,
        updates_source=source,
        sources=sources,
        now=now,
        metadata_source=METADATA,
    )
