"""What every transport offers: start one process on the node, stream its I/O.

The SSH and local transports implement these two small protocols; everything above
them (sudo, the gather script, output caps) is written once, in `session.py`, so the
behaviour is identical whether nodeward runs from a bastion or on the node itself.
"""

from __future__ import annotations

from typing import Protocol

# Re-exported: Transport.info returns it, and the engine imports it from here.
from agent.connection import ConnectionInfo as ConnectionInfo


class RemoteProcess(Protocol):
    """One running command with separate stdout and stderr streams."""

    def write(self, data: bytes) -> None:
        """Write to the process's stdin (all of it, or raise NodeError)."""

    def close_stdin(self) -> None:
        """Send EOF on stdin."""

    def read(self, wait: float) -> tuple[bytes, bytes]:
        """Return whatever stdout and stderr bytes arrive within `wait` seconds.

        Both streams are drained together so neither can fill up and stall the other.
        Returns two empty byte strings when nothing arrived in time.
        """

    @property
    def finished(self) -> bool:
        """True once the process has exited and both streams reached EOF."""

    @property
    def exit_code(self) -> int | None:
        """The exit status, or None while running (or when the peer never sent one)."""

    def kill(self) -> None:
        """Stop the process (and, locally, its whole process tree)."""


class Transport(Protocol):
    """An open connection to one node."""

    @property
    def info(self) -> ConnectionInfo:
        """How the node was reached."""

    @property
    def login_user(self) -> str:
        """The account we are logged in as on the node."""

    def start(self, command: str) -> RemoteProcess:
        """Start `command` with the login user's shell (`$SHELL -c command`).

        No PTY is ever allocated: a PTY echoes secrets and merges stderr into stdout.
        Raises NodeError on failure.
        """

    def close(self) -> None:
        """Close the connection (and any jump-host connections it owns)."""
