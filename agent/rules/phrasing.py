"""Small wording helpers shared by predicates and families."""

from __future__ import annotations

from collections.abc import Iterable

from agent.facts.packages.model import DAY
from agent.findings import Evidence, Status
from agent.rules.verdict import Verdict
from agent.textsafe import printable, render_value

MAX_EVIDENCE = 25


def bounded_verdict(status: Status, reason: str, evidence: Iterable[Evidence] = ()) -> Verdict:
    """A verdict whose reason is escaped and capped, with at most MAX_EVIDENCE lines of
    evidence: Kubernetes file and flag judgements can name hundreds of files."""
    return Verdict(status, printable(reason, 1200), tuple(evidence)[:MAX_EVIDENCE])


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
