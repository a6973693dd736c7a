"""Kubelet checks through the real evaluator: roles from discovery, role-aware
predicates, and the sources a finding names (issue 4)."""

from __future__ import annotations

from agent.catalog import load_catalog
from agent.facts import k8s_components, kubelet
from agent.facts.model import FactValue, RawSection
from agent.findings import Finding, Status
from agent.inspection import with_discovered_roles
from agent.inventory.model import Node
from agent.rules.evaluate import evaluate
from agent.rules.schema import Check

CATALOG = load_catalog()
KUBELET_IDS = sorted(c.id for c in CATALOG.checks if c.source.replace("\\", "/").split("/")[-2] == "kubelet")


def check(check_id: str) -> Check:
    return next(c for c in CATALOG.checks if c.id == check_id)


def facts(kubelet_text: str, components_text: str | None = None) -> dict[str, FactValue]:
    found: dict[str, FactValue] = {
        "kubelet": kubelet.parse(RawSection("kubelet", kubelet_text.encode(), b"", 0, False), {})
    }
    if components_text is not None:
        found["k8s_components"] = k8s_components.parse(
            RawSection("k8s_components", components_text.encode(), b"", 0, False), {}
        )
    return found


def judge(target: Check, gathered: dict[str, FactValue], node: Node) -> Finding:
    """Evaluate as a scan does: discovered roles first, then the check."""
    return evaluate(target, gathered, with_discovered_roles(node, gathered))


WORKER = "@nodeward-kubelet 1\np 7 /usr/bin/kubelet kubelet --anonymous-auth=true\n"
WORKER_DISCOVERY = "@nodeward-k8s 1\np 7 /usr/bin/kubelet kubelet --anonymous-auth=true\n"
NO_K8S = "@nodeward-k8s 1\n"


def test_the_catalogue_has_the_kubelet_section() -> None:
    assert len(KUBELET_IDS) >= 18
    for check_id in KUBELET_IDS:
        assert set(check(check_id).applies_to.roles) == {"worker", "control-plane"}, check_id


def test_discovered_roles_apply_when_the_inventory_sets_none() -> None:
    finding = judge(check("kubelet_anonymous_auth_disabled"), facts(WORKER, WORKER_DISCOVERY), Node(name="n"))
    assert finding.status is Status.FAIL
    assert finding.evidence[0].source == "--anonymous-auth=true on the command line (/proc/7/cmdline)"
    # the same node judged without discovery has no roles at all
    alone = judge(check("kubelet_anonymous_auth_disabled"), facts(WORKER), Node(name="n"))
    assert alone.status is Status.NOT_APPLICABLE and "roles: none" in alone.reason


def test_inventory_roles_win_over_discovery() -> None:
    node = Node(name="n", roles=("etcd",))
    finding = judge(check("kubelet_anonymous_auth_disabled"), facts(WORKER, WORKER_DISCOVERY), node)
    assert finding.status is Status.NOT_APPLICABLE
    assert "this node's roles: etcd" in finding.reason


def test_no_kubernetes_means_not_applicable_never_fail() -> None:
    absent = "@nodeward-kubelet 1\n"
    for check_id in KUBELET_IDS:
        finding = judge(check(check_id), facts(absent, NO_K8S), Node(name="plain"))
        assert finding.status is Status.NOT_APPLICABLE, (check_id, finding.reason)


def test_kubelet_absent_but_roles_from_inventory_is_still_not_applicable() -> None:
    finding = judge(
        check("kubelet_read_only_port_disabled"),
        facts("@nodeward-kubelet 1\n"),
        Node(name="n", roles=("worker",)),
    )
    assert finding.status is Status.NOT_APPLICABLE
    assert "no kubelet process" in finding.reason


def test_static_pods_are_fine_on_a_discovered_control_plane() -> None:
    text = "@nodeward-kubelet 1\np 7 /usr/bin/kubelet kubelet --pod-manifest-path=/etc/kubernetes/manifests\n"
    control_plane = (
        "@nodeward-k8s 1\np 7 /usr/bin/kubelet kubelet\np 8 /usr/local/bin/kube-apiserver kube-apiserver\n"
    )
    target = check("kubelet_static_pods_disabled_on_workers")
    assert judge(target, facts(text, control_plane), Node(name="cp")).status is Status.NOT_APPLICABLE
    worker = judge(target, facts(text, WORKER_DISCOVERY), Node(name="w"))
    assert worker.status is Status.FAIL  # the effective value is known: FAIL (EKS STIG V-242397)
    assert worker.evidence[0].source.startswith(
        "--pod-manifest-path=/etc/kubernetes/manifests on the command line"
    )


def test_kube_proxy_check_is_not_applicable_without_kube_proxy() -> None:
    finding = judge(
        check("kubelet_kube_proxy_metrics_localhost"), facts(WORKER), Node(name="n", roles=("worker",))
    )
    assert finding.status is Status.NOT_APPLICABLE


def test_kube_proxy_flag_counts_without_config_and_is_ignored_with_it() -> None:
    flag_only = WORKER + "p 9 /usr/local/bin/kube-proxy kube-proxy --metrics-bind-address=0.0.0.0:10249\n"
    finding = judge(
        check("kubelet_kube_proxy_metrics_localhost"), facts(flag_only), Node(name="n", roles=("worker",))
    )
    assert finding.status is Status.FAIL
    assert "--metrics-bind-address=0.0.0.0:10249 on the command line" in finding.evidence[0].source
    unreadable = (
        WORKER + "p 9 /usr/local/bin/kube-proxy kube-proxy --config=/var/lib/kube-proxy/config.conf\n"
    )
    finding = judge(
        check("kubelet_kube_proxy_metrics_localhost"), facts(unreadable), Node(name="n", roles=("worker",))
    )
    assert finding.status is Status.ERROR  # never PASS on a file we could not read


def test_sources_consistency_names_the_overriding_flag() -> None:
    text = (
        "@nodeward-kubelet 1\np 7 /usr/bin/kubelet kubelet --config=/c --read-only-port=10255\n"
        "f config.7 /c\nreadOnlyPort: 0\n.\n"
    )
    finding = judge(
        check("kubelet_configuration_sources_consistent"), facts(text), Node(name="n", roles=("worker",))
    )
    assert finding.status is Status.FAIL
    assert finding.evidence[0].observed == (
        "--read-only-port=10255 on the command line (/proc/7/cmdline) overrides readOnlyPort: 0 in /c:1"
    )
