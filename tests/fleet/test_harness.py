"""The fleet harness itself: real sshd nodes start, isolate their files and clean up."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.fleet.harness import (
    LOG_ACCEPTED_PUBLICKEY,
    LOG_CONNECTION,
    LOG_DIRECT_TCPIP,
    LOG_EXEC_REQUEST,
    Fleet,
    FleetError,
    FleetKeys,
    FleetNode,
    load_spec,
)

pytestmark = pytest.mark.fleet


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _host_mounts() -> str:
    return Path("/proc/self/mountinfo").read_text()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _ns_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def test_scanner_reads_the_nodes_own_sshd_config_through_sudo(fleet: Fleet) -> None:
    base = load_spec("debian12_default")
    # A marker makes the node's file differ from this host's stock copy, so the test
    # cannot pass by reading the host's /etc.
    marker = f"# fleet marker {os.urandom(6).hex()}\n"
    node = fleet.start(load_spec("debian12_default", sshd_config=base.sshd_config + marker))

    result = fleet.ssh(node, "sudo -n cat /etc/ssh/sshd_config")

    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == base.sshd_config + marker
    assert node.read_file("/etc/ssh/sshd_config") == result.stdout
    assert marker not in Path("/etc/ssh/sshd_config").read_text()
    # The documented log lines: exactly one of each for one `ssh host cmd`, the
    # harness's own readiness probe not counted.
    assert node.count_log(LOG_CONNECTION) == 1
    assert node.count_log(LOG_ACCEPTED_PUBLICKEY) == 1
    assert node.count_log(LOG_EXEC_REQUEST) == 1


def test_client_is_strict_and_the_known_hosts_file_is_what_makes_login_work(fleet: Fleet) -> None:
    node = fleet.start("debian12_default")
    empty = fleet.workdir / "empty_known_hosts"
    empty.write_text("")

    refused = fleet.ssh(node, "touch /tmp/should-not-exist", known_hosts=empty)

    assert refused.returncode == 255
    assert b"Host key verification failed" in refused.stderr
    assert node.count_log(LOG_EXEC_REQUEST) == 0
    assert fleet.ssh(node, "true").returncode == 0


def test_only_the_bastion_key_is_authorized(fleet: Fleet, fleet_keys: FleetKeys) -> None:
    node = fleet.start("debian12_default")

    wrong = fleet.ssh(node, "true", key="other")

    assert wrong.returncode == 255
    assert b"Permission denied (publickey" in wrong.stderr
    assert node.count_log(LOG_ACCEPTED_PUBLICKEY) == 0
    # The encrypted key really needs its passphrase (ssh-keygen -y derives the public key).
    derive = ["ssh-keygen", "-y", "-f", str(fleet_keys.encrypted), "-P"]
    assert subprocess.run([*derive, ""], capture_output=True, check=False).returncode != 0
    good = subprocess.run([*derive, FleetKeys.PASSPHRASE], capture_output=True, check=True)
    assert good.stdout.split()[:2] == fleet_keys.public_line("encrypted").encode().split()[:2]


def test_nosudo_node_refuses_sudo(fleet: Fleet) -> None:
    node = fleet.start("nosudo")

    who = fleet.ssh(node, "id -un")
    sudo = fleet.ssh(node, "sudo -n true")

    assert who.stdout == b"scanner\n"
    assert sudo.returncode == 1
    assert b"a password is required" in sudo.stderr


def test_become_password_node_wants_the_password_on_stdin(fleet: Fleet) -> None:
    node = fleet.start("become_password")

    without = fleet.ssh(node, "sudo -n true")
    wrong = fleet.ssh(node, "sudo -S -p '' id -u", input=b"not-the-password\n")
    right = fleet.ssh(node, "sudo -S -p '' id -u", input=b"Hunter2-correct-horse\n")

    assert without.returncode == 1 and b"a password is required" in without.stderr
    assert wrong.returncode == 1
    assert right.returncode == 0 and right.stdout == b"0\n", right.stderr


def test_two_nodes_see_different_files_and_effective_settings(fleet: Fleet) -> None:
    weak = fleet.start("weak")
    hardened = fleet.start("hardened")
    known = fleet.known_hosts([weak, hardened])

    configs = {}
    effective = {}
    for node in (weak, hardened):
        cat = fleet.ssh(node, "sudo -n cat /etc/ssh/sshd_config", known_hosts=known)
        assert cat.returncode == 0, cat.stderr
        configs[node.name] = cat.stdout.decode()
        dump = fleet.ssh(node, "sudo -n /usr/sbin/sshd -T", known_hosts=known)
        assert dump.returncode == 0, dump.stderr
        effective[node.name] = dict(
            line.split(" ", 1) for line in dump.stdout.decode().splitlines() if " " in line
        )

    assert configs["weak"] == weak.spec.sshd_config
    assert configs["hardened"] == hardened.spec.sshd_config
    assert configs["weak"] != configs["hardened"]
    assert effective["weak"]["passwordauthentication"] == "yes"
    assert effective["weak"]["permitrootlogin"] == "yes"
    assert effective["weak"]["maxauthtries"] == "10"
    assert effective["hardened"]["passwordauthentication"] == "no"
    assert effective["hardened"]["permitrootlogin"] == "no"
    assert effective["hardened"]["maxauthtries"] == "3"
    assert hardened.exec(["stat", "-c", "%a", "/etc/ssh/sshd_config"]).stdout == b"600\n"
    # weak's cloud-init drop-in is weak's alone; the host's sshd_config.d is untouched.
    drop_in = "/etc/ssh/sshd_config.d/50-cloud-init.conf"
    assert weak.read_file(drop_in) == b"PasswordAuthentication yes\n"
    assert hardened.exec(["test", "-e", drop_in], check=False).returncode == 1
    assert not Path(drop_in).exists()


def test_writes_inside_a_node_never_reach_the_host(fleet: Fleet) -> None:
    watched = ["/etc/ssh/sshd_config", "/etc/passwd", "/etc/shadow", "/etc/sudoers"]
    before = {path: _sha256(path) for path in watched}
    node = fleet.start("debian12_default")

    # What a remediation does: edit sshd_config, add an account, drop a sudoers file.
    result = fleet.ssh(
        node,
        "sudo -n sh -c 'echo PermitRootLogin no >> /etc/ssh/sshd_config"
        ' && useradd -M fleetprobe && echo "fleetprobe ALL=(ALL) ALL" > /etc/sudoers.d/probe\'',
    )

    assert result.returncode == 0, result.stderr
    assert node.read_file("/etc/ssh/sshd_config").endswith(b"PermitRootLogin no\n")
    assert b"\nfleetprobe:" in node.read_file("/etc/passwd")
    # The writes went to the node's upper directory ...
    assert (node.root / "upper/etc/sudoers.d/probe").is_file()
    # ... and not to the host, whose files are byte-identical.
    assert {path: _sha256(path) for path in watched} == before
    assert not Path("/etc/sudoers.d/probe").exists()
    assert "fleetprobe" not in Path("/etc/passwd").read_text()
    # The host never saw the node's mounts.
    assert str(node.root) not in _host_mounts()


def test_regenerate_host_key_changes_the_fingerprint_on_the_same_port(fleet: Fleet) -> None:
    node = fleet.start("debian12_default")
    old_known = fleet.known_hosts([node], fleet.workdir / "old_known_hosts")
    old_fingerprint, port, old_pid = node.host_key_fingerprint(), node.port, node.pid

    node.regenerate_host_key()

    assert node.port == port
    assert node.pid != old_pid and not _alive(old_pid)
    assert node.host_key_fingerprint() != old_fingerprint
    changed = fleet.ssh(node, "true", known_hosts=old_known)
    assert changed.returncode == 255
    assert b"REMOTE HOST IDENTIFICATION HAS CHANGED" in changed.stderr
    new_known = fleet.known_hosts([node], fleet.workdir / "new_known_hosts")
    assert fleet.ssh(node, "true", known_hosts=new_known).returncode == 0
    # The client's view agrees with the harness's fingerprint.
    scanned = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(new_known)],
        capture_output=True,
        check=True,
    )
    assert node.host_key_fingerprint() in scanned.stdout.decode()


def test_sighup_from_inside_the_node_reloads_its_sshd(fleet: Fleet) -> None:
    node = fleet.start("debian12_default")
    assert b"Authorized uses only" not in fleet.ssh(node, "true").stderr
    listening = r"^Server listening on 127\.0\.0\.1 port \d+\.$"
    assert node.count_log(listening) == 1

    # What a remediation does on a Debian node (ssh.service's ExecReload, by hand).
    reload = fleet.ssh(
        node,
        'sudo -n sh -c \'echo "Authorized uses only" > /etc/issue.net'
        ' && echo "Banner /etc/issue.net" > /etc/ssh/sshd_config.d/10-banner.conf'
        ' && /usr/sbin/sshd -t && kill -HUP "$(cat /run/sshd.pid)"\'',
    )
    assert reload.returncode == 0, reload.stderr
    node.wait_log(listening, count=2)

    after = fleet.ssh(node, "true")
    assert after.returncode == 0, after.stderr
    assert b"Authorized uses only" in after.stderr
    assert _alive(node.pid)  # sshd re-executes itself in place: same pid, same port


def test_jump_node_forwards_to_another_node(fleet: Fleet) -> None:
    hop = fleet.start("jump")
    target = fleet.start("debian12_default")
    known = fleet.known_hosts([hop, target])

    result = fleet.ssh(
        target,
        "hostname",
        known_hosts=known,
        # The hop is verified against the same strict known_hosts as the target.
        extra=[
            "-o",
            "ProxyCommand=" + shlex.join(fleet.ssh_argv(hop, known_hosts=known, extra=["-W", "%h:%p"])),
        ],
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == target.hostname
    assert re.findall(LOG_DIRECT_TCPIP, hop.read_log(), re.M) == [str(target.port)]


def test_spec_files_stubs_removals_and_modes_land_in_the_node(fleet: Fleet) -> None:
    spec = load_spec(
        "debian12_default",
        files={
            "/etc/kubernetes/kubelet.conf": {"content": "apiVersion: v1\n", "mode": "0600"},
            "/var/lib/kubelet/config.yaml": {"content": "kind: KubeletConfiguration\n"},
        },
        remove=["/etc/ssh/ssh_config"],
        stubs={"kubelet": '#!/bin/sh\necho stub-kubelet "$@"\n'},
        modes={"/etc/ssh/sshd_config.d": "0700"},
    )
    node = fleet.start(spec)

    listing = fleet.ssh(
        node,
        "sudo -n stat -c '%a %U %n' /etc/kubernetes/kubelet.conf /etc/ssh/sshd_config.d;"
        " sudo -n sh -c 'command -v kubelet; kubelet --version';"
        " test -e /etc/ssh/ssh_config || echo removed",
    )

    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.decode().splitlines() == [
        "600 root /etc/kubernetes/kubelet.conf",
        "700 root /etc/ssh/sshd_config.d",
        "/usr/local/sbin/kubelet",
        "stub-kubelet --version",
        "removed",
    ]
    assert node.read_file("/var/lib/kubelet/config.yaml") == b"kind: KubeletConfiguration\n"
    assert Path("/etc/ssh/ssh_config").exists()
    assert not Path("/etc/kubernetes/kubelet.conf").exists()


def test_a_node_has_its_own_processes_hostname_and_root_home(fleet: Fleet) -> None:
    node = fleet.start("debian12_default", name="own-world")

    comms = node.exec(["ps", "-eo", "comm="]).stdout.decode().split()
    hostname = node.exec(["hostname"]).stdout.decode().strip()
    root_home = set(node.exec(["ls", "-A", "/root"]).stdout.decode().split())

    assert comms[0] == "bash" and "sshd" in comms and "pytest" not in comms
    assert hostname == node.hostname == "own-world"
    assert b"127.0.1.1\town-world" in node.read_file("/etc/hosts")
    assert root_home == {".bashrc", ".profile"}
    assert set(node.exec(["ls", "-A", "/home"]).stdout.decode().split()) == {"scanner"}


def test_stop_kills_every_process_of_the_node_and_its_mounts(fleet: Fleet) -> None:
    node = fleet.start("debian12_default")
    # A session that would outlive a plain sshd restart, and a detached process.
    session = subprocess.Popen(
        fleet.ssh_argv(node, "sleep 300"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        node.exec(["sh", "-c", "setsid sleep 301 >/dev/null 2>&1 &"])
        deadline = time.monotonic() + 10
        while node.count_log(LOG_EXEC_REQUEST) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        host_pids = [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and _ns_of(int(p.name)) == _ns_of(node.anchor_pid)
        ]
        assert len(host_pids) >= 5  # PID 1, sshd, session [priv], session user, sleeps
        sshd_pid, port = node.pid, node.port

        node.stop()

        assert not any(_alive(pid) for pid in host_pids)
        assert not _alive(sshd_pid)
        assert not _accepts(port)
        assert str(node.root) not in _host_mounts()
        assert session.wait(timeout=10) == 255  # the connection died with the node
        node.stop()  # idempotent
    finally:
        session.kill()
        session.wait()


def test_bad_configuration_fails_with_sshds_own_message(fleet: Fleet) -> None:
    spec = load_spec("debian12_default", sshd_config_d={"10-typo.conf": "PermitRootLogn no\n"})

    with pytest.raises(FleetError, match=r"Bad configuration option: PermitRootLogn"):
        fleet.start(spec)


@pytest.mark.parametrize("line", ["ListenAddress 0.0.0.0", "Port 22"])
def test_a_spec_that_would_listen_beyond_the_loopback_port_is_refused(fleet: Fleet, line: str) -> None:
    spec = load_spec("debian12_default", sshd_config_d={"10-listen.conf": line + "\n"})

    with pytest.raises(FleetError, match="must not set Port or ListenAddress"):
        fleet.start(spec)


def test_specs_are_validated_when_loaded() -> None:
    with pytest.raises(ValueError, match="unknown fields"):
        load_spec("debian12_default", sshd_confg="typo")
    with pytest.raises(ValueError, match="quoted octal"):
        load_spec("debian12_default", files={"/etc/x": {"content": "", "mode": 416}})
    with pytest.raises(ValueError, match="outside the node's private trees"):
        load_spec("debian12_default", files={"/usr/bin/x": "data"})
    with pytest.raises(ValueError, match="no node spec"):
        load_spec("no_such_node")


@pytest.mark.slow
def test_twenty_nodes_start_quickly_and_all_accept_logins(fleet: Fleet) -> None:
    started = time.monotonic()
    nodes = fleet.start_many("debian12_default", 20)
    elapsed = time.monotonic() - started
    print(f"\nstarted 20 nodes in {elapsed:.2f}s")

    known = fleet.known_hosts(nodes)

    def login(node: FleetNode) -> tuple[str, bytes, int]:
        result = fleet.ssh(node, "hostname; sudo -n true && echo sudo-ok", known_hosts=known)
        return node.name, result.stdout, result.returncode

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(login, nodes))
    for name, stdout, returncode in results:
        assert returncode == 0, name
        assert stdout.decode().split() == [name, "sudo-ok"]
    assert len({node.port for node in nodes}) == 20
    assert len({node.host_key_fingerprint() for node in nodes}) == 20
    assert all(re.fullmatch(r"node\d+", node.name) for node in nodes)
