"""Review of issue 12, findings 2, 3, 4 and 6: who discovery believes to be a Kubernetes
component, on real fleet nodes (tests/fleet/harness.py). The node's sshd session shell is
the host; a "pod" is a process started under `unshare -m` (its own mount namespace, root,
a root-owned executable: everything a root container is that matters here).

* finding 2: a root process in another mount namespace named kubelet was believed, and
  when its pid sorted first it was the kubelet judged (the real one's anonymous auth hid);
* finding 3: that pod's --config made the fix edit the same path on the HOST (/etc/fstab);
* finding 4: an unprivileged user's processes named kubelet filled the 64 candidate slots
  and the running kubelet vanished (Kubernetes "not running", checks not_applicable);
* finding 6: a service account's `exec -a kube-apiserver /bin/sleep` was believed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.harness import Fleet, FleetNode, UserSpec, load_spec
from tests.fleet.standin import _SPAWN, install_standin, start_standin, stop_standin
from tests.fleet.test_controlplane import CONTROL_PLANE_PROCESSES, KUBELET
from tests.fleet.test_remediate import make_site, neglected, node_doc
from tests.fleet.test_remediate_render import run_on

pytestmark = pytest.mark.fleet

USER = "mallory"
ANON_AND_IMPOSTOR = ("kubelet_anonymous_auth_disabled", "k8s_component_impostor_absent")
# Spin the node's pid counter past 100, so the next process gets a pid that the /proc
# glob (lexicographic: "1xx" < "2x") lists before the stand-ins started earlier.
SPIN = "i=0; while [ $i -lt 120 ]; do /bin/true; i=$((i+1)); done"


def statuses(document: dict[str, Any], node: FleetNode) -> dict[str, str]:
    return {f["check_id"]: f["status"] for f in node_doc(document, node)["findings"]}


def start_in_pod(node: FleetNode, exe: str, argv: list[str], setup: str = "") -> int:
    """A stand-in in a mount namespace of its own, as root (what a root pod is)."""
    script = f'{setup}exec python3 -c "$0" "$@"'
    done = node.exec(["unshare", "-m", "--propagation", "private", "sh", "-c", script, _SPAWN, exe, *argv])
    return int(done.stdout.decode().strip())


def node_with_users(fleet: Fleet, name: str, *users: str) -> FleetNode:
    spec = load_spec("k8s_worker")
    spec = dataclasses.replace(spec, users=[*spec.users, *(UserSpec(u, locked=False) for u in users)])
    return fleet.start(spec, name=name)


def test_a_root_kubelet_in_another_mount_namespace_never_stands_in_for_the_nodes_kubelet(
    fleet: Fleet, tmp_path: Path
) -> None:
    node = fleet.start("k8s_worker", name="podkubelet")
    real = start_standin(node, "kubelet", ["/usr/bin/kubelet", "--anonymous-auth=true"])
    exe = install_standin(node, "kubelet")
    node.exec(["sh", "-c", SPIN])
    fake = start_in_pod(node, exe, ["kubelet", "--anonymous-auth=false"])
    try:
        assert min(str(real), str(fake)) == str(fake), "the pod must be listed first for the test to bite"
        site = make_site(fleet, [node], tmp_path / "site")
        _code, document, err = site.json("scan", checks=ANON_AND_IMPOSTOR)
        found = statuses(document, node)
        assert found["kubelet_anonymous_auth_disabled"] == "fail", err[-2000:]  # the real kubelet is judged
        impostor = next(
            f
            for f in node_doc(document, node)["findings"]
            if f["check_id"] == "k8s_component_impostor_absent"
        )
        source = " ".join(e["source"] for e in impostor["evidence"])
        assert impostor["status"] == "fail" and f"pid {fake} looks like kubelet" in source, impostor
        assert "another mount namespace" in source
    finally:
        stop_standin(node, fake)
        stop_standin(node, real)


POD_CONFIG = (
    "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
    "authentication:\n  anonymous:\n    enabled: true\n"
)


def test_a_pod_kubelets_config_path_is_never_the_host_file_a_fix_edits(fleet: Fleet, tmp_path: Path) -> None:
    node = neglected(fleet, "podcfg")  # a real (stand-in) kubelet under systemd's stand-in
    exe = install_standin(node, "kubelet")
    node.exec(["sh", "-c", "cat > /root/pod-view.yaml"], input=POD_CONFIG.encode())
    node.exec(["sh", "-c", SPIN])
    fake = start_in_pod(
        node, exe, ["kubelet", "--config=/etc/fstab"], setup="mount --bind /root/pod-view.yaml /etc/fstab && "
    )
    try:
        before = node.read_file("/etc/fstab")
        site = make_site(fleet, [node], tmp_path / "site")
        out = tmp_path / "scripts"
        code, _stdout, err = site.nodeward("render", "--out", str(out), checks=(ANON_AND_IMPOSTOR[0],))
        assert code == 0, err[-2000:]
        rendered = out / "podcfg.sh"
        script = rendered.read_text() if rendered.exists() else ""
        assert "/etc/fstab" not in script, script[-3000:]
        if script:  # only the real kubelet's own config may be the file a fix plans to edit
            done = run_on(node, script, "NW_MODE=plan")
            assert "/etc/fstab" not in done.stdout.decode()
        assert node.read_file("/etc/fstab") == before
    finally:
        stop_standin(node, fake)


FLOOD = r"""
mkdir -p ~/bin && ln -sf /bin/sleep ~/bin/kubelet
kept=0
while [ "$kept" -lt 70 ]; do
  bash -c "exec -a $2 ~/bin/kubelet 900" </dev/null >/dev/null 2>&1 &
  p=$!
  # keep only pids that the /proc/[0-9]* glob lists before the kubelet's
  if [ "$(printf '%s\n%s\n' "$p" "$1" | LC_ALL=C sort | head -n1)" = "$p" ]; then
    kept=$((kept+1)); echo "$p"
  else
    kill "$p"
  fi
done
"""
HIDE_CHECKS = (*ANON_AND_IMPOSTOR, "kubelet_config_file_mode_restricted")


@pytest.mark.parametrize("argv0", ["sleep", "kubelet"])
def test_a_users_processes_named_kubelet_cannot_hide_the_running_kubelet(
    fleet: Fleet, tmp_path: Path, argv0: str
) -> None:
    node = node_with_users(fleet, f"hide{argv0[:3]}", USER)
    kubelet = ["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml", "--anonymous-auth=true"]
    pid = start_standin(node, "kubelet", kubelet)
    flood: list[int] = []
    try:
        site = make_site(fleet, [node], tmp_path / "site")
        _code, before, _err = site.json("scan", checks=HIDE_CHECKS)
        assert node_doc(before, node)["facts"]["roles"] == "worker"
        done = node.exec(["runuser", "-u", USER, "--", "bash", "-c", f"cd; {FLOOD}", "sh", str(pid), argv0])
        flood = [int(word) for word in done.stdout.decode().split()]
        _code, after, err = site.json("scan", checks=HIDE_CHECKS)
        result = node_doc(after, node)
        assert result["facts"]["roles"] == "worker", err[-2000:]  # the kubelet is still seen
        found = statuses(after, node)
        assert found["kubelet_anonymous_auth_disabled"] == "fail", found  # and still judged
        assert found["kubelet_config_file_mode_restricted"] != "not_applicable", found
        if argv0 == "kubelet":  # named like one, run by a user: reported, never believed
            assert found["k8s_component_impostor_absent"] == "fail", found
    finally:
        for started in flood:  # by pid, each one this test started
            stop_standin(node, started)
        stop_standin(node, pid)


def test_a_service_account_running_another_binary_under_a_components_name_is_not_believed(
    fleet: Fleet, tmp_path: Path
) -> None:
    node = node_with_users(fleet, "svcacct", "kube")
    # A link named kube-apiserver to a root-owned binary (the pausing stand-in, which,
    # unlike sleep, accepts any flag): comm, argv[0] and the name are the component's, the
    # executable is root's, the account is one k8s_trust.yaml lists (Fedora's packages).
    pause = install_standin(node, "pause")
    spawn = (
        f'd=$(mktemp -d) && ln -s {pause} "$d/kube-apiserver" && setsid "$d/kube-apiserver"'
        " --encryption-provider-config=/etc/shadow </dev/null >/dev/null 2>&1 & echo $!"
    )
    fake = int(node.exec(["runuser", "-u", "kube", "--", "sh", "-c", spawn]).stdout.decode().split()[-1])
    try:
        site = make_site(fleet, [node], tmp_path / "site")
        _code, document, err = site.json("scan", checks=("k8s_component_impostor_absent",))
        result = node_doc(document, node)
        assert "control-plane" not in result["facts"]["roles"], (result["facts"], err[-2000:])
        finding = result["findings"][0]
        source = " ".join(e["source"] for e in finding["evidence"])
        assert finding["status"] == "fail" and f"pid {fake} looks like kube-apiserver" in source, finding
        assert "service account kube" in source
    finally:
        stop_standin(node, fake)


def test_a_control_plane_static_pod_in_a_container_is_still_believed(fleet: Fleet, tmp_path: Path) -> None:
    """Guard: kubeadm runs the API server as a static pod in a container. Its argv is the
    manifest's command, so it is believed; the same name with other flags is not."""
    node = fleet.start("cp_kubeadm", name="cpstatic")
    kubelet = start_standin(node, "kubelet", KUBELET)
    exe = install_standin(node, "kube-apiserver")
    argv = CONTROL_PLANE_PROCESSES["kube-apiserver"]
    pod = start_in_pod(node, exe, argv)
    rogue = start_in_pod(node, exe, [*argv, "--anonymous-auth=true"])
    try:
        site = make_site(fleet, [node], tmp_path / "site")
        _code, document, err = site.json("scan", checks=("k8s_component_impostor_absent",))
        result = node_doc(document, node)
        assert "control-plane" in result["facts"]["roles"], (result["facts"], err[-2000:])
        source = " ".join(e["source"] for e in result["findings"][0]["evidence"])
        assert f"pid {rogue} looks like kube-apiserver" in source and f"pid {pod} " not in source, source
        assert "not that of a static pod manifest" in source
    finally:
        for pid in (rogue, pod, kubelet):
            stop_standin(node, pid)
