"""Lockout safety on real nodes (issue 5, acceptance 2; reliability.md L3, L4, L7, L8, L9).

* `AllowUsers nobody` passes `sshd -t`: the node-side guard refuses it (L3); forced with
  --i-have-console-access it is applied, the NEW connection fails (L7), everything is
  restored over the still-open first connection, and the node takes logins again;
* PasswordAuthentication no is refused while an account people log in with has only a
  password (L4), and that account can still log in with it afterwards;
* a firewall candidate without the SSH path from the bastion is refused before anything
  is rendered (L9);
* nodeward killed right after the reload: the node's own timer restores (L8).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import paramiko
import pytest

from tests.fleet import crash_after_reload
from tests.fleet.harness import Fleet, FleetNode
from tests.fleet.test_remediate import (
    Site,
    make_site,
    node_doc,
    start_kubelet,
    state_of,
    wait_kubelet_healthy,
)

pytestmark = pytest.mark.fleet

SSHD_FILES = (
    "/etc/ssh/sshd_config",
    "/etc/ssh/sshd_config.d/00-nodeward.conf",
    "/etc/ssh/sshd_config.d/50-cloud-init.conf",
)
RELOADED = r"Received SIGHUP; restarting\."
# A check the stock node passes, so that only the inventory's own fix is planned.
QUIET = ("sshd_permit_empty_passwords_disabled",)


def effective(node: FleetNode, keyword: str, user: str = "scanner") -> list[str]:
    out = node.exec(["sshd", "-T", "-C", f"user={user},host=127.0.0.1,addr=127.0.0.1"]).stdout.decode()
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.split(" ", 1)[0] == keyword]


def steps(site: Site, run_id: str, node: FleetNode) -> list[tuple[str, str]]:
    with sqlite3.connect(site.state / "journal.sqlite3") as db:
        rows = db.execute(
            "SELECT step, detail FROM steps WHERE run_id = ? AND node = ? ORDER BY id", (run_id, node.name)
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_allow_users_nobody_is_refused_and_when_forced_rolled_back_after_the_new_login_fails(
    fleet: Fleet, tmp_path: Path
) -> None:
    node = fleet.start("debian12_default")
    fix = {"remediation": "sshd_option", "params": {"keyword": "AllowUsers", "value": "nobody"}}
    site = make_site(fleet, [node], tmp_path / "bastion", {"nodeward_fixes": [fix]})
    original = state_of(node, SSHD_FILES)

    # L3: sshd itself says scanner would no longer be allowed in: refused, nothing changes.
    code, document, err = site.remediate(checks=QUIET)
    remediation = node_doc(document, node)["remediation"]
    assert [(f["outcome"], f["remediation"]) for f in remediation["fixes"]] == [("refused", "sshd_option")], (
        remediation
    )
    assert "AllowUsers does not let scanner in" in remediation["fixes"][0]["reason"]
    assert state_of(node, SSHD_FILES) == original

    # Forced: `sshd -t` accepts it, sshd reloads, and only the new connection shows the lockout.
    code, document, err = site.remediate("--i-have-console-access", checks=QUIET)
    remediation = node_doc(document, node)["remediation"]
    assert remediation["status"] == "rolled-back", (remediation, err[-2000:])
    assert "a new SSH connection failed: auth" in remediation["message"]
    assert code == 4
    assert node.count_log(r"User scanner from 127\.0\.0\.1 not allowed because not listed in AllowUsers") >= 1
    assert state_of(node, SSHD_FILES) == original  # byte-identical, modes and owners too
    assert effective(node, "allowusers") == []
    node.wait_log(RELOADED, count=2)  # reloaded with the candidate, then with the restored files
    login = fleet.ssh(node, "id -un")
    assert login.returncode == 0 and login.stdout.strip() == b"scanner", login.stderr
    kinds = [step for step, _ in steps(site, remediation["run_id"], node)]
    assert kinds.index("reloaded") < kinds.index("failed") < kinds.index("rolled_back")
    assert "committed" not in kinds
    assert (
        node.read_file(f"/var/lib/nodeward/backups/{remediation['run_id']}/state").strip() == b"rolled-back"
    )


def test_every_other_way_to_cut_the_login_account_off_is_refused_on_the_node(
    fleet: Fleet, tmp_path: Path
) -> None:
    """L3/L5 guards run per fix on the node, with sshd -T -C for the login account itself."""
    node = fleet.start("debian12_default")  # scanner: key only, password locked ("!")
    wanted = {
        "AllowGroups": ("nobody-group", "AllowGroups names no group of scanner"),
        "DenyUsers": ("scan*", "DenyUsers scan* matches scanner"),
        "PubkeyAuthentication": ("no", "PubkeyAuthentication no would refuse the key scanner logs in with"),
        "AuthenticationMethods": (
            "publickey,password",
            "AuthenticationMethods publickey,password has no list",
        ),
        "UsePAM": (
            "no",
            "scanner has a locked password: with UsePAM no sshd would refuse its key logins too (L5)",
        ),
    }
    fixes = [
        {"remediation": "sshd_option", "params": {"keyword": k, "value": v}} for k, (v, _) in wanted.items()
    ]
    site = make_site(fleet, [node], tmp_path / "bastion", {"nodeward_fixes": fixes})
    original = state_of(node, SSHD_FILES)
    _, document, _ = site.remediate(checks=QUIET)
    remediation = node_doc(document, node)["remediation"]
    reasons = {
        f["params"].split()[0].split("=")[1]: (f["outcome"], f["reason"]) for f in remediation["fixes"]
    }
    for keyword, (_, why) in wanted.items():
        assert reasons[keyword][0] == "refused" and why in reasons[keyword][1], (keyword, reasons[keyword])
    assert remediation["status"] == "unchanged" and state_of(node, SSHD_FILES) == original


def password_login(node: FleetNode, user: str, password: str) -> bool:
    """Password authentication with paramiko itself (no sshpass on the machine)."""
    transport = paramiko.Transport((node.address, node.port))
    try:
        transport.start_client(timeout=10)
        transport.auth_password(user, password)
        return transport.is_authenticated()
    except paramiko.AuthenticationException:
        return False
    finally:
        transport.close()


def test_password_authentication_stays_on_while_a_login_account_has_only_a_password(
    fleet: Fleet, tmp_path: Path
) -> None:
    node = fleet.start("weak")  # deploy: password only, no key
    site = make_site(fleet, [node], tmp_path / "bastion", {"nodeward_login_users": ["deploy"]})
    _code, document, _err = site.remediate(
        checks=("sshd_password_authentication_disabled", "sshd_permit_root_login_disabled")
    )
    remediation = node_doc(document, node)["remediation"]
    outcomes = {f["params"]: (f["outcome"], f["reason"]) for f in remediation["fixes"]}
    refused = outcomes["keyword=PasswordAuthentication value=no"]
    assert refused[0] == "refused" and "deploy has no authorized key" in refused[1] and "(L4)" in refused[1]
    assert outcomes["keyword=PermitRootLogin value=no"] == ("applied", "")
    assert effective(node, "passwordauthentication", user="deploy") == ["yes"]
    assert effective(node, "permitrootlogin") == ["no"]
    assert password_login(node, "deploy", "deploy-weak-password")
    assert not password_login(node, "deploy", "wrong-password")  # the probe can fail


def test_a_firewall_candidate_without_the_ssh_path_is_refused_before_anything_runs(
    fleet: Fleet, tmp_path: Path
) -> None:
    node = fleet.start("rem_guarded")
    fix = {
        "remediation": "firewall_baseline",
        "params": {"ssh_sources": ["10.9.9.9/32"], "tcp_ports": ["10250"]},
    }
    site = make_site(
        fleet,
        [node],
        tmp_path / "bastion",
        {"nodeward_fixes": [fix], "nodeward_remediate_opt_in": ["firewall_baseline"]},
    )
    _code, document, _err = site.remediate(checks=QUIET)
    remediation = node_doc(document, node)["remediation"]
    assert remediation["status"] == "nothing-to-do" and remediation["fixes"] == []
    [refusal] = remediation["refused"]
    assert refusal["remediation"] == "firewall_baseline"
    assert (
        "10.9.9.9/32, not from the bastion's address 127.0.0.1" in refusal["reason"]
        and "(L9)" in refusal["reason"]
    )
    probe = node.exec(
        ["sh", "-c", "ls /etc/nodeward /run/nft-refused.log /var/lib/nodeward 2>&1"], check=False
    )
    assert probe.stdout.count(b"No such file or directory") == 3, probe.stdout


def test_killed_right_after_the_reload_the_node_restores_itself(fleet: Fleet, tmp_path: Path) -> None:
    node = fleet.start("weak")
    site = make_site(fleet, [node], tmp_path / "bastion")
    original = state_of(node, SSHD_FILES)
    period = 5
    code, _out, err = site.nodeward(
        "scan",
        "--remediate",
        "--yes",
        "--state-dir",
        str(site.state),
        "--rollback-seconds",
        str(period),
        checks=("sshd_permit_root_login_disabled",),
        program=crash_after_reload.PROGRAM,
    )
    assert code == -9, (code, err[-2000:])  # SIGKILL: no clean-up of any kind on the bastion
    [run] = node.exec(["ls", "/var/lib/nodeward/backups"]).stdout.decode().split()
    control = f"/var/lib/nodeward/backups/{run}"
    # The change was live when nodeward died; only the node's timer can undo it now.
    assert node.read_file(f"{control}/state").strip() == b"armed"
    assert node.read_file(f"{control}/timer").split()[0] == b"sleeper"  # no systemd, no at here
    deadline = time.monotonic() + period + 30
    while node.read_file(f"{control}/state").strip() != b"rolled-back":
        assert time.monotonic() < deadline, node.read_file(f"{control}/state")
        time.sleep(0.2)  # polling the node's own state file, with a deadline
    assert node.read_file(f"{control}/rolled-back").split()[0] == b"auto"
    assert state_of(node, SSHD_FILES) == original
    assert effective(node, "permitrootlogin") == ["yes"]
    node.wait_log(RELOADED, count=2)  # the daemon itself: reloaded by the apply, then by the restore
    login = fleet.ssh(node, "id -un")
    assert login.returncode == 0 and login.stdout.strip() == b"scanner"
    # The sleeper writes "rolled-back" and then exits: give it a moment, with a deadline.
    gone_by = time.monotonic() + 10
    while node.exec(["pgrep", "-f", "nodeward-rollback"], check=False).returncode != 1:
        assert time.monotonic() < gone_by, "the rollback sleeper outlived its restore"
        time.sleep(0.1)


def test_a_kubelet_that_does_not_come_back_healthy_is_restored(fleet: Fleet, tmp_path: Path) -> None:
    """The kubelet is restarted and must answer ok on /healthz; here the new value makes
    it refuse to start (the stand-in health endpoint rejects an unknown authorization
    mode), so the file is restored and the kubelet restarted again, healthy."""
    node = fleet.start("rem_neglected")
    port = start_kubelet(node)
    original = state_of(node, ("/var/lib/kubelet/config.yaml",))
    fix = {
        "remediation": "kubelet_config_field",
        "params": {"field": "authorization.mode", "value": "Bogus", "health_seconds": 5},
    }
    site = make_site(fleet, [node], tmp_path / "bastion", {"nodeward_fixes": [fix]})
    code, document, err = site.remediate(checks=QUIET)
    remediation = node_doc(document, node)["remediation"]
    assert remediation["status"] == "rolled-back", (remediation, err[-2000:])
    assert "reloading kubelet failed" in remediation["message"] and "not healthy" in remediation["message"]
    assert code == 4
    assert state_of(node, ("/var/lib/kubelet/config.yaml",)) == original
    wait_kubelet_healthy(node, port)  # restarted once more, with the old file
