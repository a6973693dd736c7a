"""The patch-level fact, the same shape for apt, dnf/yum, zypper and apk.

Each package manager's parser (apt.py, rpm.py, zypper.py,
apk.py) fills a PackageState; checks judge only this normalised view, so "a
security update is pending" means the same on Debian, RHEL, SUSE and Alpine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from agent.facts.model import Observation

DAY = 86_400
_MTIME = re.compile(r"^(\d{1,12}) (/\S{1,4096})$")


def mtimes(lines: Iterable[str]) -> dict[str, int]:
    """`stat -c '%Y %n'` lines as {path: epoch seconds}; anything else is ignored."""
    found: dict[str, int] = {}
    for line in lines:
        match = _MTIME.match(line.strip())
        if match is not None:
            found[match.group(2)] = int(match.group(1))
    return found


def repository_sources(lines: Iterable[str]) -> tuple[IndexSource, ...]:
    """Sources dated by their repomd.xml: /var/cache/dnf/<repo id>-<hash>/repodata/repomd.xml."""
    return tuple(
        IndexSource(name=path.split("/repodata/")[0].rsplit("/", 1)[-1], mtime=mtime, path=path)
        for path, mtime in sorted(mtimes(lines).items())
    )


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    name: str
    installed: str  # "" when unknown (dnf prints only the candidate) or for a new package
    candidate: str
    origins: tuple[str, ...]  # apt "Label:Version/Archive" items, the dnf repo, the zypper repo
    security: bool
    held: bool = False  # apt-mark hold: the update exists but apt will not install it
    advisory: str = ""  # RHSA-2024:0253, SUSE-SLE-...-2023-4375
    severity: str = ""  # Important, moderate, ...
    new_package: bool = False  # pulled in, not upgraded: a new kernel ABI package on Debian

    def describe(self) -> str:
        if self.installed:
            arrow = f"{self.installed} -> {self.candidate}"
        else:
            arrow = f"new {self.candidate}" if self.new_package else f"-> {self.candidate}"
        extra = f" [{self.advisory}]" if self.advisory else ""
        return f"{self.name} {arrow}{extra}{' (held)' if self.held else ''}"


@dataclass(frozen=True, slots=True)
class IndexSource:
    """One configured repository whose metadata the node has downloaded (or not)."""

    name: str  # apt base URI without credentials, or a repository id
    label: str = ""
    suite: str = ""
    security: bool = False  # a security archive (bookworm-security, jammy-security, ...)
    mtime: int | None = None  # epoch seconds of its newest metadata file on the node
    path: str = ""  # that file


@dataclass(frozen=True, slots=True)
class AutoUpdates:
    """unattended-upgrades as apt.systemd.daily will run it."""

    installed: bool
    enabled: bool  # APT::Periodic::Unattended-Upgrade is not 0
    lists_refresh: bool  # APT::Periodic::Update-Package-Lists is not 0
    security_origin: bool  # Origins-Pattern / Allowed-Origins include a security pocket
    blacklist: tuple[str, ...] = ()  # Unattended-Upgrade::Package-Blacklist
    version: str = ""


@dataclass(frozen=True, slots=True)
class PackageState:
    manager: str  # apt | dnf | yum | zypper | apk
    updates: tuple[PendingUpdate, ...]
    updates_source: str  # the command whose output listed them
    classified: bool = True  # False: the manager cannot tell security updates apart (apk)
    held: tuple[str, ...] = ()
    sources: tuple[IndexSource, ...] = ()
    sources_never_fetched: tuple[str, ...] = ()  # configured, but no metadata on the node
    now: int | None = None  # the node's clock, epoch seconds
    metadata_source: str = ""  # how metadata ages were read
    auto: AutoUpdates | None = None
    auto_source: str = ""
    installed: tuple[tuple[str, str], ...] = ()  # (name, version) of the packages asked about
    notes: tuple[str, ...] = ()  # non-fatal problems worth showing (a repository skipped)

    @property
    def security_updates(self) -> tuple[PendingUpdate, ...]:
        """What must be installed: on apk, which cannot classify, every update counts."""
        if not self.classified:
            return self.updates
        return tuple(u for u in self.updates if u.security)

    @property
    def security_sources(self) -> tuple[IndexSource, ...]:
        return tuple(s for s in self.sources if s.security)

    def metadata_age(self) -> tuple[int | None, IndexSource | None]:
        """Seconds since the metadata that matters was refreshed, and which source it is.

        With security archives configured (apt), the stalest of them counts: a fresh
        main mirror next to a security mirror that stopped updating still hides
        advisories. Otherwise the newest metadata of any repository counts: repositories
        that rarely change keep old timestamps even right after a refresh (apt stores
        the server's Last-Modified time as the file's mtime).
        """
        if self.now is None:
            return None, None
        dated = [s for s in self.sources if s.mtime is not None]
        secure = [s for s in dated if s.security]
        if secure:
            chosen = min(secure, key=lambda s: s.mtime or 0)
        elif dated:
            chosen = max(dated, key=lambda s: s.mtime or 0)
        else:
            return None, None
        return max(0, self.now - (chosen.mtime or 0)), chosen

    def lookup(self, path: str) -> Observation | None:
        age, _ = self.metadata_age()
        auto = self.auto
        values: dict[str, tuple[object, str]] = {
            "manager": (self.manager, self.updates_source),
            "updates.count": (len(self.updates), self.updates_source),
            "updates.security.count": (len(self.security_updates), self.updates_source),
            "updates.security": (tuple(u.describe() for u in self.security_updates), self.updates_source),
            "held": (self.held, self.updates_source),
            "metadata.age_days": (None if age is None else age // DAY, self.metadata_source),
            "sources.security.count": (len(self.security_sources), self.metadata_source),
        }
        if auto is not None:
            values.update(
                {
                    "auto.installed": (auto.installed, self.auto_source),
                    "auto.enabled": (auto.enabled, self.auto_source),
                    "auto.lists_refresh": (auto.lists_refresh, self.auto_source),
                    "auto.security_origin": (auto.security_origin, self.auto_source),
                }
            )
        if path not in values:
            return None
        value, source = values[path]
        return Observation(value, source)
