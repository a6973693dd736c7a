"""The one stderr line of a quiet run that failed: one line whatever the node names."""

from __future__ import annotations

from agent.errors import ErrorKind
from agent.findings import Finding, NodeFailure, NodeResult, RunResult, Severity, Status
from agent.report.summary import one_line


def test_one_line_counts_at_fail_on_and_stays_one_line_for_hostile_or_many_nodes() -> None:
    findings = (
        Finding("a", "t", Severity.HIGH, Status.FAIL, "r"),
        Finding("b", "t", Severity.LOW, Status.FAIL, "r"),  # below --fail-on high: not counted
        Finding("c", "t", Severity.CRITICAL, Status.ERROR, "r"),
    )
    down = [
        NodeResult(f"n{i}\n\x1b[2Jforged line", "x", None, NodeFailure(ErrorKind.CONNECT, "refused"))
        for i in range(7)
    ]
    run = RunResult("r", "", "", "0", "i", (NodeResult("up", "up", None, None, findings), *down))
    line = one_line(run, Severity.HIGH)
    assert "\n" not in line and "\x1b" not in line and "\r" not in line
    assert line.startswith("nodeward: 8 nodes, 7 not scanned (n0\\n\\x1b[2Jforged line: connect, ")
    assert line.endswith(", and 2 more), 1 fail, 1 error")
