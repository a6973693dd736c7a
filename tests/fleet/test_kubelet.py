"""End to end: the kubelet's effective configuration judged on a real node (issue 4).

One `k8s_worker` node (tests/fleet/nodes/k8s_worker.yaml) holds every configuration
file side by side; each test starts a stand-in kubelet (tests/fleet/standin.py) with
the argv under test, so `/proc/<pid>/cmdline` is exactly what a real kubelet shows,
runs the installed `nodeward scan` over SSH, and stops the stand-in by its pid. The
node is shared by the module to keep the suite fast; the stand-ins never overlap.

Every scan must still be one connection and one exec (acceptance 5), counted in the
node's own sshd log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.harness import Fleet, FleetKeys
from tests.fleet.scanutil import LongLivedNode, statuses
from tests.fleet.standin import start_standin, stop_standin

pytestmark = pytest.mark.fleet

# This area's checks (checks/kubelet/); other kubelet_* ids (file modes) live elsewhere.
CHECK_IDS = sorted(p.stem for p in (Path(__file__).parents[2] / "checks" / "kubelet").glob("*.yaml"))
SELECT = [arg for check_id in CHECK_IDS for arg in ("--check", check_id)]

KUBEADM_ARGV = (
    "/usr/bin/kubelet",
    "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
    "--kubeconfig=/etc/kubernetes/kubelet.conf",
    "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock",
)


Worker = LongLivedNode


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, fleet_keys: FleetKeys) -> Iterator[Worker]:
    workdir = tmp_path_factory.mktemp("kubelet")
    with Fleet(workdir / "fleet", fleet_keys) as fleet:
        node = fleet.start("k8s_worker", name="k8sworker")
        yield Worker(fleet, node, fleet_keys, workdir)


def scan(worker: Worker, tag: str) -> dict[str, Any]:
    return worker.scan(tag, SELECT)


def with_kubelet(worker: Worker, tag: str, *flags: str, argv: Sequence[str] = KUBEADM_ARGV) -> dict[str, Any]:
    pid = start_standin(worker.node, "kubelet", [*argv, *flags])
    try:
        return scan(worker, tag)
    finally:
        stop_standin(worker.node, pid)


def finding(result: dict[str, Any], check_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in result["findings"] if f["check_id"] == check_id)
    return found


def sources(found: dict[str, Any]) -> str:
    return " | ".join(str(e["source"]) for e in found["evidence"])


def test_no_kubelet_means_every_kubelet_check_is_not_applicable(worker: Worker) -> None:
    result = scan(worker, "none")
    status = statuses(result)
    assert sorted(status) == CHECK_IDS and len(CHECK_IDS) >= 18
    assert all(s == "not_applicable" for s in status.values()), status


def test_anonymous_auth_flag_overriding_the_file_fails_and_names_the_flag(worker: Worker) -> None:
    result = with_kubelet(worker, "anon", "--config=/var/lib/kubelet/config.yaml", "--anonymous-auth=true")
    anon = finding(result, "kubelet_anonymous_auth_disabled")
    assert anon["status"] == "fail", anon["reason"]
    assert anon["evidence"][0]["observed"] == "true"
    assert anon["evidence"][0]["expected"]
    assert sources(anon).startswith("--anonymous-auth=true on the command line (/proc/")
    assert "overrides authentication.anonymous.enabled: false in /var/lib/kubelet/config.yaml:4" in sources(
        anon
    )
    # the rest of kubeadm's file still counts: Webhook, client CA, rotation, 4h stream timeout
    status = statuses(result)
    for passing in (
        "kubelet_authorization_mode_webhook",
        "kubelet_client_ca_file_set",
        "kubelet_rotate_certificates_enabled",
        "kubelet_streaming_connection_idle_timeout_set",
    ):
        assert status[passing] == "pass", (passing, finding(result, passing)["reason"])
    # a control-plane-free worker is judged on static pods (kubeadm sets staticPodPath)
    assert status["kubelet_static_pods_disabled_on_workers"] == "fail"
    # flags and file disagree: the consistency check says which flag
    consistency = finding(result, "kubelet_configuration_sources_consistent")
    assert consistency["status"] == "fail"
    assert "--anonymous-auth=true" in str(consistency["evidence"][0]["observed"])


def test_flags_correcting_a_bad_config_file_pass(worker: Worker) -> None:
    result = with_kubelet(
        worker,
        "corrected",
        "--config",
        "/etc/kubernetes/bad-kubelet.yaml",
        "--anonymous-auth=false",
        "--authorization-mode",
        "Webhook",
        "--authentication-token-webhook",
        "--client-ca-file=/etc/kubernetes/pki/ca.crt",
        "--read-only-port=0",
        "--rotate-certificates",
        "--make-iptables-util-chains=true",
    )
    status = statuses(result)
    for check_id in (
        "kubelet_anonymous_auth_disabled",
        "kubelet_authorization_mode_webhook",
        "kubelet_client_ca_file_set",
        "kubelet_read_only_port_disabled",
        "kubelet_rotate_certificates_enabled",
        "kubelet_make_iptables_util_chains_enabled",
    ):
        assert status[check_id] == "pass", (check_id, finding(result, check_id)["reason"])
    anon = finding(result, "kubelet_anonymous_auth_disabled")
    assert (
        "overrides authentication.anonymous.enabled: true in /etc/kubernetes/bad-kubelet.yaml:5"
        in sources(anon)
    )


def test_repeated_read_only_port_is_judged_by_its_last_value(worker: Worker) -> None:
    config = "--config=/var/lib/kubelet/config.yaml"
    closed_last = with_kubelet(worker, "ro_closed", config, "--read-only-port=10255", "--read-only-port", "0")
    ro = finding(closed_last, "kubelet_read_only_port_disabled")
    assert ro["status"] == "pass", ro["reason"]
    assert "--read-only-port=0 on the command line (2nd of 2; the last one wins)" in sources(ro)

    open_last = with_kubelet(worker, "ro_open", config, "--read-only-port", "0", "--read-only-port=10255")
    ro = finding(open_last, "kubelet_read_only_port_disabled")
    # CIS 4.2.4 is Manual, but nodeward read the effective value: FAIL (issue 10)
    assert ro["status"] == "fail", ro["reason"]
    assert ro["evidence"][0]["observed"] == "10255"
    assert "--read-only-port=10255 on the command line (2nd of 2; the last one wins)" in sources(ro)


def test_config_at_a_non_default_path_is_the_file_that_is_read(worker: Worker) -> None:
    # /var/lib/kubelet/config.yaml (anonymous off) is a decoy: the process names /opt/...
    result = with_kubelet(worker, "optpath", "--config=/opt/k8s/kubelet-config.yaml")
    anon = finding(result, "kubelet_anonymous_auth_disabled")
    assert anon["status"] == "fail", anon["reason"]
    assert sources(anon) == "authentication.anonymous.enabled: true in /opt/k8s/kubelet-config.yaml:5"
    assert "/var/lib/kubelet/config.yaml" not in str(result["findings"])
    # readOnlyPort: 10255 in the file the process names: CIS 4.2.4 is "Manual", but the
    # effective value is known, so the verdict is FAIL, never a softened WARN (issue 10).
    ro = finding(result, "kubelet_read_only_port_disabled")
    assert ro["status"] == "fail", ro["reason"]
    assert sources(ro) == "readOnlyPort: 10255 in /opt/k8s/kubelet-config.yaml:6"


def test_config_dir_dropin_wins_over_the_file(worker: Worker) -> None:
    result = with_kubelet(
        worker,
        "dropin",
        "--config=/opt/k8s/kubelet-config.yaml",
        "--config-dir=/etc/kubernetes/kubelet.conf.d",
    )
    ro = finding(result, "kubelet_read_only_port_disabled")
    assert ro["status"] == "pass", ro["reason"]
    assert sources(ro) == (
        "readOnlyPort: 0 in /etc/kubernetes/kubelet.conf.d/50-read-only-port.conf:3 (--config-dir drop-in) "
        "overrides readOnlyPort: 10255 in /opt/k8s/kubelet-config.yaml:6"
    )
    # 60-not-a-dropin.yaml (readOnlyPort 10255) is skipped by the kubelet, and reported
    consistency = finding(result, "kubelet_configuration_sources_consistent")
    assert consistency["status"] == "fail"
    assert "60-not-a-dropin.yaml is skipped" in str(consistency["evidence"])


def test_alias_bomb_config_is_an_error_never_a_pass(worker: Worker) -> None:
    result = with_kubelet(worker, "bomb", "--config=/etc/kubernetes/bomb.yaml")
    status = statuses(result)
    assert set(status.values()) == {"error"}, status
    assert "alias bomb" in finding(result, "kubelet_anonymous_auth_disabled")["reason"]


def test_kube_proxy_metrics_come_from_its_config_file_not_the_ignored_flag(worker: Worker) -> None:
    # kube-proxy ignores --metrics-bind-address when --config is set (kubernetes#107157):
    # the flag says loopback, the file (read through /proc/<pid>/root) says 0.0.0.0.
    proxy = start_standin(
        worker.node,
        "kube-proxy",
        [
            "/usr/local/bin/kube-proxy",
            "--config=/var/lib/kube-proxy/config.conf",
            "--metrics-bind-address=127.0.0.1:10249",
            "--hostname-override=k8sworker",
        ],
    )
    try:
        result = with_kubelet(worker, "proxy", "--config=/var/lib/kubelet/config.yaml")
    finally:
        stop_standin(worker.node, proxy)
    metrics = finding(result, "kubelet_kube_proxy_metrics_localhost")
    assert metrics["status"] == "fail", metrics["reason"]
    assert metrics["evidence"][0]["observed"] == "0.0.0.0:10249"
    assert "metricsBindAddress: 0.0.0.0:10249 in /var/lib/kube-proxy/config.conf:5" in sources(metrics)
    assert "ignores its --metrics-bind-address flag" in sources(metrics)
