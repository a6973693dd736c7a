"""Small wording helpers shared by the package, kernel, MAC and audit predicates."""

from __future__ import annotations

from collections.abc import Iterable

from agent.facts.packages.model import DAY
from agent.findings import Evidence, Status
from agent.rules.verdict import Verdict
from agent.textsafe import render_value


def verdict(status: Status, reason: str, evidence: Iterable[Evidence] = ()) -> Verdict:
    return Verdict(status, reason, tuple(evidence))


def evidence_line(observed: object, expected: str, source: str) -> Evidence:
    return Evidence(render_value(observed, 300) or "(empty)", expected, source or "nodeward")


def listing(items: Iterable[str], limit: int = 8) -> str:
    shown = list(items)
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def ago(seconds: int) -> str:
    if seconds < 2 * 3600:
        return f"{seconds // 60} minutes ago"
    if seconds < 2 * DAY:
        return f"{seconds // 3600} hours ago"
    return f"{seconds // DAY} days ago"
