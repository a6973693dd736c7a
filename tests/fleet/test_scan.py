"""End to end: the installed `nodeward scan` against real sshd nodes on loopback.

Each node is a real OpenSSH sshd in its own mount namespace (tests/fleet/harness.py),
so these tests see exactly what an operator would: real key exchange, real sudo, real
`sshd -T`, and the node's sshd log as an independent witness of what we did there.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from tests.fleet.harness import Fleet, FleetKeys, FleetNode, load_spec
from tests.fleet.scanutil import (
    NODEWARD,
    Target,
    ansible_inventory,
    nodes_by_name,
    run_nodeward,
    scan_json,
    statuses,
)

pytestmark = pytest.mark.fleet

SCHEMA_PATH = Path(__file__).parents[2] / "agent" / "schemas" / "report-v1.schema.json"

# What OpenSSH 9.2 logs at LogLevel DEBUG1 (the harness's level) for each event.
ACCEPTED = r"Accepted publickey for scanner"
EXEC_REQUEST = r"req exec"
CONNECTION = r"Connection from 127\.0\.0\.1"


def schema() -> dict[str, object]:
    loaded = json.loads(SCHEMA_PATH.read_text())
    assert isinstance(loaded, dict)
    return loaded


def target(node: FleetNode, name: str | None = None) -> Target:
    return Target(name or node.name, node.address, node.port)


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP listener on loopback that accepts and never sends an SSH banner."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()  # nobody listens here now
    return port


def test_weak_and_hardened_nodes_get_the_right_verdicts(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    weak = fleet.start("weak", name="weak")
    hardened = fleet.start("hardened", name="hardened")
    inventory = ansible_inventory(tmp_path / "inv.yaml", [target(weak), target(hardened)], fleet_keys.bastion)
    known = fleet.known_hosts([weak, hardened], tmp_path / "known_hosts")
    code, document, stderr = scan_json(inventory, tmp_path / "home", known)
    jsonschema.validate(document, schema())
    assert code == 1, stderr
    nodes = nodes_by_name(document)
    weak_status, hard_status = statuses(nodes["weak"]), statuses(nodes["hardened"])
    for check in (
        "sshd_permit_root_login_disabled",
        "sshd_password_authentication_disabled",
        "sshd_x11_forwarding_disabled",
        "sshd_max_auth_tries_limited",
    ):
        assert weak_status[check] == "fail", check
        assert hard_status[check] == "pass", check
    assert "error" not in hard_status.values()
    password = next(
        f for f in nodes["weak"]["findings"] if f["check_id"] == "sshd_password_authentication_disabled"
    )
    (evidence,) = password["evidence"]
    assert evidence["observed"] == "yes" and "sshd -T -C user=scanner" in evidence["source"]


def test_twenty_nodes_from_an_ansible_inventory_one_connection_and_one_exec_each(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    nodes = fleet.start_many("debian12_default", 20, prefix="node")
    inventory = ansible_inventory(tmp_path / "inv.yaml", [target(n) for n in nodes], fleet_keys.bastion)
    known = fleet.known_hosts(nodes, tmp_path / "known_hosts")
    code, document, stderr = scan_json(inventory, tmp_path / "home", known, "--parallel", "10")
    jsonschema.validate(document, schema())
    assert code in (0, 1), stderr
    reported = nodes_by_name(document)
    assert sorted(reported) == sorted(n.name for n in nodes)
    for node in nodes:
        result = reported[node.name]
        assert result["scanned"] is True and result["error"] is None, result["error"]
        assert result["execs"] == 1
        assert node.count_log(CONNECTION) == 1, node.name
        assert node.count_log(ACCEPTED) == 1, node.name
        assert node.count_log(EXEC_REQUEST) == 1, node.name


def test_unknown_host_key_fails_that_node_and_runs_nothing(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    known_node = fleet.start("debian12_default", name="known")
    unknown_node = fleet.start("debian12_default", name="unknown")
    inventory = ansible_inventory(
        tmp_path / "inv.yaml", [target(known_node), target(unknown_node)], fleet_keys.bastion
    )
    known = fleet.known_hosts([known_node], tmp_path / "known_hosts")
    code, document, _ = scan_json(inventory, tmp_path / "home", known)
    assert code == 3
    nodes = nodes_by_name(document)
    assert nodes["known"]["scanned"] is True
    assert nodes["unknown"]["error"]["kind"] == "hostkey"
    assert unknown_node.count_log(ACCEPTED) == 0  # we never even authenticated
    assert unknown_node.count_log(EXEC_REQUEST) == 0


def test_changed_host_key_fails_even_with_accept_new(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    node = fleet.start("debian12_default", name="rekeyed")
    known = fleet.known_hosts([node], tmp_path / "known_hosts")
    node.regenerate_host_key()
    inventory = ansible_inventory(tmp_path / "inv.yaml", [target(node)], fleet_keys.bastion)
    before = known.read_text()
    code, document, _ = scan_json(inventory, tmp_path / "home", known, "--accept-new-host-keys")
    assert code == 3
    error = nodes_by_name(document)["rekeyed"]["error"]
    assert error["kind"] == "hostkey"
    assert node.count_log(EXEC_REQUEST) == 0
    assert known.read_text() == before  # a changed key is never "accepted"


def test_accept_new_host_keys_records_the_key_once(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    node = fleet.start("debian12_default", name="fresh")
    inventory = ansible_inventory(tmp_path / "inv.yaml", [target(node)], fleet_keys.bastion)
    home = tmp_path / "home"
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    code, document, _ = scan_json(inventory, home, empty, "--accept-new-host-keys")
    assert code in (0, 1)
    assert nodes_by_name(document)["fresh"]["scanned"] is True, document
    recorded = (home / ".ssh" / "known_hosts").read_text().splitlines()
    assert len(recorded) == 1
    _code, document, _ = scan_json(inventory, home, empty)  # now strict: the recorded key is used
    assert nodes_by_name(document)["fresh"]["scanned"] is True
    assert (home / ".ssh" / "known_hosts").read_text().splitlines() == recorded


def test_each_failure_has_its_own_kind_and_good_nodes_still_report(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path, silent_listener: int
) -> None:
    good1 = fleet.start("debian12_default", name="good1")
    good2 = fleet.start("hardened", name="good2")
    nosudo = fleet.start("nosudo", name="nosudo")
    wrongkey = fleet.start("debian12_default", name="wrongkey")
    targets = [
        target(good1),
        target(good2),
        target(nosudo),
        Target(
            "wrongkey",
            wrongkey.address,
            wrongkey.port,
            {"ansible_ssh_private_key_file": str(fleet_keys.other)},
        ),
        Target("closed", "127.0.0.1", closed_port()),
        Target("nxdomain", "node-does-not-exist.invalid", 22),
        Target("silent", "127.0.0.1", silent_listener),
    ]
    inventory = ansible_inventory(tmp_path / "inv.yaml", targets, fleet_keys.bastion)
    known = fleet.known_hosts([good1, good2, nosudo, wrongkey], tmp_path / "known_hosts")
    code, document, stderr = scan_json(inventory, tmp_path / "home", known, "--command-timeout", "30")
    jsonschema.validate(document, schema())
    assert code == 3, stderr
    nodes = nodes_by_name(document)
    kinds = {name: (n["error"] or {}).get("kind") for name, n in nodes.items()}
    assert kinds == {
        "good1": None,
        "good2": None,
        "nosudo": "sudo",
        "wrongkey": "auth",
        "closed": "connect",
        "nxdomain": "dns",
        "silent": "banner",
    }
    assert "NOPASSWD" in nodes["nosudo"]["error"]["message"]
    assert statuses(nodes["good2"])["sshd_permit_root_login_disabled"] == "pass"
    assert wrongkey.count_log(EXEC_REQUEST) == 0


def test_table_output_for_a_mixed_run_names_every_node(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    good = fleet.start("weak", name="weakling")
    targets = [target(good), Target("closed", "127.0.0.1", closed_port())]
    inventory = ansible_inventory(tmp_path / "inv.yaml", targets, fleet_keys.bastion)
    known = fleet.known_hosts([good], tmp_path / "known_hosts")
    config = tmp_path / "ssh_config"
    config.write_text("")
    result = run_nodeward(
        [
            "scan",
            "-i",
            str(inventory),
            "--known-hosts",
            str(known),
            "-F",
            str(config),
            "--connect-timeout",
            "3",
        ],
        tmp_path / "home",
    )
    assert result.returncode == 3
    assert "weakling" in result.stdout and "sshd_password_authentication_disabled" in result.stdout
    assert "NOT SCANNED" in result.stdout and "[connect]" in result.stdout
    assert re.search(r"1/2 nodes scanned", result.stdout)
    assert "[2/2]" in result.stderr  # plain progress lines when stderr is not a terminal


def test_ctrl_c_exits_130_with_a_partial_report(fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path) -> None:
    """SIGINT while one node hangs: the finished node is reported, the run says interrupted."""
    quick = fleet.start("hardened", name="quick")
    hanging = fleet.start(load_spec("hardened", stubs={"sshd": "#!/bin/sh\nsleep 600\n"}), name="hanging")
    inventory = ansible_inventory(tmp_path / "inv.yaml", [target(quick), target(hanging)], fleet_keys.bastion)
    known = fleet.known_hosts([quick, hanging], tmp_path / "known_hosts")
    config = tmp_path / "ssh_config"
    config.write_text("")
    home = tmp_path / "home"
    home.mkdir()
    args = ["scan", "-i", str(inventory), "--known-hosts", str(known), "-F", str(config), "--format", "json"]
    process = subprocess.Popen(
        [str(NODEWARD), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOME": str(home)},
    )
    assert process.stderr is not None
    first = process.stderr.readline()  # plain progress: the quick node is done
    assert "quick" in first, first
    assert hanging.wait_log(r"session_input_channel_req: session \d+ req exec", timeout=30)
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    document = json.loads(stdout)
    assert document["run"]["interrupted"] is True
    nodes = nodes_by_name(document)
    assert nodes["quick"]["scanned"] is True
    assert nodes["hanging"]["scanned"] is False
    assert "interrupted" in nodes["hanging"]["error"]["message"]
