"""One check's full metadata, for `nodeward checks --show ID`: as a JSON-ready document
and as plain text for people.

It shows the check as a scan judges it, so after site overlays: the severity and args
in force, and next to them every change an overlay made (old -> new, which overlay,
file and line, why). The args are printed as the YAML wrote them ("0600", not 384).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from agent.remediate.manifest import Manifest
from agent.rules.predicates import FAMILIES, PREDICATES
from agent.rules.schema import Check
from agent.textsafe import printable

_SUMMARY_LIMIT = 400


def closest_ids(wanted: str, ids: Iterable[str]) -> list[str]:
    """Up to three ids that look like `wanted`, for an "unknown check" message."""
    return difflib.get_close_matches(wanted, list(ids), n=3, cutoff=0.5)


def details(check: Check, manifest: Manifest | None) -> dict[str, Any]:
    """Everything the catalogue says about `check` (with overlays applied), JSON-ready."""
    return {
        "id": check.id,
        "title": check.title,
        "severity": check.severity.label,
        "overrides": [dataclasses.asdict(o) for o in check.overridden],  # as in the scan report
        "fact": check.fact,
        "needs": list(check.needs),
        "assert": _assertion(check),
        "applies_to": {"roles": list(check.applies_to.roles), "os_family": list(check.applies_to.os_family)},
        "manual": check.manual,
        "description": check.description,
        "rationale": check.rationale,
        "fix_hint": check.fix_hint,
        "references": [{"framework": r.framework, "id": r.id} for r in check.references],
        "remediation": _remediation(check, manifest),
        "source": check.source,
    }


def _assertion(check: Check) -> dict[str, Any]:
    if check.predicate is not None and check.args is not None:
        family = FAMILIES[check.predicate]
        return {"kind": "family", "predicate": check.predicate, "summary": family.summary,
                "args": dict(check.args_yaml or {})}  # fmt: skip
    if check.predicate is not None:
        return {"kind": "predicate", "predicate": check.predicate, "summary": _docstring(check.predicate)}
    return {
        "kind": "conditions",
        "all": [
            {"key": c.key, "op": c.op, **({} if c.value is None else {"value": _plain(c.value)})}
            for c in check.conditions
        ],
    }


def _docstring(name: str) -> str:
    """A named predicate's own description: the first paragraph of its docstring."""
    text = (PREDICATES[name].__doc__ or "").strip().split("\n\n")[0]
    return " ".join(text.split())[:_SUMMARY_LIMIT]


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _remediation(check: Check, manifest: Manifest | None) -> dict[str, Any] | None:
    if check.remediation is None:
        return None
    if manifest is None:
        return {"id": check.remediation}
    return {
        "id": manifest.id,
        "title": manifest.title,
        "opt_in": manifest.opt_in,  # applied only where the inventory opts in
        "lockout_risk": manifest.lockout_risk,
        "disruption": manifest.disruption,
        "reload": manifest.reload,
        "needs_reboot": manifest.needs_reboot,
    }


def render_text(document: Mapping[str, Any]) -> str:
    """The document for a terminal: labelled lines, args as YAML, every string made safe."""
    lines: list[str] = []

    def row(label: str, value: object) -> None:
        if value not in (None, "", []):
            lines.append(f"{label + ':':13}{_safe(str(value))}")

    row("id", document["id"])
    row("title", document["title"])
    overlays = sorted({o["overlay"] for o in document["overrides"] if o["field"] == "severity"})
    row("severity", document["severity"] + (f" (overlay {', '.join(overlays)})" if overlays else ""))
    row("fact", document["fact"])
    row("needs", ", ".join(document["needs"]))
    lines.extend(_assertion_lines(document["assert"]))
    applies = document["applies_to"]
    row("roles", ", ".join(applies["roles"]) or "every node")
    row("os family", ", ".join(applies["os_family"]) or "every distro")
    row(
        "CIS Manual",
        "yes: CIS could not automate it; nodeward judges the effective value" if document["manual"] else "",
    )
    if document["overrides"]:
        lines.append("overrides:")
        for change in document["overrides"]:
            why = f" -- {change['reason']}" if change["reason"] else ""
            lines.append(
                _safe(f"  {change['field']}: {change['old']} -> {change['new']} "
                      f"(overlay {change['overlay']}, {change['source']}){why}")
            )  # fmt: skip
    row("description", document["description"])
    row("rationale", document["rationale"])
    row("fix hint", document["fix_hint"])
    refs = document["references"]
    row("references", ", ".join(f"{r['framework']} {r['id']}" for r in refs))
    lines.append(f"{'remediation:':13}{_remediation_text(document['remediation'])}")
    row("source", document["source"])
    return "\n".join(lines) + "\n"


def _assertion_lines(assertion: Mapping[str, Any]) -> list[str]:
    if assertion["kind"] == "conditions":
        lines = ["assert:      every condition holds:"]
        for c in assertion["all"]:
            value = f" {_flow(c['value'])}" if "value" in c else ""
            lines.append(_safe(f"  {c['key']} {c['op']}{value}"))
        return lines
    kind = "family" if assertion["kind"] == "family" else "named predicate"
    lines = [_safe(f"assert:      {kind} {assertion['predicate']}")]
    if assertion["summary"]:
        lines.append(_safe(f"  {assertion['summary']}"))
    if assertion["kind"] == "family":
        lines.append("  args:")
        dumped = yaml.safe_dump(assertion["args"], default_flow_style=False, sort_keys=False, width=100)
        lines.extend(_safe(f"    {line}") for line in dumped.splitlines())
    return lines


def _remediation_text(remediation: Mapping[str, Any] | None) -> str:
    if remediation is None:
        return "none (no automatic fix; see fix hint)"
    if "title" not in remediation:
        return _safe(f"{remediation['id']} (no such manifest in this catalogue)")
    opt_in = ", opt-in per node (nodeward_remediate_opt_in)" if remediation["opt_in"] else ""
    reboot = ", needs a reboot" if remediation["needs_reboot"] else ""
    return _safe(
        f"{remediation['id']}: {remediation['title']} (lockout risk {remediation['lockout_risk']}, "
        f"disruption {remediation['disruption']}, reloads {remediation['reload']}{opt_in}{reboot})"
    )


def _flow(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _safe(text: str) -> str:
    return printable(text, 4000)
