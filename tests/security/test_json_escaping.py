"""Issue #12 item 9: no raw control character reaches a consumer of the JSON report.

Host names, os-release names, kernel versions, SSH banners and the error messages built
from them are written by whoever controls a node or the network. `ensure_ascii` hides
them in the JSON *text*, but a consumer that parses the document (jq -r, a dashboard, a
log shipper) gets the raw ESC, BEL or CSI back and hands it to a terminal. Every string
in the parsed document must be free of C0 and C1 control characters, as reasons are.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.connection import ConnectionInfo
from agent.errors import ErrorKind
from agent.findings import Evidence, Finding, NodeFailure, NodeResult, RunResult, Severity, Status
from agent.report import json_report
from tests.fleet.harness import Fleet, FleetNode, load_spec
from tests.fleet.scanutil import Target, ansible_inventory, nodes_by_name, run_nodeward, scan_json

HOSTILE = "a\x1b[31mred\x07\r\x9b2J\x1b]0;owned\x07\x00\u2028\u202e"


def raw_controls(document: object, where: str = "$") -> list[str]:
    """Every string (key or value) in a parsed document that holds a C0/C1 control."""
    found: list[str] = []
    if isinstance(document, str):
        if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in document):
            found.append(f"{where}: {document!r}")
    elif isinstance(document, dict):
        for key, value in document.items():
            found += raw_controls(key, f"{where} (key)") + raw_controls(value, f"{where}.{key}")
    elif isinstance(document, list):
        for index, item in enumerate(document):
            found += raw_controls(item, f"{where}[{index}]")
    return found


# --- the writer itself, every free-text field at once ----------------------------------


def _hostile_run() -> RunResult:
    connection = ConnectionInfo(
        transport="ssh",
        address="127.0.0.1",
        port=22,
        user="scanner",
        server_version=f"SSH-2.0-{HOSTILE}",
        host_key="ssh-ed25519 SHA256:abc",
        jump_hosts=(f"jump{HOSTILE}",),
        notes=(f"note {HOSTILE}",),
    )
    finding = Finding(
        "sshd_x", "title", Severity.HIGH, Status.FAIL, "reason", (Evidence("observed", "expected", "source"),)
    )
    scanned = NodeResult(
        name="n1",
        address="127.0.0.1",
        connection=connection,
        error=None,
        findings=(finding,),
        facts_summary={
            "hostname": HOSTILE,
            "os": f"Debian {HOSTILE}",
            "kernel": f"6.1{HOSTILE}",
            "x": HOSTILE,
        },
    )
    failed = NodeResult(
        name="n2",
        address="127.0.0.2",
        connection=None,
        error=NodeFailure(ErrorKind.PROTOCOL, f"127.0.0.2 port 22 ({HOSTILE}) closed the connection"),
    )
    return RunResult(
        "run1", "2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "0.1", f"inv{HOSTILE}", (scanned, failed)
    )


def test_the_json_writer_escapes_every_string_from_a_node_or_the_network() -> None:
    document = json.loads(json_report.render(_hostile_run()))
    assert raw_controls(document) == []
    nodes = {n["name"]: n for n in document["nodes"]}
    # Escaped, not dropped: the operator still sees what the node said.
    assert nodes["n1"]["facts"]["hostname"].startswith("a\\x1b[31mred\\x07\\x0d\\x9b2J")
    assert "\\x1b" in nodes["n2"]["error"]["message"]
    assert "\\x1b" in nodes["n1"]["connection"]["server_version"]


def test_safe_strings_come_out_unchanged() -> None:
    run = _hostile_run()
    document = json.loads(json_report.render(run))
    (finding,) = document["nodes"][0]["findings"]
    assert finding["check_id"] == "sshd_x" and finding["status"] == "fail"
    assert document["run"]["started_at"] == run.started_at
    assert document["nodes"][1]["error"]["kind"] == "protocol"


# --- end to end: a real node and a real hostile server ----------------------------------

UNAME_STUB = """#!/bin/sh
# A node whose kernel release carries terminal escapes.
if [ "${1-}" = -r ]; then printf '6.1.0-\\033[31mred\\007\\302\\233'; echo; exit 0; fi
exec /usr/bin/uname "$@"
"""
OS_RELEASE = (
    'PRETTY_NAME="Debian\x1b[2J\x1b]0;owned\x07 \u009b31m"\n'
    'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n'
)


@pytest.mark.fleet
def test_hostname_os_and_kernel_from_a_hostile_node_are_escaped(fleet: Fleet, tmp_path: Path) -> None:
    spec = load_spec(
        "debian12_default",
        files={"/etc/os-release": {"content": OS_RELEASE}},
        stubs={"uname": UNAME_STUB},
    )
    node: FleetNode = fleet.start(spec)
    # The node's own UTS namespace: root there may name it anything up to 64 bytes.
    node.exec(["sh", "-c", r"printf 'n\033[31mX\007\302\233' > /proc/sys/kernel/hostname"])
    inventory = ansible_inventory(
        tmp_path / "inv.yaml", [Target(node.name, node.address, node.port)], fleet.keys.bastion
    )
    known = fleet.known_hosts([node], tmp_path / "known_hosts")
    _, document, stderr = scan_json(
        inventory, tmp_path / "home", known, "--check", "sshd_permit_root_login_disabled"
    )
    result = nodes_by_name(document)[node.name]
    assert result["error"] is None, (result["error"], stderr[-2000:])
    facts = result["facts"]
    # The hostile text arrived (so the test can fail) and arrived escaped.
    assert "\\x1b" in facts["hostname"] and "\\x1b" in facts["os"] and "\\x1b" in facts["kernel"], facts
    assert raw_controls(document) == []


@pytest.fixture
def hostile_banner_server() -> Iterator[int]:
    """127.0.0.1: an 'SSH server' whose version line carries terminal escapes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.sendall(b"SSH-2.0-x\x1b[31mred\x07\x1b]0;owned\x07\xc2\x9b2J\r\n")
                    conn.recv(65536)  # the client's version and KEXINIT, then hang up
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_an_error_message_quoting_a_hostile_banner_is_escaped(
    hostile_banner_server: int, tmp_path: Path
) -> None:
    key = tmp_path / "no-such-key"  # never read: the connection fails long before auth
    inventory = ansible_inventory(
        tmp_path / "inv.yaml", [Target("evil", "127.0.0.1", hostile_banner_server)], key
    )
    empty = tmp_path / "empty"
    empty.write_text("")
    result = run_nodeward(
        ["scan", "-i", str(inventory), "--format", "json", "--quiet", "--known-hosts", str(empty),
         "--ssh-config", str(empty), "--connect-timeout", "3"],
        tmp_path / "home",
    )  # fmt: skip
    document: dict[str, Any] = json.loads(result.stdout)
    evil = nodes_by_name(document)["evil"]
    assert evil["error"] is not None, evil  # whatever kind: only the escaping is judged here
    assert raw_controls(document) == [], result.stdout
