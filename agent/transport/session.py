"""Run one script on a node, as root when asked, over any Transport.

This is the single place that knows how privilege is obtained, for SSH and local
transports alike:

* The command line is constant apart from shell-quoted tokens: the script itself
  travels on stdin (`/bin/sh -s`), so no fact name, path or user value can reach the
  remote command line unquoted.
* `sudo -n` by default: a missing NOPASSWD rule fails at once instead of hanging on a
  prompt. With a become password, `sudo -S -p <random marker>`: the password is
  written to stdin only after that exact marker appears on stderr, never to argv or
  the environment (pyinfra's `env PASSWORD=...` is readable in /proc while it runs).
* The privileged shell first prints a random "ready" marker and only then is the
  script sent. Until that marker is seen nothing but the password is written, so a
  password can never be executed as a shell command when sudo did not ask for it.
* `$SSH_CONNECTION` is expanded by the login shell *before* sudo (which resets the
  environment) and handed to the script as `$1`: the script needs the bastion's
  address as the node sees it to evaluate sshd's Match blocks for this connection.
"""

from __future__ import annotations

import re
import secrets
import shlex
import time
from dataclasses import dataclass

from agent.errors import ErrorKind, NodeError
from agent.secret import Secret
from agent.transport.base import RemoteProcess, Transport

POLL_SECONDS = 0.05
MAX_STDERR = 64 * 1024  # sudo's messages are short; anything beyond is noise


@dataclass(frozen=True, slots=True)
class ScriptOutput:
    stdout: bytes
    stderr: bytes
    exit_code: int | None
    truncated: bool  # stdout exceeded max_output and the rest was drained and dropped
    privileged: bool  # the script ran as root


@dataclass(frozen=True, slots=True)
class Become:
    enabled: bool = True
    password: Secret | None = None


def build_command(token: str, *, use_sudo: bool, with_password: bool) -> str:
    """The remote command line. Every variable part is shell-quoted."""
    ready = f"nodeward-ready-{token}"
    inner = f"printf '%s\\n' {ready}; exec /bin/sh -s \"$1\""
    shell = f'/bin/sh -c {shlex.quote(inner)} nodeward "$SSH_CONNECTION"'
    if not use_sudo:
        return f"exec {shell}"
    if with_password:
        prompt = sudo_prompt(token)
        return f"exec sudo -S -p {shlex.quote(prompt)} -- {shell}"
    return f"exec sudo -n -- {shell}"


def sudo_prompt(token: str) -> str:
    return f"[nodeward sudo {token}] password:"


# sudo's own words, as printed by sudo 1.8/1.9 (and the shell when sudo is absent).
_SUDO_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"a (terminal|password) is required|askpass"),
        "sudo needs a password for this account: give the scan account a NOPASSWD rule "
        "or supply a become password (--ask-become-pass / --become-password-file)",
    ),
    (re.compile(r"not in the sudoers file|is not allowed to execute"), "the account may not use sudo"),
    (re.compile(r"incorrect password|Sorry, try again"), "sudo rejected the become password"),
    (
        re.compile(r"must have a tty|requiretty"),
        "sudo is configured with requiretty; nodeward never allocates a PTY (it would "
        "echo secrets): allow the scan account with `Defaults:<user> !requiretty`",
    ),
    (re.compile(r"sudo: (not found|command not found)|sudo: No such file"), "sudo is not installed"),
)


def explain_sudo_failure(stderr: str) -> str | None:
    for pattern, explanation in _SUDO_MESSAGES:
        if pattern.search(stderr):
            return explanation
    return None


class _Buffers:
    """Accumulates output with a cap on what is kept, while the rest is drained."""

    def __init__(self, max_stdout: int) -> None:
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.max_stdout = max_stdout
        self.truncated = False

    def add(self, out: bytes, err: bytes) -> None:
        room = self.max_stdout - len(self.stdout)
        if len(out) > room:
            self.truncated = True
            out = out[: max(room, 0)]
        self.stdout += out
        self.stderr += err[: max(MAX_STDERR - len(self.stderr), 0)]


def run_script(
    transport: Transport,
    script: bytes,
    *,
    become: Become,
    timeout: float,
    max_output: int = 64 << 20,
) -> ScriptOutput:
    """Run `script` with /bin/sh on the node in one exec; raise NodeError on failure.

    The exit code of the script itself is returned, not interpreted: the gather layer
    gives each section its own status.
    """
    token = secrets.token_hex(16)
    use_sudo = become.enabled and transport.login_user != "root"
    with_password = use_sudo and become.password is not None
    command = build_command(token, use_sudo=use_sudo, with_password=with_password)
    ready = f"nodeward-ready-{token}\n".encode()
    prompt = sudo_prompt(token).encode()
    deadline = time.monotonic() + timeout
    proc = transport.start(command)
    buffers = _Buffers(max_output)
    try:
        _wait_until_ready(proc, buffers, ready, prompt, become if with_password else None, deadline)
        proc.write(script)
        proc.close_stdin()
        while not proc.finished:
            if time.monotonic() > deadline:
                raise NodeError(ErrorKind.TIMEOUT, f"the gather script ran longer than {timeout:g} s")
            buffers.add(*proc.read(POLL_SECONDS))
        buffers.add(*proc.read(0))
    except BaseException:
        proc.kill()
        raise
    return ScriptOutput(
        stdout=bytes(buffers.stdout),
        stderr=bytes(buffers.stderr),
        exit_code=proc.exit_code,
        truncated=buffers.truncated,
        privileged=use_sudo or transport.login_user == "root",
    )


def _wait_until_ready(
    proc: RemoteProcess,
    buffers: _Buffers,
    ready: bytes,
    prompt: bytes,
    become: Become | None,
    deadline: float,
) -> None:
    """Answer sudo's prompt (once) and wait for the shell's ready marker.

    Whatever precedes the marker on stdout (motd-like noise from shell start-up files)
    is dropped so the gather parser only ever sees the script's own output.
    """
    password_sent = False
    while True:
        out, err = proc.read(POLL_SECONDS)
        buffers.add(out, err)
        if become is not None and become.password is not None and prompt in buffers.stderr:
            if password_sent:
                # A second prompt means the first answer was wrong: never retry, sudo
                # would count each attempt against the account.
                raise NodeError(ErrorKind.SUDO, "sudo rejected the become password")
            proc.write(become.password.reveal().encode() + b"\n")
            password_sent = True
            _remove_first(buffers.stderr, prompt)
        position = buffers.stdout.find(ready)
        if position >= 0:
            del buffers.stdout[: position + len(ready)]
            return
        if proc.finished:
            raise _not_started(buffers, proc.exit_code)
        if time.monotonic() > deadline:
            raise NodeError(ErrorKind.TIMEOUT, "the remote shell did not start in time (sudo waiting?)")


def _remove_first(buffer: bytearray, needle: bytes) -> None:
    at = buffer.find(needle)
    if at >= 0:
        del buffer[at : at + len(needle)]


def _not_started(buffers: _Buffers, exit_code: int | None) -> NodeError:
    stderr = bytes(buffers.stderr).decode("utf-8", "replace")
    explanation = explain_sudo_failure(stderr)
    detail = _one_line(stderr)
    if explanation is not None:
        return NodeError(ErrorKind.SUDO, f"{explanation} (sudo said: {detail})")
    return NodeError(
        ErrorKind.GATHER,
        f"the remote shell exited with status {exit_code} before running the script: {detail}",
    )


def _one_line(text: str, limit: int = 300) -> str:
    """Remote text for a message: printable, single line, bounded."""
    flat = " ".join(text.split())
    clean = "".join(ch if ch.isprintable() else "?" for ch in flat)
    return clean[:limit] + ("..." if len(clean) > limit else "") if clean else "(no output)"
