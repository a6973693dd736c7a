"""Issue #12 item 10: SIGTERM and SIGHUP end a scan with a report, like Ctrl-C.

SIGTERM is how systemd stops a unit, `timeout` ends a command and CI cancels a job;
SIGHUP is the operator's SSH session to the bastion dropping. Before the fix both killed
the process: no report at all, not even for the nodes already scanned, and an exit
status of -15 / -1 that no wrapper maps to "interrupted". Ctrl-C gave a report, but
nodes cut off got error kind `internal` (a nodeward bug) instead of `interrupted`.

Each test runs the installed CLI against two real fleet nodes: one finishes at once,
the other hangs in `sshd -T`; the signal arrives while the second is in flight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import jsonschema
import pytest

from tests.fleet.harness import Fleet, FleetKeys, load_spec
from tests.fleet.scanutil import NODEWARD, Target, ansible_inventory, nodes_by_name

SCHEMA = Path(__file__).parents[2] / "agent" / "schemas" / "report-v1.schema.json"
HANGING_SSHD = "#!/bin/sh\nsleep 600\n"


@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_stop_signal_ends_the_scan_with_a_partial_report(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path, signum: signal.Signals, exit_code: int
) -> None:
    quick = fleet.start("hardened", name="quick")
    hanging = fleet.start(load_spec("hardened", stubs={"sshd": HANGING_SSHD}), name="hanging")
    targets = [Target(n.name, n.address, n.port) for n in (quick, hanging)]
    inventory = ansible_inventory(tmp_path / "inv.yaml", targets, fleet_keys.bastion)
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
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "HOME": str(home)},
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # plain progress: the quick node is done
        assert "quick" in first, first
        assert hanging.wait_log(r"session_input_channel_req: session \d+ req exec", timeout=30)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == exit_code, f"exit {process.returncode}: {stderr[-2000:]}"
    document = json.loads(stdout)  # the report was written, whole
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert document["run"]["interrupted"] is True
    nodes = nodes_by_name(document)
    assert nodes["quick"]["scanned"] is True and nodes["quick"]["findings"]
    assert nodes["hanging"]["scanned"] is False
    assert nodes["hanging"]["error"]["kind"] == "interrupted", nodes["hanging"]["error"]
    assert signum.name in nodes["hanging"]["error"]["message"]
