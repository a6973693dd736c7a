"""Local transport: the same interface as SSH, for running on the node itself.

Used by `nodeward scan --local` and by inventory hosts with `connection: local`
(`ansible_connection: local`), e.g. a DaemonSet or Job with the host mounted. The
command runs with /bin/sh in a new session, and a timeout or Ctrl-C kills the whole
process tree through psutil: a hung `sshd -T` or package query must not outlive us.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import selectors
import socket
import subprocess

import psutil

from agent.connection import ConnectionInfo
from agent.errors import ErrorKind, NodeError

_READ_CHUNK = 65536


class LocalProcess:
    def __init__(self, command: str) -> None:
        self._popen = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so kill() reaches children
            close_fds=True,
        )
        self._selector = selectors.DefaultSelector()
        self._open = 0
        for stream in (self._popen.stdout, self._popen.stderr):
            if stream is None:  # cannot happen with PIPE; keeps the type checker honest
                raise NodeError(ErrorKind.INTERNAL, "local shell started without pipes")
            os.set_blocking(stream.fileno(), False)
            self._selector.register(stream, selectors.EVENT_READ)
            self._open += 1

    def write(self, data: bytes) -> None:
        stdin = self._popen.stdin
        if stdin is None or stdin.closed:
            raise NodeError(ErrorKind.GATHER, "stdin of the local shell is closed")
        try:
            stdin.write(data)
            stdin.flush()
        except BrokenPipeError as exc:
            raise NodeError(ErrorKind.GATHER, "the local shell exited before reading its input") from exc

    def close_stdin(self) -> None:
        if self._popen.stdin is not None and not self._popen.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self._popen.stdin.close()

    def read(self, wait: float) -> tuple[bytes, bytes]:
        out = bytearray()
        err = bytearray()
        if self._open == 0:
            return b"", b""
        for key, _ in self._selector.select(timeout=wait):
            stream = key.fileobj
            chunk = os.read(key.fd, _READ_CHUNK)
            if not chunk:
                self._selector.unregister(stream)
                self._open -= 1
                continue
            (out if stream is self._popen.stdout else err).extend(chunk)
        return bytes(out), bytes(err)

    @property
    def finished(self) -> bool:
        return self._open == 0 and self._popen.poll() is not None

    @property
    def exit_code(self) -> int | None:
        return self._popen.poll()

    def kill(self) -> None:
        """Kill the shell and every descendant, then reap the shell."""
        try:
            parent = psutil.Process(self._popen.pid)
            victims = [*parent.children(recursive=True), parent]
        except psutil.NoSuchProcess:
            victims = []
        for proc in victims:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(victims, timeout=5)
        self._popen.wait(timeout=5)
        self._selector.close()
        for stream in (self._popen.stdin, self._popen.stdout, self._popen.stderr):
            if stream is not None:
                stream.close()


class LocalTransport:
    """Runs commands on this machine as the current user."""

    def __init__(self) -> None:
        self._user = pwd.getpwuid(os.geteuid()).pw_name
        self._info = ConnectionInfo(transport="local", address=socket.gethostname(), user=self._user)

    @property
    def info(self) -> ConnectionInfo:
        return self._info

    @property
    def login_user(self) -> str:
        return self._user

    def start(self, command: str) -> LocalProcess:
        try:
            return LocalProcess(command)
        except OSError as exc:
            raise NodeError(ErrorKind.GATHER, f"cannot start /bin/sh: {exc}") from exc

    def close(self) -> None:
        """Nothing to close: every process is reaped by its own kill() or exit."""
