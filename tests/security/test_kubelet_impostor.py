"""Issue 12 item 1: a process NAMED kubelet must never steer what root touches.

Reproduced exactly on a real fleet node: an unprivileged user copies /bin/bash to
~/x/kubelet and to a set-uid ~/x/cfg, and starts `~/x/kubelet -c 'sleep 900; :'
--config=$HOME/x/cfg`, and a second one with --config=/etc/passwd. Before the fix a
scan called the node a worker and `--remediate` made ~/x/cfg a root-owned set-uid shell
and /etc/passwd 0600. Now the scan reports the impostors and no fix touches their
files (sha256, mode and owner unchanged). Then a legitimate root kubelet's --config is
swapped for a symbolic link between the render and the run of the fix script: the
node-side re-check refuses it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from tests.fleet.harness import Fleet, FleetNode, UserSpec, load_spec
from tests.fleet.standin import start_standin, stop_standin
from tests.fleet.test_remediate import make_site, node_doc
from tests.fleet.test_remediate_render import run_on

pytestmark = pytest.mark.fleet

USER = "mallory"
HOME = f"/home/{USER}"
# The reproduction, verbatim, as the user (stdio closed so exec returns).
IMPOSTOR = """
mkdir -p ~/x && cp /bin/bash ~/x/kubelet && cp /bin/bash ~/x/cfg && chmod 4755 ~/x/cfg
setsid ~/x/kubelet -c 'sleep 900; :' "--config=$1" </dev/null >/dev/null 2>&1 &
echo $!
"""
WATCHED = (f"{HOME}/x/cfg", "/etc/passwd")
OWNER_AND_MODE = ("kubelet_config_file_owner_root", "kubelet_config_file_mode_restricted")


def state(node: FleetNode, path: str) -> tuple[str, str]:
    """(sha256 of the content, `stat` mode owner type) without following links."""
    data = node.exec(["cat", "--", path]).stdout
    meta = node.exec(["stat", "-c", "%a %U:%G %F", "--", path]).stdout.decode().strip()
    return hashlib.sha256(data).hexdigest(), meta


def start_impostor(node: FleetNode, config: str) -> int:
    done = node.exec(["runuser", "-u", USER, "--", "sh", "-c", f"cd; {IMPOSTOR}", "sh", config])
    return int(done.stdout.decode().split()[-1])


def node_with_user(fleet: Fleet, name: str) -> FleetNode:
    spec = load_spec("k8s_worker")
    spec = dataclasses.replace(spec, users=[*spec.users, UserSpec(USER, locked=False)])
    return fleet.start(spec, name=name)


def test_fake_kubelet_from_a_user_changes_nothing_on_remediate(fleet: Fleet, tmp_path: Path) -> None:
    node = node_with_user(fleet, "impostor")
    pids = [start_impostor(node, f"{HOME}/x/cfg"), start_impostor(node, "/etc/passwd")]
    try:
        before = {path: state(node, path) for path in WATCHED}
        assert before[f"{HOME}/x/cfg"][1] == f"4755 {USER}:{USER} regular file"
        site = make_site(fleet, [node], tmp_path / "site")
        _code, document, err = site.remediate(checks=OWNER_AND_MODE)
        after = {path: state(node, path) for path in WATCHED}
        assert after == before, err[-2000:]  # not a byte, bit or owner of either file
        result = node_doc(document, node)
        assert "worker" not in (result.get("summary") or {}).get("roles", ""), result.get("summary")
        remediation = result.get("remediation") or {}
        assert f"{HOME}/x/cfg" not in str(remediation) and "/etc/passwd" not in str(remediation)
    finally:
        for pid in pids:
            stop_standin(node, pid)


def test_fake_kubelet_is_reported_as_an_impostor(fleet: Fleet, tmp_path: Path) -> None:
    node = node_with_user(fleet, "reported")
    pids = [start_impostor(node, f"{HOME}/x/cfg"), start_impostor(node, "/etc/passwd")]
    try:
        site = make_site(fleet, [node], tmp_path / "site")
        _code, document, err = site.json("scan", checks=("k8s_component_impostor_absent",))
        finding = next(f for f in node_doc(document, node)["findings"])
        assert finding["check_id"] == "k8s_component_impostor_absent", err[-2000:]
        assert finding["status"] == "fail", finding
        source = " ".join(e["source"] for e in finding["evidence"])
        assert all(f"pid {pid} looks like kubelet" in source for pid in pids), source
        assert "executable is owned by uid" in source and "not root" in source
    finally:
        for pid in pids:
            stop_standin(node, pid)


SWAP_DIR = "/opt/k8s/swap"
SWAP_CONFIG = f"{SWAP_DIR}/config.yaml"
KUBELET_CONFIG = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"


def test_config_swapped_for_a_symlink_after_the_plan_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    node = node_with_user(fleet, "swap")
    # A genuine root kubelet (root-owned stand-in) whose --config the user owns: a real
    # finding the owner fix is for, in a directory only root can change.
    node.exec(
        ["sh", "-c", f"mkdir -p -m 0755 {SWAP_DIR} && cat > {SWAP_CONFIG}"], input=KUBELET_CONFIG.encode()
    )
    node.exec(["chown", f"{USER}:{USER}", SWAP_CONFIG])
    node.exec(["chmod", "0644", SWAP_CONFIG])
    pid = start_standin(node, "kubelet", ["/usr/bin/kubelet", f"--config={SWAP_CONFIG}"])
    try:
        site = make_site(fleet, [node], tmp_path / "site")
        out = tmp_path / "scripts"
        code, _stdout, err = site.nodeward("render", "--out", str(out), checks=OWNER_AND_MODE)
        assert code == 0, err[-2000:]
        script = (out / "swap.sh").read_text()
        assert SWAP_CONFIG in script  # the bastion resolved the trusted kubelet's file
        # Between the plan and the apply the name becomes a link to /etc/passwd.
        node.exec(["ln", "-sfn", "/etc/passwd", SWAP_CONFIG])
        before = state(node, "/etc/passwd")
        done = run_on(node, script)
        text = done.stdout.decode()
        assert state(node, "/etc/passwd") == before, text[-3000:]
        assert "\trefused\t" in text and "symbolic link" in text, text[-3000:]
        assert node.exec(["test", "-L", SWAP_CONFIG], check=False).returncode == 0
    finally:
        stop_standin(node, pid)
