"""Issue #12 item 2: a gather that did not complete must never be reported as a clean scan.

Each scenario runs the installed `nodeward scan` against a real sshd fleet node:

* the connection is cut mid-stream (a TCP proxy on loopback, written here, closes both
  sides while the node is in the middle of the script);
* one section prints more than its cap (a stub `sshd` floods its stdout);
* a section writes past every per-section cap into the script's inherited fd 4 (the
  preamble's `exec 4>&1`), so the whole stream passes the 64 MiB cap of a gather.

Before the fix all three came out as a "scanned" node with `error: null` and exit 0
(the ERROR findings did not count and `Gathered.complete` was dropped). Now each is an
error node of kind `incomplete`, with the findings of what did arrive, and exit 3.

Plus, without any truncation: an ERROR finding at or above --fail-on is exit 1, and a
node whose Kubernetes discovery failed has unknown roles, so role-gated checks are ERROR,
never NOT_APPLICABLE (pure code: the judging step with facts built here).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agent import exit_codes
from agent.catalog import load_catalog
from agent.errors import ErrorKind
from agent.facts.model import Absent, FactValue, Unavailable
from agent.findings import Finding, NodeFailure, NodeResult, RunResult, Severity, Status
from agent.inspection import judge, with_discovered_roles
from agent.inventory.model import Node
from agent.report import html_report, junit, table
from tests.fleet.harness import Fleet, FleetKeys, FleetNode, load_spec
from tests.fleet.scanutil import Target, ansible_inventory, nodes_by_name, scan_json, statuses

SCHEMA = Path(__file__).parents[2] / "agent" / "schemas" / "report-v1.schema.json"
SSHD_CHECK = "sshd_password_authentication_disabled"  # severity high, reads the sshd fact
ROLE_CHECK = "kubelet_seccomp_default_enabled"  # applies_to roles worker, control-plane
SELECT = ("--check", SSHD_CHECK, "--check", ROLE_CHECK)


def _scan(fleet: Fleet, keys: FleetKeys, node: FleetNode, tmp_path: Path, *extra: str) -> tuple[int, Any]:
    inventory = ansible_inventory(
        tmp_path / "inv.yaml", [Target(node.name, node.address, node.port)], keys.bastion
    )
    known = fleet.known_hosts([node], tmp_path / "known_hosts")
    code, document, _ = scan_json(inventory, tmp_path / "home", known, *SELECT, *extra)
    return code, document


def _assert_incomplete(code: int, document: Any, name: str, why: str) -> dict[str, Any]:
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    node: dict[str, Any] = nodes_by_name(document)[name]
    assert node["error"] is not None, "an incomplete gather was reported as a clean scan"
    assert node["error"]["kind"] == "incomplete", node["error"]
    assert why in node["error"]["message"], node["error"]["message"]
    assert node["scanned"] is False
    assert code == 3, f"exit {code}: an incomplete node must give exit 3"
    return node


# --- the connection cut mid-stream -----------------------------------------------------


@dataclass
class CuttingProxy:
    """Forwards 127.0.0.1:port to the node's sshd, and cuts both sides at once when
    `trigger` appears on disk and the node has then been silent for a moment (so the
    sections printed before the trigger have reached the client)."""

    upstream: int
    trigger: Path
    port: int = 0
    cut: threading.Event = field(default_factory=threading.Event)
    _server: socket.socket = field(default_factory=socket.socket)

    def start(self) -> None:
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(1)
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        client, _ = self._server.accept()
        server = socket.create_connection(("127.0.0.1", self.upstream))
        last_from_node = time.monotonic()
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (server if sock is client else client).sendall(data)
                    if sock is server:
                        last_from_node = time.monotonic()
                if self.trigger.exists() and time.monotonic() - last_from_node > 0.5:
                    self.cut.set()
                    return
        finally:
            for sock in (client, server):
                sock.close()

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def cut_trigger(tmp_path: Path) -> Path:
    # /tmp is the host's own on every fleet node (not overlaid): the stub on the node
    # and the proxy here see the same file.
    return tmp_path / "sshd-section-started"


def test_a_connection_cut_mid_stream_is_incomplete_not_clean(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path, cut_trigger: Path
) -> None:
    # `sshd -T` runs in the second section (after `system`): the stub marks the moment
    # and then hangs, so the cut falls exactly between two sections.
    stub = f"#!/bin/sh\n: > {cut_trigger}\nsleep 60\n"
    node = fleet.start(load_spec("hardened", stubs={"sshd": stub}), name="cut")
    proxy = CuttingProxy(node.port, cut_trigger)
    proxy.start()
    try:
        inventory = ansible_inventory(
            tmp_path / "inv.yaml", [Target(node.name, "127.0.0.1", proxy.port)], fleet_keys.bastion
        )
        known = tmp_path / "known_hosts"
        known.write_text(
            "".join(f"[127.0.0.1]:{proxy.port} {line.split(' ', 1)[1]}\n" for line in node.host_key_lines())
        )
        code, document, stderr = scan_json(inventory, tmp_path / "home", known, *SELECT)
    finally:
        proxy.close()
    assert proxy.cut.is_set(), f"the proxy never cut the connection: {stderr[-2000:]}"
    result = _assert_incomplete(code, document, node.name, "ended before the script did")
    # What arrived before the cut is kept: the system section (the OS is known).
    assert result["facts"].get("os"), result["facts"]
    assert result["facts"].get("roles") == "unknown", result["facts"]
    found = statuses(result)
    assert found[SSHD_CHECK] == "error"
    # Discovery never arrived: the roles are unknown, not "none".
    assert found[ROLE_CHECK] == "error", "a role check was NOT_APPLICABLE on a node whose roles are unknown"


def test_a_section_over_its_cap_is_incomplete(fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path) -> None:
    # 5 MB of output where the sshd section keeps 4 MiB: the node's `head -c` cuts it.
    stub = "#!/bin/sh\nhead -c 5000000 /dev/zero | tr '\\000' x\n"
    node = fleet.start(load_spec("hardened", stubs={"sshd": stub}), name="oversized")
    code, document = _scan(fleet, fleet_keys, node, tmp_path)
    result = _assert_incomplete(code, document, node.name, "over their size limit: sshd")
    assert statuses(result)[SSHD_CHECK] == "error"
    # Discovery did arrive and found no Kubernetes: this node truly has no roles.
    assert statuses(result)[ROLE_CHECK] == "not_applicable"


def test_a_flood_into_the_inherited_fd_4_is_incomplete(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    # fd 4 is the preamble's copy of the script's stdout (`exec 4>&1`, which nw_run uses
    # to write the capped section output), and every section's commands inherit it: a
    # command that writes there bypasses every section cap. 68 MB passes the 64 MiB cap
    # of a whole gather. The `system` section's `uname` floods once, then answers (the
    # login's motd runs uname too, without an fd 4: that call only answers).
    stub = (
        "#!/bin/sh\n"
        "if [ ! -e /run/nw-flooded ] && { true >&4; } 2>/dev/null; then\n"
        "  : > /run/nw-flooded; head -c 68000000 /dev/zero >&4\n"
        "fi\n"
        'exec /bin/uname "$@"\n'
    )
    node = fleet.start(load_spec("hardened", stubs={"uname": stub}), name="flood")
    code, document = _scan(fleet, fleet_keys, node, tmp_path)
    _assert_incomplete(code, document, node.name, "64 MiB limit of one gather")


# --- ERROR findings count toward the exit code ----------------------------------------


FORWARDING_CHECK = "firewall_ip_forwarding_per_role"  # severity medium, reads the sysctl fact


@pytest.fixture
def silent_sysctl_node(fleet: Fleet) -> Iterator[FleetNode]:
    # `sysctl -a` prints nothing: the gather completes, the sysctl fact is Unavailable.
    yield fleet.start(load_spec("hardened", stubs={"sysctl": "#!/bin/sh\nexit 0\n"}), name="nosysctl")


def _scan_forwarding(
    fleet: Fleet, keys: FleetKeys, node: FleetNode, tmp_path: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    inventory = ansible_inventory(
        tmp_path / "inv.yaml", [Target(node.name, node.address, node.port)], keys.bastion
    )
    known = fleet.known_hosts([node], tmp_path / "known_hosts")
    code, document, _ = scan_json(inventory, tmp_path / "home", known, "--check", FORWARDING_CHECK, *extra)
    result: dict[str, Any] = nodes_by_name(document)[node.name]
    assert result["error"] is None  # complete: nothing was cut, one check could not be judged
    assert statuses(result)[FORWARDING_CHECK] == "error"
    return code, result


def test_an_error_finding_at_fail_on_gives_exit_1(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path, silent_sysctl_node: FleetNode
) -> None:
    code, _ = _scan_forwarding(fleet, fleet_keys, silent_sysctl_node, tmp_path)
    assert code == 1, "a check that could not be judged must not pass the run"


def test_an_error_finding_below_fail_on_does_not_fail_the_run(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path, silent_sysctl_node: FleetNode
) -> None:
    # The counterpart, so the rule is "at or above --fail-on", not "any ERROR".
    code, _ = _scan_forwarding(fleet, fleet_keys, silent_sysctl_node, tmp_path, "--fail-on", "high")
    assert code == 0


# --- unknown roles are not "no roles" (pure code) -------------------------------------


def _role_gated_ids() -> list[str]:
    return [c.id for c in load_catalog().checks if c.applies_to.roles]


def _judged(k8s: FactValue, roles: tuple[str, ...] = ()) -> dict[str, Finding]:
    """The role-gated checks judged with every fact unavailable but k8s_components."""
    catalog = load_catalog()
    checks = [c for c in catalog.checks if c.applies_to.roles]
    facts: dict[str, FactValue] = {
        name: Unavailable("not gathered in this test") for name in catalog.facts_needed(checks)
    }
    facts["k8s_components"] = k8s
    node = with_discovered_roles(Node(name="n", address="127.0.0.1", roles=roles), facts)
    return {f.check_id: f for f in judge(checks, facts, node)}


def test_failed_discovery_makes_role_gated_checks_error_never_not_applicable() -> None:
    assert len(_role_gated_ids()) >= 10
    judged = _judged(Unavailable("the k8s_components section was cut off"))
    wrongly_na = [i for i in _role_gated_ids() if judged[i].status is Status.NOT_APPLICABLE]
    assert not wrongly_na, f"role checks NOT_APPLICABLE although the roles are unknown: {wrongly_na}"
    assert all(judged[i].status is Status.ERROR for i in _role_gated_ids())
    assert "cut off" in judged[ROLE_CHECK].reason


def test_an_absent_kubernetes_still_means_no_roles() -> None:
    judged = _judged(Absent("Kubernetes is not running on this node"))
    assert all(judged[i].status is Status.NOT_APPLICABLE for i in _role_gated_ids())


def test_inventory_roles_win_over_failed_discovery() -> None:
    # The operator's roles are known roles: a bastion is not a worker, whatever discovery did.
    judged = _judged(Unavailable("cut off"), roles=("bastion",))
    assert judged[ROLE_CHECK].status is Status.NOT_APPLICABLE


# --- every report shows an incomplete node's findings under its error (pure code) -----


def _incomplete_run() -> RunResult:
    arrived = Finding(
        SSHD_CHECK, "No password logins", Severity.HIGH, Status.FAIL, "passwordauthentication is yes"
    )
    node = NodeResult(
        name="cut",
        address="127.0.0.1",
        connection=None,
        error=NodeFailure(ErrorKind.INCOMPLETE, "the gather did not complete (sections cut off: firewall)"),
        findings=(arrived,),
    )
    return RunResult("run", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "0", "inv", (node,))


def test_reports_show_an_incomplete_node_as_incomplete_with_what_arrived() -> None:
    run = _incomplete_run()
    text = table.render(run, show_passed=True)
    assert "INCOMPLETE [incomplete]" in text and SSHD_CHECK in text, text
    assert "0/1 nodes scanned" in text
    page = html_report.render(run)
    assert "INCOMPLETE" in page and SSHD_CHECK in page
    suite = ET.fromstring(junit.render(run)).find("testsuite")  # noqa: S314 - our own output
    assert suite is not None
    names = [case.get("name", "") for case in suite.iter("testcase")]
    assert "connection" in names and any(SSHD_CHECK in n for n in names), names
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("2", "1", "1")
    assert exit_codes.for_run(run, Severity.LOW) == exit_codes.ExitCode.UNSCANNED
