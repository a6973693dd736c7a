"""`nodeward scan --remediate` end to end on real nodes (issue 5, acceptance 1 and 5).

The node (nodes/rem_neglected.yaml) has everything the issue lists: root login and
password authentication on, a cloud-init drop-in that re-enables passwords, NOPASSWD
for a group, a world-writable sudoers drop-in, an insecure kubelet configuration and
loose file modes. The kubelet is the stand-in of standin.py, restarted by the node's
`service` stub together with a small health endpoint that answers "ok" only while
the configuration file parses (so the remediation's restart-and-wait is real).

The inventory allow-lists the scan account's own NOPASSWD rule (sudo_nopasswd_allowed,
as the sudo_nopasswd_not_used check asks): nodeward never removes it anyway, and with
the allow-list the check can pass once every other NOPASSWD is gone.
"""

from __future__ import annotations

import json
import os
import pty
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.fleet.harness import LOG_CONNECTION, Fleet, FleetNode
from tests.fleet.scanutil import (
    NODEWARD,
    Target,
    ansible_inventory,
    files_only_resolver,
    nodes_by_name,
    run_nodeward,
    statuses,
)
from tests.fleet.standin import install_standin

pytestmark = pytest.mark.fleet

SCHEMA = json.loads((Path(__file__).parents[2] / "agent" / "schemas" / "report-v1.schema.json").read_text())
CHECKS = ("sshd_*", "kubelet_*", "sudo_*")
TOUCHED = (
    "/etc/ssh/sshd_config",
    "/etc/ssh/sshd_config.d/00-nodeward.conf",
    "/etc/ssh/sshd_config.d/50-cloud-init.conf",
    "/etc/sudoers.d/70-team",
    "/etc/sudoers.d/80-admins",
    "/etc/sudoers.d/90-cloud-init-users",
    "/etc/sudoers.d/scanner",
    "/etc/sudoers.d/zz-nodeward-defaults",
    "/var/lib/kubelet/config.yaml",
)
INVENTORY_VARS: dict[str, object] = {"sudo_nopasswd_allowed": ["scanner"]}
# Every check the neglected node fails that a template fixes, and must pass afterwards.
MUST_FIX = (
    "sshd_permit_root_login_disabled",
    "sshd_password_authentication_disabled",
    "sshd_config_files_protected",
    "sshd_max_auth_tries_limited",
    "sshd_x11_forwarding_disabled",
    "kubelet_anonymous_auth_disabled",
    "kubelet_authorization_mode_webhook",
    "kubelet_config_file_mode_restricted",
    "sudo_nopasswd_not_used",
    "sudo_include_permissions",
    "sudo_logfile_configured",
)


@dataclass
class Site:
    """One test's bastion side: inventory, known_hosts, HOME, journal directory."""

    fleet: Fleet
    nodes: list[FleetNode]
    workdir: Path
    inventory: Path
    known_hosts: Path
    home: Path

    @property
    def state(self) -> Path:
        return self.workdir / "state"

    def nodeward(
        self,
        *args: str,
        checks: Sequence[str] = CHECKS,
        env: dict[str, str] | None = None,
        timeout: float = 600,
        program: Sequence[str] = (),
    ) -> tuple[int, str, str]:
        config = self.home / "ssh_config"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("")
        selection = [arg for pattern in checks for arg in ("--check", pattern)]
        done = run_nodeward(
            [
                *args,
                "--inventory",
                str(self.inventory),
                "--known-hosts",
                str(self.known_hosts),
                "--ssh-config",
                str(config),
                *selection,
            ],
            self.home,
            timeout=timeout,
            extra_env=env,
            program=program,
        )
        return done.returncode, done.stdout, done.stderr

    def json(self, *args: str, **kw: Any) -> tuple[int, dict[str, Any], str]:
        code, out, err = self.nodeward(*args, "--format", "json", **kw)
        try:
            document = json.loads(out)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"no JSON (exit {code}): {out[-2000:]} {err[-3000:]}") from exc
        jsonschema.validate(document, SCHEMA)
        return code, document, err

    def remediate(self, *extra: str, **kw: Any) -> tuple[int, dict[str, Any], str]:
        return self.json(
            "scan", "--remediate", "--yes", "--state-dir", str(self.state), "--quiet", *extra, **kw
        )


def make_site(
    fleet: Fleet, nodes: list[FleetNode], workdir: Path, variables: dict[str, object] | None = None
) -> Site:
    workdir.mkdir(parents=True, exist_ok=True)
    targets = [Target(n.name, n.address, n.port, dict(variables or {})) for n in nodes]
    inventory = ansible_inventory(workdir / "inventory.yaml", targets, fleet.keys.bastion)
    return Site(
        fleet, nodes, workdir, inventory, fleet.known_hosts(nodes, workdir / "known_hosts"), workdir / "home"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kubelet_healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            return sock.recv(4096).endswith(b"ok")
    except OSError:
        return False


def start_kubelet(node: FleetNode) -> int:
    """The stand-in kubelet with its health endpoint on a free loopback port."""
    install_standin(node, "kubelet")
    port = free_port()
    node.exec(["sed", "-i", f"s/^healthzPort: .*/healthzPort: {port}/", "/var/lib/kubelet/config.yaml"])
    node.exec(["service", "kubelet", "restart"])
    wait_kubelet_healthy(node, port)
    return port


def wait_kubelet_healthy(node: FleetNode, port: int, seconds: float = 30) -> None:
    """A readiness poll with a deadline, not a fixed sleep: restarts are asynchronous."""
    deadline = time.monotonic() + seconds
    while not kubelet_healthy(port):
        assert time.monotonic() < deadline, node.read_file("/run/kubelet-health.log").decode()
        time.sleep(0.1)


def neglected(fleet: Fleet, name: str = "rem_neglected") -> FleetNode:
    node = fleet.start("rem_neglected", name=name)
    start_kubelet(node)
    return node


def state_of(node: FleetNode, paths: Sequence[str] = TOUCHED) -> dict[str, str]:
    """sha256, mode and owner of each path (or "absent"): byte-identical means equal."""
    script = (
        'for p; do if [ -e "$p" ]; then printf "%s %s %s\\n" "$p" "$(stat -c "%a %U:%G" "$p")" '
        '"$(sha256sum < "$p" | cut -c1-64)"; else echo "$p absent"; fi; done'
    )
    out = node.exec(["sh", "-c", script, "sh", *paths]).stdout.decode()
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines()}


def node_doc(document: dict[str, Any], node: FleetNode) -> dict[str, Any]:
    found: dict[str, Any] = nodes_by_name(document)[node.name]
    return found


@pytest.fixture
def site(fleet: Fleet, tmp_path: Path) -> Iterator[Site]:
    node = neglected(fleet)
    yield make_site(fleet, [node], tmp_path / "bastion", INVENTORY_VARS)


def test_neglected_node_is_fixed_in_one_run_and_a_second_run_changes_nothing(site: Site) -> None:
    node = site.nodes[0]
    _, before, _ = site.json("scan")
    failing = {c for c, s in statuses(node_doc(before, node)).items() if s == "fail"}
    assert set(MUST_FIX) <= failing, (
        f"the node is not as neglected as the test assumes: {set(MUST_FIX) - failing}"
    )
    original = state_of(node)

    code, document, err = site.remediate()
    result = node_doc(document, node)
    remediation = result["remediation"]
    assert remediation["status"] == "applied", (remediation, err[-2000:])
    assert "new SSH connection as scanner works" in remediation["message"]
    assert {f["outcome"] for f in remediation["fixes"]} == {"applied"}, remediation["fixes"]
    for finding in result["findings"]:
        if finding["check_id"] in MUST_FIX:
            outcome = finding["remediation_result"]
            assert (outcome["before"], outcome["after"]) == ("fail", "pass"), finding
    assert code in (0, 1), err[-2000:]  # 1: checks without a template still fail

    # A separate scan agrees, a fresh login works, and the node is what we wanted.
    _, again, _ = site.json("scan")
    after = statuses(node_doc(again, node))
    assert {c: after[c] for c in MUST_FIX} == dict.fromkeys(MUST_FIX, "pass")
    login = site.fleet.ssh(node, "id -un && sudo -n true && echo sudo-ok")
    assert login.returncode == 0 and login.stdout.split() == [b"scanner", b"sudo-ok"], login.stderr
    assert node.exec(["visudo", "-c"], check=False).returncode == 0
    admins = node.read_file("/etc/sudoers.d/80-admins").decode()
    assert "%admins ALL=(ALL:ALL) PASSWD: ALL" in admins and "NOPASSWD" not in admins
    assert b"NOPASSWD" not in node.exec(["sudo", "-l", "-U", "deploy"]).stdout
    assert b"NOPASSWD" in node.exec(["sudo", "-l", "-U", "scanner"]).stdout  # the account to keep
    fixed = state_of(node)
    assert fixed["/etc/sudoers.d/70-team"].startswith("440 root:root")
    assert fixed["/etc/ssh/sshd_config"].startswith("600 root:root")
    assert fixed["/var/lib/kubelet/config.yaml"].startswith("600 root:root")
    effective = node.exec(["sshd", "-T", "-C", "user=scanner,host=127.0.0.1,addr=127.0.0.1"]).stdout.decode()
    assert "permitrootlogin no" in effective and "passwordauthentication no" in effective
    assert (
        "# nodeward: PasswordAuthentication yes"
        in node.read_file("/etc/ssh/sshd_config.d/50-cloud-init.conf").decode()
    )
    assert fixed != original

    # The journal has every step, with the backups' checksums.
    run_id = remediation["run_id"]
    with sqlite3.connect(site.state / "journal.sqlite3") as db:
        steps = db.execute(
            "SELECT step, path, checksum FROM steps WHERE run_id = ? AND node = ?", (run_id, node.name)
        ).fetchall()
    kinds = [s for s, _, _ in steps]
    for step in (
        "planned",
        "backed_up",
        "applied",
        "validated",
        "armed",
        "reloaded",
        "verified",
        "committed",
    ):
        assert step in kinds, kinds
    backups = {p: c for s, p, c in steps if s == "backed_up" and c}
    assert backups["/etc/ssh/sshd_config"] == original["/etc/ssh/sshd_config"].split()[-1]

    # Second run: nothing changes, byte for byte.
    code, second, err = site.remediate()
    remediation = node_doc(second, node)["remediation"]
    assert remediation["status"] in ("unchanged", "nothing-to-do"), remediation
    assert {f["outcome"] for f in remediation["fixes"]} <= {"unchanged"}, remediation["fixes"]
    assert state_of(node) == fixed
    assert node.exec(["ls", "/var/lib/nodeward/backups"]).stdout.split() == [run_id.encode()]


def test_dry_run_shows_the_diffs_and_changes_nothing(site: Site) -> None:
    node = site.nodes[0]
    original = state_of(node)
    _code, out, _err = site.nodeward("scan", "--remediate", "--dry-run")
    assert "+PermitRootLogin no" in out and "-PermitRootLogin yes" in out, out[-3000:]
    assert "+    enabled: false" in out  # the kubelet config, edited in place
    assert "[refused" not in out
    assert state_of(node) == original
    assert node.exec(["test", "-e", "/var/lib/nodeward"], check=False).returncode != 0


def test_without_yes_and_without_a_terminal_remediate_refuses_and_contacts_nothing(
    fleet: Fleet, tmp_path: Path
) -> None:
    node = fleet.start("debian12_default")
    site = make_site(fleet, [node], tmp_path / "bastion")
    code, _out, err = site.nodeward("scan", "--remediate")  # run_nodeward's stdin is /dev/null
    assert code == 2
    assert "no terminal" in err and "--yes" in err and "Nothing was contacted" in err
    assert node.count_log(LOG_CONNECTION) == 0


def test_rollback_restores_a_committed_run_from_the_node_side_backups(fleet: Fleet, tmp_path: Path) -> None:
    node = fleet.start("weak")
    site = make_site(fleet, [node], tmp_path / "bastion")
    files = TOUCHED[:3]
    original = state_of(node, files)
    _, document, err = site.remediate(checks=("sshd_permit_root_login_disabled",))
    remediation = node_doc(document, node)["remediation"]
    assert remediation["status"] == "applied", err[-2000:]
    assert state_of(node, files) != original
    code, out, err = site.nodeward(
        "rollback", remediation["run_id"], "--node", node.name, "--state-dir", str(site.state), checks=()
    )
    assert code == 0, err[-2000:]
    assert "restored from the run's backups; new SSH connection as scanner works" in out
    assert state_of(node, files) == original
    assert "permitrootlogin yes" in node.exec(["sshd", "-T"]).stdout.decode()
    with sqlite3.connect(site.state / "journal.sqlite3") as db:
        kinds = [
            s for (s,) in db.execute("SELECT step FROM steps WHERE run_id = ?", (remediation["run_id"],))
        ]
    assert kinds[-2:] == ["restored", "verified"]


def test_on_a_terminal_each_node_shows_its_diff_and_no_means_no(fleet: Fleet, tmp_path: Path) -> None:
    """With a terminal on stdin and no --yes, the node's own dry-run diff is shown and the
    operator is asked; answering "n" changes nothing."""
    node = fleet.start("weak")
    site = make_site(fleet, [node], tmp_path / "bastion")
    original = state_of(node, TOUCHED[:3])
    config = site.home / "ssh_config"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("")
    argv = [
        *files_only_resolver(site.home),
        str(NODEWARD),
        "scan",
        "--remediate",
        "--inventory",
        str(site.inventory),
        "--known-hosts",
        str(site.known_hosts),
        "--ssh-config",
        str(config),
        "--state-dir",
        str(site.state),
        "--check",
        "sshd_permit_root_login_disabled",
    ]
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"n\n")  # typed ahead: the terminal buffers it until the prompt reads
        env = {**os.environ, "HOME": str(site.home), "NO_COLOR": "1"}
        env.pop("SSH_AUTH_SOCK", None)
        done = subprocess.run(
            argv, stdin=terminal, capture_output=True, text=True, env=env, timeout=300, check=False
        )
    finally:
        os.close(controller)
        os.close(terminal)
    assert "+PermitRootLogin no" in done.stdout, done.stdout + done.stderr
    assert f"Apply these 1 fix(es) to {node.name}?" in done.stdout, done.stdout + done.stderr
    assert f"node {node.name}: declined" in done.stdout
    assert state_of(node, TOUCHED[:3]) == original
