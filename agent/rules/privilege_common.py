"""Wording shared by the sudo and account predicates."""

from __future__ import annotations

from agent.findings import Evidence, Status
from agent.rules.verdict import Verdict
from agent.textsafe import printable

MAX_EVIDENCE = 20


def ev(observed: str, expected: str, source: str) -> Evidence:
    return Evidence(printable(observed, 200), printable(expected, 200), printable(source, 200))


def fail(reasons: list[str], evidence: list[Evidence]) -> Verdict:
    """One FAIL for several problems: the first three named, the count of the rest."""
    more = f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
    return Verdict(Status.FAIL, "; ".join(reasons[:3]) + more, tuple(evidence[:MAX_EVIDENCE]))


def mode_problems(
    perms: int, uid: int | None, gid: int | None, limit: int, *, root_group: bool = True
) -> list[str]:
    """What is wrong with a file's mode and owner; `root_group`: its group must be root too
    (with `root_group=False` a foreign group only matters through the mode's group bits)."""
    problems = []
    if perms & ~limit & 0o7777:
        problems.append(f"mode {perms:04o} allows more than {limit:04o}")
    if uid != 0:
        problems.append(f"owner uid {uid}, not root")
    if root_group and gid != 0:
        problems.append(f"group gid {gid}, not root")
    return problems
