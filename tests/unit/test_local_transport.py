"""The local transport and the session protocol, with the real /bin/sh."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from agent.errors import ErrorKind, NodeError
from agent.secret import Secret
from agent.transport.local import LocalTransport
from agent.transport.session import Become, build_command, explain_sudo_failure, run_script


def test_script_runs_and_streams_are_separate() -> None:
    out = run_script(
        LocalTransport(), b"echo out; echo err >&2; exit 7\n", become=Become(enabled=False), timeout=30
    )
    assert out.stdout == b"out\n"
    assert b"err" in out.stderr
    assert out.exit_code == 7


def test_large_output_on_both_streams_does_not_deadlock() -> None:
    script = b"head -c 3000000 /dev/zero >&2; head -c 3000000 /dev/zero; echo done\n"
    out = run_script(LocalTransport(), script, become=Become(enabled=False), timeout=60)
    assert out.stdout.endswith(b"done\n") and len(out.stdout) == 3_000_005


def test_output_beyond_the_cap_is_drained_and_flagged() -> None:
    script = b"head -c 200000 /dev/zero; echo tail\n"
    out = run_script(LocalTransport(), script, become=Become(enabled=False), timeout=60, max_output=1000)
    assert out.truncated and len(out.stdout) == 1000
    assert out.exit_code == 0  # the process was drained to its end, not killed


def test_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    seconds = str(100_000 + os.getpid())  # a sleep length nothing else on the machine uses
    script = f"sh -c 'sleep {seconds}' & sh -c 'sleep {seconds}' & wait\n".encode()
    started = time.monotonic()
    with pytest.raises(NodeError) as caught:
        run_script(LocalTransport(), script, become=Become(enabled=False), timeout=1)
    assert caught.value.kind is ErrorKind.TIMEOUT
    assert time.monotonic() - started < 30
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", seconds]]
    assert leftovers == []


def test_preamble_noise_before_the_ready_marker_is_dropped() -> None:
    # Shell start-up files can print; only what the script prints may reach the parser.
    out = run_script(LocalTransport(), b"echo mine\n", become=Become(enabled=False), timeout=30)
    assert out.stdout == b"mine\n"


def test_command_quotes_every_variable_part() -> None:
    command = build_command("abc123", use_sudo=True, with_password=True)
    assert command.startswith("exec sudo -S -p '[nodeward sudo abc123] password:' -- /bin/sh -c ")
    assert '"$SSH_CONNECTION"' in command
    assert "-n" not in command.split()
    assert build_command("abc", use_sudo=True, with_password=False).startswith("exec sudo -n -- /bin/sh -c ")
    assert "sudo" not in build_command("abc", use_sudo=False, with_password=False)


def test_the_password_is_never_part_of_the_command() -> None:
    secret = Secret("s3cret-value")
    assert "s3cret" not in repr(secret) and "s3cret" not in str(secret)
    command = build_command("tok", use_sudo=True, with_password=True)
    assert "s3cret" not in command


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("sudo: a password is required\n", "NOPASSWD"),
        ("sudo: a terminal is required to read the password", "NOPASSWD"),
        ("scanner is not in the sudoers file.  This incident will be reported.", "may not use sudo"),
        ("Sorry, try again.\nsudo: 3 incorrect password attempts", "rejected"),
        ("sudo: sorry, you must have a tty to run sudo", "requiretty"),
        ("sh: 1: sudo: not found", "not installed"),
    ],
)
def test_sudo_failures_are_explained(stderr: str, expected: str) -> None:
    explanation = explain_sudo_failure(stderr)
    assert explanation is not None and expected in explanation


def test_shell_that_exits_before_ready_is_a_gather_error() -> None:
    class Failing(LocalTransport):
        def start(self, command: str):  # type: ignore[no-untyped-def]
            return super().start("echo broken >&2; exit 3")

    with pytest.raises(NodeError) as caught:
        run_script(Failing(), b"true\n", become=Become(enabled=False), timeout=10)
    assert caught.value.kind is ErrorKind.GATHER and "broken" in caught.value.message
