"""Rollback never restores the wrong file (issue #12 item 3), on real nodes.

run1 fixes PasswordAuthentication (creates sshd_config.d/00-nodeward.conf, edits
sshd_config), run2 fixes X11Forwarding (edits both again). Rolling run1 back first
used to delete the drop-in with run2's line in it, and rolling run2 back afterwards
put run1's version back: both said "restored" and the node ended at neither original
nor any verified state. Now a file is restored only while it still holds what the run
installed (sha256, mode, owner recorded after the install, on the node and in the
journal); otherwise the whole rollback is refused and names the later run. The node
itself serialises runs from any bastion (a flock under its backup directory, and no
run while another one's change is not yet committed): the second gets exit 75.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fleet import crash_after_reload
from tests.fleet.harness import Fleet, FleetNode
from tests.fleet.test_remediate import Site, make_site, node_doc, state_of

pytestmark = pytest.mark.fleet

FILES = (
    "/etc/ssh/sshd_config",
    "/etc/ssh/sshd_config.d/00-nodeward.conf",
    "/etc/ssh/sshd_config.d/50-cloud-init.conf",
)
RUN1 = ("sshd_password_authentication_disabled",)
RUN2 = ("sshd_x11_forwarding_disabled",)
BACKUPS = "/var/lib/nodeward/backups"


def remediate(site: Site, checks: tuple[str, ...], *extra: str, **kw: Any) -> str:
    _code, document, err = site.remediate(*extra, checks=checks, **kw)
    remediation = node_doc(document, site.nodes[0])["remediation"]
    assert remediation["status"] == "applied", (remediation, err[-2000:])
    run_id: str = remediation["run_id"]
    return run_id


def rollback(site: Site, run_id: str) -> tuple[int, str, str]:
    node = site.nodes[0]
    return site.nodeward("rollback", run_id, "--node", node.name, "--state-dir", str(site.state), checks=())


def effective(node: FleetNode, keyword: str) -> str:
    lines = node.exec(["sshd", "-T", "-C", "user=scanner,host=127.0.0.1,addr=127.0.0.1"]).stdout.decode()
    return next(line for line in lines.splitlines() if line.startswith(keyword + " "))


def assert_restored(site: Site, run_id: str) -> None:
    code, out, err = rollback(site, run_id)
    assert code == 0, (out, err[-2000:])
    assert "restored from the run's backups; new SSH connection as scanner works" in out


def test_rolling_back_the_later_run_first_restores_the_original(fleet: Fleet, tmp_path: Path) -> None:
    node = fleet.start("weak")
    site = make_site(fleet, [node], tmp_path / "bastion")
    original = state_of(node, FILES)
    run1 = remediate(site, RUN1)
    after_run1 = state_of(node, FILES)
    run2 = remediate(site, RUN2)
    assert state_of(node, FILES) != after_run1

    assert_restored(site, run2)
    assert state_of(node, FILES) == after_run1  # exactly run1's result again
    assert_restored(site, run1)
    assert state_of(node, FILES) == original
    assert effective(node, "passwordauthentication") == "passwordauthentication yes"
    assert effective(node, "x11forwarding") == "x11forwarding yes"

    # The journal has what each file held right after the install, as the node has it.
    with sqlite3.connect(site.state / "journal.sqlite3") as db:
        installed = dict(
            db.execute(
                "SELECT path, checksum FROM steps WHERE run_id = ? AND step = 'installed'", (run1,)
            ).fetchall()
        )
    assert (
        installed["/etc/ssh/sshd_config.d/00-nodeward.conf"]
        == (after_run1["/etc/ssh/sshd_config.d/00-nodeward.conf"].split()[-1])
    )
    manifest = node.read_file(f"{BACKUPS}/{run1}/installed").decode()
    assert installed["/etc/ssh/sshd_config"] in manifest


def test_rolling_back_the_earlier_run_first_is_refused_and_names_the_later_run(
    fleet: Fleet, tmp_path: Path
) -> None:
    node = fleet.start("weak")
    site = make_site(fleet, [node], tmp_path / "bastion")
    original = state_of(node, FILES)
    run1 = remediate(site, RUN1)
    run2 = remediate(site, RUN2)
    both = state_of(node, FILES)

    code, out, err = rollback(site, run1)
    assert code == 4, (out, err[-2000:])
    assert f"rollback of {run1} refused, nothing was restored" in err
    for path in FILES[:2]:  # both files run2 changed after run1, each named with run2
        assert f"{path} was changed after this run by run {run2}: roll back {run2} first" in err, err
    assert "50-cloud-init.conf" not in err  # run2 left that one alone: not a reason
    assert "restored" not in out
    assert state_of(node, FILES) == both  # all or nothing: not one file touched
    assert node.read_file(f"{BACKUPS}/{run1}/state").strip() == b"committed"

    # As the refusal says: run2 first, then run1, and the node is back at the original.
    assert_restored(site, run2)
    assert_restored(site, run1)
    assert state_of(node, FILES) == original


def test_two_bastions_on_one_node_never_restore_stale_content(fleet: Fleet, tmp_path: Path) -> None:
    """Bastion A and bastion B have their own journals; only the node knows both runs."""
    node = fleet.start("weak")
    bastion_a = make_site(fleet, [node], tmp_path / "a")
    bastion_b = make_site(fleet, [node], tmp_path / "b")
    original = state_of(node, FILES)
    run1 = remediate(bastion_a, RUN1)
    after_run1 = state_of(node, FILES)
    run2 = remediate(bastion_b, RUN2)
    both = state_of(node, FILES)

    code, _out, err = rollback(bastion_a, run1)
    assert code == 4 and f"roll back {run2} first" in err, err[-2000:]
    assert state_of(node, FILES) == both
    code, _out, err = rollback(bastion_b, run1)  # B's journal has no run1: nothing contacted
    assert code == 2 and "has no nodes for run" in err

    assert_restored(bastion_b, run2)
    assert state_of(node, FILES) == after_run1
    assert_restored(bastion_a, run1)
    assert state_of(node, FILES) == original


def test_a_file_edited_by_hand_after_the_run_is_not_overwritten(fleet: Fleet, tmp_path: Path) -> None:
    node = fleet.start("weak")
    site = make_site(fleet, [node], tmp_path / "bastion")
    run1 = remediate(site, RUN1)
    node.exec(["sh", "-c", "echo 'MaxSessions 4' >> /etc/ssh/sshd_config.d/00-nodeward.conf"])
    edited = state_of(node, FILES)
    code, _out, err = rollback(site, run1)
    assert code == 4, err[-2000:]
    assert (
        "/etc/ssh/sshd_config.d/00-nodeward.conf no longer holds what this run installed" in err
        and "someone else changed it" in err
    ), err
    assert state_of(node, FILES) == edited


def test_while_another_bastion_holds_the_node_lock_a_run_exits_75(fleet: Fleet, tmp_path: Path) -> None:
    node = fleet.start("weak")
    site = make_site(fleet, [node], tmp_path / "b")
    original = state_of(node, FILES)
    # Another run (from a bastion this one knows nothing about) in the middle of its
    # work: it holds the node lock, as the remediation script does.
    node.exec(["mkdir", "-p", "-m", "0700", BACKUPS])
    node.exec(["sh", "-c", f"echo other-run-7 1 > {BACKUPS}/.lock"])
    holder = subprocess.Popen(
        [*node_nsenter(node), "flock", f"{BACKUPS}/.lock", "sleep", "300"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # nsenter -p forks: the whole group goes at the end
    )
    try:
        wait_locked(node)
        code, document, err = site.remediate(checks=RUN1)
        remediation = node_doc(document, node)["remediation"]
        assert code == 75, (remediation, err[-2000:])
        assert remediation["status"] == "busy"
        message = "another nodeward remediation is running on this node (run other-run-7)"
        assert message in remediation["message"] and message in err
        assert state_of(node, FILES) == original
        assert node.exec(["ls", BACKUPS]).stdout == b""  # no backup: nothing was started
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    remediate(site, RUN1)  # released: the next run goes ahead


def test_a_run_waits_for_another_bastions_uncommitted_run_to_settle(fleet: Fleet, tmp_path: Path) -> None:
    """Bastion A dies right after its reload: its change is live, armed, uncommitted, and
    holds no lock any more. Bastion B must not build on it (A's timer will restore it)."""
    node = fleet.start("weak")
    bastion_a = make_site(fleet, [node], tmp_path / "a")
    bastion_b = make_site(fleet, [node], tmp_path / "b")
    original = state_of(node, FILES)
    period = 20
    code, _out, err = bastion_a.nodeward(
        "scan",
        "--remediate",
        "--yes",
        "--state-dir",
        str(bastion_a.state),
        "--rollback-seconds",
        str(period),
        checks=RUN1,
        program=crash_after_reload.PROGRAM,
    )
    assert code == -9, (code, err[-2000:])
    [run_a] = node.exec(["ls", BACKUPS]).stdout.decode().split()
    assert node.read_file(f"{BACKUPS}/{run_a}/state").strip() == b"armed"
    armed = state_of(node, FILES)

    code, document, err = bastion_b.remediate(checks=RUN2)
    remediation = node_doc(document, node)["remediation"]
    assert code == 75 and remediation["status"] == "busy", (remediation, err[-2000:])
    assert f"run {run_a} on this node is not committed yet" in err
    assert state_of(node, FILES) == armed

    # A's own timer restores A's files (they still hold what A installed).
    deadline = time.monotonic() + period + 30
    while node.read_file(f"{BACKUPS}/{run_a}/state").strip() != b"rolled-back":
        assert time.monotonic() < deadline, node.read_file(f"{BACKUPS}/{run_a}/state")
        time.sleep(0.2)
    assert state_of(node, FILES) == original
    remediate(bastion_b, RUN2)  # settled: B goes ahead


def node_nsenter(node: FleetNode) -> list[str]:
    return ["nsenter", "-t", str(node.anchor_pid), "-m", "-p", "-u", "--"]


def wait_locked(node: FleetNode) -> None:
    deadline = time.monotonic() + 10
    while node.exec(["flock", "-n", f"{BACKUPS}/.lock", "true"], check=False).returncode == 0:
        assert time.monotonic() < deadline, "the test's lock holder never took the lock"
        time.sleep(0.05)


def test_a_mode_fix_rolls_back_after_a_later_content_fix_replaced_the_file(
    fleet: Fleet, tmp_path: Path
) -> None:
    """run1 narrows sshd_config's mode (the node pins its inode), run2 rewrites the file
    (a new inode by rename), run2 is rolled back (another new inode). Rolling back run1
    then used to be refused as 'no longer the file this run changed', although only root
    can replace a file there and its mode and owner are exactly what run1 installed
    (second review, finding 4). In reverse order, each run restores the previous state."""
    node = fleet.start("weak")
    node.exec(["chmod", "0644", "/etc/ssh/sshd_config"])
    site = make_site(fleet, [node], tmp_path / "bastion")
    original = state_of(node, FILES)
    run1 = remediate(site, ("sshd_config_files_protected",))
    after_run1 = state_of(node, FILES)
    assert after_run1["/etc/ssh/sshd_config"].split()[0] == "600"
    run2 = remediate(site, RUN1)
    assert_restored(site, run2)
    assert state_of(node, FILES) == after_run1
    assert_restored(site, run1)
    assert state_of(node, FILES) == original
