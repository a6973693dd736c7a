"""The SSH transport against real OpenSSH sshd nodes on 127.0.0.1 (tests/fleet/harness.py).

Every test uses its own ssh_config (`-F`) that points the user and global known_hosts at
/dev/null, so nothing of this machine's ~/.ssh or /etc/ssh takes part; the known_hosts
file under test comes through SshOptions.known_hosts_files (--known-hosts, read only),
except for trust-on-first-use, which writes to the first UserKnownHostsFile (from
ssh_config or the inventory) exactly like ssh.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agent.errors import ErrorKind, NodeError
from agent.inventory.model import Node
from agent.secret import Secret
from agent.transport import knownhosts, ssh
from agent.transport.options import SshOptions, Timeouts
from tests.fleet.harness import (
    LOG_ACCEPTED_PUBLICKEY,
    LOG_CONNECTION,
    LOG_EXEC_REQUEST,
    Fleet,
    FleetKeys,
    FleetNode,
    load_spec,
)
from tests.fleet.sshopts import isolated_ssh_config, ssh_options

LOG_FAILED_PUBLICKEY = r"Failed publickey for \S+ from 127\.0\.0\.1"
REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def ssh_config(tmp_path: Path) -> Path:
    return isolated_ssh_config(tmp_path)


def _node(target: FleetNode, **fields: Any) -> Node:
    settings: dict[str, Any] = {
        "name": target.name,
        "address": target.address,
        "port": target.port,
        "user": target.login_user,
    }
    settings.update(fields)
    return Node(**settings)


def _run(transport: ssh.SshTransport, command: str, timeout: float = 60) -> tuple[bytes, bytes, int | None]:
    process = transport.start(command)
    out, err = bytearray(), bytearray()
    give_up = time.monotonic() + timeout
    while not process.finished:
        assert time.monotonic() < give_up, f"{command!r} still running after {timeout} s"
        chunk_out, chunk_err = process.read(0.1)
        out += chunk_out
        err += chunk_err
    return bytes(out), bytes(err), process.exit_code


def _connect_error(node: Node, options: SshOptions) -> NodeError:
    with pytest.raises(NodeError) as caught:
        ssh.connect(node, options).close()
    return caught.value


def _listener(handler: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP listener on 127.0.0.1 running `handler` per connection; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.05)  # accept() is not woken by close(): poll a stop flag instead
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)
            handler(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()
        for conn in held:
            conn.close()


# --------------------------------------------------------------------------- basics


def test_runs_a_command_and_reports_how_it_connected(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> None:
    target = fleet.start("debian12_default")
    known = fleet.known_hosts([target])
    transport = ssh.connect(_node(target), ssh_options(ssh_config, known, fleet_keys.bastion))
    try:
        assert transport.login_user == "scanner"
        assert _run(transport, "id -un") == (b"scanner\n", b"", 0)
        assert _run(transport, "echo out; echo err >&2; exit 3") == (b"out\n", b"err\n", 3)
        info = transport.info
    finally:
        transport.close()
    assert (info.transport, info.address, info.port, info.user) == (
        "ssh",
        "127.0.0.1",
        target.port,
        "scanner",
    )
    assert info.server_version.startswith("SSH-2.0-OpenSSH_9.2")
    assert info.host_key == f"ssh-ed25519 {target.host_key_fingerprint()}"
    assert info.strict_kex is True  # Debian's 9.2p1 carries the Terrapin fix
    assert info.jump_hosts == () and info.notes == ()
    _await_count(target, LOG_EXEC_REQUEST, 2)


def test_offers_only_the_configured_identity_even_with_a_loaded_agent(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent holds a key the node does not accept; offering it first would cost an
    # authentication attempt (MaxAuthTries lockouts, fail2ban).
    target = fleet.start("debian12_default")
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if socket_path.exists():
                break
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}
        subprocess.run(["ssh-add", "-q", str(fleet_keys.other)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        options = ssh_options(ssh_config, fleet.known_hosts([target]), fleet_keys.bastion)
        with_key = ssh.connect(_node(target), options)
        with_key.close()
        _await_count(target, LOG_ACCEPTED_PUBLICKEY, 1)
        assert target.count_log(LOG_FAILED_PUBLICKEY) == 0  # logged before the success
    finally:
        agent.terminate()
        agent.wait(10)


def test_forward_agent_from_ssh_config_is_ignored_with_a_note(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    target = fleet.start("debian12_default")
    config = tmp_path / "forwarding_config"
    config.write_text("Host *\n  ForwardAgent yes\n  GlobalKnownHostsFile /dev/null\n")
    options = ssh_options(config, fleet.known_hosts([target]), fleet_keys.bastion)
    transport = ssh.connect(_node(target), options)
    try:
        assert _run(transport, 'echo "${SSH_AUTH_SOCK:-none}"')[0] == b"none\n"
        assert any("ForwardAgent" in note for note in transport.info.notes)
    finally:
        transport.close()


# --------------------------------------------------------------------------- host keys


def test_unknown_host_key_is_rejected_and_nothing_runs(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path
) -> None:
    target = fleet.start("debian12_default")
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    error = _connect_error(_node(target), ssh_options(ssh_config, empty, fleet_keys.bastion))
    assert error.kind is ErrorKind.HOSTKEY
    assert target.host_key_fingerprint() in error.message
    assert f"[127.0.0.1]:{target.port}" in error.message
    _await_count(target, LOG_CONNECTION, 1)  # it was reached ...
    assert target.count_log(LOG_ACCEPTED_PUBLICKEY) == 0  # ... but never logged into
    assert target.count_log(LOG_FAILED_PUBLICKEY) == 0
    assert target.count_log(LOG_EXEC_REQUEST) == 0
    assert empty.read_text() == ""


def test_changed_host_key_is_rejected_even_with_accept_new(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> None:
    target = fleet.start("debian12_default")
    known = fleet.known_hosts([target])
    before = known.read_text()
    old_fingerprint = target.host_key_fingerprint()
    target.regenerate_host_key()
    options = ssh_options(ssh_config, known, fleet_keys.bastion, accept_new_host_keys=True)
    error = _connect_error(_node(target), options)
    assert error.kind is ErrorKind.HOSTKEY
    assert "CHANGED" in error.message
    assert old_fingerprint in error.message and target.host_key_fingerprint() in error.message
    assert known.read_text() == before
    assert target.count_log(LOG_ACCEPTED_PUBLICKEY) == 0
    assert target.count_log(LOG_EXEC_REQUEST) == 0


@pytest.mark.parametrize("hashed", [False, True])
def test_accept_new_appends_one_line_once(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path, hashed: bool
) -> None:
    target = fleet.start("debian12_default")
    known = tmp_path / "home" / ".ssh" / "known_hosts"  # neither file nor directory exist
    extra = tmp_path / "extra_known_hosts"  # --known-hosts: read, never written
    extra.write_text("")
    config = tmp_path / "config"
    config.write_text(
        f"Host *\n  UserKnownHostsFile {known} /dev/null\n  GlobalKnownHostsFile /dev/null\n"
        f"  HashKnownHosts {'yes' if hashed else 'no'}\n"
    )
    options = ssh_options(config, extra, fleet_keys.bastion, accept_new_host_keys=True)
    first = ssh.connect(_node(target), options)
    first.close()
    lines = known.read_text().splitlines()
    assert len(lines) == 1
    if hashed:
        assert lines[0].startswith("|1|") and "127.0.0.1" not in lines[0]
        assert lines[0].split()[1:] == target.host_key_line().split()[1:]
    else:
        assert lines[0] == target.host_key_line()
    assert any("trusted on first use" in note for note in first.info.notes)
    assert oct(known.parent.stat().st_mode & 0o777) == "0o700"
    assert oct(known.stat().st_mode & 0o777) == "0o600"

    second = ssh.connect(_node(target), options)
    second.close()
    assert known.read_text().splitlines() == lines
    assert not any("trusted on first use" in note for note in second.info.notes)
    assert extra.read_text() == ""


def test_accept_new_from_many_threads_records_each_node_once(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path
) -> None:
    targets = fleet.start_many("debian12_default", 4)
    known = tmp_path / "known_hosts"  # the inventory's UserKnownHostsFile
    extra = tmp_path / "extra_known_hosts"
    extra.write_text("")
    options = ssh_options(ssh_config, extra, fleet_keys.bastion, accept_new_host_keys=True)

    def scan(target: FleetNode) -> bytes:
        for _ in range(2):  # the second round must find every key already recorded
            transport = ssh.connect(_node(target, known_hosts_files=(str(known),)), options)
            try:
                out = _run(transport, "hostname")[0]
            finally:
                transport.close()
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        outputs = list(pool.map(scan, targets + targets))
    assert sorted(set(outputs)) == sorted({f"{t.hostname}\n".encode() for t in targets})
    assert sorted(known.read_text().splitlines()) == sorted(t.host_key_line() for t in targets)


def test_hashed_known_hosts_entry_made_by_ssh_keygen_is_accepted(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> None:
    target = fleet.start("debian12_default")
    known = fleet.known_hosts([target])
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known)], check=True, capture_output=True)
    assert known.read_text().startswith("|1|")
    transport = ssh.connect(_node(target), ssh_options(ssh_config, known, fleet_keys.bastion))
    try:
        assert _run(transport, "id -un")[0] == b"scanner\n"
    finally:
        transport.close()


def test_revoked_host_key_is_rejected_even_when_known(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> None:
    target = fleet.start("debian12_default")
    known = fleet.known_hosts([target])
    key = target.host_key_line().split(maxsplit=1)[1]
    with known.open("a") as handle:
        handle.write(f"@revoked * {key}\n")
    error = _connect_error(_node(target), ssh_options(ssh_config, known, fleet_keys.bastion))
    assert error.kind is ErrorKind.HOSTKEY and "@revoked" in error.message
    assert target.count_log(LOG_EXEC_REQUEST) == 0


def test_cert_authority_line_before_the_entry_keeps_the_entry(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> None:
    target = fleet.start("debian12_default")
    known = fleet.known_hosts([target])
    ca = fleet_keys.public_line("other")
    known.write_text(f"@cert-authority * {ca}\n" + known.read_text())
    transport = ssh.connect(_node(target), ssh_options(ssh_config, known, fleet_keys.bastion))
    transport.close()


def test_only_known_host_key_types_are_negotiated(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path
) -> None:
    # The node offers ed25519 and rsa. paramiko prefers ed25519; when known_hosts only
    # has the rsa key, the rsa key must be the one negotiated and verified, and a node
    # that stops offering the known type is a host key problem, not a new key.
    target = fleet.start(load_spec("debian12_default", host_keys=["ed25519", "rsa"]))
    lines = target.host_key_lines()
    rsa_only = tmp_path / "rsa_only"
    rsa_only.write_text(lines[1] + "\n")
    transport = ssh.connect(_node(target), ssh_options(ssh_config, rsa_only, fleet_keys.bastion))
    transport.close()
    assert transport.info.host_key.startswith("ssh-rsa SHA256:")

    ecdsa_key = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(tmp_path / "ecdsa")],
        check=True,
        capture_output=True,
    )
    assert ecdsa_key.returncode == 0
    ecdsa = (tmp_path / "ecdsa.pub").read_text().split()[:2]
    ecdsa_only = tmp_path / "ecdsa_only"
    ecdsa_only.write_text(f"[127.0.0.1]:{target.port} {' '.join(ecdsa)}\n")
    options = ssh_options(ssh_config, ecdsa_only, fleet_keys.bastion, accept_new_host_keys=True)
    error = _connect_error(_node(target), options)
    assert error.kind is ErrorKind.HOSTKEY and "ecdsa-sha2-nistp256" in error.message
    assert ecdsa_only.read_text().count("\n") == 1


def test_strict_host_key_checking_no_is_refused_before_connecting(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    target = fleet.start("debian12_default")
    config = tmp_path / "lax_config"
    config.write_text("Host *\n  StrictHostKeyChecking no\n")
    error = _connect_error(
        _node(target), ssh_options(config, fleet.known_hosts([target]), fleet_keys.bastion)
    )
    assert error.kind is ErrorKind.HOSTKEY and "--accept-new-host-keys" in error.message
    assert target.count_log(LOG_CONNECTION) == 0


# --------------------------------------------------------------------------- auth


def test_wrong_key_is_an_auth_error_after_one_attempt(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> None:
    target = fleet.start("debian12_default")
    options = ssh_options(ssh_config, fleet.known_hosts([target]), fleet_keys.other)
    error = _connect_error(_node(target), options)
    assert error.kind is ErrorKind.AUTH
    assert str(fleet_keys.other) in error.message
    _await_count(target, LOG_FAILED_PUBLICKEY, 1)
    assert target.count_log(LOG_EXEC_REQUEST) == 0


def test_encrypted_key_with_and_without_passphrase(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> None:
    spec = load_spec("debian12_default", users=[{"name": "scanner", "keys": ["encrypted"]}])
    target = fleet.start(spec)
    known = fleet.known_hosts([target])

    error = _connect_error(_node(target), ssh_options(ssh_config, known, fleet_keys.encrypted))
    assert error.kind is ErrorKind.AUTH
    assert str(fleet_keys.encrypted) in error.message and "encrypted" in error.message

    def wrong(path: str) -> Secret | None:
        return Secret("not the passphrase")

    error = _connect_error(
        _node(target), ssh_options(ssh_config, known, fleet_keys.encrypted, passphrase=wrong)
    )
    assert error.kind is ErrorKind.AUTH and "cannot decrypt" in error.message
    assert target.count_log(LOG_FAILED_PUBLICKEY) == 0  # nothing was offered either time

    asked: list[str] = []

    def right(path: str) -> Secret | None:
        asked.append(path)
        return Secret(FleetKeys.PASSPHRASE)

    options = ssh_options(ssh_config, known, fleet_keys.encrypted, passphrase=right)
    for _ in range(2):
        transport = ssh.connect(_node(target), options)
        try:
            assert _run(transport, "id -un")[0] == b"scanner\n"
        finally:
            transport.close()
    assert asked == [str(fleet_keys.encrypted)]  # asked once for the whole run


def test_missing_identity_file_is_an_auth_error(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path
) -> None:
    target = fleet.start("debian12_default")
    missing = tmp_path / "no_such_key"
    error = _connect_error(_node(target), ssh_options(ssh_config, fleet.known_hosts([target]), missing))
    assert error.kind is ErrorKind.AUTH and str(missing) in error.message


# --------------------------------------------------------------------------- network errors


def test_closed_port_is_a_connect_error(fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node = Node(name="closed", address="127.0.0.1", port=port, user="scanner")
    started = time.monotonic()
    error = _connect_error(node, ssh_options(ssh_config, tmp_path / "kh", fleet_keys.bastion))
    assert error.kind is ErrorKind.CONNECT
    assert "refused" in error.message.lower()
    assert time.monotonic() - started < 5


def test_unresolvable_name_is_a_dns_error(tmp_path: Path) -> None:
    # Resolving a name asks the configured DNS server, which is not on loopback: run the
    # lookup in a new network namespace (no interface up), where it fails without a
    # single packet leaving this machine.
    config = tmp_path / "empty_config"
    code = (
        "import json\n"
        "from agent.errors import NodeError\n"
        "from agent.inventory.model import Node\n"
        "from agent.transport import ssh\n"
        "from agent.transport.options import SshOptions\n"
        "try:\n"
        f"    ssh.connect(Node(name='nothere.invalid'), SshOptions(ssh_config_file={str(config)!r}))\n"
        "except NodeError as e:\n"
        "    print(json.dumps([e.kind.value, e.message]))\n"
    )
    config.write_text("")
    result = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    kind, message = json.loads(result.stdout)
    assert kind == "dns" and "nothere.invalid" in message


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections and never says a word."""
    yield from _listener(lambda conn: None)


def test_listener_without_banner_is_a_banner_error_within_the_timeout(
    silent_port: int, fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path
) -> None:
    node = Node(name="silent", address="127.0.0.1", port=silent_port, user="scanner")
    timeouts = Timeouts(connect=5, banner=1.0, auth=5, command=5, node_deadline=30)
    started = time.monotonic()
    error = _connect_error(
        node, ssh_options(ssh_config, tmp_path / "kh", fleet_keys.bastion, timeouts=timeouts)
    )
    elapsed = time.monotonic() - started
    assert error.kind is ErrorKind.BANNER
    assert 0.9 <= elapsed < 5


def test_node_deadline_bounds_the_banner_wait(
    silent_port: int, fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path
) -> None:
    node = Node(name="silent", address="127.0.0.1", port=silent_port, user="scanner")
    timeouts = Timeouts(connect=5, banner=30, auth=30, command=30, node_deadline=1.5)
    started = time.monotonic()
    error = _connect_error(
        node, ssh_options(ssh_config, tmp_path / "kh", fleet_keys.bastion, timeouts=timeouts)
    )
    assert error.kind in (ErrorKind.BANNER, ErrorKind.TIMEOUT)
    assert time.monotonic() - started < 5


def test_server_closing_during_key_exchange_is_a_connect_error(
    fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path
) -> None:
    def banner_then_close(conn: socket.socket) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 fake\r\n")
        conn.shutdown(socket.SHUT_RDWR)

    for port in _listener(banner_then_close):
        node = Node(name="flaky", address="127.0.0.1", port=port, user="scanner")
        error = _connect_error(node, ssh_options(ssh_config, tmp_path / "kh", fleet_keys.bastion))
        assert error.kind is ErrorKind.CONNECT
        assert "key exchange" in error.message


def test_server_offering_only_sha1_host_keys_is_explained(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> None:
    spec = load_spec(
        "debian12_default",
        host_keys=["rsa"],
        sshd_config_d={"10-sha1.conf": "HostKeyAlgorithms ssh-rsa\n"},
    )
    target = fleet.start(spec)
    options = ssh_options(ssh_config, fleet.known_hosts([target]), fleet_keys.bastion)
    error = _connect_error(_node(target), options)
    assert error.kind is ErrorKind.PROTOCOL
    assert "only SHA-1" in error.message


# --------------------------------------------------------------------------- jump hosts


def test_proxy_jump_through_one_hop(fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path) -> None:
    bastion = fleet.start("jump")
    target = fleet.start("debian12_default")
    options = ssh_options(ssh_config, fleet.known_hosts([bastion, target]), fleet_keys.bastion)
    node = _node(target, proxy_jump=f"scanner@127.0.0.1:{bastion.port}")
    transport = ssh.connect(node, options)
    try:
        assert _run(transport, "hostname")[0] == f"{target.hostname}\n".encode()
        assert transport.info.jump_hosts == (f"scanner@127.0.0.1:{bastion.port}",)
        assert transport.info.address == "127.0.0.1" and transport.info.port == target.port
        assert "direct-tcpip" in bastion.read_log()
    finally:
        transport.close()
    _await_count(bastion, LOG_ACCEPTED_PUBLICKEY, 1)
    assert bastion.count_log(LOG_EXEC_REQUEST) == 0  # a hop only forwards
    _wait_for_session_end(bastion)  # the hop was closed with the node


def test_proxy_jump_through_two_hops_from_ssh_config(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    first, second = fleet.start("jump"), fleet.start("jump")
    target = fleet.start("debian12_default")
    config = tmp_path / "config"
    config.write_text(
        f"Host hop1\n  HostName 127.0.0.1\n  Port {first.port}\n  User scanner\n"
        f"Host hop2\n  HostName 127.0.0.1\n  Port {second.port}\n  User scanner\n"
        f"Host {target.name}\n  HostName 127.0.0.1\n  Port {target.port}\n  ProxyJump hop1,hop2\n"
        "Host *\n  UserKnownHostsFile /dev/null\n  GlobalKnownHostsFile /dev/null\n"
    )
    known = fleet.known_hosts([first, second, target])
    options = ssh_options(config, known, fleet_keys.bastion)
    transport = ssh.connect(Node(name=target.name, user="scanner"), options)
    try:
        assert _run(transport, "hostname")[0] == f"{target.hostname}\n".encode()
        assert transport.info.jump_hosts == (
            f"scanner@127.0.0.1:{first.port}",
            f"scanner@127.0.0.1:{second.port}",
        )
    finally:
        transport.close()
    for hop in (first, second):
        _await_count(hop, LOG_ACCEPTED_PUBLICKEY, 1)
        _wait_for_session_end(hop)


def test_unknown_key_on_a_hop_names_the_hop_and_stops_there(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> None:
    first, second = fleet.start("jump"), fleet.start("jump")
    target = fleet.start("debian12_default")
    known = fleet.known_hosts([first, target])  # the second hop's key is missing
    node = _node(target, proxy_jump=f"scanner@127.0.0.1:{first.port},scanner@127.0.0.1:{second.port}")
    error = _connect_error(node, ssh_options(ssh_config, known, fleet_keys.bastion))
    assert error.kind is ErrorKind.HOSTKEY
    assert error.message.startswith(f"jump host scanner@127.0.0.1:{second.port} (hop 2 of 2): ")
    assert second.count_log(LOG_ACCEPTED_PUBLICKEY) == 0
    assert target.count_log(LOG_CONNECTION) == 0
    _wait_for_session_end(first)  # hop 1 was closed again


def test_jump_host_refusing_the_forward_is_a_connect_error(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> None:
    bastion = fleet.start("jump")
    target = fleet.start("debian12_default")
    known = fleet.known_hosts([bastion, target])
    # The jump spec only permits "127.0.0.1" (PermitOpen compares the literal name).
    node = _node(target, address="localhost", proxy_jump=f"scanner@127.0.0.1:{bastion.port}")
    error = _connect_error(node, ssh_options(ssh_config, known, fleet_keys.bastion))
    assert error.kind is ErrorKind.CONNECT
    assert f"jump host scanner@127.0.0.1:{bastion.port} (hop 1 of 1)" in error.message


def test_proxy_command_relay(fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path) -> None:
    target = fleet.start("debian12_default")
    relay = tmp_path / "relay.py"
    relay.write_text(
        "import os, socket, sys, threading\n"
        "conn = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
        "def upstream():\n"
        "    while data := os.read(0, 65536):\n"
        "        conn.sendall(data)\n"
        "    conn.shutdown(socket.SHUT_WR)\n"
        "threading.Thread(target=upstream, daemon=True).start()\n"
        "while data := conn.recv(65536):\n"
        "    os.write(1, data)\n"
    )
    # Shell syntax (the redirection) works because ProxyCommand runs through /bin/sh.
    command = f"{sys.executable} {relay} %h %p 2>/dev/null"
    node = _node(target, proxy_command=command)
    options = ssh_options(ssh_config, fleet.known_hosts([target]), fleet_keys.bastion)
    transport = ssh.connect(node, options)
    try:
        assert _run(transport, "id -un")[0] == b"scanner\n"
    finally:
        transport.close()


def _await_count(node: FleetNode, pattern: str, expected: int, timeout: float = 5) -> None:
    """sshd may write a log line a moment after the client saw the event: poll."""
    give_up = time.monotonic() + timeout
    while (count := node.count_log(pattern)) != expected:
        assert count < expected and time.monotonic() < give_up, (
            f"{node.name}: {count} lines match {pattern!r}, expected {expected}"
        )
        time.sleep(0.02)


def _wait_for_session_end(node: FleetNode, timeout: float = 10) -> None:
    # sshd's per-connection process logs do_cleanup when the client has gone, whether
    # it said goodbye or just closed the socket (paramiko has no SSH_MSG_DISCONNECT).
    give_up = time.monotonic() + timeout
    while node.count_log(r"debug1: do_cleanup$") == 0:
        assert time.monotonic() < give_up, f"{node.name}: the session is still open"
        time.sleep(0.05)


# --------------------------------------------------------------------------- processes


@pytest.fixture
def connected(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> Iterator[tuple[FleetNode, ssh.SshTransport]]:
    target = fleet.start("debian12_default")
    options = ssh_options(ssh_config, fleet.known_hosts([target]), fleet_keys.bastion)
    transport = ssh.connect(_node(target), options)
    try:
        yield target, transport
    finally:
        transport.close()


def test_megabytes_on_stdout_and_stderr_together_do_not_deadlock(
    connected: tuple[FleetNode, ssh.SshTransport],
) -> None:
    _, transport = connected
    size = 3 * 1024 * 1024
    started = time.monotonic()
    out, err, code = _run(
        transport, f"head -c {size} /dev/zero >&2 & head -c {size} /dev/zero; wait", timeout=60
    )
    assert (len(out), len(err), code) == (size, size, 0)
    assert time.monotonic() - started < 30


def test_large_stdin_while_the_command_echoes_it_back(
    connected: tuple[FleetNode, ssh.SshTransport],
) -> None:
    # cat writes back what it reads: if write() did not read meanwhile, both sides would
    # wait on full windows forever.
    _, transport = connected
    payload = os.urandom(6 * 1024 * 1024)
    process = transport.start("cat")
    process.write(payload)
    process.close_stdin()
    out = bytearray()
    give_up = time.monotonic() + 60
    while not process.finished:
        assert time.monotonic() < give_up
        out += process.read(0.1)[0]
    assert bytes(out) == payload and process.exit_code == 0


def test_a_slow_command_is_left_to_the_caller_and_kill_stops_it(
    connected: tuple[FleetNode, ssh.SshTransport],
) -> None:
    target, transport = connected
    process = transport.start("sleep 31.25; echo finished")
    started = time.monotonic()
    assert process.read(0.5) == (b"", b"")
    assert 0.4 <= time.monotonic() - started < 2
    assert not process.finished and process.exit_code is None
    process.kill()
    give_up = time.monotonic() + 5
    while not process.finished:
        assert time.monotonic() < give_up
        process.read(0.1)
    assert process.exit_code is None  # killed by a signal: no exit status
    remaining = target.exec(["pgrep", "-f", "sleep 31.25"], check=False)
    assert remaining.stdout == b""
    assert _run(transport, "echo still usable")[0] == b"still usable\n"


def test_write_to_a_finished_command_is_an_error(
    connected: tuple[FleetNode, ssh.SshTransport],
) -> None:
    _, transport = connected
    process = transport.start("exit 0")
    while not process.finished:
        process.read(0.1)
    with pytest.raises(NodeError):
        process.write(b"too late\n")
    other = transport.start("cat")
    other.close_stdin()
    with pytest.raises(NodeError, match="already closed"):
        other.write(b"after EOF\n")
    other.kill()


def test_connection_lost_mid_command_is_finished_without_exit_code(
    connected: tuple[FleetNode, ssh.SshTransport],
) -> None:
    target, transport = connected
    process = transport.start("echo partial; sleep 30")
    first = b""
    while not first:
        first = process.read(1.0)[0]
    assert first == b"partial\n"
    # Kill the session's sshd processes (not the listener): the connection drops.
    target.exec(["pkill", "-KILL", "-f", "sshd: scanner"], check=False)
    give_up = time.monotonic() + 10
    while not process.finished:
        assert time.monotonic() < give_up
        process.read(0.1)
    assert process.exit_code is None
    with pytest.raises(NodeError) as caught:
        transport.start("true")
    assert caught.value.kind is ErrorKind.CONNECT


def test_host_key_fingerprint_format_matches_openssh(connected: tuple[FleetNode, ssh.SshTransport]) -> None:
    target, transport = connected
    blob = base64.b64decode(target.host_key_line().split()[2])
    assert transport.info.host_key == f"ssh-ed25519 {knownhosts.fingerprint(blob)}"
    assert knownhosts.fingerprint(blob) == target.host_key_fingerprint()
