"""Review of issue 12, findings 2, 3, 4 and 6, pure parts: what discovery believes from
the snippet's records, and which kubelet --config a fix may edit (the fleet tests are
test_k8s_discovery_trust.py)."""

from __future__ import annotations

import pytest

from agent.facts import k8s_components as kc
from agent.facts import kubelet
from agent.facts.k8s_files import FileRef, K8sFiles, PathRef, Proc, Stat
from agent.facts.k8s_trust import Identity, distrust
from agent.facts.model import FactValue, RawSection, Unavailable
from agent.remediate.process_paths import kubelet_config

APISERVER = ("kube-apiserver", "--advertise-address=192.0.2.10", "--authorization-mode=Node,RBAC")
HOST, OTHER = "0 0 0 755 root host", "0 0 0 755 root other"  # root, root-owned exe, where
MANIFEST = (
    "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    command:\n"
    + "".join(f"    - {arg}\n" for arg in APISERVER)
)


def _p(pid: int, exe: str, argv: tuple[str, ...], who: str) -> str:
    packed = "".join(f"{arg}\0" for arg in argv).encode().hex()
    return f"P {pid} {exe.encode().hex()} {packed} {who}\n"


def _manifest() -> str:
    path = b"/etc/kubernetes/manifests/kube-apiserver.yaml".hex()
    return f"F manifest {path}\n{MANIFEST.encode().hex()}\n.\n"


def _section(header: str, body: str) -> RawSection:
    text = f"{header}\n{body}"
    return RawSection(name="x", stdout=text.encode(), stderr=b"", exit_code=0, truncated=False)


def _components(body: str) -> FactValue:
    return kc.parse(_section("@nodeward-k8s 1", body), {})


def test_a_root_kubelet_in_another_mount_namespace_is_an_impostor_and_gives_no_role() -> None:
    found = _components(_p(149, "/usr/bin/kubelet", ("kubelet", "--anonymous-auth=false"), OTHER))
    assert isinstance(found, kc.K8sComponents)
    assert found.roles == () and found.get("kubelet") is None
    assert [(i.pid, i.kind) for i in found.impostors] == [(149, "kubelet")]
    assert "another mount namespace" in found.impostors[0].why


def test_an_unknown_mount_namespace_is_never_trusted_for_a_kubelet() -> None:
    found = _components(_p(150, "/usr/bin/kubelet", ("kubelet",), "0 0 0 755 root"))  # no <ns> field
    assert isinstance(found, kc.K8sComponents) and found.get("kubelet") is None


def test_a_control_plane_container_is_believed_only_as_the_static_pod_its_manifest_describes() -> None:
    kubelet_line = _p(20, "/usr/bin/kubelet", ("/usr/bin/kubelet",), HOST)
    pod = _p(30, "/usr/local/bin/kube-apiserver", APISERVER, OTHER)
    rogue = _p(31, "/usr/local/bin/kube-apiserver", (*APISERVER, "--anonymous-auth=true"), OTHER)
    found = _components(kubelet_line + pod + rogue + _manifest())
    assert isinstance(found, kc.K8sComponents)
    assert "control-plane" in found.roles
    apiserver = found.get("kube-apiserver")
    assert apiserver is not None and apiserver.pid == 30 and apiserver.in_container
    assert [i.pid for i in found.impostors] == [31]
    # Without a believed kubelet nothing explains the container, and it may still be the
    # node's control plane: the roles are unknown (ERROR), never quietly dropped.
    alone = _components(pod + _manifest())
    assert isinstance(alone, Unavailable) and "kube-apiserver in a container (pid 30)" in alone.reason


def _manifest_text(command: tuple[str, ...]) -> str:
    text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    command:\n"
    text += "".join(f"    - {arg!r}\n" for arg in command)
    path = b"/etc/kubernetes/manifests/kube-apiserver.manifest".hex()
    return f"F manifest {path}\n{text.encode().hex()}\n.\n"


def test_a_kops_static_pod_behind_go_runner_keeps_its_role() -> None:
    """kops runs `/go-runner --log-file=... --also-stdout /usr/local/bin/kube-apiserver ...`;
    the container's process is the tail from the component on (second review, finding 1)."""
    binary = ("/usr/local/bin/kube-apiserver", *APISERVER[1:])
    wrapped = ("/go-runner", "--log-file=/var/log/kube-apiserver.log", "--also-stdout", *binary)
    kubelet_line = _p(20, "/usr/bin/kubelet", ("/usr/bin/kubelet",), HOST)
    found = _components(kubelet_line + _p(30, binary[0], binary, OTHER) + _manifest_text(wrapped))
    assert isinstance(found, kc.K8sComponents), found
    assert "control-plane" in found.roles and found.impostors == ()
    apiserver = found.get("kube-apiserver")
    assert apiserver is not None and apiserver.pid == 30


def test_a_control_plane_container_a_wrapper_hides_from_its_manifest_makes_the_roles_unknown() -> None:
    """Older kops: `/bin/sh -c "mkfifo ...; exec /usr/local/bin/kube-apiserver ..."`: the
    manifest names no component nodeward can match, so the role is unknown, never dropped."""
    binary = ("/usr/local/bin/kube-apiserver", *APISERVER[1:])
    wrapped = ("/bin/sh", "-c", "mkfifo /tmp/pipe; exec " + " ".join(binary))
    kubelet_line = _p(20, "/usr/bin/kubelet", ("/usr/bin/kubelet",), HOST)
    found = _components(kubelet_line + _p(30, binary[0], binary, OTHER) + _manifest_text(wrapped))
    assert isinstance(found, Unavailable), found
    assert "kube-apiserver in a container (pid 30)" in found.reason


def test_two_believed_kubelets_that_disagree_make_both_facts_unavailable_never_a_pick() -> None:
    body = _p(20, "/usr/bin/kubelet", ("kubelet", "--anonymous-auth=true"), HOST)
    body += _p(21, "/usr/bin/kubelet", ("kubelet", "--anonymous-auth=false"), HOST)
    found = _components(body)
    assert isinstance(found, Unavailable) and "2 kubelet processes" in found.reason
    config = kubelet.parse(_section("@nodeward-kubelet 1", body), {})
    assert isinstance(config, Unavailable) and "pids 20, 21" in config.reason


def test_kube_proxies_that_disagree_are_an_error_not_the_first_one() -> None:
    body = _p(20, "/usr/bin/kubelet", ("kubelet",), HOST)
    body += _p(40, "/usr/local/bin/kube-proxy", ("kube-proxy", "--metrics-bind-address=127.0.0.1:10249"),
               OTHER)  # fmt: skip
    body += _p(41, "/usr/local/bin/kube-proxy", ("kube-proxy", "--metrics-bind-address=0.0.0.0:10249"),
               OTHER)  # fmt: skip
    config = kubelet.parse(_section("@nodeward-kubelet 1", body), {})
    assert isinstance(config, kubelet.KubeletConfig) and config.proxy is not None
    assert config.proxy.value is None and "disagree" in config.proxy.source


def test_a_discovery_cut_at_its_cap_is_unavailable_never_absent() -> None:
    cut = "U " + b"more than 64 processes that could be Kubernetes components".hex() + "\n"
    assert isinstance(_components(cut), Unavailable)
    assert isinstance(kubelet.parse(_section("@nodeward-kubelet 1", cut), {}), Unavailable)


def test_the_snippet_lists_possible_components_first_and_skips_mere_link_names() -> None:
    script = kc.SCRIPT
    assert "nw_named" in script and "nw_trustlike" in script and "@ACCOUNTS@" not in script
    assert script.index('nw_proc "${nw_d#/proc/}"') < script.index(
        'for nw_p in $nw_later; do nw_proc "$nw_p"'
    )


@pytest.mark.parametrize(
    ("kind", "who", "trusted"),
    [
        ("kube-apiserver", Identity(996, 996, "kube", 0, 0o755, "/bin/sleep", True), False),
        ("kube-apiserver", Identity(996, 996, "kube", 0, 0o755, "/usr/bin/kube-apiserver", True), True),
        ("etcd", Identity(112, 112, "etcd", 0, 0o755, "/usr/bin/kube-apiserver", True), False),
        ("etcd", Identity(112, 112, "etcd", 0, 0o755, None, True), False),
    ],
)
def test_a_service_account_must_run_its_own_binary(kind: str, who: Identity, trusted: bool) -> None:
    assert (distrust(kind, who) is None) is trusted


def _stat(path: str, uid: int, mode: int, kind: str = "file") -> Stat:
    return Stat(path, mode, kind, uid, uid, "u", "u", 1, abs(hash(path)) % 10_000)


def _kubelet(config: str) -> FactValue:
    body = _p(5, "/usr/bin/kubelet", ("kubelet", f"--config={config}"), HOST)
    body += f"F config.5 {config.encode().hex()}\n{b'kind: KubeletConfiguration'.hex()}\n.\n"
    return kubelet.parse(_section("@nodeward-kubelet 1", body), {})


def _files(path: str, *, root: str = "", dir_uid: int = 0) -> K8sFiles:
    parents = (("/", _stat("/", 0, 0o755, "dir")), ("/etc", _stat("/etc", dir_uid, 0o755, "dir")))
    ref = FileRef("kubelet_config", path, "--config of kubelet", _stat(path, 0, 0o644), parents, root)
    return K8sFiles(
        files=(ref,),
        procs={5: Proc(5, "kubelet", root, 0, "root", 0, "root")},
        refs=(PathRef("kubelet", "config", path, 5, "/proc/5/cmdline"),),
    )


def test_a_fix_edits_the_kubelets_config_only_when_the_same_checks_as_from_flags_pass() -> None:
    facts = {"kubelet": _kubelet("/etc/kubelet.yaml"), "k8s_files": _files("/etc/kubelet.yaml")}
    assert kubelet_config(facts).paths == ("/etc/kubelet.yaml",)
    in_pod = {**facts, "k8s_files": _files("/etc/kubelet.yaml", root="/proc/5/root")}
    refused = kubelet_config(in_pod)
    assert refused.paths == () and "own mount namespace" in refused.refused[0]
    user_dir = {**facts, "k8s_files": _files("/etc/kubelet.yaml", dir_uid=1000)}
    assert kubelet_config(user_dir).paths == () and kubelet_config(user_dir).refused
