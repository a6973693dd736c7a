"""k8s_files: which files each role judges, parsed from real captured sections.

The goldens in tests/fixtures/facts/k8s_files/ are the snippet's real output on fleet
nodes (see the README there). These tests pin what a scan of each layout judges, and
that hostile or broken output never crashes the parser or turns into a PASS.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.facts import k8s_files as kf
from agent.facts.k8s_files import FileRef, K8sFiles, Stat
from agent.facts.model import Absent, RawSection, Unavailable
from agent.facts.registry import FACTS
from agent.facts.spec import read_section

GOLDEN = Path(__file__).parents[1] / "fixtures" / "facts" / "k8s_files"


def section(data: bytes, exit_code: int | None = 0, truncated: bool = False) -> RawSection:
    return RawSection("k8s_files", data, b"", exit_code, truncated)


def golden(name: str) -> K8sFiles:
    fact = kf.parse(section((GOLDEN / name).read_bytes()), {})
    assert isinstance(fact, K8sFiles), fact
    return fact


def by_role(fact: K8sFiles, role: str) -> dict[str, FileRef]:
    return {ref.path: ref for ref in fact.role(role)}


def test_kubeadm_control_plane_files_come_from_the_processes() -> None:
    fact = golden("debian12_kubeadm_control_plane.out")
    kubelet = {p.kind: p for p in fact.procs.values()}
    assert set(kubelet) == {"kubelet", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
    config = by_role(fact, kf.KUBELET_CONFIG)["/var/lib/kubelet/config.yaml"]
    assert config.named and config.why.startswith("--config of kubelet (pid ")
    assert config.stat is not None and config.stat.text == "0600 root:root"
    ca = by_role(fact, kf.KUBELET_CLIENT_CA)["/etc/kubernetes/pki/ca.crt"]
    assert ca.why.startswith("clientCAFile in /var/lib/kubelet/config.yaml")
    super_admin = by_role(fact, kf.ADMIN_KUBECONFIG)["/etc/kubernetes/super-admin.conf"].stat
    assert super_admin is not None and super_admin.text == "0644 root:root"
    data_dir = by_role(fact, kf.ETCD_DATA_DIR)["/var/lib/etcd"]
    assert data_dir.sort == "dir" and data_dir.stat is not None and data_dir.stat.mode == 0o700
    audit = by_role(fact, kf.AUDIT_LOG)
    assert set(audit) == {"/var/log/kubernetes/audit", "/var/log/kubernetes/audit/audit.log"}
    socket = by_role(fact, kf.RUNTIME_SOCKET)["/var/run/containerd/containerd.sock"]
    assert socket.stat is not None and socket.stat.kind == "socket" and socket.stat.mode == 0o660
    manifests = by_role(fact, kf.STATIC_POD_MANIFEST)
    assert {p for p, r in manifests.items() if r.sort != "dir"} == {
        f"/etc/kubernetes/manifests/{n}.yaml"
        for n in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
    }
    # The bootstrap kubeconfig is named by kubeadm's flags but deleted after the join.
    assert by_role(fact, kf.KUBELET_BOOTSTRAP)["/etc/kubernetes/bootstrap-kubelet.conf"].stat is None


def test_pki_keys_named_by_flags_say_which_flag_and_the_rest_come_from_the_directory() -> None:
    fact = golden("debian12_kubeadm_control_plane.out")
    pki = by_role(fact, kf.PKI)
    assert pki["/etc/kubernetes/pki/sa.key"].why.startswith(
        "--service-account-signing-key-file of kube-apiserver"
    )
    assert pki["/etc/kubernetes/pki/sa.key"].sort == "key"
    assert pki["/etc/kubernetes/pki/sa.pub"].sort == "cert"
    stray = pki["/etc/kubernetes/pki/front-proxy-ca.key"]
    assert stray.sort == "key" and stray.why == "in /etc/kubernetes/pki (standard location)"
    assert stray.stat is not None and stray.stat.mode == 0o644
    assert pki["/etc/kubernetes/pki/etcd"].sort == "dir"


def test_static_pods_only_the_control_plane_paths_come_from_the_manifests() -> None:
    fact = golden("debian12_kubeadm_control_plane_static_pods_only.out")
    assert {p.kind for p in fact.procs.values()} == {"kubelet"}
    assert set(fact.manifests.values()) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    }
    data_dir = by_role(fact, kf.ETCD_DATA_DIR)["/var/lib/etcd"]
    assert data_dir.why == "--data-dir in /etc/kubernetes/manifests/etcd.yaml"
    scheduler = by_role(fact, kf.SCHEDULER_KUBECONFIG)["/etc/kubernetes/scheduler.conf"]
    assert scheduler.why == "--kubeconfig in /etc/kubernetes/manifests/kube-scheduler.yaml"


def test_kube_proxy_in_its_own_mount_namespace_names_files_that_are_never_examined() -> None:
    # Captured before issue 12's last fix, when the snippet read through /proc/<pid>/root:
    # the parser must not judge those stats either (a pod's links resolve on the host).
    fact = golden("debian12_worker_kube_proxy_pod.out")
    (proxy,) = fact.running("kube-proxy")
    assert proxy.contained and proxy.root == ""
    (ref,) = fact.role(kf.PROXY_KUBECONFIG)
    assert ref.path == "/var/lib/kube-proxy/kubeconfig.conf" and ref.inside and ref.stat is None
    assert ref.shown == "/var/lib/kube-proxy/kubeconfig.conf (inside a container: not examined)"
    assert "inside its container, not examined" in ref.why


def test_rke2_layout_uses_the_config_dir_and_skips_nothing_it_names() -> None:
    fact = golden("rke2_agent_layout.out")
    config = by_role(fact, kf.KUBELET_CONFIG)
    assert "/var/lib/rancher/rke2/agent/etc/kubelet.conf.d/00-rke2-defaults.conf" in config
    ca = by_role(fact, kf.KUBELET_CLIENT_CA)
    assert list(ca) == ["/var/lib/rancher/rke2/agent/client-ca.crt"]
    assert set(by_role(fact, kf.KUBELET_PKI)) == {
        "/var/lib/rancher/rke2/agent/serving-kubelet.crt",
        "/var/lib/rancher/rke2/agent/serving-kubelet.key",
    }
    assert list(by_role(fact, kf.RUNTIME_SOCKET)) == ["/run/k3s/containerd/containerd.sock"]


def test_eks_layout_reads_json_config_and_space_separated_flags() -> None:
    fact = golden("eks_al2023_layout.out")
    assert set(by_role(fact, kf.KUBELET_KUBECONFIG)) == {"/var/lib/kubelet/kubeconfig"}
    config = by_role(fact, kf.KUBELET_CONFIG)
    assert "/etc/kubernetes/kubelet/config.json" in config
    assert "/etc/kubernetes/kubelet/config.json.d/00-nodeadm.conf" in config
    # The clientCAFile sat in the middle of a JSON line: found anyway.
    assert list(by_role(fact, kf.KUBELET_CLIENT_CA)) == ["/etc/kubernetes/pki/ca.crt"]


def test_no_kubernetes_is_absent_not_a_failure() -> None:
    fact = kf.parse(section((GOLDEN / "debian12_no_kubernetes.out").read_bytes()), {})
    assert isinstance(fact, Absent)


def test_the_encryption_key_never_leaves_the_node() -> None:
    data = (GOLDEN / "debian12_kubeadm_control_plane.out").read_bytes()
    assert b'secret: "<redacted>"' in data
    assert b"bm9kZXdhcmQtZmxlZXQtZXRjZC1rZXktMzJieXRlcyE=" not in data
    doc = golden("debian12_kubeadm_control_plane.out").docs["/etc/kubernetes/enc/encryption.yaml"]
    assert "aescbc" in doc.text and not doc.truncated


# --- building blocks ----------------------------------------------------------------------


def stat(path: str, mode: int, *, kind: str = "file", uid: int = 0, owner: str = "root") -> Stat:
    return Stat(path, mode, kind, uid, uid, owner, owner, 1, hash(path) & 0xFFFF)


def ref_in(*parents: tuple[str, int, int]) -> FileRef:
    chain = tuple(
        (p, stat(p, mode, kind="dir", uid=uid, owner="root" if uid == 0 else "u")) for p, mode, uid in parents
    )
    return FileRef("kubelet_config", "/x/y/f", "test", stat("/x/y/f", 0o644), chain)


@pytest.mark.parametrize(
    ("parents", "expected"),
    [
        ((("/", 0o755, 0), ("/x", 0o755, 0), ("/x/y", 0o700, 0)), ("/x/y", "every non-root user")),
        ((("/", 0o755, 0), ("/x", 0o750, 0), ("/x/y", 0o755, 0)), ("/x", "users outside group root")),
        ((("/", 0o755, 0), ("/x", 0o700, 1000), ("/x/y", 0o755, 0)), ("/x", "users outside group u")),
        ((("/", 0o755, 0), ("/x", 0o711, 0), ("/x/y", 0o755, 0)), None),
    ],
)
def test_barrier_names_the_first_directory_that_keeps_users_out(
    parents: tuple[tuple[str, int, int], ...], expected: tuple[str, str] | None
) -> None:
    found = ref_in(*parents).barrier()
    assert (None if found is None else (found[0], found[2])) == expected


def records(*lines: str, parts: str = "") -> bytes:
    body = "\n".join(f"|{line}" for line in lines)
    return f"@nodeward-k8s-files 1\n{parts}@begin stat\n{body}\n@end stat 0\n".encode()


def test_a_standard_location_is_ignored_when_the_running_process_names_another_file() -> None:
    parts = (
        "@begin procs\n|proc 7 kubelet\n|flag 7 kubelet kubeconfig /etc/kubernetes/node.conf\n@end procs 0\n"
        "@begin info\n|proc 7 kubelet - 0 root 0 root\n@end info 0\n"
        "@begin lists\n|kubelet_kubeconfig 0 /etc/kubernetes/kubelet.conf\n@end lists 0\n"
    )
    fact = kf.parse(
        section(
            records(
                "81a4 0 0 root root 1 2 /etc/kubernetes/node.conf",
                "8180 0 0 root root 1 3 /etc/kubernetes/kubelet.conf",
                parts=parts,
            )
        ),
        {},
    )
    assert isinstance(fact, K8sFiles)
    assert [r.path for r in fact.role(kf.KUBELET_KUBECONFIG)] == ["/etc/kubernetes/node.conf"]


def test_one_file_under_two_names_is_judged_once() -> None:
    parts = (
        "@begin lists\n|kubelet_service 0 /lib/systemd/system/kubelet.service\n"
        "|kubelet_service 0 /usr/lib/systemd/system/kubelet.service\n@end lists 0\n"
    )
    fact = kf.parse(
        section(
            records(
                "8180 0 0 root root 5 9 /lib/systemd/system/kubelet.service",
                "8180 0 0 root root 5 9 /usr/lib/systemd/system/kubelet.service",
                parts=parts,
            )
        ),
        {},
    )
    assert isinstance(fact, K8sFiles)
    assert [r.path for r in fact.role(kf.KUBELET_SERVICE)] == ["/lib/systemd/system/kubelet.service"]


def test_flag_values_that_are_not_plain_paths_are_reported_not_used() -> None:
    parts = (
        "@begin procs\n|proc 7 kubelet\n|unsafe 7 kubelet config\n@end procs 0\n"
        "@begin info\n|proc 7 kubelet - 0 root 0 root\n@end info 0\n"
    )
    fact = kf.parse(section(records("41ed 0 0 root root 1 1 /", parts=parts)), {})
    assert isinstance(fact, K8sFiles)
    assert fact.unusable == ("--config of kubelet (pid 7)",) and not fact.role(kf.KUBELET_CONFIG)


def test_marker_lines_inside_a_document_stay_document_text() -> None:
    """Every node line is prefixed with `|`, so a file cannot forge a stat record."""
    forged = (
        "@begin info\n|proc 7 kube-apiserver - 0 root 0 root\n@end info 0\n"
        "@begin doc1\n|path /etc/kubernetes/audit-policy.yaml\n|@end doc1 0\n|@begin stat\n"
        "|8180 0 0 root root 1 1 /etc/kubernetes/admin.conf\n@end doc1 0\n"
        "@begin lists\n|admin_kubeconfig 0 /etc/kubernetes/admin.conf\n@end lists 0\n"
    )
    data = (
        b"@nodeward-k8s-files 1\n"
        + forged.encode()
        + b"@begin stat\n|41ed 0 0 root root 1 1 /\n@end stat 0\n"
    )
    fact = kf.parse(section(data), {})
    assert isinstance(fact, K8sFiles)
    assert not fact.role(kf.ADMIN_KUBECONFIG)  # the only admin.conf "stat" was inside the document
    assert "@begin stat" in fact.docs["/etc/kubernetes/audit-policy.yaml"].text


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (section(b"", exit_code=2), Unavailable),
        (section(b"something else\n"), Unavailable),
        (section(records("41ed 0 0 root root 1 1 /"), truncated=True), Unavailable),
        (section(records("41ed 0 0 root root 1 1 /"), exit_code=None), Unavailable),
        (section(b"@nodeward-k8s-files 1\n@begin stat\n|41ed 0 0 root root 1 1 /\n"), Unavailable),
        (section(records("41ed 0 0 root root 1 1 /")), Absent),
    ],
)
def test_broken_sections_are_unavailable_never_a_pass(raw: RawSection, kind: type) -> None:
    assert isinstance(read_section(FACTS["k8s_files"], raw, {}), kind)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes) -> None:
    kf.parse(section(b"@nodeward-k8s-files 1\n" + data), {})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), max_size=40), st.text(max_size=40))
def test_mangled_golden_lines_never_crash_the_parser(drop: list[int], junk: str) -> None:
    lines = (GOLDEN / "debian12_kubeadm_control_plane.out").read_text().split("\n")
    for index in drop:
        if index < len(lines):
            lines[index] = lines[index][: len(junk)] + junk
    kf.parse(section("\n".join(lines).encode()), {})


def test_the_snippet_is_posix_sh() -> None:
    done = subprocess.run(["sh", "-n"], input=kf.SCRIPT.encode(), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()


def test_etcd_data_dir_from_its_environment_when_no_flag_names_it() -> None:
    parts = (
        "@begin procs\n|proc 9 etcd\n@end procs 0\n"
        "@begin info\n|proc 9 etcd - 998 etcd 998 etcd\n|env 9 ETCD_DATA_DIR=/srv/etcd\n@end info 0\n"
    )
    fact = kf.parse(section(records("41c0 998 998 etcd etcd 1 4 /srv/etcd", parts=parts)), {})
    assert isinstance(fact, K8sFiles)
    (ref,) = fact.role(kf.ETCD_DATA_DIR)
    assert ref.path == "/srv/etcd" and ref.why == "ETCD_DATA_DIR in the environment of etcd (pid 9)"
    assert fact.env == {9: {"ETCD_DATA_DIR": "/srv/etcd"}}
