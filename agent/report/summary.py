"""The one line a quiet run still owes its operator when it exits non-zero.

cron mails whatever a job prints, so `-q` prints nothing on success; but a run that
exits 1 or 3 with its report in a file must say why on stderr, or the failure only
shows up in a file nobody reads. Exactly one line, bounded, no colour, no carriage
return: it lands in a mail or a journal, not on a terminal.
"""

from __future__ import annotations

from agent.findings import RunResult, Severity, Status
from agent.textsafe import printable

# Enough unreachable nodes to act on; a whole rack down is "and N more", still one line.
_NAMED = 5


def one_line(run: RunResult, fail_on: Severity) -> str:
    nodes = len(run.nodes)
    unscanned = run.unscanned
    named = ", ".join(
        f"{printable(n.name, 80)}: {n.error.kind.value}" for n in unscanned[:_NAMED] if n.error is not None
    )
    if len(unscanned) > _NAMED:
        named += f", and {len(unscanned) - _NAMED} more"
    parts = [f"{nodes} node{'s' if nodes != 1 else ''}"]
    parts.append(f"{len(unscanned)} not scanned" + (f" ({named})" if named else ""))
    # At or above --fail-on: the findings that made the exit code what it is.
    counted = [f for n in run.nodes for f in n.findings if f.severity >= fail_on]
    parts.append(f"{sum(1 for f in counted if f.status is Status.FAIL)} fail")
    parts.append(f"{sum(1 for f in counted if f.status is Status.ERROR)} error")
    if run.interrupted:
        parts.append("interrupted")
    return "nodeward: " + ", ".join(parts)
