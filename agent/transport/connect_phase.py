"""One budget for TCP connect + SSH banner + key exchange, enforced by a watchdog.

paramiko bounds each *read* of the banner (and each handshake packet), not the whole:
`Packetizer.readline` restarts its timeout whenever a byte arrives and the banner may
be preceded by up to 100 other lines, so a server sending one byte every 2 s held a
worker for the full node deadline despite `--connect-timeout 3` (issue #12 item 5).
The only interruption paramiko honours from outside is closing the transport: its
reader polls a closed flag every 0.1 s. So a timer closes it when the budget is spent,
and the caller turns the resulting failure into `banner` (no complete banner yet) or
`timeout` (the banner came, key exchange did not finish).

The budget starts when the TCP connect (or the jump host's forwarding channel, or the
ProxyCommand) that carries the connection starts, and is the hop's connect timeout
(`--connect-timeout` or ssh_config's ConnectTimeout), capped by the node deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from agent.errors import ErrorKind, NodeError
from agent.transport.ssh_route import Deadline, Endpoint


class ConnectPhase:
    """When this hop's connect, banner and key exchange must be done by."""

    def __init__(self, started: float, endpoint: Endpoint, deadline: Deadline) -> None:
        by_timeout = started + endpoint.connect_timeout
        self.end = min(by_timeout, deadline.end)
        self.seconds = self.end - started
        self.why = "the connect timeout" if by_timeout <= deadline.end else "the per-node deadline"

    def left(self, endpoint: Endpoint, what: str) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise NodeError(
                ErrorKind.TIMEOUT,
                f"{endpoint.prefix}{self.why} ({self.seconds:g} s) ran out {what}",
            )
        return left

    def expired(self, endpoint: Endpoint, got_banner: bool) -> NodeError:
        where = f"{endpoint.hostname} port {endpoint.port}"
        bound = (
            f"{self.seconds:g} s of connecting ({self.why}, which bounds TCP connect, "
            "banner and key exchange together)"
        )
        if not got_banner:
            return NodeError(
                ErrorKind.BANNER,
                f"{endpoint.prefix}{where} did not send a complete SSH banner within {bound}: "
                "not an SSH server, an overloaded sshd, or a tarpit",
            )
        return NodeError(
            ErrorKind.TIMEOUT,
            f"{endpoint.prefix}key exchange with {where} did not finish within {bound}",
        )


class Watchdog:
    """Runs `close` once after `seconds`, unless disarmed first; says whether it fired.

    Disarming and firing exclude each other, so after `disarm()` returns `fired` is
    final: a connection is never closed behind the back of a caller that has already
    decided it succeeded.
    """

    def __init__(self, seconds: float, close: Callable[[], object]) -> None:
        self._close = close
        self._lock = threading.Lock()
        self._done = False
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = self.fired = True
        self._close()

    def disarm(self) -> bool:
        """Stop the timer; True when it had already fired."""
        with self._lock:
            self._done = True
        self._timer.cancel()
        return self.fired
