"""Read what a remediation script reported: TAB-separated event lines after a marker.

The script's stdout is remote output, hence hostile (reliability.md I3/I4): lines are
decoded with errors="replace", every field is made printable and bounded, and only
lines that start with this run's random marker count, so a diff or a tool's output
that happens to look like an event cannot be mistaken for one. Diffs are the only raw
text kept, between `diff-begin` and `diff-end` events, each capped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.textsafe import printable

MAX_DIFF = 256 * 1024  # per file
MAX_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # start, fix, backup, installed, validated, armed, reloaded, verified, result, failed, ...
    fields: tuple[str, ...]

    def field(self, index: int) -> str:
        return self.fields[index] if index < len(self.fields) else ""


@dataclass(frozen=True, slots=True)
class FixOutcome:
    number: int
    remediation: str
    status: str  # changes | unchanged | refused | error
    reason: str = ""


@dataclass(slots=True)
class Report:
    events: list[Event] = field(default_factory=list)
    diffs: dict[str, str] = field(default_factory=dict)  # path -> unified diff
    changes: dict[str, str] = field(default_factory=dict)  # path -> what changes (mode, content, ...)
    truncated: bool = False

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    @property
    def fixes(self) -> list[FixOutcome]:
        out = []
        for event in self.of("fix"):
            number = event.field(0)
            out.append(
                FixOutcome(
                    int(number) if number.isdigit() else 0, event.field(1), event.field(2), event.field(3)
                )
            )
        return out

    @property
    def result(self) -> str:
        """applied | held | unchanged | planned | failed (nothing reported counts as failed)."""
        results = self.of("result")
        if results:
            return results[-1].field(0)
        return "failed"

    @property
    def failure(self) -> str:
        failed = self.of("failed")
        return failed[-1].field(1) if failed else ""

    @property
    def rolled_back(self) -> bool:
        return bool(self.of("rolled-back"))

    @property
    def backup_dir(self) -> str:
        for event in (*self.of("result"), *self.of("armed")):
            for value in event.fields:
                if value.startswith("/var/lib/nodeward/backups/"):
                    return value
        return ""


def parse(stdout: bytes, marker: str) -> Report:
    report = Report()
    prefix = marker + "\t"
    diff_path: str | None = None
    diff_lines: list[str] = []
    size = 0
    for raw in stdout.decode("utf-8", "replace").split("\n"):
        if diff_path is not None:
            if raw.startswith(prefix) and raw[len(prefix) :].startswith("diff-end"):
                report.diffs[diff_path] = "\n".join(diff_lines)
                diff_path, diff_lines, size = None, [], 0
                continue
            size += len(raw) + 1
            if size <= MAX_DIFF:
                diff_lines.append(raw)
            else:
                report.truncated = True
            continue
        if not raw.startswith(prefix):
            continue
        if len(report.events) >= MAX_EVENTS:
            report.truncated = True
            break
        parts = raw[len(prefix) :].split("\t")
        kind = printable(parts[0], 40)
        fields = tuple(printable(p, 600) for p in parts[1:20])
        if kind == "diff-begin":
            diff_path = fields[0] if fields else "?"
            continue
        if kind == "change" and fields:
            report.changes[fields[0]] = fields[1] if len(fields) > 1 else ""
        report.events.append(Event(kind, fields))
    if diff_path is not None:  # cut off mid-diff
        report.diffs[diff_path] = "\n".join(diff_lines)
        report.truncated = True
    return report
