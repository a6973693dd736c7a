"""Machine-readable report: one JSON document per run, versioned by `schema_version`.

The schema is agent/schemas/report-v1.schema.json (JSON Schema 2020-12), shipped in
the wheel and validated in tests. Additive changes bump the minor version; anything
that could break a consumer bumps the major version and the schema file name.

Every string in the document is escaped the way finding reasons are (textsafe.printable):
host names, os-release names, kernel versions, SSH banners and error messages come from
the node or the network and may carry ESC, BEL or CR. ensure_ascii alone is not enough:
it escapes them in the JSON text, but every consumer that parses the document gets the
raw characters back and prints them to a terminal or a log. Escaping happens once, over
the whole document, so a field added later cannot be forgotten; text that is already
safe (ids, enum values, times, escaped reasons) comes out unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from agent.findings import Finding, NodeResult, RunResult, Severity, Status
from agent.textsafe import printable

SCHEMA_VERSION = "1.1"  # 1.1: findings carry `overrides` (site overlays)
# Longer than any string the report builds on purpose (reasons stop at 1200): this bound
# only stops a node's megabyte "hostname" or banner.
_MAX_STRING = 4096


def to_document(run: RunResult) -> dict[str, object]:
    document: dict[str, object] = _visible(_document(run))
    return document


def _visible(value: object) -> Any:
    """`value` with every string, key or value, at any depth, passed through printable."""
    if isinstance(value, str):
        return printable(value, _MAX_STRING)
    if isinstance(value, dict):
        return {_visible(k): _visible(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_visible(item) for item in value]
    return value  # numbers, booleans, None


def _document(run: RunResult) -> dict[str, Any]:
    counts = run.status_counts()
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "id": run.run_id,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "tool_version": run.tool_version,
            "inventory": run.inventory,
            "interrupted": run.interrupted,
            "checks_selected": run.checks_selected,
        },
        "summary": {
            "nodes": len(run.nodes),
            "scanned": sum(1 for n in run.nodes if n.scanned),
            "unscanned": len(run.unscanned),
            "statuses": {status.value: counts.get(status, 0) for status in Status},
            "failing_by_severity": {
                sev.label: sum(1 for _, f in run.failing(sev) if f.severity is sev) for sev in Severity
            },
        },
        "nodes": [_node(n) for n in run.nodes],
    }


def _node(node: NodeResult) -> dict[str, object]:
    conn = node.connection
    return {
        "name": node.name,
        "address": node.address,
        "scanned": node.scanned,
        "error": None
        if node.error is None
        else {"kind": node.error.kind.value, "message": node.error.message},
        "connection": None
        if conn is None
        else {
            "transport": conn.transport,
            "address": conn.address,
            "port": conn.port,
            "user": conn.user,
            "server_version": conn.server_version,
            "host_key": conn.host_key,
            "strict_kex": conn.strict_kex,
            "jump_hosts": list(conn.jump_hosts),
            "notes": list(conn.notes),
        },
        "facts": dict(node.facts_summary),
        "duration_seconds": node.duration_seconds,
        "execs": node.execs,
        "findings": [_finding(f) for f in node.findings],
    }


def _finding(finding: Finding) -> dict[str, object]:
    return {
        "check_id": finding.check_id,
        "title": finding.title,
        "severity": finding.severity.label,
        "status": finding.status.value,
        "reason": finding.reason,
        "evidence": [
            {"observed": e.observed, "expected": e.expected, "source": e.source} for e in finding.evidence
        ],
        "references": [{"framework": r.framework, "id": r.id} for r in finding.references],
        "remediation": finding.remediation,
        # Site overlays that changed the check (agent/overlay.py): a site's threshold or
        # severity must never pass for the catalogue's own.
        "overrides": [dataclasses.asdict(o) for o in finding.overrides],
    }


def render(run: RunResult) -> str:
    # ensure_ascii keeps control and non-ASCII characters escaped: safe in any pipe or log.
    return json.dumps(to_document(run), indent=2, ensure_ascii=True) + "\n"
