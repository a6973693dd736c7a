"""The shapes every fact shares: an observation with its source, or why there is none.

A fact parser returns a typed, frozen value, `Unavailable` (we could not gather or
parse it: its checks are ERROR, never PASS) or `Absent` (the component is not
installed: its checks are not applicable). Checks read facts only through
`lookup(path)`, which returns the value together with where it came from, so every
finding can show its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Observation:
    value: object  # str, int, bool, tuple[str, ...] or None when the key is not set
    source: str  # command or file:line the value came from


@runtime_checkable
class Fact(Protocol):
    def lookup(self, path: str) -> Observation | None:
        """The value at `path` (fact-specific: an sshd keyword, a dotted field name)."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The fact could not be gathered or parsed. Checks that need it report ERROR."""

    reason: str


@dataclass(frozen=True, slots=True)
class Absent:
    """The component does not exist on this node (e.g. no sshd installed)."""

    reason: str


FactValue = Fact | Unavailable | Absent


@dataclass(frozen=True, slots=True)
class RawSection:
    """One section of the gather output: the bytes a fact's commands printed."""

    name: str
    stdout: bytes
    stderr: bytes
    exit_code: int | None  # None when the section never finished (output cut off)
    truncated: bool
    # Index into the fact's declared tools of the first the node lacks: the section did
    # not run (agent/facts/spec.py). Only the gather script's own marker line sets it.
    missing_tool: int | None = None

    @property
    def text(self) -> str:
        # Remote output is hostile input: undecodable bytes become U+FFFD, never errors.
        return self.stdout.decode("utf-8", "replace")

    @property
    def error_text(self) -> str:
        return " ".join(self.stderr.decode("utf-8", "replace").split())[:300]


class FactParseError(Exception):
    """Structurally impossible input for a parser; becomes Unavailable, never a crash."""

    def __init__(self, fact: str, line: int | None, reason: str) -> None:
        where = f" line {line}" if line is not None else ""
        super().__init__(f"{fact}{where}: {reason}")
        self.fact = fact
        self.line = line
        self.reason = reason
