"""End to end: a control-plane node is judged on the etcd and API server checks, a worker is not.

Issue 4, acceptance 3 and 5. The `cp_kubeadm` node (tests/fleet/nodes/cp_kubeadm.yaml)
holds kubeadm's manifests, PKI tree and kubeconfigs with chosen modes; stand-in etcd,
kube-apiserver, controller-manager, scheduler and kubelet processes (tests/fleet/standin.py)
carry the argv of those manifests, so discovery reads /proc/<pid>/cmdline exactly as on a
real control plane. The `k8s_worker` node runs only a kubelet. Both are scanned by the
installed `nodeward scan`; each scan must be one connection and one exec per node, counted
in the node's own sshd log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fleet.harness import LOG_CONNECTION, LOG_EXEC_REQUEST, Fleet, FleetKeys, FleetNode, load_spec
from tests.fleet.scanutil import Target, ansible_inventory, nodes_by_name, scan_json, statuses
from tests.fleet.standin import start_standin, stop_standin

pytestmark = pytest.mark.fleet

CHECKS = Path(__file__).parents[2] / "checks"
CONTROL_PLANE = sorted(p.stem for folder in ("etcd", "apiserver") for p in (CHECKS / folder).glob("*.yaml"))
FILES = sorted(p.stem for p in (CHECKS / "k8s_files").glob("*.yaml"))
SELECT = [arg for check_id in (*CONTROL_PLANE, *FILES) for arg in ("--check", check_id)]


def manifest_argv(component: str) -> list[str]:
    """The command of cp_kubeadm's static pod manifest: the stand-in runs exactly that."""
    content = load_spec("cp_kubeadm").files[f"/etc/kubernetes/manifests/{component}.yaml"].content
    command = yaml.safe_load(content)["spec"]["containers"][0]["command"]
    assert isinstance(command, list) and all(isinstance(arg, str) for arg in command)
    return [str(arg) for arg in command]


KUBELET = [
    "/usr/bin/kubelet",
    "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
    "--kubeconfig=/etc/kubernetes/kubelet.conf",
    "--config=/var/lib/kubelet/config.yaml",
    "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock",
]
CONTROL_PLANE_PROCESSES = {
    name: manifest_argv(name)
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
}
# The aescbc key in cp_kubeadm's encryption configuration: it must never leave the node.
ENCRYPTION_KEY = "bm9kZXdhcmQtZmxlZXQtZXRjZC1rZXktMzJieXRlcyE="
SOCKET = (
    "import os, socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1]); os.chmod(sys.argv[1], 0o660)"
)


@dataclass
class Cluster:
    fleet: Fleet
    keys: FleetKeys
    workdir: Path
    control_plane: FleetNode
    worker: FleetNode
    pids: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, fleet_keys: FleetKeys) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("controlplane")
    with Fleet(workdir / "fleet", fleet_keys) as fleet:
        control_plane = fleet.start("cp_kubeadm", name="cp1")
        worker = fleet.start("k8s_worker", name="worker1")
        control_plane.exec(["mkdir", "-p", "/run/containerd"])
        control_plane.exec(["python3", "-c", SOCKET, "/run/containerd/containerd.sock"])
        found = Cluster(fleet, fleet_keys, workdir, control_plane, worker)
        found.pids["kubelet"] = start_standin(control_plane, "kubelet", KUBELET)
        for name, argv in CONTROL_PLANE_PROCESSES.items():
            found.pids[name] = start_standin(control_plane, name, argv)
        start_standin(worker, "kubelet", KUBELET)
        yield found


def scan(
    cluster: Cluster, tag: str, targets: Sequence[tuple[FleetNode, dict[str, object] | None]]
) -> dict[str, Any]:
    """Scan the targets in one run; every node must see one connection and one exec."""
    nodes = [node for node, _ in targets]
    before = {n.name: (n.count_log(LOG_CONNECTION), n.count_log(LOG_EXEC_REQUEST)) for n in nodes}
    inventory = ansible_inventory(
        cluster.workdir / f"{tag}.yaml",
        [Target(node.name, node.address, node.port, extra) for node, extra in targets],
        cluster.keys.bastion,
    )
    known = cluster.fleet.known_hosts(nodes, cluster.workdir / f"{tag}_known_hosts")
    _, document, stderr = scan_json(inventory, cluster.workdir / f"{tag}_home", known, *SELECT)
    for node in nodes:
        after = (node.count_log(LOG_CONNECTION), node.count_log(LOG_EXEC_REQUEST))
        assert (after[0] - before[node.name][0], after[1] - before[node.name][1]) == (1, 1), stderr
    return document


def finding(result: dict[str, Any], check_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in result["findings"] if f["check_id"] == check_id)
    return found


def test_control_plane_is_judged_on_etcd_and_api_server_checks_and_a_worker_is_not(cluster: Cluster) -> None:
    document = scan(cluster, "both", [(cluster.control_plane, None), (cluster.worker, None)])
    nodes = nodes_by_name(document)
    control_plane, worker = nodes[cluster.control_plane.name], nodes[cluster.worker.name]
    assert control_plane["error"] is None and worker["error"] is None
    judged, skipped = statuses(control_plane), statuses(worker)

    assert {judged[c] for c in CONTROL_PLANE} <= {"pass", "fail", "warn"}, judged
    assert {skipped[c] for c in CONTROL_PLANE} == {"not_applicable"}, skipped
    for check_id in ("etcd_client_cert_auth_enabled", "etcd_peer_client_cert_auth_enabled", "etcd_unique_ca",
                     "etcd_data_dir_mode_restricted", "apiserver_authorization_mode_includes_node",
                     "apiserver_node_restriction_enabled", "apiserver_encryption_providers_strong",
                     "apiserver_audit_policy_file_set", "apiserver_audit_log_files_protected",
                     "controller_manager_bind_address_loopback"):  # fmt: skip
        assert judged[check_id] == "pass", (check_id, finding(control_plane, check_id)["reason"])

    # What cp_kubeadm gets wrong on purpose, each with its evidence.
    maxage = finding(control_plane, "apiserver_audit_log_maxage_sufficient")
    assert maxage["status"] == "fail"
    (evidence,) = maxage["evidence"]
    assert evidence["observed"] == "7" and evidence["expected"] == ">= 30"
    assert "--audit-log-maxage=7 on the command line" in evidence["source"]
    assert f"/proc/{cluster.pids['kube-apiserver']}/cmdline" in evidence["source"]
    keys = finding(control_plane, "kubernetes_pki_keys_mode_restricted")
    assert (
        keys["status"] == "fail"
        and "/etc/kubernetes/pki/front-proxy-ca.key is 0644 root:root" in keys["reason"]
    )
    admin = finding(control_plane, "admin_kubeconfig_mode_restricted")
    assert admin["status"] == "fail" and "super-admin.conf is 0644" in admin["reason"]
    assert judged["scheduler_profiling_disabled"] == "fail"  # kubeadm leaves --profiling at its default, true
    for item in control_plane["findings"]:
        if item["status"] in ("fail", "warn"):
            assert item["evidence"], item["check_id"]
            assert all(e["observed"] and e["expected"] and e["source"] for e in item["evidence"]), item[
                "check_id"
            ]

    # The encryption configuration was read, but its key stayed on the node.
    assert ENCRYPTION_KEY not in json.dumps(document)


def test_control_plane_is_judged_from_its_manifests_while_its_processes_are_down(cluster: Cluster) -> None:
    node = cluster.control_plane
    for name in CONTROL_PLANE_PROCESSES:
        stop_standin(node, cluster.pids.pop(name))
    try:
        result = nodes_by_name(scan(cluster, "manifests", [(node, None)]))[node.name]
        judged = statuses(result)
        assert {judged[c] for c in CONTROL_PLANE} <= {"pass", "fail", "warn"}, judged
        auth = finding(result, "etcd_client_cert_auth_enabled")
        assert auth["status"] == "pass"
        assert "/etc/kubernetes/manifests/etcd.yaml" in auth["evidence"][0]["source"]
        data_dir = finding(result, "etcd_data_dir_mode_restricted")
        assert "--data-dir in /etc/kubernetes/manifests/etcd.yaml" in data_dir["evidence"][0]["source"]
    finally:
        for name, argv in CONTROL_PLANE_PROCESSES.items():
            cluster.pids[name] = start_standin(node, name, argv)


def test_a_worker_the_inventory_calls_control_plane_is_an_error_not_a_pass(cluster: Cluster) -> None:
    roles: dict[str, object] = {"nodeward_roles": ["control-plane"]}
    result = nodes_by_name(scan(cluster, "declared", [(cluster.worker, roles)]))[cluster.worker.name]
    apiserver = finding(result, "apiserver_anonymous_auth_disabled")
    assert apiserver["status"] == "error"
    assert "inventory gives this node the control-plane role" in apiserver["reason"]
