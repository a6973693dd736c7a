"""Progress while a fleet is scanned: a rich bar on a terminal, plain lines otherwise.

Both go to stderr, so `--format json > report.json` stays clean. `--quiet` (cron)
prints nothing: cron mails any output, so a silent success is the polite default.
"""

from __future__ import annotations

import sys
from typing import TextIO

from agent.findings import NodeResult, Status
from agent.scan import Progress
from agent.textsafe import printable


class PlainProgress(Progress):
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._total = 0
        self._done = 0

    def started(self, total: int) -> None:
        self._total = total

    def node_done(self, result: NodeResult) -> None:
        self._done += 1
        if result.error is not None:
            state = f"not scanned ({result.error.kind.value})"
        else:
            failed = sum(1 for f in result.findings if f.status is Status.FAIL)
            state = f"{failed} failing"
        name = printable(result.name, 120)
        self._stream.write(
            f"nodeward: [{self._done}/{self._total}] {name}: {state} in {result.duration_seconds:.1f}s\n"
        )
        self._stream.flush()


class BarProgress(Progress):
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self._task = self._bar.add_task("scan", total=0)

    def started(self, total: int) -> None:
        self._bar.update(self._task, total=total)
        self._bar.start()

    def node_done(self, result: NodeResult) -> None:
        self._bar.advance(self._task)

    def finished(self) -> None:
        self._bar.stop()


def progress_for(*, quiet: bool) -> Progress:
    if quiet:
        return Progress()
    if sys.stderr.isatty():
        return BarProgress()
    return PlainProgress(sys.stderr)
