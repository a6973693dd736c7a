"""One self-contained HTML report: summary first, then per node its findings.

Node data is attacker-controlled (a compromised node can put `<script>` in a banner,
a path or its OS name), so the Environment autoescapes everything and is separate
from the remediation Environment, which renders shell scripts and must not escape.
Control characters are made visible with `printable` before escaping: HTML has no
business carrying NUL or terminal escape sequences. No external assets, no script:
the file opens offline and from a mail attachment or CI artifact store.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from agent.findings import REPORT_ORDER, Finding, NodeResult, RunResult, Severity, report_sort_key
from agent.textsafe import printable

TEMPLATE = "report.html.j2"


@cache
def _environment() -> jinja2.Environment:
    # autoescape=True rather than select_autoescape: the template is "*.html.j2",
    # which select_autoescape's extension match would not recognise as HTML.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "check_id": printable(finding.check_id, 200),
        "title": printable(finding.title, 400),
        "severity": finding.severity.label,
        "status": finding.status.value,
        "reason": printable(finding.reason),
        "evidence": [
            {
                "observed": printable(e.observed),
                "expected": printable(e.expected),
                "source": printable(e.source),
            }
            for e in finding.evidence
        ],
        "references": [f"{printable(r.framework, 80)} {printable(r.id, 80)}" for r in finding.references],
        "overrides": [printable(o.describe(), 300) for o in finding.overrides],
    }


def _node(node: NodeResult) -> dict[str, Any]:
    ordered = sorted(node.findings, key=report_sort_key)
    conn = node.connection
    return {
        "name": printable(node.name, 200),
        "address": printable(node.address, 200),
        "scanned": node.scanned,
        "error": None
        if node.error is None
        else {"kind": node.error.kind.value, "message": printable(node.error.message)},
        "facts": {printable(k, 80): printable(v, 200) for k, v in sorted(node.facts_summary.items())},
        "connection": None
        if conn is None
        else {
            "transport": printable(conn.transport, 40),
            "user": printable(conn.user, 80),
            "server_version": printable(conn.server_version, 200),
            "host_key": printable(conn.host_key, 200),
        },
        "counts": [(s.value, sum(1 for f in node.findings if f.status is s)) for s in REPORT_ORDER],
        "findings": [_finding(f) for f in ordered],
        "duration": f"{node.duration_seconds:.1f}",
    }


def render(run: RunResult) -> str:
    counts = run.status_counts()
    summary = {
        "run_id": printable(run.run_id, 80),
        "started_at": printable(run.started_at, 40),
        "finished_at": printable(run.finished_at, 40),
        "tool_version": printable(run.tool_version, 40),
        "inventory": printable(run.inventory, 200),
        "interrupted": run.interrupted,
        "checks_selected": run.checks_selected,
        "nodes": len(run.nodes),
        "scanned": sum(1 for n in run.nodes if n.scanned),
        "statuses": [(s.value, counts.get(s, 0)) for s in REPORT_ORDER],
        "failing_by_severity": [
            (sev.label, sum(1 for _, f in run.failing(sev) if f.severity is sev))
            for sev in sorted(Severity, reverse=True)
        ],
    }
    template = _environment().get_template(TEMPLATE)
    return template.render(summary=summary, nodes=[_node(n) for n in run.nodes])
