"""Discovery of Kubernetes components from /proc and static pod manifests (issue 4)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.facts import k8s_components as kc
from agent.facts.model import Absent, Observation, RawSection, Unavailable
from agent.facts.registry import FACTS
from agent.facts.spec import read_section

FIXTURES = Path(__file__).parents[1] / "fixtures" / "facts" / "k8s"


def parse_text(text: str, exit_code: int | None = 0, *, truncated: bool = False) -> object:
    section = RawSection("k8s_components", text.encode(), b"", exit_code, truncated)
    return read_section(FACTS["k8s_components"], section, {})


def parse_file(name: str) -> object:
    return parse_text((FIXTURES / name).read_text())


def test_golden_fleet_capture_finds_the_stand_in_kubelet_by_exact_name() -> None:
    found = parse_file("debian12_fleet_kubelet.out")
    assert isinstance(found, kc.K8sComponents)
    kubelet = found.get("kubelet")
    assert kubelet is not None and kubelet.pid == 19 and kubelet.embedded_in is None
    assert kubelet.argv[0] == "/usr/bin/kubelet"  # argv[0] as started, exe is the stand-in file
    assert kubelet.source == "/proc/19/cmdline"
    assert kubelet.flags.get("config") == "/var/lib/kubelet/config.yaml"
    assert kubelet.flags.get("config-dir") == "/etc/kubernetes/kubelet.conf.d"  # the space form
    assert kubelet.flags.all("read-only-port") == ("10255", "0")
    assert found.roles == ("worker",)
    assert found.lookup("kubelet.present") == Observation(True, "/proc/19/cmdline")


def test_golden_fleet_capture_without_kubernetes_is_absent() -> None:
    found = parse_file("debian12_fleet_none.out")
    assert isinstance(found, Absent)
    assert "not running" in found.reason


def test_static_pod_manifests_stand_in_for_processes_that_do_not_run() -> None:
    found = parse_file("kubeadm_control_plane.txt")
    assert isinstance(found, kc.K8sComponents)
    assert [c.kind for c in found.components] == ["kubelet", "etcd", "kube-apiserver"]
    etcd = found.get("etcd")
    assert etcd is not None and etcd.pid is None
    assert etcd.source == "/etc/kubernetes/manifests/etcd.yaml"
    assert etcd.flags.get("client-cert-auth") == "true"
    apiserver = found.get("kube-apiserver")
    assert apiserver is not None and apiserver.flags.get("anonymous-auth") == "true"  # bare boolean
    assert found.roles == ("control-plane", "etcd", "worker")
    # the decoys (a shell mentioning kube-apiserver, kubelet-watchdog) are not components
    assert {c.pid for c in found.components} == {700, None}
    # a hidden editor file is skipped like the kubelet skips it; a broken file is a note
    assert "/etc/kubernetes/manifests/.kube-apiserver.yaml.swp" not in found.manifests
    assert any("notes.txt" in note for note in found.notes)
    observed = found.lookup("etcd.flag.client-cert-auth")
    assert observed is not None and observed.value == "true"
    assert "/etc/kubernetes/manifests/etcd.yaml" in observed.source
    missing = found.lookup("kube-scheduler.present")
    assert missing is not None and missing.value is False
    assert found.lookup("kube-scheduler.flag.bind-address") is None
    assert found.lookup("nonsense.present") is None


def test_a_running_process_wins_over_its_manifest() -> None:
    text = (
        "@nodeward-k8s 1\n"
        "p 9 /usr/local/bin/etcd etcd --client-cert-auth=false\n"
        "f manifest /etc/kubernetes/manifests/etcd.yaml\n"
        "spec: {containers: [{command: [etcd, --client-cert-auth=true]}]}\n.\n"
    )
    found = parse_text(text)
    assert isinstance(found, kc.K8sComponents)
    assert [(c.kind, c.pid) for c in found.components] == [("etcd", 9)]
    assert found.roles == ("etcd",)


def test_exe_name_counts_when_argv0_was_rewritten_and_hyperkube_form() -> None:
    text = (
        "@nodeward-k8s 1\n"
        "p 5 /usr/bin/kubelet kubelet-renamed --read-only-port=0\n"
        "p 6 /usr/local/bin/hyperkube /usr/local/bin/hyperkube kube-proxy"
        " --metrics-bind-address=0.0.0.0:10249\n"
        "p 7 - /opt/bin/kube-scheduler --bind-address=127.0.0.1\n"
    )
    found = parse_text(text)
    assert isinstance(found, kc.K8sComponents)
    assert [c.kind for c in found.components] == ["kubelet", "kube-proxy", "kube-scheduler"]
    proxy = found.get("kube-proxy")
    assert proxy is not None and proxy.flags.get("metrics-bind-address") == "0.0.0.0:10249"


def test_k3s_server_components_come_from_its_journal_lines() -> None:
    apiserver = "--etcd-servers=https://127.0.0.1:2379 --anonymous-auth=false --profiling=false"
    text = (
        "@nodeward-k8s 1\n"
        "p 2234 /usr/local/bin/k3s /usr/local/bin/k3s server\n"
        f'j 2234 time="2025-09-11T17:22:08Z" level=info msg="Running kube-apiserver {apiserver}"\n'
        'j 2234 time="2025-09-11T17:22:09Z" level=info msg="Running kubelet --anonymous-auth=true"\n'
        'j 2234 time="2025-09-11T17:30:00Z" level=info msg="Running kubelet --anonymous-auth=false"\n'
        'j 2234 time="2025-09-11T17:22:09Z" level=info'
        ' msg="Running kube-scheduler --bind-address=127.0.0.1"\n'
    )
    found = parse_text(text)
    assert isinstance(found, kc.K8sComponents)
    kubelet = found.get("kubelet")
    assert kubelet is not None and kubelet.embedded_in == "k3s" and kubelet.pid == 2234
    assert kubelet.flags.get("anonymous-auth") == "false"  # the process's last line
    assert "k3s journal of pid 2234" in kubelet.source
    assert found.roles == ("control-plane", "etcd", "worker")
    assert found.embedders == {"k3s": 2234}


def test_k3s_without_journal_lines_is_marked_unknown() -> None:
    found = parse_text("@nodeward-k8s 1\np 88 /usr/local/bin/k3s /usr/local/bin/k3s agent\n")
    assert isinstance(found, kc.K8sComponents)
    kubelet = found.get("kubelet")
    assert kubelet is not None and not kubelet.argv_known
    assert found.roles == ("worker",)
    assert any("no 'Running kubelet' line" in note for note in found.notes)


def test_rke2_kubelet_is_a_real_process_marked_as_rke2() -> None:
    text = (
        "@nodeward-k8s 1\n"
        "p 1 /var/lib/rancher/rke2/data/v1.30.4/bin/kubelet kubelet --read-only-port=0\n"
        "p 2 /usr/local/bin/rke2 /usr/local/bin/rke2 agent\n"
    )
    found = parse_text(text)
    assert isinstance(found, kc.K8sComponents)
    assert [(c.kind, c.embedded_in) for c in found.components] == [("kubelet", "rke2")]


@pytest.mark.parametrize(
    ("text", "exit_code", "truncated", "why"),
    [
        ("@nodeward-k8s 1\nP 1 zz 00\n", 0, False, "not hex"),
        ("@nodeward-k8s 1\n", 0, True, "cut off"),
        ("", 2, False, "failed (exit 2)"),
        ("garbage\n", 0, False, "no discovery records"),
    ],
)
def test_broken_sections_are_unavailable(text: str, exit_code: int, truncated: bool, why: str) -> None:
    found = parse_text(text, exit_code, truncated=truncated)
    assert isinstance(found, Unavailable) and why in found.reason


def test_hostile_argv_and_manifest_alias_bomb_do_not_escape() -> None:
    argv = "/usr/bin/kubelet\0--tls-cert-file=\x1b]0;pwned\x07\n@nodeward-k8s 1\0"
    text = "@nodeward-k8s 1\nP 3 {} {} 0 0 0 755 root host\n".format(
        "2f7573722f62696e2f6b7562656c6574", argv.encode().hex()
    )
    bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(7)
    )
    text += "F manifest {}\n{}\n.\n".format(b"/etc/kubernetes/manifests/bomb.yaml".hex(), bomb.encode().hex())
    found = parse_text(text)
    assert isinstance(found, kc.K8sComponents)
    kubelet = found.get("kubelet")
    assert kubelet is not None
    assert kubelet.flags.get("tls-cert-file") == "\x1b]0;pwned\x07\n@nodeward-k8s 1"  # data, kept exact
    assert "\x1b" not in kubelet.flags.source("tls-cert-file")  # but shown escaped
    assert any("alias bomb" in note or "more than" in note for note in found.notes)


def test_script_is_posix_sh_and_reads_only() -> None:
    script = kc.SCRIPT
    assert "ps " not in script and "pgrep" not in script  # never ps | grep
    # every redirection goes to /dev/null or another descriptor: nothing is written
    assert re.findall(r"[0-9]?>(?!/dev/null|&)", script) == []
