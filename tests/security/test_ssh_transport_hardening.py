"""SSH transport hardening against real servers (issue #12 items 5, 6 and 7).

Hostile servers are real sockets on 127.0.0.1: a Python listener that dribbles its
banner or answers with garbage, real OpenSSH sshd fleet nodes limited to legacy
algorithms, and a paramiko SSH server with strict key exchange switched off (Debian
12's OpenSSH 9.2p1-2+deb12u10 always offers kex-strict-s-v00@openssh.com, the Terrapin
backport, and no sshd_config keyword removes it; paramiko's server is a complete SSH
implementation whose `strict_kex=False` is exactly an unpatched peer).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest
from paramiko.common import AUTH_SUCCESSFUL

from agent.errors import ErrorKind, NodeError
from agent.inventory.model import Node
from agent.transport import ssh
from agent.transport.options import SshOptions, Timeouts
from tests.fleet.harness import Fleet, FleetKeys, load_spec
from tests.fleet.scanutil import run_nodeward
from tests.fleet.sshopts import isolated_ssh_config, ssh_options

# --------------------------------------------------------------------------- helpers


@pytest.fixture
def ssh_config(tmp_path: Path) -> Path:
    return isolated_ssh_config(tmp_path)


def _connect_error(node: Node, options: SshOptions) -> NodeError:
    with pytest.raises(NodeError) as caught:
        ssh.connect(node, options).close()
    return caught.value


def _listener(handler: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP listener on 127.0.0.1 running `handler` in a thread per connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)
            threading.Thread(target=_quietly, args=(handler, conn), daemon=True).start()

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


def _quietly(handler: Callable[[socket.socket], None], conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the client hung up: the point of most of these servers
        handler(conn)


def _dribble(conn: socket.socket) -> None:
    """A banner that starts like SSH and never ends: one byte every 2 s."""
    for byte in b"SSH-2.0-" + b"x" * 500:
        conn.sendall(bytes([byte]))
        time.sleep(2)


# --------------------------------------------------------------------------- item 5


@pytest.fixture
def dribbling_port() -> Iterator[int]:
    yield from _listener(_dribble)


@pytest.mark.fleet  # runs the console script in a private mount namespace (root)
def test_banner_dribbled_byte_by_byte_is_cut_at_the_connect_timeout(
    dribbling_port: int, tmp_path: Path
) -> None:
    # Threat: a hostile or broken server holds a worker for the node deadline (300 s)
    # by sending one byte every 2 s; paramiko restarts its banner timeout per byte.
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        f"all:\n  hosts:\n    slow:\n      address: 127.0.0.1\n      port: {dribbling_port}\n"
        "      user: scanner\n"
    )
    config = tmp_path / "ssh_config"
    config.write_text("")
    started = time.monotonic()
    result = run_nodeward(
        ["scan", "-i", str(inventory), "-F", str(config), "--connect-timeout", "3", "--format", "json", "-q"],
        tmp_path / "home",
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stderr[-2000:]
    (node,) = json.loads(result.stdout)["nodes"]
    assert node["error"]["kind"] == "banner", node["error"]
    assert "3 s" in node["error"]["message"] and "connect timeout" in node["error"]["message"]
    assert elapsed < 10, f"the node took {elapsed:.1f} s with --connect-timeout 3"


def test_dribbled_banner_through_a_jump_host_is_cut_too(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path, dribbling_port: int
) -> None:
    # The same budget applies to each hop: here the node behind a real OpenSSH jump
    # host (its direct-tcpip channel reaches our listener on 127.0.0.1).
    bastion = fleet.start("jump")
    timeouts = Timeouts(connect=3, banner=3, auth=10, command=30, node_deadline=120)
    options = ssh_options(ssh_config, fleet.known_hosts([bastion]), fleet_keys.bastion, timeouts=timeouts)
    node = Node(
        name="slow",
        address="127.0.0.1",
        port=dribbling_port,
        user="scanner",
        proxy_jump=f"scanner@127.0.0.1:{bastion.port}",
    )
    started = time.monotonic()
    error = _connect_error(node, options)
    elapsed = time.monotonic() - started
    assert error.kind is ErrorKind.BANNER, error
    assert elapsed < 10, f"{elapsed:.1f} s"


# --------------------------------------------------------------------------- item 6

# Binary data with newlines, invalid UTF-8, NUL and a terminal escape, no "SSH-" line.
GARBAGE = b"\x00\xff\xfe garbage\r\n\x1b[2J\x1b]0;owned\x07\n\x8f\x90\x91 more\n"


def _garbage_then_close(conn: socket.socket) -> None:
    conn.sendall(GARBAGE)
    conn.shutdown(socket.SHUT_RDWR)


def _garbage_then_wait(conn: socket.socket) -> None:
    conn.sendall(GARBAGE)
    time.sleep(30)


def _smtp_greeting(conn: socket.socket) -> None:
    conn.sendall(b"220 mail.example ESMTP Postfix\r\n")
    time.sleep(30)


@pytest.mark.parametrize("handler", [_garbage_then_close, _garbage_then_wait, _smtp_greeting])
def test_garbage_instead_of_a_banner_is_a_protocol_error_with_an_escaped_message(
    handler: Callable[[socket.socket], None], fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path
) -> None:
    # Threat: a non-SSH service (or an attacker) answers on the SSH port; the report
    # must say so (not "tcpwrappers, MaxStartups") and must not carry its bytes raw.
    timeouts = Timeouts(connect=3, banner=3, auth=5, command=5, node_deadline=30)
    for port in _listener(handler):
        node = Node(name="junk", address="127.0.0.1", port=port, user="scanner")
        started = time.monotonic()
        options = ssh_options(ssh_config, tmp_path / "kh", fleet_keys.bastion, timeouts=timeouts)
        error = _connect_error(node, options)
        assert time.monotonic() - started < 6
    assert error.kind is ErrorKind.PROTOCOL, error
    assert "is not an SSH server" in error.message
    assert all(ch.isprintable() for ch in error.message), repr(error.message)
    if handler is not _smtp_greeting:
        assert "\\x1b[2J" in error.message  # shown, escaped


@pytest.mark.parametrize(
    ("handler", "kind"),
    [
        (lambda conn: conn.shutdown(socket.SHUT_RDWR), ErrorKind.CONNECT),  # closed without a word
        (lambda conn: time.sleep(30), ErrorKind.BANNER),  # silent
    ],
    ids=["closed", "silent"],
)
def test_servers_that_say_nothing_keep_their_kinds(
    handler: Callable[[socket.socket], None],
    kind: ErrorKind,
    fleet_keys: FleetKeys,
    ssh_config: Path,
    tmp_path: Path,
) -> None:
    timeouts = Timeouts(connect=2, banner=2, auth=5, command=5, node_deadline=30)
    for port in _listener(handler):
        node = Node(name="mute", address="127.0.0.1", port=port, user="scanner")
        options = ssh_options(ssh_config, tmp_path / "kh", fleet_keys.bastion, timeouts=timeouts)
        error = _connect_error(node, options)
    assert error.kind is kind, error


# --------------------------------------------------------------------------- item 7: legacy


@pytest.mark.parametrize(
    ("keyword", "algorithm"),
    [("Ciphers", "aes128-cbc"), ("Ciphers", "3des-cbc"), ("MACs", "hmac-sha1"), ("MACs", "hmac-md5")],
)
def test_node_limited_to_a_legacy_algorithm_is_refused_unless_the_inventory_reenables_it(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path, keyword: str, algorithm: str
) -> None:
    # Threat: a downgraded (or never upgraded) sshd makes nodeward use CBC/3DES/MD5/SHA-1
    # silently. Now it is refused with the way to accept the risk for that node only.
    spec = load_spec("debian12_default", sshd_config_d={"10-legacy.conf": f"{keyword} {algorithm}\n"})
    target = fleet.start(spec)
    options = ssh_options(ssh_config, fleet.known_hosts([target]), fleet_keys.bastion)
    node = Node(name=target.name, address=target.address, port=target.port, user=target.login_user)
    error = _connect_error(node, options)
    assert error.kind is ErrorKind.PROTOCOL, error
    assert algorithm in error.message and f"legacy_algorithms: [{algorithm}]" in error.message
    reenabled = ssh.connect(
        Node(
            name=target.name,
            address=target.address,
            port=target.port,
            user=target.login_user,
            legacy_algorithms=(algorithm,),
        ),
        options,
    )
    try:
        assert any(f"legacy algorithm {algorithm} in use" in note for note in reenabled.info.notes)
    finally:
        reenabled.close()


def test_reenabled_legacy_algorithm_is_not_used_when_the_node_has_a_modern_one(
    fleet: Fleet, fleet_keys: FleetKeys, ssh_config: Path
) -> None:
    target = fleet.start("debian12_default")
    options = ssh_options(ssh_config, fleet.known_hosts([target]), fleet_keys.bastion)
    node = Node(
        name=target.name,
        address=target.address,
        port=target.port,
        user=target.login_user,
        legacy_algorithms=("aes128-cbc", "hmac-sha1"),
    )
    transport = ssh.connect(node, options)
    try:
        assert not any("legacy algorithm" in note for note in transport.info.notes)
    finally:
        transport.close()


# --------------------------------------------------------------------------- item 7: Terrapin


class _AcceptAnyKey(paramiko.ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return AUTH_SUCCESSFUL


def _paramiko_server(host_key: paramiko.PKey, *, strict_kex: bool, macs: tuple[str, ...]) -> Iterator[int]:
    def serve(conn: socket.socket) -> None:
        transport = paramiko.Transport(conn, strict_kex=strict_kex)
        transport.get_security_options().digests = macs
        transport.add_server_key(host_key)
        try:
            transport.start_server(server=_AcceptAnyKey())
            transport.accept(10)
        except (paramiko.SSHException, EOFError):
            pass
        finally:
            transport.close()

    yield from _listener(serve)


@pytest.fixture(scope="module")
def server_key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


@pytest.mark.parametrize("allowed", [False, True], ids=["refused", "allowed"])
def test_etm_without_strict_kex_is_refused_unless_allowed(
    server_key: paramiko.PKey, fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path, allowed: bool
) -> None:
    # Threat: Terrapin (CVE-2023-48795). Without strict KEX an attacker in the path can
    # drop the first encrypted messages when an EtM MAC (or chacha20) is in use.
    etm = ("hmac-sha2-256-etm@openssh.com",)
    for port in _paramiko_server(server_key, strict_kex=False, macs=etm):
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {server_key.get_name()} {server_key.get_base64()}\n")
        node = Node(name="old", address="127.0.0.1", port=port, user="scanner", allow_no_strict_kex=allowed)
        options = ssh_options(ssh_config, known, fleet_keys.bastion)
        if not allowed:
            error = _connect_error(node, options)
            assert error.kind is ErrorKind.PROTOCOL, error
            assert "Terrapin" in error.message and "hmac-sha2-256-etm@openssh.com" in error.message
            assert "allow_no_strict_kex: true" in error.message
            continue
        transport = ssh.connect(node, options)
        try:
            assert transport.info.strict_kex is False
            assert any("Terrapin" in note for note in transport.info.notes)
        finally:
            transport.close()


def test_etm_with_strict_kex_is_fine(
    server_key: paramiko.PKey, fleet_keys: FleetKeys, ssh_config: Path, tmp_path: Path
) -> None:
    for port in _paramiko_server(server_key, strict_kex=True, macs=("hmac-sha2-256-etm@openssh.com",)):
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {server_key.get_name()} {server_key.get_base64()}\n")
        node = Node(name="new", address="127.0.0.1", port=port, user="scanner")
        transport = ssh.connect(node, ssh_options(ssh_config, known, fleet_keys.bastion))
        try:
            assert transport.info.strict_kex is True
        finally:
            transport.close()
