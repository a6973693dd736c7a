"""The exit codes cron, CI and wrappers key on. cli.py is the only user.

0   no failing or unjudged (ERROR) finding at or above --fail-on
1   failing or unjudged (ERROR) findings at or above --fail-on: a check that could not
    be judged may be failing, so it is never a reason to exit 0
2   usage, inventory or catalogue error (nothing was contacted)
3   some nodes could not be scanned, or were scanned only in part (error kind
    `incomplete`); the report still has every other node. 3 wins over 1: an
    incomplete picture is the more urgent thing to look at, and the report lists the
    failing findings of the nodes that were scanned.
4   --remediate: a fix failed or was rolled back on some node (the node was restored)
70  internal error (a bug: please report it)
75  another run holds the lock in the state directory (--remediate, rollback); retry later
129 stopped by SIGHUP; the partial report is still printed
130 interrupted (Ctrl-C / SIGINT); the partial report is still printed
143 stopped by SIGTERM; the partial report is still printed
"""

from __future__ import annotations

import enum
import signal
from typing import TYPE_CHECKING

from agent.findings import RunResult, Severity

if TYPE_CHECKING:  # at run time only its attributes are read: no remediation import at start-up
    from agent.remediate.run import RemediationRun


class ExitCode(enum.IntEnum):
    OK = 0
    FINDINGS = 1
    USAGE = 2
    UNSCANNED = 3
    REMEDIATION_FAILED = 4
    INTERNAL = 70
    LOCKED = 75
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143


# The shell's convention, 128 + the signal number, for the signals that stop a run.
_BY_SIGNAL: dict[int, ExitCode] = {
    signal.SIGHUP: ExitCode.HANGUP,
    signal.SIGINT: ExitCode.INTERRUPTED,
    signal.SIGTERM: ExitCode.TERMINATED,
}


def for_signal(signum: int | None) -> ExitCode:
    """The exit code of a run stopped by `signum` (None: a plain KeyboardInterrupt)."""
    return _BY_SIGNAL.get(signum or signal.SIGINT, ExitCode.INTERRUPTED)


def for_run(run: RunResult, fail_on: Severity) -> ExitCode:
    if run.interrupted:
        return for_signal(run.stop_signal)
    if run.unscanned:
        return ExitCode.UNSCANNED
    if run.failing(fail_on) or run.unjudged(fail_on):
        return ExitCode.FINDINGS
    return ExitCode.OK


def for_remediation(run: RemediationRun, fail_on: Severity) -> ExitCode:
    """A failed or rolled-back fix first, then a busy node, then the fleet as left."""
    if run.failed:
        return ExitCode.REMEDIATION_FAILED
    if run.busy:
        return ExitCode.LOCKED
    return for_run(run.after(), fail_on)
