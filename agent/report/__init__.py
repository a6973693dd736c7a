"""Reports: one registry, format name -> renderer, for a scan and a remediation run alike.

Every format works for both. A scan renders its RunResult. A remediation run
(`scan --remediate`, `plan`) renders in `table` and `json` its own report (each node's
fixes and outcomes, report/remediation.py); `junit`, `html` and `prometheus` show the
fleet as the run left it (each touched check re-evaluated), which is what a CI
dashboard or a metrics scrape wants to know.

The CLI takes `--format` as a `ReportFormat`, so an unknown format is a usage error
(exit 2) before anything is contacted. Renderer modules are imported only when used:
html imports jinja2, and `nodeward --help` must import neither it nor paramiko.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.findings import Severity

if TYPE_CHECKING:
    from agent.findings import RunResult
    from agent.remediate.run import RemediationRun


class ReportFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    JUNIT = "junit"
    HTML = "html"
    PROMETHEUS = "prometheus"


@dataclass(frozen=True, slots=True)
class Style:
    """How a terminal-facing report looks (ignored by the machine formats), and the run's
    --fail-on, which JUnit needs so CI goes red exactly when the exit code says so."""

    color: bool = False
    width: int = 120
    show_passed: bool = False
    fail_on: Severity = Severity.LOW


def _table(subject: RunResult | RemediationRun, style: Style) -> str:
    from agent.findings import RunResult

    if isinstance(subject, RunResult):
        from agent.report import table

        return table.render(subject, color=style.color, width=style.width, show_passed=style.show_passed)
    from agent.report import remediation

    return remediation.render_text(subject)


def _json(subject: RunResult | RemediationRun, style: Style) -> str:
    from agent.findings import RunResult

    if isinstance(subject, RunResult):
        from agent.report import json_report

        return json_report.render(subject)
    from agent.report import remediation

    return remediation.render_json(subject)


def _fleet(module: str) -> Callable[[RunResult | RemediationRun, Style], str]:
    """A renderer of the fleet's state: a scan's, or the state a remediation run left."""

    def render(subject: RunResult | RemediationRun, style: Style) -> str:
        import importlib

        from agent.findings import RunResult

        run = subject if isinstance(subject, RunResult) else subject.after()
        rendered: str = importlib.import_module(f"agent.report.{module}").render(run)
        return rendered

    return render


def _junit(subject: RunResult | RemediationRun, style: Style) -> str:
    from agent.findings import RunResult
    from agent.report import junit

    return junit.render(subject if isinstance(subject, RunResult) else subject.after(), style.fail_on)


REPORTERS: dict[ReportFormat, Callable[[RunResult | RemediationRun, Style], str]] = {
    ReportFormat.TABLE: _table,
    ReportFormat.JSON: _json,
    ReportFormat.JUNIT: _junit,
    ReportFormat.HTML: _fleet("html_report"),
    ReportFormat.PROMETHEUS: _fleet("prometheus"),
}


def parse_format(name: str) -> ReportFormat:
    """The format called `name`; ValueError (a usage error) for any other name."""
    try:
        return ReportFormat(name)
    except ValueError:
        known = ", ".join(f.value for f in ReportFormat)
        raise ValueError(f"unknown report format {name!r} (one of {known})") from None


def render(fmt: ReportFormat | str, subject: RunResult | RemediationRun, style: Style | None = None) -> str:
    return REPORTERS[parse_format(fmt)](subject, style or Style())


def file_mode(fmt: ReportFormat | str) -> int:
    """node_exporter reads the textfile directory as its own user and the metrics carry
    no free text, so they may be world-readable. Other reports name weak spots: 0640."""
    return 0o644 if parse_format(fmt) is ReportFormat.PROMETHEUS else 0o640
