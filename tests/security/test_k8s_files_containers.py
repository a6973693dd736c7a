"""Issue 12, the last discovery-trust gap: the k8s_files fact followed the flags of a
control-plane process in another mount namespace (a container) through /proc/<pid>/root
without asking whether a static pod manifest describes it. Absolute symbolic links in
the container resolve against the HOST's root when followed that way, so a root pod
naming itself kube-apiserver with --tls-cert-file=/pod/cert, /pod/cert -> /root/bait,
made root stat and hash (and for --encryption-provider-config read) a host file, and put
it in the report. Same for kube-proxy's --config in the kubelet fact.

Now only processes of the node's own mount namespace name paths; a control-plane static
pod in a container is judged by its manifest's paths under same-path hostPath mounts;
everything else a container names is listed as inside it, unexamined (ERROR).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from agent.facts import k8s_files as kf
from agent.facts import kubelet
from agent.facts.model import RawSection
from tests.fleet.harness import Fleet
from tests.fleet.standin import install_standin, start_standin, stop_standin
from tests.fleet.test_controlplane import KUBELET
from tests.fleet.test_remediate import make_site, node_doc
from tests.security.test_k8s_discovery_trust import start_in_pod

BAIT = "nodeward-bait-4f1c9e: the host's secret, never to be read\n"


@pytest.mark.fleet
def test_a_pod_posing_as_kube_apiserver_never_makes_root_read_a_host_file_through_its_links(
    fleet: Fleet, tmp_path: Path
) -> None:
    node = fleet.start("cp_kubeadm", name="podlinks")
    node.exec(["sh", "-c", "umask 077 && cat > /root/bait.crt"], input=BAIT.encode())
    kubelet_pid = start_standin(node, "kubelet", KUBELET)
    exe = install_standin(node, "kube-apiserver")
    # Inside its own mount namespace the pod's /srv/pod holds absolute links to the bait.
    # Its argv matches no manifest: k8s_components calls it an impostor.
    setup = (
        "mount -t tmpfs pod /srv && mkdir /srv/pod && ln -s /root/bait.crt /srv/pod/ca.crt"
        " && ln -s /root/bait.crt /srv/pod/enc.yaml && "
    )
    argv = [
        "kube-apiserver",
        "--client-ca-file=/srv/pod/ca.crt",
        "--tls-cert-file=/srv/pod/ca.crt",
        "--encryption-provider-config=/srv/pod/enc.yaml",
    ]
    pod = start_in_pod(node, exe, argv, setup=setup)
    try:
        site = make_site(fleet, [node], tmp_path / "site")
        _code, document, err = site.json("scan", checks=())
        text = json.dumps(node_doc(document, node))
        assert node_doc(document, node)["findings"], err[-2000:]
        digest = hashlib.sha256(BAIT.encode()).hexdigest()
        assert "nodeward-bait" not in text and digest[:16] not in text
        assert "/srv/pod" not in text.replace(f"pid {pod} looks like", "")  # named nowhere as a file
        assert f"/proc/{pod}/root" not in text
    finally:
        stop_standin(node, pod)
        stop_standin(node, kubelet_pid)


# --- pure parts ----------------------------------------------------------------------

POD = """apiVersion: v1
kind: Pod
spec:
  containers:
  - name: kube-apiserver
    command:
    - kube-apiserver
    - --tls-cert-file=/etc/kubernetes/pki/apiserver.crt
    - --audit-policy-file=/etc/kubernetes/audit-policy.yaml
    - --encryption-provider-config=/etc/kubernetes/enc/enc.yaml
    env:
    - name: TOKEN
      value: s3cr3t-env
    volumeMounts:
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
    - mountPath: /etc/kubernetes/enc
      name: enc
      subPath: x
  volumes:
  - hostPath: {path: /etc/kubernetes/pki, type: DirectoryOrCreate}
    name: k8s-certs
  - hostPath: {path: /etc/kubernetes/enc}
    name: enc
"""
MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"


def _section(parts: str) -> RawSection:
    text = f"@nodeward-k8s-files 1\n{parts}"
    return RawSection("k8s_files", text.encode(), b"", 0, False)


def _part(name: str, *lines: str) -> str:
    return f"@begin {name}\n" + "".join(f"|{line}\n" for line in lines) + f"@end {name} 0\n"


def test_only_same_path_hostpath_mounts_without_subpath_are_the_hosts_files() -> None:
    assert kf.host_mounts(POD, MANIFEST) == ("/etc/kubernetes/pki",)
    assert kf.visible("/etc/kubernetes/pki/apiserver.crt", ("/etc/kubernetes/pki",))
    assert not kf.visible("/etc/kubernetes/pki-evil/x", ("/etc/kubernetes/pki",))


def test_a_static_pod_in_a_container_is_judged_by_its_manifest_mounts_on_the_host() -> None:
    stat = [
        "41ed 0 0 root root 1 10 /",
        "41ed 0 0 root root 1 11 /etc",
        "41ed 0 0 root root 1 12 /etc/kubernetes",
        "41c0 0 0 root root 1 13 /etc/kubernetes/pki",
        "81a4 0 0 root root 1 14 /etc/kubernetes/pki/apiserver.crt",
        "8180 0 0 root root 1 15 /etc/kubernetes/audit-policy.yaml",
        "8180 0 0 root root 1 16 /etc/kubernetes/enc/enc.yaml",
    ]
    fact = kf.parse(
        _section(
            _part(
                "procs", "proc 40 kube-apiserver container", "inside 40 kube-apiserver tls-cert-file /srv/x"
            )
            + _part("info", "proc 40 kube-apiserver container 0 root 0 root")
            + _part(
                "manifests",
                "mflag tls-cert-file /etc/kubernetes/pki/apiserver.crt " + MANIFEST,
                "mflag encryption-provider-config /etc/kubernetes/enc/enc.yaml " + MANIFEST,
                "manifest kube-apiserver " + MANIFEST,
            )
            + _part("pod1", "path " + MANIFEST, *POD.splitlines())
            + _part("stat", *stat)
            + _part("doc1", "path /etc/kubernetes/enc/enc.yaml", "kind: EncryptionConfiguration")
        ),
        {},
    )
    assert isinstance(fact, kf.K8sFiles), fact
    (proc,) = fact.running("kube-apiserver")
    assert proc.contained and proc.root == ""
    pki = {ref.path: ref for ref in fact.role(kf.PKI)}
    assert "/x" not in pki  # the container's own flag: never a source of paths
    cert = pki["/etc/kubernetes/pki/apiserver.crt"]
    assert cert.stat is not None and not cert.inside and "hostPath" in cert.why
    # Under a subPath mount (not the same file on the host): unknown, never read.
    assert fact.doc(40, "/etc/kubernetes/enc/enc.yaml") is None
    assert fact.inside(40, "/etc/kubernetes/audit-policy.yaml")
    assert not fact.inside(40, "/etc/kubernetes/pki/apiserver.crt")


def test_a_container_no_manifest_describes_names_files_that_are_listed_never_examined() -> None:
    fact = kf.parse(
        _section(
            _part("procs", "proc 33 kube-proxy container", "inside 33 kube-proxy kubeconfig /var/lib/kp/kc")
            + _part("info", "proc 33 kube-proxy container 0 root 0 root")
            # An older snippet's stat of the pod's view must not count either.
            + _part("stat", "81a4 0 0 root root 1 2 /var/lib/kp/kc")
        ),
        {},
    )
    assert isinstance(fact, kf.K8sFiles), fact
    (ref,) = fact.role(kf.PROXY_KUBECONFIG)
    assert ref.inside and ref.stat is None and ref.named
    assert ref.shown.endswith("(inside a container: not examined)")


def _p(pid: int, exe: str, argv: tuple[str, ...], who: str) -> str:
    packed = "".join(f"{arg}\0" for arg in argv).encode().hex()
    return f"P {pid} {exe.encode().hex()} {packed} {who}\n"


def test_a_kube_proxy_pods_config_is_never_taken_from_a_read_through_its_root() -> None:
    config = "/var/lib/kube-proxy/config.conf"
    body = (
        "@nodeward-kubelet 1\n"
        + _p(20, "/usr/bin/kubelet", ("/usr/bin/kubelet",), "0 0 0 755 root host")
        + _p(33, "/usr/local/bin/kube-proxy", ("kube-proxy", f"--config={config}"), "0 0 0 755 root other")
        # Even if a proxyconfig record arrives for it (an older snippet), it is not used.
        + f"F proxyconfig.33 {config.encode().hex()}\n"
        + b"metricsBindAddress: 127.0.0.1:10249\n".hex()
        + "\n.\n"
    )
    found = kubelet.parse(RawSection("kubelet", body.encode(), b"", 0, False), {})
    assert isinstance(found, kubelet.KubeletConfig), found
    assert found.proxy is not None and found.proxy.value is None
    assert "runs in a container" in found.proxy.where
