"""Reports of a remediation run (`scan --remediate`, `plan`): its JSON document and its text.

The JSON document is the scan report (report-v1 schema) of the fleet as scanned, plus
per node a `remediation` object and, on each finding a fix touched, a
`remediation_result`: which fix, its outcome, and the status before and after. The
text is each node's outcome (with the node's own diffs in a dry run) and a summary.

Everything that came from a node (messages, reasons, diff lines, paths) passes through
textsafe.printable before it is shown: remote output is hostile.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent.report.json_report import to_document
from agent.textsafe import printable

if TYPE_CHECKING:
    from agent.remediate.bind import Refusal
    from agent.remediate.events import Report
    from agent.remediate.outcome import NodeOutcome
    from agent.remediate.plan import NodePlan
    from agent.remediate.render import FixScript
    from agent.remediate.run import RemediationRun

# Statuses after which the node holds backups of this run (`nodeward rollback` can use them).
_WITH_BACKUPS = ("applied", "rolled-back", "failed")


def _safe(text: str, limit: int = 600) -> str:
    return printable(text, limit)


def refusal_text(refusal: Refusal) -> str:
    return f"{refusal.remediation} ({', '.join(refusal.checks) or 'inventory'}): {_safe(refusal.reason)}"


def params_text(fix: FixScript) -> str:
    """The parameters that differ from the manifest's defaults, as `name=value` words."""
    shown = []
    for name, value in fix.params.items():
        spec = fix.manifest.params.get(name)
        if spec is not None and spec.has_default and spec.coerce(spec.default) == value:
            continue
        rendered = " ".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
        shown.append(f"{name}={rendered}")
    return _safe(" ".join(shown), 200)


def plan_text(plan: NodePlan, report: Report | None) -> str:
    """One node's ordered fixes, refusals and (from the node's dry run) diffs."""
    lines = [f"node {plan.node.name}: {len(plan.fixes)} fix(es), in this order"]
    outcomes = {o.number: o for o in report.fixes} if report is not None else {}
    for number, fix in enumerate(plan.fixes, start=1):
        verdict = outcomes.get(number)
        state = ""
        if verdict:
            reason = f": {_safe(verdict.reason, 300)}" if verdict.reason else ""
            state = f"  [{verdict.status}{reason}]"
        lines.append(f"  {number}. {fix.manifest.id} {params_text(fix)}  for {fix.label}{state}")
    lines += [f"  refused: {refusal_text(refusal)}" for refusal in plan.refused]
    if report is not None:
        for path, what in report.changes.items():
            lines.append(f"  change {_safe(path, 300)}: {_safe(what, 200)}")
            diff = report.diffs.get(path)
            if diff:
                lines += [f"    {_safe(line, 400)}" for line in diff.splitlines()]
        if report.result not in ("planned", "unchanged") and report.failure:
            lines.append(f"  the dry run failed: {_safe(report.failure)}")
    return "\n".join(lines)


def outcome_line(outcome: NodeOutcome) -> str:
    """One line per node: what progress shows while a run goes on."""
    message = f" - {_safe(outcome.message)}" if outcome.message else ""
    return f"node {outcome.node.name}: {outcome.status.value}{message}"


def outcome_text(outcome: NodeOutcome, run_id: str, *, show_diff: bool) -> str:
    lines = [outcome_line(outcome)]
    plan = outcome.plan
    if plan is None:
        return lines[0]
    if show_diff:
        lines.append(plan_text(plan, outcome.report))
    else:
        before = {f.check_id: f.status.value for f in outcome.before.findings}
        after = {f.check_id: f.status.value for f in outcome.after}
        for number, result in enumerate(outcome.fixes, start=1):
            reason = f": {_safe(result.reason, 300)}" if result.reason else ""
            lines.append(
                f"  {number}. {result.fix.manifest.id} {params_text(result.fix)}  {result.outcome}{reason}"
            )
            checks = ", ".join(
                f"{c} {before.get(c, '?')} -> {after.get(c, before.get(c, '?'))}" for c in result.fix.checks
            )
            if checks:
                lines.append(f"     {checks}")
        lines += [f"  refused: {refusal_text(refusal)}" for refusal in plan.refused]
    lines += [f"  not fixable automatically: {check_id} ({why})" for check_id, why in plan.unfixable]
    if outcome.needs_reboot:
        lines.append(f"  needs a reboot (not done by nodeward): {', '.join(outcome.needs_reboot)}")
    if outcome.backup_dir and outcome.status.value in _WITH_BACKUPS:
        lines.append(
            f"  backups on the node: {outcome.backup_dir}  "
            f"(undo: nodeward rollback {run_id} --node {outcome.node.name})"
        )
    return "\n".join(lines)


def summary(run: RemediationRun) -> str:
    counts: dict[str, int] = {}
    for outcome in run.outcomes:
        counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    kind = "plan" if run.dry_run else f"remediation run {run.run_id}"
    return f"{kind}: {len(run.outcomes)} node(s): {parts or 'none'}"


def render_text(run: RemediationRun) -> str:
    """The table format of a remediation run: every node's outcome, then the summary."""
    blocks = [outcome_text(o, run.run_id, show_diff=run.dry_run) for o in run.outcomes]
    return "\n".join([*blocks, summary(run)]) + "\n"


def render_json(run: RemediationRun) -> str:
    # ensure_ascii keeps control and non-ASCII characters escaped: safe in any pipe or log.
    return json.dumps(document(run), indent=2, ensure_ascii=True) + "\n"


def document(run: RemediationRun) -> dict[str, Any]:
    """The scan report (report-v1 schema) plus an optional `remediation_result` per
    finding a fix touched: which fix, its outcome and the status before and after."""
    doc: dict[str, Any] = to_document(run.before())
    by_node = {o.node.name: o for o in run.outcomes}
    for node_doc in doc["nodes"]:
        outcome = by_node.get(node_doc["name"])
        if outcome is None:
            continue
        node_doc["remediation"] = _node_remediation(outcome, run.run_id)
        if outcome.plan is None:
            continue
        touched = _touched(outcome, run.run_id)
        after = {f.check_id: f for f in outcome.after}
        for finding in node_doc["findings"]:
            result = touched.get(finding["check_id"])
            if result is None:
                continue
            again = after.get(finding["check_id"])
            result["before"] = finding["status"]
            result["after"] = again.status.value if again is not None else None
            result["after_reason"] = again.reason if again is not None else None
            result["backup_dir"] = outcome.backup_dir or None
            finding["remediation_result"] = result
    return doc


def _node_remediation(outcome: NodeOutcome, run_id: str) -> dict[str, Any]:
    refused = outcome.plan.refused if outcome.plan is not None else ()
    return {
        "run_id": run_id,
        "status": outcome.status.value,
        "message": _safe(outcome.message),
        "backup_dir": outcome.backup_dir or None,
        "fixes": [
            {
                "remediation": r.fix.manifest.id,
                "params": params_text(r.fix),
                "checks": list(r.fix.checks),
                "outcome": r.outcome,
                "reason": _safe(r.reason),
            }
            for r in outcome.fixes
        ],
        "refused": [
            {"remediation": r.remediation, "checks": list(r.checks), "reason": _safe(r.reason)}
            for r in refused
        ],
        "needs_reboot": list(outcome.needs_reboot),
    }


def _touched(outcome: NodeOutcome, run_id: str) -> dict[str, dict[str, Any]]:
    """Per check id: every fix (or refusal) that concerned it on this node."""
    results: dict[str, dict[str, Any]] = {}

    def add(check_ids: Sequence[str], remediation: str, params: str, outcome_word: str, reason: str) -> None:
        for check_id in check_ids:
            entry = results.setdefault(check_id, {"run_id": run_id, "fixes": []})
            entry["fixes"].append(
                {
                    "remediation": remediation,
                    "params": params,
                    "outcome": outcome_word,
                    "reason": _safe(reason),
                }
            )

    for result in outcome.fixes:
        add(result.fix.checks, result.fix.manifest.id, params_text(result.fix), result.outcome, result.reason)
    for refusal in outcome.plan.refused if outcome.plan is not None else ():
        add(refusal.checks, refusal.remediation, "", "refused", refusal.reason)
    return results
