"""SIGINT, SIGTERM and SIGHUP end a scan the same way: a partial report, never none.

Python turns only SIGINT into an exception (KeyboardInterrupt); SIGTERM (systemd
stopping the unit, `timeout`, a CI cancel) and SIGHUP (the operator's SSH session to
the bastion dropping) kill the process outright, and the report of every node already
scanned is lost. While `stop_signals()` is active all three raise `Interrupted`, a
KeyboardInterrupt, which the scan loop already turns into a partial result.

Once the scan has returned, `hold()` makes the handler only remember a signal: the
report of a finished scan is then always written whole (an exception in the middle of
an atomic write would leave nothing).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; `signum` says which (the exit code is 128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exc: KeyboardInterrupt) -> int:
    """The signal behind an interrupt: a bare KeyboardInterrupt is Python's SIGINT."""
    return exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)


class StopSignals:
    """What the handler does: raise while the scan runs, only remember once held."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._raising = True

    def hold(self) -> None:
        self._raising = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        if self._raising:
            self._raising = False  # one exception per run: a second signal must not cut the clean-up
            raise Interrupted(signum)


@contextlib.contextmanager
def stop_signals() -> Iterator[StopSignals]:
    """Install the handlers (main thread only) and restore the previous ones after."""
    state = StopSignals()
    previous = {signum: signal.signal(signum, state.handle) for signum in STOP_SIGNALS}
    try:
        yield state
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
