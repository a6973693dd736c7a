"""Issue #12 item 12: fleet nodes never see the test machine's own nodeward state.

The machine that runs the suite may be a bastion where someone once ran
`nodeward scan --remediate` as root: its /var/lib/nodeward then holds a journal and
backups. Fleet nodes overlay the host's /var, so without care they would see that
directory "on the node", and tests that assert a dry run left no /var/lib/nodeward
there would fail (CI red because of a manual run). Each node gets a private, empty one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.harness import Fleet

pytestmark = pytest.mark.fleet

HOST_STATE = Path("/var/lib/nodeward")


@contextlib.contextmanager
def bastion_state() -> Iterator[Path]:
    """Put a run's backups into the host's /var/lib/nodeward, and take exactly them away.

    Whatever the directory held before is left as it was; if it did not exist, it does
    not exist afterwards. Kept short: other fleet tests may run on this machine now.
    """
    existed = HOST_STATE.exists() or HOST_STATE.is_symlink()
    backups_existed = (HOST_STATE / "backups").exists()
    run = HOST_STATE / "backups" / f"test-{uuid.uuid4().hex}"
    try:
        run.mkdir(parents=True, mode=0o700)
        (run / "state").write_text("committed\n")
        yield run
    finally:
        if not existed:
            shutil.rmtree(HOST_STATE, ignore_errors=True)
        elif not backups_existed:
            shutil.rmtree(HOST_STATE / "backups", ignore_errors=True)
        else:
            shutil.rmtree(run, ignore_errors=True)


def test_a_node_starts_without_the_hosts_state_directory(fleet: Fleet) -> None:
    with bastion_state() as run:
        node = fleet.start("debian12_default")
        seen = node.exec(["ls", "-a", str(HOST_STATE)], check=False)
        assert seen.returncode != 0, f"the node sees the bastion's {HOST_STATE}: {seen.stdout!r}"
        # The node can still make its own (a remediation does), and the host never sees it.
        node.exec(["mkdir", "-p", f"{HOST_STATE}/backups/on-node"])
        assert node.exec(["ls", f"{HOST_STATE}/backups"]).stdout.split() == [b"on-node"]
        assert not (HOST_STATE / "backups" / "on-node").exists()
        assert run.is_dir() and os.listdir(run) == ["state"]  # the host's own copy untouched
