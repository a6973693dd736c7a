"""One changing run at a time per state directory (exit 75, EX_TEMPFAIL, when held).

A remediation from a terminal and one from the systemd timer must never work on the
same fleet at once. The lock is fcntl.flock on a file in the state directory: the
kernel releases it when the process ends, even on SIGKILL, so there is no stale lock
file to clean up after a crash (the file itself stays and is reused).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from agent.errors import NodewardError

LOCK_FILE = "run.lock"


class RunLocked(NodewardError):
    """Another nodeward run holds the lock; nothing was contacted."""


@contextlib.contextmanager
def run_lock(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = state_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise RunLocked(
                f"another nodeward run (pid {holder}) holds {path}; try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
