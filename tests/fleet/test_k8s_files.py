"""End to end: modes and owners of the Kubernetes files the processes really use (issue 4).

One `k8s_worker` node (tests/fleet/nodes/k8s_worker.yaml) for the module; each test starts
the stand-in processes it needs (tests/fleet/standin.py), changes file modes inside the
node, scans with the installed `nodeward scan`, and stops its processes by pid. Every scan
is one connection and one exec (acceptance 5), counted in the node's sshd log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.harness import Fleet, FleetKeys
from tests.fleet.scanutil import LongLivedNode
from tests.fleet.standin import install_standin, start_standin, stop_standin

pytestmark = pytest.mark.fleet

FILE_CHECKS = sorted(p.stem for p in (Path(__file__).parents[2] / "checks" / "k8s_files").glob("*.yaml"))
SELECT = [arg for check_id in FILE_CHECKS for arg in ("--check", check_id)]
CUSTOM_CONFIG = "/opt/k8s/kubelet-config.yaml"  # exists on k8s_worker, 0600 root:root
KUBEADM_KUBELET = (
    "/usr/bin/kubelet",
    "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
    "--kubeconfig=/etc/kubernetes/kubelet.conf",
)
# kube-proxy as a pod runs it: its config and kubeconfig exist only in its own mount
# namespace (a ConfigMap volume). A lookup through /proc/<pid>/root would find them, and
# would follow any absolute link of the pod on the HOST (issue 12): nothing is read.
PROXY_POD = """
mount -t tmpfs -o mode=0755 pod /var/lib/kube-proxy
printf 'kind: KubeProxyConfiguration\\nclientConnection:\\n  kubeconfig: %s\\n' \\
  /var/lib/kube-proxy/kubeconfig.conf > /var/lib/kube-proxy/config.conf
printf 'apiVersion: v1\\nkind: Config\\n' > /var/lib/kube-proxy/kubeconfig.conf
chmod 0644 /var/lib/kube-proxy/kubeconfig.conf
/usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/config.conf </dev/null >/dev/null 2>&1 &
echo $!
"""


Worker = LongLivedNode


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, fleet_keys: FleetKeys) -> Iterator[Worker]:
    workdir = tmp_path_factory.mktemp("k8sfiles")
    with Fleet(workdir / "fleet", fleet_keys) as fleet:
        yield Worker(fleet, fleet.start("k8s_worker", name="k8sfiles"), fleet_keys, workdir)


def scan(worker: Worker, tag: str) -> dict[str, Any]:
    return worker.scan(tag, SELECT)


def finding(result: dict[str, Any], check_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in result["findings"] if f["check_id"] == check_id)
    return found


def with_kubelet(worker: Worker, tag: str, *flags: str) -> dict[str, Any]:
    pid = start_standin(worker.node, "kubelet", [*KUBEADM_KUBELET, *flags])
    try:
        return scan(worker, tag)
    finally:
        stop_standin(worker.node, pid)


def test_world_readable_config_owned_by_another_user_fails_showing_mode_and_owner(worker: Worker) -> None:
    """Acceptance 2, on the file the running kubelet's --config names (not kube-bench's first
    existing path: /var/lib/kubelet/config.yaml exists too and is not what is judged)."""
    worker.node.exec(["chmod", "0644", CUSTOM_CONFIG])
    worker.node.exec(["chown", "nobody:nogroup", CUSTOM_CONFIG])
    try:
        result = with_kubelet(worker, "owner", f"--config={CUSTOM_CONFIG}")
    finally:
        worker.node.exec(["chown", "root:root", CUSTOM_CONFIG])
        worker.node.exec(["chmod", "0600", CUSTOM_CONFIG])
    mode = finding(result, "kubelet_config_file_mode_restricted")
    owner = finding(result, "kubelet_config_file_owner_root")
    assert mode["status"] == "fail" and owner["status"] == "fail"
    for item in (mode, owner):
        (evidence,) = item["evidence"]
        assert evidence["observed"] == f"{CUSTOM_CONFIG}: 0644 nobody:nogroup (file)"
        assert evidence["expected"] and "--config of kubelet (pid " in evidence["source"]
        assert "/var/lib/kubelet/config.yaml" not in str(item)
    assert "readable by every user" in mode["reason"] and "its owner nobody is not root" in mode["reason"]
    assert "not owned by root:root" in owner["reason"]


def test_a_directory_that_already_keeps_users_out_is_named_but_the_file_still_fails(worker: Worker) -> None:
    worker.node.exec(["chmod", "0644", CUSTOM_CONFIG])
    worker.node.exec(["chmod", "0700", "/opt/k8s"])
    try:
        result = with_kubelet(worker, "barrier", f"--config={CUSTOM_CONFIG}")
    finally:
        worker.node.exec(["chmod", "0755", "/opt/k8s"])
        worker.node.exec(["chmod", "0600", CUSTOM_CONFIG])
    mode = finding(result, "kubelet_config_file_mode_restricted")
    assert mode["status"] == "fail"
    assert (
        "the parent directory /opt/k8s (0700 root:root) already keeps every non-root user out"
        in mode["reason"]
    )


def test_kube_proxy_files_in_its_pod_are_named_never_judged_through_its_root(worker: Worker) -> None:
    install_standin(worker.node, "kube-proxy")
    started = worker.node.exec(["unshare", "--mount", "--propagation", "private", "sh", "-c", PROXY_POD])
    pid = int(started.stdout.decode().strip())
    try:
        result = scan(worker, "proxy")
    finally:
        stop_standin(worker.node, pid)
    # Outside the pod the kubeconfig does not exist at all.
    assert (
        worker.node.exec(["test", "-e", "/var/lib/kube-proxy/kubeconfig.conf"], check=False).returncode == 1
    )
    # Its kubeconfig is the pod's, not a file of this node (CIS 4.1.3/4.1.4 judge a node
    # file): named with the pod's pid, never examined through its root, not applicable.
    mode = finding(result, "kube_proxy_kubeconfig_file_mode_restricted")
    assert mode["status"] == "not_applicable", mode
    assert "inside a container: not examined" in mode["reason"] and f"pid {pid}" in mode["reason"]
    assert f"/proc/{pid}/root" not in json.dumps(result)
    assert finding(result, "kube_proxy_kubeconfig_file_owner_root")["status"] == "not_applicable"


def test_a_named_file_that_is_missing_is_an_error_and_a_removed_bootstrap_token_passes(
    worker: Worker,
) -> None:
    # k8s_worker has no /etc/kubernetes/kubelet.conf and no bootstrap-kubelet.conf.
    result = with_kubelet(worker, "missing", "--config=/var/lib/kubelet/config.yaml")
    kubeconfig = finding(result, "kubelet_kubeconfig_file_mode_restricted")
    assert kubeconfig["status"] == "error"
    assert "/etc/kubernetes/kubelet.conf is named (--kubeconfig of kubelet" in kubeconfig["reason"]
    assert finding(result, "kubelet_bootstrap_kubeconfig_protected")["status"] == "pass"
    assert finding(result, "admin_kubeconfig_mode_restricted")["status"] == "not_applicable"
