"""The exit codes cron, CI and wrappers key on. cli.py is the only user.

0   no failing finding at or above --fail-on
1   failing findings at or above --fail-on
2   usage, inventory or catalogue error (nothing was contacted)
3   some nodes could not be scanned (the report still has every other node).
    3 wins over 1: an incomplete picture is the more urgent thing to look at,
    and the report lists the failing findings of the nodes that were scanned.
4   --remediate: a fix failed or was rolled back on some node (the node was restored)
70  internal error (a bug: please report it)
75  another run holds the lock in the state directory (--remediate, rollback); retry later
130 interrupted (Ctrl-C / SIGINT); the partial report is still printed
"""

from __future__ import annotations

import enum

from agent.findings import RunResult, Severity


class ExitCode(enum.IntEnum):
    OK = 0
    FINDINGS = 1
    USAGE = 2
    UNSCANNED = 3
    REMEDIATION_FAILED = 4
    INTERNAL = 70
    LOCKED = 75
    INTERRUPTED = 130


def for_run(run: RunResult, fail_on: Severity) -> ExitCode:
    if run.interrupted:
        return ExitCode.INTERRUPTED
    if run.unscanned:
        return ExitCode.UNSCANNED
    if run.failing(fail_on):
        return ExitCode.FINDINGS
    return ExitCode.OK
