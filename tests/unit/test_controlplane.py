"""etcd and API server checks: effective values, role gating, and verdicts on captured nodes.

The goldens are real captures (tests/fixtures/facts/k8s_files/README.md): the same node's
k8s_files and k8s_components sections, judged together as a scan judges them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.catalog import load_catalog
from agent.facts import controlplane as cp
from agent.facts import k8s_components, k8s_files
from agent.facts.k8s_components import K8sComponents
from agent.facts.k8s_files import Doc, K8sFiles
from agent.facts.k8s_flags import parse_flags
from agent.facts.kubelet import KubeletConfig, Setting
from agent.facts.model import FactValue, RawSection
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.evaluate import evaluate
from agent.rules.schema import Check

GOLDEN = Path(__file__).parents[1] / "fixtures" / "facts" / "k8s_files"
CHECKS_DIR = Path(__file__).parents[2] / "checks"
PKI = "/etc/kubernetes/pki"
CATALOG = load_catalog()
MINE = {p.stem for folder in ("k8s_files", "etcd", "apiserver") for p in (CHECKS_DIR / folder).glob("*.yaml")}
CONTROL_PLANE_CHECKS = {
    p.stem for folder in ("etcd", "apiserver") for p in (CHECKS_DIR / folder).glob("*.yaml")
}


def facts_of(name: str) -> dict[str, FactValue]:
    def raw(fact: str, suffix: str) -> RawSection:
        return RawSection(fact, (GOLDEN / f"{name}{suffix}").read_bytes(), b"", 0, False)

    return {
        "k8s_files": k8s_files.parse(raw("k8s_files", ".out"), {}),
        "k8s_components": k8s_components.parse(raw("k8s_components", ".components"), {}),
    }


def judge(facts: dict[str, FactValue], roles: tuple[str, ...] = ()) -> dict[str, Status]:
    node = Node(name="n", roles=roles)
    return {c.id: evaluate(c, facts, node).status for c in CATALOG.checks if c.id in MINE}


def check(check_id: str) -> Check:
    return next(c for c in CATALOG.checks if c.id == check_id)


P, F, W, NA, E = Status.PASS, Status.FAIL, Status.WARN, Status.NOT_APPLICABLE, Status.ERROR

# The cp_kubeadm fleet node (tests/fleet/nodes/cp_kubeadm.yaml) with every component running.
CONTROL_PLANE_VERDICTS = {
    "admin_kubeconfig_mode_restricted": F,  # super-admin.conf 0644
    "kubelet_service_file_mode_restricted": F,  # 10-kubeadm.conf 0644 as packaged
    "apiserver_audit_log_maxage_sufficient": F,  # --audit-log-maxage=7
    "controller_manager_profiling_disabled": F,  # kubeadm leaves profiling on
    "scheduler_profiling_disabled": F,
    "apiserver_tls_cipher_suites_strong": F,  # unset: Go's defaults
    "cni_config_files_mode_restricted": F,  # flannel conflist 0644
    "kubernetes_pki_keys_mode_restricted": F,  # front-proxy-ca.key 0644
    "kube_proxy_kubeconfig_file_mode_restricted": NA,  # no kube-proxy on this node
    "kube_proxy_kubeconfig_file_owner_root": NA,
    "kubelet_pki_keys_protected": NA,  # the node has no /var/lib/kubelet/pki
}


def test_kubeadm_control_plane_is_judged_on_every_etcd_and_api_server_check() -> None:
    verdicts = judge(facts_of("debian12_kubeadm_control_plane"))
    assert set(verdicts) == MINE
    expected = {check_id: CONTROL_PLANE_VERDICTS.get(check_id, P) for check_id in MINE}
    assert verdicts == expected


def test_every_failure_on_the_control_plane_carries_full_evidence() -> None:
    facts = facts_of("debian12_kubeadm_control_plane")
    for item in CATALOG.checks:
        if item.id not in MINE:
            continue
        finding = evaluate(item, facts, Node(name="n"))
        if finding.status in (F, W):
            assert finding.evidence, item.id
            assert all(e.observed and e.expected and e.source for e in finding.evidence), item.id


def test_a_worker_is_not_judged_on_etcd_or_api_server_checks() -> None:
    verdicts = judge(facts_of("debian12_worker_kube_proxy_pod"))
    assert {verdicts[c] for c in CONTROL_PLANE_CHECKS} == {NA}
    for pki in (
        "kubernetes_pki_owner_root",
        "kubernetes_pki_keys_mode_restricted",
        "admin_kubeconfig_mode_restricted",
    ):
        assert verdicts[pki] is NA


def test_the_control_plane_is_judged_from_its_manifests_when_it_is_not_running() -> None:
    facts = facts_of("debian12_kubeadm_control_plane_static_pods_only")
    verdicts = judge(facts)
    assert {verdicts[c] for c in CONTROL_PLANE_CHECKS} <= {P, F, W}
    finding = evaluate(check("etcd_client_cert_auth_enabled"), facts, Node(name="n"))
    assert finding.status is P
    assert "/etc/kubernetes/manifests/etcd.yaml" in finding.evidence[0].source


def test_inventory_roles_without_the_component_are_errors_not_passes() -> None:
    facts = facts_of("debian12_worker_kube_proxy_pod")
    declared = judge(facts, ("control-plane",))
    assert declared["apiserver_anonymous_auth_disabled"] is E
    assert declared["scheduler_bind_address_loopback"] is E
    assert declared["etcd_client_cert_auth_enabled"] is NA  # a control plane may use an external etcd
    assert judge(facts, ("etcd",))["etcd_client_cert_auth_enabled"] is E


def test_a_component_running_on_a_node_called_worker_is_judged_anyway() -> None:
    verdicts = judge(facts_of("debian12_kubeadm_control_plane"), ("worker",))
    assert verdicts["etcd_client_cert_auth_enabled"] is P
    assert verdicts["apiserver_audit_log_maxage_sufficient"] is F


def test_embedded_components_with_unknown_arguments_are_errors() -> None:
    raw = b"@nodeward-k8s 1\np 501 /usr/local/bin/k3s /usr/local/bin/k3s server\n"
    facts: dict[str, FactValue] = {
        "k8s_components": k8s_components.parse(RawSection("k8s_components", raw, b"", 0, False), {})
    }
    finding = evaluate(check("apiserver_profiling_disabled"), facts, Node(name="n"))
    assert finding.status is E and "embedded in k3s" in finding.reason


# --- effective values ------------------------------------------------------------------


def etcd(*argv: str, pid: int | None = 7) -> k8s_components.Component:
    full = ("etcd", *argv)
    return k8s_components.Component("etcd", pid, full, parse_flags(full), f"/proc/{pid}/cmdline")


def files(env: dict[str, str] | None = None, docs: dict[str, str] | None = None) -> K8sFiles:
    return K8sFiles(
        files=(),
        env={7: env or {}},
        docs={path: Doc(path, text, False) for path, text in (docs or {}).items()},
    )


def test_etcd_flag_beats_environment_beats_default() -> None:
    env = {"ETCD_CLIENT_CERT_AUTH": "true"}
    assert cp.etcd_setting(etcd("--client-cert-auth=false"), "client-cert-auth", files(env)).value == "false"
    from_env = cp.etcd_setting(etcd(), "client-cert-auth", files(env))
    assert from_env.value == "true" and "ETCD_CLIENT_CERT_AUTH=true in the environment" in from_env.source
    default = cp.etcd_setting(etcd(), "client-cert-auth", files())
    assert default.value == "false" and default.defaulted


def test_etcd_config_file_overrides_flags_and_environment() -> None:
    doc = "client-transport-security:\n  client-cert-auth: true\nlisten-client-urls: https://0.0.0.0:2379\n"
    component = etcd("--config-file=/etc/etcd/etcd.yml", "--client-cert-auth=false")
    got = cp.etcd_setting(component, "client-cert-auth", files(docs={"/etc/etcd/etcd.yml": doc}))
    assert got.value == "true" and "flags and environment ignored" in got.source
    urls = cp.etcd_setting(component, "listen-client-urls", files(docs={"/etc/etcd/etcd.yml": doc}))
    assert urls.value == "https://0.0.0.0:2379"


def test_etcd_value_that_depends_on_unavailable_files_cannot_be_judged() -> None:
    assert cp.etcd_setting(etcd("--auto-tls=false"), "auto-tls", None).value == "false"
    with pytest.raises(cp.NeedsFiles):
        cp.etcd_setting(etcd(), "auto-tls", None)
    with pytest.raises(cp.NeedsFiles):
        cp.etcd_setting(etcd("--config-file=/x.yml"), "auto-tls", None)
    # etcd judged from its manifest has no environment to read: flags and defaults decide.
    assert cp.etcd_setting(etcd(pid=None), "auto-tls", None).value == "false"


@pytest.mark.parametrize(
    ("value", "problems"),
    [
        ("https://127.0.0.1:2379,https://192.0.2.20:2379", ["", ""]),
        ("http://localhost:2379", [""]),
        ("https://0.0.0.0:2379", ["listens on every interface"]),
        ("https://[::]:2379", ["listens on every interface"]),
        ("http://:2379", ["listens on every interface"]),
        ("http://192.0.2.20:2380", ["plain http on a non-loopback address"]),
        ("http://[::1]:2379", [""]),
    ],
)
def test_listen_urls(value: str, problems: list[str]) -> None:
    assert [item.problem for item in cp.judge_urls(value)] == problems


@pytest.mark.parametrize(
    ("text", "covered", "first"),
    [
        (
            "kind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms: {}\n",
            True,
            "kms",
        ),
        (
            "resources:\n- resources: ['*.*']\n  providers:\n  - identity: {}\n  - aescbc: {}\n",
            True,
            "identity",
        ),
        ("resources:\n- resources: [configmaps]\n  providers:\n  - aescbc: {}\n", False, None),
    ],
)
def test_secrets_encryption_reads_the_first_provider_of_the_first_matching_entry(
    text: str, covered: bool, first: str | None
) -> None:
    found = cp.secrets_encryption(cp.load_doc(Doc("/e.yaml", text, False)))
    assert isinstance(found, cp.SecretsEncryption)
    assert found.covered is covered
    assert (found.providers[0] if found.providers else None) == first


def test_documents_that_are_not_what_they_claim_are_reported_not_trusted() -> None:
    assert isinstance(cp.secrets_encryption(cp.load_doc(Doc("/e", "- a\n- b\n", False))), str)
    assert isinstance(cp.audit_policy(cp.load_doc(Doc("/p", "kind: Policy\n", False))), str)
    assert isinstance(cp.authorizer_types(None), str)
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    assert cp.load_doc(Doc("/bomb", "\n".join(levels) + "\n", False)) is None  # 10**7 nodes: refused
    assert cp.load_doc(Doc("/t", "kind: Policy\n", True)) is None  # truncated: not judged


def test_authorization_config_replaces_the_mode_flag() -> None:
    argv = ("kube-apiserver", "--authorization-config=/etc/kubernetes/authz.yaml")
    component = k8s_components.Component("kube-apiserver", 7, argv, parse_flags(argv), "/proc/7/cmdline")
    doc = "kind: AuthorizationConfiguration\nauthorizers: [{type: Node, name: n}, {type: RBAC, name: r}]\n"
    modes = cp.authorization_modes(component, files(docs={"/etc/kubernetes/authz.yaml": doc}))
    assert modes.modes == ("Node", "RBAC")
    with pytest.raises(cp.NeedsFiles):
        cp.authorization_modes(component, None)


def test_default_authorization_mode_is_always_allow() -> None:
    argv = ("kube-apiserver",)
    component = k8s_components.Component("kube-apiserver", 7, argv, parse_flags(argv), "/proc/7/cmdline")
    modes = cp.authorization_modes(component, None)
    assert modes.modes == ("AlwaysAllow",) and "default AlwaysAllow" in modes.source


def test_discovered_roles_match_the_component_fact() -> None:
    components = facts_of("debian12_kubeadm_control_plane")["k8s_components"]
    assert isinstance(components, K8sComponents)
    assert set(components.roles) == {"control-plane", "etcd", "worker"}


def kubelet_says(ca: str) -> KubeletConfig:
    argv = ("/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml")
    component = k8s_components.Component("kubelet", 24, argv, parse_flags(argv), "/proc/24/cmdline")
    setting = Setting(ca, "drop-in", f"authentication.x509.clientCAFile: {ca} in /etc/kubelet.d/50.conf:3")
    return KubeletConfig(component, {"authentication.x509.clientCAFile": setting}, None, None)


def test_the_client_ca_judged_is_the_one_the_kubelet_fact_says_it_uses() -> None:
    facts = facts_of("debian12_kubeadm_control_plane")
    same = evaluate(
        check("kubelet_client_ca_file_mode_restricted"),
        {**facts, "kubelet": kubelet_says(f"{PKI}/ca.crt")},
        Node(name="n"),
    )
    assert same.status is P and f"{PKI}/ca.crt" in same.evidence[0].observed
    other = {**facts, "kubelet": kubelet_says(f"{PKI}/other-ca.crt")}
    finding = evaluate(check("kubelet_client_ca_file_mode_restricted"), other, Node(name="n"))
    assert finding.status is E, finding.reason  # never another file in its place
    assert "other-ca.crt" in finding.reason and "/etc/kubelet.d/50.conf:3" in finding.reason
