"""Issue 12 item 1, pure parts: who is believed to be a Kubernetes component, and which
files a fix may take from one (the fleet test is test_kubelet_impostor.py)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.facts import k8s_components as kc
from agent.facts.k8s_files import FileRef, K8sFiles, PathRef, Proc, Stat
from agent.facts.k8s_trust import Identity, distrust
from agent.facts.model import FactValue
from agent.remediate.process_paths import from_flags

ROOT_EXE: dict[str, Any] = dict(exe_uid=0, exe_mode=0o755)  # owned by root, 0755


@pytest.mark.parametrize(
    ("kind", "who", "why"),
    [
        ("kubelet", Identity(1000, 1000, "mallory", 1000, 0o755), "owned by uid 1000"),
        ("kubelet", Identity(0, 0, "root", 1000, 0o755), "owned by uid 1000"),  # root runs a user's file
        ("kubelet", Identity(0, 0, "root", 0, 0o775), "writable by group"),
        ("kubelet", Identity(1000, 1000, "mallory", **ROOT_EXE), "runs as mallory"),  # a real binary, a user
        ("kubelet", Identity(1000, 0, "mallory", **ROOT_EXE), "set-uid"),
        (
            "kubelet",
            Identity(112, 112, "etcd", **ROOT_EXE),
            "runs as etcd",
        ),  # etcd's account is not kubelet's
        ("kubelet", Identity(None, None, "-", None, None), "could not be examined"),
        ("k3s", Identity(1000, 1000, "mallory", **ROOT_EXE), "runs as mallory"),
    ],
)
def test_untrusted_processes_are_not_components(kind: str, who: Identity, why: str) -> None:
    found = distrust(kind, who)
    assert found is not None and why in found


@pytest.mark.parametrize(
    ("kind", "who"),
    [
        ("kubelet", Identity(0, 0, "root", **ROOT_EXE, host_ns=True)),
        ("etcd", Identity(112, 112, "etcd", **ROOT_EXE, exe="/usr/bin/etcd", host_ns=True)),  # Debian's etcd
        (  # RootlessControlPlane
            "kube-apiserver",
            Identity(2001, 2001, "kubeadm-kas", **ROOT_EXE, exe="/bin/kube-apiserver", host_ns=True),
        ),
    ],
)
def test_root_and_documented_service_accounts_are_trusted(kind: str, who: Identity) -> None:
    assert distrust(kind, who) is None


def _hex(text: str) -> str:
    return text.encode().hex()


def test_a_user_kubelet_gives_no_role_no_flags_and_is_reported() -> None:
    argv = "/home/mallory/x/kubelet\0-c\0sleep 900; :\0--config=/etc/passwd\0"
    text = (
        f"P 21 {_hex('/home/mallory/x/kubelet')} {_hex(argv)} 1000 1000 1000 755 mallory\n"
        f"P 22 {_hex('/usr/bin/kubelet')} {_hex('/usr/bin/kubelet')} 0 0 0 755 root host\n"
        f"P 23 {_hex('/usr/bin/kubelet')} {_hex('/usr/bin/kubelet')}\n"  # old record: no identity
    )
    found = kc.assemble(kc.read_records(text))
    assert [c.pid for c in found.components] == [22]
    assert [(i.pid, i.kind) for i in found.impostors] == [(21, "kubelet"), (23, "kubelet")]
    only_impostor = kc.assemble(kc.read_records(text.splitlines()[0]))
    assert only_impostor.roles == () and only_impostor.get("kubelet") is None
    observed = only_impostor.lookup("impostors.count")
    assert observed is not None and observed.value == 1 and "pid 21 looks like kubelet" in observed.source


def _stat(path: str, uid: int, mode: int, kind: str = "file") -> Stat:
    return Stat(path, mode, kind, uid, uid, "u", "u", 1, abs(hash(path)) % 10_000)


def _files(
    path: str, *, dir_mode: int = 0o755, dir_uid: int = 0, kind: str = "file", root: str = ""
) -> K8sFiles:
    parents = (("/", _stat("/", 0, 0o755, "dir")), ("/opt", _stat("/opt", dir_uid, dir_mode, "dir")))
    ref = FileRef(
        "kubelet_config", path, "--config of kubelet", _stat(path, 1000, 0o644, kind), parents, root
    )
    return K8sFiles(
        files=(ref,),
        procs={812: Proc(812, "kubelet", root, 0, "root", 0, "root")},
        refs=(PathRef("kubelet", "config", path, 812, "/proc/812/cmdline"),),
    )


def test_bastion_resolves_a_trusted_kubelets_config_in_a_root_only_directory() -> None:
    facts: dict[str, FactValue] = {"k8s_files": _files("/opt/config.yaml")}
    assert from_flags(["kubelet:--config"], facts).paths == ("/opt/config.yaml",)


@pytest.mark.parametrize(
    ("files", "why"),
    [
        (_files("/opt/config.yaml", dir_mode=0o1777), "someone other than root"),
        (_files("/opt/config.yaml", dir_uid=1000), "someone other than root"),
        (_files("/opt/config.yaml", kind="dir"), "not a regular file"),
        (_files("/opt/config.yaml", root="/proc/812/root"), "own mount namespace"),
        (_files("/opt/../etc/passwd"), "not a plain absolute path"),
    ],
)
def test_bastion_leaves_files_alone_unless_only_root_controls_their_name(files: K8sFiles, why: str) -> None:
    resolved = from_flags(["kubelet:--config"], {"k8s_files": files})
    assert resolved.paths == () and why in " ".join(resolved.refused)


def test_a_flag_of_a_process_the_scan_did_not_trust_is_never_a_source() -> None:
    files = _files("/opt/config.yaml")
    untrusted = K8sFiles(files=files.files, procs={}, refs=files.refs)  # pid 812 not believed
    resolved = from_flags(["kubelet:--config"], {"k8s_files": untrusted})
    assert resolved.paths == () and "not a process the scan trusted" in resolved.refused[0]
