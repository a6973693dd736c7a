"""Two changing runs never overlap: the second exits 75 before contacting anything."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agent.runlock import RunLocked, run_lock

NODEWARD = Path(sys.executable).parent / "nodeward"


def test_the_lock_excludes_a_second_holder_and_is_released(tmp_path: Path) -> None:
    with run_lock(tmp_path / "state"):
        with pytest.raises(RunLocked) as caught, run_lock(tmp_path / "state"):
            pass
        assert str(os.getpid()) in str(caught.value)
    with run_lock(tmp_path / "state"):  # released on exit
        pass
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


def test_a_second_remediation_exits_75_and_contacts_nothing(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    state = tmp_path / "state"
    try:
        with run_lock(state):
            result = subprocess.run(
                [
                    str(NODEWARD),
                    "scan",
                    "--hosts",
                    f"ssh://scanner@127.0.0.1:{port}",
                    "--remediate",
                    "--yes",
                    "--state-dir",
                    str(state),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "HOME": str(tmp_path)},
            )
        assert result.returncode == 75, (result.stdout, result.stderr)
        assert "another nodeward run" in result.stderr and str(state) in result.stderr
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody ever connected
    finally:
        listener.close()
