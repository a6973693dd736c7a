"""A site overlay is honoured by a real scan (issue 11 item 2, acceptance 2).

A `cp_kubeadm` fleet node runs a stand-in kube-apiserver whose argv keeps 60 days of
audit logs (`--audit-log-maxage=60`, tests/fleet/standin.py) and a stand-in kubelet. The
installed `nodeward scan` judges it twice, over one SSH connection and one exec each:
with the catalogue's threshold (30 days) the check passes; with the ACME overlay
(90 days, and the kubelet read-only port check raised to high) it fails with `>= 90`
expected, the run exits 1, and the JSON findings name the overlay, the file and line,
and the old and new values.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.harness import LOG_CONNECTION, LOG_EXEC_REQUEST, Fleet, FleetKeys
from tests.fleet.scanutil import LongLivedNode, Target, ansible_inventory, nodes_by_name, scan_json
from tests.fleet.standin import start_standin
from tests.fleet.test_controlplane import KUBELET, manifest_argv

pytestmark = pytest.mark.fleet

MAXAGE = "apiserver_audit_log_maxage_sufficient"
READ_ONLY_PORT = "kubelet_read_only_port_disabled"
SELECT = ["--check", MAXAGE, "--check", READ_ONLY_PORT]
ACME = f"""\
overlay: acme-prod
checks:
  {MAXAGE}:
    args: {{value: 90}}
    reason: ACME keeps 90 days of audit logs (SEC-1234)
  {READ_ONLY_PORT}:
    severity: high
"""


def apiserver_keeping_60_days() -> list[str]:
    """kubeadm's kube-apiserver command with --audit-log-maxage=60 instead of its 7."""
    argv = manifest_argv("kube-apiserver")
    assert "--audit-log-maxage=7" in argv
    return [("--audit-log-maxage=60" if arg == "--audit-log-maxage=7" else arg) for arg in argv]


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory, fleet_keys: FleetKeys) -> Iterator[LongLivedNode]:
    workdir = tmp_path_factory.mktemp("overlay")
    with Fleet(workdir / "fleet", fleet_keys) as fleet:
        node = fleet.start("cp_kubeadm", name="cp-overlay")
        start_standin(node, "kube-apiserver", apiserver_keeping_60_days())
        start_standin(node, "kubelet", KUBELET)
        yield LongLivedNode(fleet, node, fleet_keys, workdir)


def scan_with_code(target: LongLivedNode, tag: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """One scan of the node, one connection and one exec: its exit code and findings by id."""
    node = target.node
    before = (node.count_log(LOG_CONNECTION), node.count_log(LOG_EXEC_REQUEST))
    inventory = ansible_inventory(
        target.workdir / f"{tag}.yaml", [Target(node.name, node.address, node.port)], target.keys.bastion
    )
    known = target.fleet.known_hosts([node], target.workdir / f"{tag}_known_hosts")
    code, document, stderr = scan_json(inventory, target.workdir / f"{tag}_home", known, *SELECT, *extra)
    after = (node.count_log(LOG_CONNECTION), node.count_log(LOG_EXEC_REQUEST))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1), stderr
    result = nodes_by_name(document)[node.name]
    assert result["error"] is None, result["error"]
    return code, {f["check_id"]: f for f in result["findings"]}


def test_the_catalogue_threshold_passes_60_days(control_plane: LongLivedNode) -> None:
    code, findings = scan_with_code(control_plane, "plain")
    maxage = findings[MAXAGE]
    assert maxage["status"] == "pass", maxage["reason"]
    assert maxage["evidence"][0]["observed"] == "60" and maxage["evidence"][0]["expected"] == ">= 30"
    assert maxage["severity"] == "medium" and maxage["overrides"] == []
    port = findings[READ_ONLY_PORT]
    assert port["status"] == "pass" and port["severity"] == "medium" and port["overrides"] == []
    assert code == 0


def test_the_overlay_makes_60_days_fail_at_90_and_the_kubelet_check_high(
    control_plane: LongLivedNode, tmp_path: Path
) -> None:
    overlay = tmp_path / "acme.yaml"
    overlay.write_text(ACME)
    code, findings = scan_with_code(control_plane, "acme", "--overlay", str(overlay))

    maxage = findings[MAXAGE]
    assert maxage["status"] == "fail", maxage["reason"]
    (evidence,) = maxage["evidence"]
    assert evidence["observed"] == "60" and evidence["expected"] == ">= 90"
    assert "--audit-log-maxage=60 on the command line" in evidence["source"]
    assert maxage["overrides"] == [
        {"overlay": "acme-prod", "source": f"{overlay}:4", "field": "args.value", "old": "30", "new": "90",
         "reason": "ACME keeps 90 days of audit logs (SEC-1234)"}
    ]  # fmt: skip

    port = findings[READ_ONLY_PORT]
    assert port["status"] == "pass"  # the overlay changed its severity, not its verdict
    assert port["severity"] == "high"
    assert [(o["overlay"], o["field"], o["old"], o["new"]) for o in port["overrides"]] == [
        ("acme-prod", "severity", "medium", "high")
    ]
    assert code == 1  # the failing check now fails the run
