"""Prometheus text exposition for node_exporter's textfile collector.

Write it with `--output <textfile dir>/nodeward.prom`: the atomic write (temporary
file in the same directory, then rename) means the collector never reads half a file,
and node_exporter exports the file's mtime, so "scan is stale" alerts come for free.

Rules of the textfile collector: no timestamps on samples, each metric family's
HELP/TYPE once and its samples contiguous. Labels carry only bounded identifiers
(node, check id, severity, status), never reasons or evidence: free text from a node
would be both a cardinality bomb and an injection vector. Label values are still
escaped, because node names and check ids come from user files.
"""

from __future__ import annotations

from datetime import datetime

from agent.findings import RunResult, Status


def _escape(value: str) -> str:
    # The exposition format's three escapes for label values; backslash first.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def _family(lines: list[str], name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} gauge")
    for labels, value in samples:
        # Counts and flags print as integers; the run timestamp keeps its fraction.
        text = str(int(value)) if float(value).is_integer() else repr(value)
        lines.append(f"{name}{labels} {text}")


def _epoch(rfc3339: str) -> float | None:
    try:
        return datetime.fromisoformat(rfc3339).timestamp()
    except ValueError:
        return None


def render(run: RunResult) -> str:
    lines: list[str] = []
    checks: list[tuple[str, float]] = []
    for node in run.nodes:
        for finding in sorted(node.findings, key=lambda f: f.check_id):
            # Only pass/fail are a yes/no answer; error, warn, skip... have no 0/1 meaning.
            if finding.status in (Status.FAIL, Status.PASS):
                labels = _labels(node=node.name, check_id=finding.check_id, severity=finding.severity.label)
                checks.append((labels, 1.0 if finding.status is Status.FAIL else 0.0))
    _family(lines, "nodeward_check_failing", "1 if the check fails on the node, 0 if it passes.", checks)
    _family(
        lines,
        "nodeward_node_up",
        "1 if the node was scanned, 0 if it could not be (see the report for the error kind).",
        [(_labels(node=n.name), 1.0 if n.scanned else 0.0) for n in run.nodes],
    )
    findings: list[tuple[str, float]] = []
    for node in run.nodes:
        # Every status, zeros included, so series do not appear and vanish between runs.
        for status in Status:
            count = sum(1 for f in node.findings if f.status is status)
            findings.append((_labels(node=node.name, status=status.value), float(count)))
    _family(lines, "nodeward_node_findings", "Findings on the node by status.", findings)
    finished = _epoch(run.finished_at)
    if finished is not None:
        _family(
            lines,
            "nodeward_run_timestamp_seconds",
            "Unix time the scan finished.",
            [("", finished)],
        )
    _family(
        lines,
        "nodeward_run_checks_selected",
        "Checks selected for the run.",
        [("", float(run.checks_selected))],
    )
    return "\n".join(lines) + "\n"
