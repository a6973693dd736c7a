"""Alpine: pending updates from `apk --no-network version -l '<'` (apk-version(8)).

apk has no security classification, so every pending update counts (the fact says
`classified: false` and the check says why). Output:

    Installed:                                Available:
    libcrypto3-3.1.4-r1                     < 3.1.4-r5
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from agent.facts.model import FactValue, Unavailable
from agent.facts.packages.model import IndexSource, PackageState, PendingUpdate, mtimes
from agent.facts.parts import Part, part_or_empty

VERSION = "apk --no-network version -l '<'"
METADATA = "stat /var/cache/apk/APKINDEX.*.tar.gz"

_LINE = re.compile(r"^(\S+?)-(\d[^\s]*-r\d+)\s+<\s*(\S+)")


def parse_version(part: Part) -> list[PendingUpdate]:
    updates = []
    for line in part.lines:
        match = _LINE.match(line.strip())
        if match is not None:
            name, installed, candidate = match.groups()
            updates.append(PendingUpdate(name, installed, candidate, origins=(), security=False))
    return updates


def parse(parts: Mapping[str, Part], now: int | None) -> FactValue:
    version = part_or_empty(parts, "apk_version")
    if version.exit_code != 0:
        why = "was cut off" if version.exit_code is None else f"failed (exit {version.exit_code})"
        return Unavailable(f"{VERSION} {why}: {version.error_text}")
    sources = tuple(
        IndexSource(name=path.rsplit("/", 1)[-1], mtime=mtime, path=path)
        for path, mtime in sorted(mtimes(part_or_empty(parts, "apk_meta").lines).items())
    )
    return PackageState(
        manager="apk",
        updates=tuple(parse_version(version)),
        updates_source=VERSION,
        classified=False,
        sources=sources,
        sources_never_fetched=() if sources else ("APKINDEX cache",),
        now=now,
        metadata_source=METADATA,
    )
