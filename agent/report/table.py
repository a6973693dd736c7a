"""Terminal report for people: grouped by node, problems first, passes counted.

Everything that came from a node is put into rich `Text` objects, never parsed as
markup, and was already stripped of control characters (textsafe): a hostile node
cannot recolour or rewrite the operator's terminal.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent.findings import REPORT_ORDER, Finding, NodeResult, RunResult, Severity, Status, report_sort_key
from agent.textsafe import printable

_STATUS_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.WARN: "yellow",
    Status.ERROR: "bold magenta",
    Status.NOT_APPLICABLE: "dim",
    Status.SKIP: "dim",
    Status.WAIVED: "cyan",
}


def render(run: RunResult, *, color: bool = False, width: int = 120, show_passed: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, color_system="standard" if color else None, force_terminal=color,
        highlight=False, soft_wrap=False,
    )  # fmt: skip
    for node in run.nodes:
        _node(console, node, show_passed)
    _summary(console, run)
    return buffer.getvalue()


def _node(console: Console, node: NodeResult, show_passed: bool) -> None:
    header = Text()
    header.append(printable(node.name, 120), style="bold")
    if node.address != node.name:
        header.append(f"  {printable(node.address, 120)}", style="dim")
    if node.facts_summary.get("os"):
        header.append(f"  {printable(node.facts_summary['os'], 80)}", style="dim")
    console.print(header)
    if node.error is not None:
        # An incomplete node keeps the findings of the sections that arrived: shown
        # under the banner, so nobody reads them as the whole picture.
        line = Text("  INCOMPLETE " if node.findings else "  NOT SCANNED ", style="bold magenta")
        line.append(f"[{node.error.kind.value}] ", style="magenta")
        line.append(printable(node.error.message, 400))
        console.print(line)
        if not node.findings:
            console.print()
            return
    shown = sorted(
        (f for f in node.findings if show_passed or f.status not in (Status.PASS, Status.NOT_APPLICABLE)),
        key=report_sort_key,
    )
    if shown:
        console.print(_findings_table(shown))
    counts = {s: sum(1 for f in node.findings if f.status is s) for s in Status}
    tally = Text("  ")
    for status in REPORT_ORDER:
        if counts[status]:
            tally.append(f"{counts[status]} {status.value}  ", style=_STATUS_STYLE[status])
    console.print(tally)
    console.print()


def _findings_table(findings: list[Finding]) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False, padding=(0, 1))
    table.add_column("status", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("finding", overflow="fold")
    for finding in findings:
        detail = Text(finding.title)
        detail.append("\n" + printable(finding.reason, 400), style="dim")
        for evidence in finding.evidence[:3]:
            if finding.status is not Status.PASS:
                detail.append(f"\n  source: {printable(evidence.source, 200)}", style="dim")
        for override in finding.overrides:  # a site's threshold or severity, not the catalogue's
            detail.append(f"\n  {printable(override.describe(), 300)}", style="cyan")
        table.add_row(
            Text(finding.status.value.upper(), style=_STATUS_STYLE[finding.status]),
            Text(finding.severity.label),
            Text(finding.check_id),
            detail,
        )
    return table


def _summary(console: Console, run: RunResult) -> None:
    counts = run.status_counts()
    scanned = sum(1 for n in run.nodes if n.scanned)
    line = Text(f"{scanned}/{len(run.nodes)} nodes scanned", style="bold")
    for status in REPORT_ORDER:
        if counts.get(status):
            line.append(f"  {counts[status]} {status.value}", style=_STATUS_STYLE[status])
    high = sum(1 for _, f in run.failing(Severity.HIGH))
    if high:
        line.append(f"  ({high} failing at high or critical)", style="red")
    if run.interrupted:
        line.append("  INTERRUPTED", style="bold red")
    console.print(line)
    for node in run.unscanned:
        kind = node.error.kind.value if node.error is not None else "?"
        console.print(Text(f"  {printable(node.name, 120)}: {kind}", style="magenta"))
