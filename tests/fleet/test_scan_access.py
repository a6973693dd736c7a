"""Reaching nodes the way bastions really do: ProxyJump chains and sudo passwords."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.fleet.harness import Fleet, FleetKeys, FleetNode, load_spec
from tests.fleet.scanutil import Target, ansible_inventory, nodes_by_name, run_nodeward, scan_json

pytestmark = pytest.mark.fleet

PASSWORD = "Hunter2-correct-horse"  # the become_password node's sudo password
SLOW_SSHD = (
    '#!/bin/sh\n# keep the scan alive long enough for the /proc sampler\nsleep 2\nexec /usr/sbin/sshd "$@"\n'
)


def hop_config(path: Path, key: Path, hops: dict[str, FleetNode], extra: str = "") -> Path:
    blocks = [
        f"Host {alias}\n  HostName {node.address}\n  Port {node.port}\n  User scanner\n  IdentityFile {key}\n"
        for alias, node in hops.items()
    ]
    path.write_text("".join(blocks) + extra)
    return path


def test_proxyjump_one_hop_from_the_inventory(fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path) -> None:
    hop = fleet.start("jump", name="hop1")
    node = fleet.start("hardened", name="behind")
    config = hop_config(tmp_path / "ssh_config", fleet_keys.bastion, {"hop1": hop})
    inventory = ansible_inventory(
        tmp_path / "inv.yaml",
        [Target("behind", node.address, node.port, {"ansible_ssh_common_args": "-o ProxyJump=hop1"})],
        fleet_keys.bastion,
    )
    known = fleet.known_hosts([hop, node], tmp_path / "known_hosts")
    _code, document, stderr = scan_json(inventory, tmp_path / "home", known, ssh_config=config)
    result = nodes_by_name(document)["behind"]
    assert result["scanned"] is True, (result["error"], stderr)
    assert result["connection"]["jump_hosts"]
    assert hop.count_log(rf"server_request_direct_tcpip: .* target 127\.0\.0\.1 port {node.port}$") == 1
    assert node.count_log(r"req exec") == 1


def test_proxyjump_two_hops_from_ssh_config(fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path) -> None:
    hop1 = fleet.start("jump", name="hop1")
    hop2 = fleet.start("jump", name="hop2")
    node = fleet.start("hardened", name="deep")
    config = hop_config(
        tmp_path / "ssh_config",
        fleet_keys.bastion,
        {"hop1": hop1, "hop2": hop2},
        extra="Host deep-node\n  ProxyJump hop1,hop2\n",
    )
    inventory = ansible_inventory(
        tmp_path / "inv.yaml", [Target("deep-node", node.address, node.port)], fleet_keys.bastion
    )
    known = fleet.known_hosts([hop1, hop2, node], tmp_path / "known_hosts")
    _code, document, stderr = scan_json(inventory, tmp_path / "home", known, ssh_config=config)
    result = nodes_by_name(document)["deep-node"]
    assert result["scanned"] is True, (result["error"], stderr)
    assert hop1.count_log(rf"server_request_direct_tcpip: .* target 127\.0\.0\.1 port {hop2.port}$") == 1
    assert hop2.count_log(rf"server_request_direct_tcpip: .* target 127\.0\.0\.1 port {node.port}$") == 1


def test_unknown_key_of_a_hop_fails_with_hostkey_naming_the_hop(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    hop = fleet.start("jump", name="hop1")
    node = fleet.start("hardened", name="behind")
    config = hop_config(tmp_path / "ssh_config", fleet_keys.bastion, {"hop1": hop})
    inventory = ansible_inventory(
        tmp_path / "inv.yaml",
        [Target("behind", node.address, node.port, {"ansible_ssh_common_args": "-J hop1"})],
        fleet_keys.bastion,
    )
    known = fleet.known_hosts([node], tmp_path / "known_hosts")  # the hop's key is missing
    code, document, _ = scan_json(inventory, tmp_path / "home", known, ssh_config=config)
    assert code == 3
    error = nodes_by_name(document)["behind"]["error"]
    assert error["kind"] == "hostkey" and "hop1" in error["message"]
    assert node.count_log(r"Connection from") == 0


def _sample_proc(secret: bytes, stop: threading.Event, seen: dict[str, int]) -> None:
    """Read every process's argv and environment until told to stop."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            for name in ("cmdline", "environ"):
                try:
                    data = Path(f"/proc/{pid}/{name}").read_bytes()
                except OSError:
                    continue
                if secret in data:
                    seen["leaks"] += 1
                if name == "cmdline" and data.startswith(b"sudo"):
                    seen["sudo"] += 1
        seen["rounds"] += 1


def test_become_password_never_appears_in_proc_logs_or_reports(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    node = fleet.start(load_spec("become_password", stubs={"sshd": SLOW_SSHD}), name="pw")
    inventory = ansible_inventory(
        tmp_path / "inv.yaml", [Target("pw", node.address, node.port)], fleet_keys.bastion
    )
    known = fleet.known_hosts([node], tmp_path / "known_hosts")
    secret_file = tmp_path / "become.pass"
    secret_file.write_text(PASSWORD + "\n")
    secret_file.chmod(0o600)
    seen = {"leaks": 0, "sudo": 0, "rounds": 0}
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_proc, args=(PASSWORD.encode(), stop, seen), daemon=True)
    sampler.start()
    try:
        _code, document, stderr = scan_json(
            inventory, tmp_path / "home", known, "--become-password-file", str(secret_file), "--debug"
        )
    finally:
        stop.set()
        sampler.join()
    result = nodes_by_name(document)["pw"]
    assert result["scanned"] is True, (result["error"], stderr[-2000:])
    assert result["facts"]["root"] == "yes"
    assert seen["sudo"] > 0, seen  # the sampler did watch the privileged part of the run
    assert seen["leaks"] == 0, seen
    assert PASSWORD not in stderr  # --debug logs included
    assert PASSWORD not in str(document)
    assert PASSWORD.encode() not in node.sshd_log.read_bytes()


def test_wrong_become_password_is_a_sudo_error(fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path) -> None:
    node = fleet.start("become_password", name="pw")
    inventory = ansible_inventory(
        tmp_path / "inv.yaml", [Target("pw", node.address, node.port)], fleet_keys.bastion
    )
    known = fleet.known_hosts([node], tmp_path / "known_hosts")
    secret_file = tmp_path / "become.pass"
    secret_file.write_text("not-the-password\n")
    code, document, _ = scan_json(
        inventory, tmp_path / "home", known, "--become-password-file", str(secret_file)
    )
    assert code == 3
    error = nodes_by_name(document)["pw"]["error"]
    assert error["kind"] == "sudo" and "rejected" in error["message"]


def test_without_password_a_password_rule_is_a_sudo_error(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    node = fleet.start("become_password", name="pw")
    inventory = ansible_inventory(
        tmp_path / "inv.yaml", [Target("pw", node.address, node.port)], fleet_keys.bastion
    )
    known = fleet.known_hosts([node], tmp_path / "known_hosts")
    result = run_nodeward(
        [
            "scan",
            "-i",
            str(inventory),
            "--known-hosts",
            str(known),
            "-F",
            os.devnull,
            "--format",
            "json",
            "-q",
        ],
        tmp_path / "home",
    )
    assert result.returncode == 3
    assert '"kind": "sudo"' in result.stdout
