"""A command running on the node over one SSH exec channel."""

from __future__ import annotations

import contextlib
import select
import time

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message
from paramiko.ssh_exception import SSHException

from agent.errors import ErrorKind, NodeError

__all__ = ["SshProcess"]

_READ_CHUNK = 65536
_SEND_CHUNK = 32768
_KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL in SshProcess.kill()
_POLL = 0.02  # the channel's fileno only signals stdout: stderr is polled this often


class SshProcess:
    """One exec channel: stdin, stdout and stderr, drained together."""

    def __init__(self, channel: paramiko.Channel, write_timeout: float) -> None:
        self._channel = channel
        self._write_timeout = write_timeout
        self._out = bytearray()  # output that arrived while write() waited
        self._err = bytearray()
        self._stdin_closed = False
        # Creating the pipe early: it signals stdout data and channel close, so read()
        # can sleep in select() instead of spinning.
        self._fileno = channel.fileno()

    def _drain(self) -> None:
        channel = self._channel
        # paramiko deadlocks if one stream is read while the other's window fills:
        # always take everything that is buffered on both.
        while channel.recv_ready():
            chunk = channel.recv(_READ_CHUNK)
            if not chunk:
                break
            self._out += chunk
        while channel.recv_stderr_ready():
            chunk = channel.recv_stderr(_READ_CHUNK)
            if not chunk:
                break
            self._err += chunk

    def _take(self) -> tuple[bytes, bytes]:
        out, err = bytes(self._out), bytes(self._err)
        self._out.clear()
        self._err.clear()
        return out, err

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._channel.eof_received or self._channel.closed:
            # After EOF the pipe stays readable forever; select would return at once.
            time.sleep(min(seconds, _POLL))
            return
        select.select([self._fileno], [], [], min(seconds, _POLL))

    def read(self, wait: float) -> tuple[bytes, bytes]:
        end = time.monotonic() + max(wait, 0.0)
        while True:
            self._drain()
            if self._out or self._err:
                return self._take()
            if self.finished:
                self._channel.close()  # releases the select() pipe; nothing more can come
                return b"", b""
            left = end - time.monotonic()
            if left <= 0:
                return b"", b""
            self._wait(left)

    def write(self, data: bytes) -> None:
        channel = self._channel
        if self._stdin_closed or channel.eof_sent:
            raise NodeError(ErrorKind.GATHER, "stdin of the remote command is already closed")
        view = memoryview(data)
        give_up = time.monotonic() + self._write_timeout
        while view:
            self._check_writable()
            if channel.send_ready():
                try:
                    sent = channel.send(bytes(view[:_SEND_CHUNK]))
                except OSError:
                    sent = 0
                if sent == 0:
                    self._check_writable()
                    raise NodeError(ErrorKind.GATHER, "the remote command closed its input")
                view = view[sent:]
                continue
            # The send window is full: the remote side is not reading its stdin, maybe
            # because it is blocked writing output that nobody reads. Read it for the
            # caller meanwhile, so neither side can wait on the other forever.
            self._drain()
            if time.monotonic() > give_up:
                raise NodeError(
                    ErrorKind.TIMEOUT,
                    f"the remote command did not read its input for {self._write_timeout:g} s",
                )
            self._wait(_POLL)

    def _check_writable(self) -> None:
        channel = self._channel
        if not channel.get_transport().is_active():
            raise NodeError(ErrorKind.CONNECT, "the SSH connection was lost")
        if channel.closed or channel.exit_status_ready():
            raise NodeError(ErrorKind.GATHER, "the remote command exited before reading all its input")

    def close_stdin(self) -> None:
        if self._stdin_closed:
            return
        self._stdin_closed = True
        with contextlib.suppress(OSError, EOFError, SSHException):
            self._channel.shutdown_write()

    @property
    def finished(self) -> bool:
        channel = self._channel
        return bool(
            (channel.closed or (channel.eof_received and channel.exit_status_ready()))
            and not channel.recv_ready()
            and not channel.recv_stderr_ready()
            and not self._out
            and not self._err
        )

    @property
    def exit_code(self) -> int | None:
        channel = self._channel
        if not channel.status_event.is_set():
            return None
        # -1 is paramiko's "never received": the channel closed without exit-status
        # (connection lost, or the command died from a signal: exit-signal).
        return None if channel.exit_status == -1 else channel.exit_status

    def kill(self) -> None:
        """Stop the command: SIGTERM, then SIGKILL, to its session, then close the channel.

        Closing the channel alone does not stop anything: without a PTY, sshd just
        closes the pipes and a `sleep` or a hung `sshd -T` keeps running. The signals
        travel as RFC 4254 "signal" requests, which OpenSSH's sshd turns into a killpg()
        of the session (verified with 9.2p1); sudo relays the TERM to its command.
        Servers that do not support them ignore the request.
        """
        channel = self._channel
        with contextlib.suppress(Exception):
            if not channel.closed and not channel.exit_status_ready():
                _send_signal(channel, "TERM")
                give_up = time.monotonic() + _KILL_GRACE
                while not channel.exit_status_ready() and time.monotonic() < give_up:
                    time.sleep(_POLL)
                if not channel.exit_status_ready():
                    _send_signal(channel, "KILL")
        with contextlib.suppress(Exception):
            channel.close()


def _send_signal(channel: paramiko.Channel, name: str) -> None:
    # paramiko has no API for the "signal" channel request (RFC 4254 section 6.9).
    message = Message()
    message.add_byte(cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string("signal")
    message.add_boolean(False)  # want-reply: sshd sends none for signals anyway
    message.add_string(name)
    send = getattr(channel.get_transport(), "_send_user_message", None)
    if send is not None:
        send(message)
