"""Results: Status, Severity, Finding, NodeResult and RunResult.

These are the one vocabulary shared by the evaluator, the reporters, the JSON schema
and the exit code. Everything is frozen: a result, once computed, is a fact.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from agent.connection import ConnectionInfo
from agent.errors import ErrorKind


class Status(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    WARN = "warn"  # a manual or advisory check that did not pass: never fails a run
    ERROR = "error"  # the facts needed could not be gathered or parsed: never a PASS
    NOT_APPLICABLE = "not_applicable"  # role, distro or component does not apply
    SKIP = "skip"  # deselected, or a prerequisite check did not pass
    WAIVED = "waived"  # failed, but an inventory waiver covers it


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (one of: {names})") from None


@dataclass(frozen=True, slots=True)
class Evidence:
    """What was seen, what was wanted, and where it came from."""

    observed: str
    expected: str
    source: str  # e.g. "sshd -T -C user=scanner,addr=10.0.0.5 (line 12)" or "/etc/ssh/sshd_config:3"


@dataclass(frozen=True, slots=True)
class Reference:
    framework: str  # "cis-debian-12", "cis-kubernetes-1.12", "lynis", "ssg", "dev-sec"
    id: str


@dataclass(frozen=True, slots=True)
class Override:
    """One change a site overlay made to a check (agent/overlay.py), shown with its findings
    so nobody mistakes a site's threshold or severity for the catalogue's own."""

    overlay: str  # the overlay's name
    source: str  # file:line of the overridden field in the overlay
    field: str  # "severity" or "args.<name>"
    old: str  # the value before, as YAML would write it
    new: str
    reason: str = ""  # the overlay's own justification, when it gives one

    def describe(self) -> str:
        """One line for reports: `severity medium -> high (overlay acme-prod)`."""
        return f"{self.field} {self.old} -> {self.new} (overlay {self.overlay})"


@dataclass(frozen=True, slots=True)
class Finding:
    check_id: str
    title: str
    severity: Severity
    status: Status
    reason: str  # one sentence a person can act on
    evidence: tuple[Evidence, ...] = ()
    references: tuple[Reference, ...] = ()
    remediation: str | None = None  # id of the remediation template, when there is one
    overrides: tuple[Override, ...] = ()  # what site overlays changed in the check

    @property
    def failing(self) -> bool:
        return self.status is Status.FAIL


# How reports list findings: problems first, then the rest; within a status, most
# severe first, then by id (deterministic output for diffs and goldens).
REPORT_ORDER = (
    Status.FAIL,
    Status.ERROR,
    Status.WARN,
    Status.WAIVED,
    Status.PASS,
    Status.NOT_APPLICABLE,
    Status.SKIP,
)


def report_sort_key(finding: Finding) -> tuple[int, int, str]:
    return (REPORT_ORDER.index(finding.status), -finding.severity, finding.check_id)


@dataclass(frozen=True, slots=True)
class NodeFailure:
    kind: ErrorKind
    message: str


@dataclass(frozen=True, slots=True)
class NodeResult:
    name: str
    address: str
    connection: ConnectionInfo | None
    error: NodeFailure | None  # set when the node could not be scanned (fully)
    findings: tuple[Finding, ...] = ()
    facts_summary: dict[str, str] = field(default_factory=dict)  # os, kernel, sshd version...
    duration_seconds: float = 0.0
    execs: int = 0  # exec channels used: one per scan is the design

    @property
    def scanned(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: str
    started_at: str  # RFC 3339, UTC
    finished_at: str
    tool_version: str
    inventory: str
    nodes: tuple[NodeResult, ...]
    interrupted: bool = False
    checks_selected: int = 0
    stop_signal: int | None = None  # the signal that interrupted the run (SIGINT, SIGTERM, SIGHUP)

    def status_counts(self) -> Counter[Status]:
        return Counter(f.status for n in self.nodes for f in n.findings)

    def failing(self, at_least: Severity) -> list[tuple[NodeResult, Finding]]:
        return [(n, f) for n in self.nodes for f in n.findings if f.failing and f.severity >= at_least]

    def unjudged(self, at_least: Severity) -> list[tuple[NodeResult, Finding]]:
        """ERROR findings at or above a severity: checks that could not be judged. They
        count toward the exit code like failures, since an unjudged check may be failing."""
        return [
            (n, f)
            for n in self.nodes
            for f in n.findings
            if f.status is Status.ERROR and f.severity >= at_least
        ]

    @property
    def unscanned(self) -> tuple[NodeResult, ...]:
        return tuple(n for n in self.nodes if n.error is not None)
