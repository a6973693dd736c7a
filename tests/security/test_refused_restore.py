"""A refused automatic restore never leaves a node stuck (issue 12 adversarial review,
finding 5), on a real node with the real CLI.

The bastion dies right after the reload (its change is live, the node's timer armed),
and before the timer fires someone edits a file the run installed. The timer's restore
is then refused (restoring would undo that edit), and the run used to stay "armed" for
ever: every later run exited 75 saying "its rollback timer will restore it", which was
false, and the only way out was an undocumented command on the node. Now the run is
"restore-refused", later runs say so and how to settle it, `nodeward rollback RUN`
names the file, and `nodeward rollback RUN --keep-current` settles it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fleet import crash_after_reload
from tests.fleet.harness import Fleet
from tests.fleet.test_remediate import make_site, node_doc

pytestmark = pytest.mark.fleet

BACKUPS = "/var/lib/nodeward/backups"
DROPIN = "/etc/ssh/sshd_config.d/00-nodeward.conf"
RUN1 = ("sshd_password_authentication_disabled",)
RUN2 = ("sshd_x11_forwarding_disabled",)


def test_a_refused_timer_restore_is_reported_and_settled_with_keep_current(
    fleet: Fleet, tmp_path: Path
) -> None:
    node = fleet.start("weak")
    site = make_site(fleet, [node], tmp_path / "bastion")
    period = 5
    code, _out, err = site.nodeward(
        "scan", "--remediate", "--yes", "--state-dir", str(site.state), "--rollback-seconds", str(period),
        checks=RUN1, program=crash_after_reload.PROGRAM,
    )  # fmt: skip
    assert code == -9, (code, err[-2000:])
    [run] = node.exec(["ls", BACKUPS]).stdout.decode().split()
    assert node.read_file(f"{BACKUPS}/{run}/state").strip() == b"armed"

    # A hand edit of a file the run installed, before its timer fires.
    node.exec(["sh", "-c", f"echo '# edited by hand' >> {DROPIN}"])
    edited = node.read_file(DROPIN)
    deadline = time.monotonic() + period + 30
    while node.exec(["test", "-e", f"{BACKUPS}/{run}/restore-refused"], check=False).returncode != 0:
        assert time.monotonic() < deadline, node.read_file(f"{BACKUPS}/{run}/state")
        time.sleep(0.2)
    assert node.read_file(f"{BACKUPS}/{run}/state").strip() == b"restore-refused"
    assert node.read_file(DROPIN) == edited  # nothing was restored

    # Every later run is refused, truthfully, and says how to settle it.
    code, document, err = site.remediate(checks=RUN2)
    remediation = node_doc(document, node)["remediation"]
    assert code == 75 and remediation["status"] == "busy", (remediation, err[-2000:])
    assert f"run {run} on this node could not be rolled back" in remediation["message"], remediation
    assert f"nodeward rollback {run} --keep-current" in err, err[-2000:]
    assert "timer will" not in err

    # rollback explains (the file, and both ways out) and still restores nothing.
    code, _out, err = site.nodeward(
        "rollback", run, "--node", node.name, "--state-dir", str(site.state), checks=()
    )
    assert code == 4, err[-2000:]
    assert f"refused: {DROPIN} no longer holds what this run installed" in err, err[-2000:]
    assert f"nodeward rollback {run} --keep-current" in err, err[-2000:]
    assert node.read_file(DROPIN) == edited

    # --keep-current settles it: the node stays as it is, a new login is proven.
    code, out, err = site.nodeward(
        "rollback", run, "--keep-current", "--node", node.name, "--state-dir", str(site.state), checks=()
    )
    assert code == 0, (out, err[-2000:])
    assert f"{DROPIN} no longer holds what this run installed" in out, out
    assert "new SSH connection as scanner works" in out, out
    assert node.read_file(f"{BACKUPS}/{run}/state").strip() == b"kept"
    assert node.read_file(DROPIN) == edited

    code, document, err = site.remediate(checks=RUN2)
    remediation = node_doc(document, node)["remediation"]
    assert remediation["status"] == "applied", (remediation, err[-2000:])
