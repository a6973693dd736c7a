"""SUSE: needed security patches from `zypper list-patches --category security`.

Run with `--no-refresh` (no repository refresh, no network) and libzypp's log sent to
NW_TMP. zypper(8) EXIT CODES: 0 OK; 100 patches available and 101 security patches
available (patch-check, and list-patches on newer zypper) are findings, not errors;
106 some repositories were skipped (the answer is partial: noted); 6 no repositories;
7 the zypp library is locked; anything else is an error.

The table (zypper(8) "list-patches"; columns found by their header, cells trimmed):

    Repository | Name | Category | Severity | Interactive | Status | Summary
    -----------+------+----------+----------+-------------+--------+--------
    SLE-Module-Basesystem15-SP5-Updates | SUSE-SLE-Module-Basesystem-15-SP5-2023-4375
      | security | important | --- | needed | Security update for openssl-3   (one line)
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.facts.model import FactValue, Unavailable
from agent.facts.packages.model import PackageState, PendingUpdate, repository_sources
from agent.facts.parts import Part, part_or_empty

LIST = "zypper --no-refresh list-patches --category security"
METADATA = "stat /var/cache/zypp/raw/*/repodata/repomd.xml"

_OK = frozenset({0, 100, 101, 106})
_NO_REPOS = 6


def parse_table(part: Part) -> list[PendingUpdate]:
    header: list[str] | None = None
    updates: list[PendingUpdate] = []
    for line in part.lines:
        if "|" not in line:
            continue
        cells = [c.strip() for c in line.split("|")]
        if header is None:
            if "Name" in cells and "Category" in cells:
                header = [c.lower() for c in cells]
            continue
        if set(line.replace("|", "").replace("+", "").strip()) <= {"-"}:
            continue  # the ----+---- rule under the header
        row = dict(zip(header, cells, strict=False))
        status = row.get("status", "needed").lower()
        if row.get("category", "").lower() != "security" or status not in ("needed", ""):
            continue
        name = row.get("name", "")
        if not name:
            continue
        updates.append(
            PendingUpdate(
                name=name,
                installed="",
                candidate=row.get("version", "") or "patch",
                origins=(row.get("repository", ""),),
                security=True,
                advisory=name,
                severity=row.get("severity", ""),
            )
        )
    return updates


def parse(parts: Mapping[str, Part], now: int | None) -> FactValue:
    patches = part_or_empty(parts, "zypper_patches")
    if patches.exit_code == _NO_REPOS:
        return PackageState(
            manager="zypper", updates=(), updates_source=LIST, now=now, metadata_source=METADATA,
            sources_never_fetched=("no repositories defined",),
        )  # fmt: skip
    if patches.exit_code not in _OK:
        why = "was cut off" if patches.exit_code is None else f"failed (exit {patches.exit_code})"
        return Unavailable(f"{LIST} {why}: {patches.error_text}")
    notes = ("some repositories were skipped (zypper exit 106): the list may be partial",)
    return PackageState(
        manager="zypper",
        updates=tuple(parse_table(patches)),
        updates_source=LIST,
        sources=repository_sources(part_or_empty(parts, "zypper_meta").lines),
        now=now,
        metadata_source=METADATA,
        notes=notes if patches.exit_code == 106 else (),
    )
