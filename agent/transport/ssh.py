"""The SSH transport: paramiko.Transport driven step by step, never SSHClient.

`connect(node, options)` does what `ssh` would, in this order, each step bounded by
what is left of the node's deadline (Timeouts.node_deadline), and steps 2 and 3
together by the connect timeout (per hop; a watchdog closes the connection when it
runs out, because paramiko's banner and handshake timeouts restart with every byte
and a server dribbling its banner would otherwise hold a worker for the whole
node deadline):

1. settings: command line > inventory > ssh_config > OpenSSH defaults (sshconfig.py,
   resolved per node and per hop in ssh_route.py);
2. a socket: TCP to every address getaddrinfo returns, or a ProxyCommand, or a
   `direct-tcpip` channel through each ProxyJump hop (jump.py);
3. key exchange, offering only modern algorithms (ssh_algorithms.yaml; legacy ones
   only where the inventory re-enables them) and only the host key types known_hosts
   already lists for the host, so a known ed25519 key cannot be side-stepped by
   negotiating rsa (ssh_negotiation.py, which also explains failed negotiations); a
   result open to Terrapin without strict KEX is refused unless allowed;
4. the host key checked against known_hosts (knownhosts.py) BEFORE authenticating:
   an unknown, changed or revoked key ends here and nothing is sent to the node;
5. public key authentication, each identity offered once (a retry loop would trip
   fail2ban or MaxAuthTries); no password, no PTY, no agent forwarding, no X11
   (ssh_auth.py).

Commands then run on exec channels of the connection (SshProcess, ssh_process.py).

SSHClient is avoided because it offers agent keys and ~/.ssh/id_* on top of the key we
were told to use (MaxAuthTries lockouts; ncclient #522, salt #24096), loads neither
/etc/ssh/ssh_known_hosts (ansible PR #6902) nor known_hosts files with @cert-authority
lines (paramiko #771, #2277), rewrites known_hosts on save (#2355), and has no
accept-new policy (AutoAddPolicy trusts and saves any unknown key without a word).

paramiko logs expected failures (a missing banner, a reset) at ERROR with tracebacks on
the "paramiko.transport" logger; every such failure also surfaces here as a NodeError,
so the CLI should quiet that logger unless debugging.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import paramiko
from paramiko.ssh_exception import ChannelException, SSHException

from agent.connection import ConnectionInfo
from agent.errors import ErrorKind, InputError, NodeError
from agent.inventory.model import Node
from agent.transport import jump, knownhosts, ssh_algorithms
from agent.transport.connect_phase import ConnectPhase, Watchdog
from agent.transport.options import SshOptions, Timeouts
from agent.transport.ssh_auth import DEFAULT_IDENTITIES, authenticate
from agent.transport.ssh_negotiation import (
    OfferRecordingTransport,
    RecordingSocket,
    host_key_algorithms,
    negotiation_error,
    not_ssh_error,
)
from agent.transport.ssh_process import SshProcess
from agent.transport.ssh_route import Deadline, Endpoint, resolve_hop, resolve_node, route
from agent.transport.sshconfig import load_ssh_config

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_IDENTITIES", "SshProcess", "SshTransport", "connect"]


# --------------------------------------------------------------------------- sockets


def _tcp_connect(endpoint: Endpoint, deadline: Deadline) -> tuple[socket.socket, float]:
    """A connected socket, and when the attempt that succeeded began."""
    prefix = endpoint.prefix
    try:
        # Not bounded by our timeouts: the resolver has its own (resolv.conf).
        addresses = socket.getaddrinfo(endpoint.hostname, endpoint.port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NodeError(ErrorKind.DNS, f"{prefix}cannot resolve {endpoint.hostname}: {exc.strerror}") from exc
    failures: list[str] = []
    all_timed_out = True
    for family, kind, proto, _, sockaddr in addresses:
        timeout = deadline.cap(endpoint.connect_timeout, f"before connecting to {sockaddr[0]}")
        started = time.monotonic()
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except TimeoutError:
            failures.append(f"{sockaddr[0]} port {endpoint.port}: no answer within {timeout:g} s")
            sock.close()
            continue
        except OSError as exc:
            failures.append(f"{sockaddr[0]} port {endpoint.port}: {exc.strerror or exc}")
            all_timed_out = False
            sock.close()
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, started
    kind_ = ErrorKind.TIMEOUT if failures and all_timed_out else ErrorKind.CONNECT
    raise NodeError(kind_, f"{prefix}cannot connect: {'; '.join(failures) or 'no address'}")


# --------------------------------------------------------------------------- handshake


@dataclass(slots=True)
class _Hop:
    """An established, authenticated SSH connection (the node's or a jump host's)."""

    endpoint: Endpoint
    transport: OfferRecordingTransport
    host_key: knownhosts.Accepted
    identity: str


def _handshake(
    sock: Any, endpoint: Endpoint, options: SshOptions, deadline: Deadline, phase: ConnectPhase, owned: _Owned
) -> _Hop:
    received = RecordingSocket(sock)
    # paramiko only calls recv/send/settimeout/close on it: the recorder forwards them all.
    transport = OfferRecordingTransport(cast("socket.socket", received))
    owned.add(transport.close)
    ssh_algorithms.restrict(transport, endpoint.legacy_algorithms)
    known = knownhosts.KnownHosts.load(
        (*endpoint.user_known_hosts, *endpoint.extra_known_hosts, *endpoint.global_known_hosts)
    )
    name = knownhosts.host_token(endpoint.hostname, endpoint.port)
    known_types = known.known_types(name)
    security = transport.get_security_options()
    algorithms = host_key_algorithms(known_types, tuple(security.key_types))
    if algorithms:
        security.key_types = algorithms
    left = phase.left(endpoint, "before the SSH banner")
    transport.banner_timeout = min(options.timeouts.banner, left)
    transport.handshake_timeout = left  # paramiko's own, restarted per packet: a fallback
    watchdog = Watchdog(left, transport.close)
    try:
        # The watchdog ends a stalled handshake first; start_client's own timeout is
        # only a backstop (it returns silently, hence the initial_kex_done check).
        transport.start_client(timeout=left + 1.0)
    except (SSHException, EOFError, OSError) as exc:
        if watchdog.disarm():
            raise _expired(phase, endpoint, transport, received) from None
        raise negotiation_error(exc, transport, endpoint, known_types, received) from exc
    if watchdog.disarm() or not transport.initial_kex_done:
        transport.close()
        raise _expired(phase, endpoint, transport, received)
    refusal = ssh_algorithms.terrapin_refusal(transport, endpoint.prefix, endpoint.allow_no_strict_kex)
    if refusal is not None:
        raise refusal
    key = transport.get_remote_server_key()
    accepted = knownhosts.verify(
        known,
        name,
        key.get_name(),
        key.asbytes(),
        policy=endpoint.policy,
        tofu_file=endpoint.user_known_hosts[0] if endpoint.user_known_hosts else None,
        hash_names=endpoint.hash_known_hosts,
        label=endpoint.label,
    )
    identity = authenticate(transport, endpoint, options, deadline)
    return _Hop(endpoint, transport, accepted, identity)


def _expired(
    phase: ConnectPhase, endpoint: Endpoint, transport: OfferRecordingTransport, received: RecordingSocket
) -> NodeError:
    if not transport.remote_version and not received.banner_pending():
        return not_ssh_error(received, endpoint)  # garbage, however slowly it came
    return phase.expired(endpoint, got_banner=bool(transport.remote_version))


# --------------------------------------------------------------------------- transport


class _Owned:
    """Closers for everything a connection owns, run in reverse order exactly once."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], object]] = []
        self._lock = threading.Lock()

    def add(self, closer: Callable[[], object]) -> None:
        with self._lock:
            self._closers.append(closer)

    def close(self) -> None:
        with self._lock:
            closers, self._closers = self._closers, []
        for closer in reversed(closers):
            try:
                closer()
            except Exception:  # closing is best effort and must reach every item
                log.debug("error while closing", exc_info=True)


def connect(node: Node, options: SshOptions) -> SshTransport:
    """Open an authenticated SSH connection to `node`, or raise NodeError."""
    deadline = Deadline(options.timeouts.node_deadline)
    try:
        config = load_ssh_config(options.ssh_config_file or node.ssh_config_file)
        target = resolve_node(node, options, config)
        hops_spec, command = route(node, target, config)
        hop_endpoints = [
            resolve_hop(spec, index, len(hops_spec), node, options, config)
            for index, spec in enumerate(hops_spec, start=1)
        ]
    except InputError as exc:  # the CLI validates ssh_config up front; this is the fallback
        raise NodeError(ErrorKind.CONFIG, f"ssh_config: {exc}") from exc
    owned = _Owned()
    try:
        hops: list[_Hop] = []
        for endpoint in hop_endpoints:
            hop_sock, started = _open_socket(endpoint, hops[-1] if hops else None, deadline, owned)
            phase = ConnectPhase(started, endpoint, deadline)
            hops.append(_handshake(hop_sock, endpoint, options, deadline, phase, owned))
        sock: socket.socket | paramiko.Channel | paramiko.ProxyCommand
        if command is not None:
            started = time.monotonic()
            sock = _proxy_command(command, owned)
        else:
            sock, started = _open_socket(target, hops[-1] if hops else None, deadline, owned)
        hop = _handshake(sock, target, options, deadline, ConnectPhase(started, target, deadline), owned)
    except BaseException:
        owned.close()
        raise
    return SshTransport(hop, hops, owned, options.timeouts, command is not None)


def _open_socket(
    endpoint: Endpoint, via: _Hop | None, deadline: Deadline, owned: _Owned
) -> tuple[socket.socket | paramiko.Channel, float]:
    """The hop's socket, and when the attempt began (its connect phase starts there)."""
    if via is None:
        sock, started = _tcp_connect(endpoint, deadline)
        owned.add(sock.close)
        return sock, started
    timeout = deadline.cap(endpoint.connect_timeout, f"before connecting to {endpoint.hostname}")
    started = time.monotonic()
    try:
        channel = jump.open_direct_tcpip(via.transport, endpoint.hostname, endpoint.port, timeout)
    except ChannelException as exc:
        raise NodeError(
            ErrorKind.CONNECT,
            f"{via.endpoint.label or 'the jump host'} could not connect to "
            f"{endpoint.hostname} port {endpoint.port}: {exc.text}",
        ) from None
    except SSHException as exc:
        kind = ErrorKind.TIMEOUT if "timeout" in str(exc).lower() else ErrorKind.CONNECT
        raise NodeError(
            kind,
            f"{via.endpoint.label}: forwarding to {endpoint.hostname} port {endpoint.port} failed: {exc}",
        ) from None
    owned.add(channel.close)
    return channel, started


def _proxy_command(command: str, owned: _Owned) -> paramiko.ProxyCommand:
    try:
        proxy = jump.proxy_command(command)
    except (OSError, SSHException) as exc:
        raise NodeError(ErrorKind.CONNECT, f"cannot start ProxyCommand {command!r}: {exc}") from None
    owned.add(proxy.close)
    return proxy


class SshTransport:
    """An authenticated connection to one node; owns its jump host connections.

    Used by one thread at a time (the one scanning this node); close() may also come
    from another thread (Ctrl-C) and is idempotent.
    """

    def __init__(
        self,
        hop: _Hop,
        jumps: list[_Hop],
        owned: _Owned,
        timeouts: Timeouts,
        proxied: bool,
    ) -> None:
        self._transport = hop.transport
        self._owned = owned
        self._timeouts = timeouts
        endpoint = hop.endpoint
        notes = [n for h in (*jumps, hop) for n in h.endpoint.notes]
        for h in (*jumps, hop):
            if h.host_key.added_to:
                notes.append(
                    f"{h.endpoint.prefix}host key {h.host_key.key_type} "
                    f"{h.host_key.fingerprint} trusted on first use, added to "
                    f"{h.host_key.added_to}"
                )
        for h in (*jumps, hop):
            notes.extend(ssh_algorithms.legacy_notes(h.transport, h.endpoint.prefix))
        strict = getattr(self._transport, "agreed_on_strict_kex", None)
        if strict is False:
            notes.append("strict key exchange not negotiated (Terrapin, CVE-2023-48795)")
        address = endpoint.hostname
        if not jumps and not proxied:
            with contextlib.suppress(OSError, AttributeError):
                address = str(self._transport.getpeername()[0])  # the IP actually used
        self._info = ConnectionInfo(
            transport="ssh",
            address=address,
            port=endpoint.port,
            user=endpoint.user,
            server_version=self._transport.remote_version,
            host_key=f"{hop.host_key.key_type} {hop.host_key.fingerprint}",
            strict_kex=strict if isinstance(strict, bool) else None,
            jump_hosts=tuple(h.endpoint.display for h in jumps),
            notes=tuple(notes),
        )
        self._user = endpoint.user
        log.debug(
            "connected to %s (%s) as %s with %s",
            endpoint.display,
            self._info.server_version,
            endpoint.user,
            hop.identity,
        )

    @property
    def info(self) -> ConnectionInfo:
        return self._info

    @property
    def login_user(self) -> str:
        return self._user

    def start(self, command: str) -> SshProcess:
        if not self._transport.is_active():
            raise NodeError(ErrorKind.CONNECT, "the SSH connection to the node is closed")
        try:
            channel = self._transport.open_session(timeout=self._timeouts.auth)
        except ChannelException as exc:
            raise NodeError(ErrorKind.CONNECT, f"the node refused a session channel: {exc.text}") from None
        except SSHException as exc:
            raise NodeError(ErrorKind.CONNECT, f"cannot open a session channel: {exc}") from None
        # Channel.exec_command waits for the server's answer without any timeout; closing
        # the channel is what wakes it, so a watchdog bounds the wait.
        watchdog = threading.Timer(self._timeouts.auth, channel.close)
        watchdog.daemon = True
        watchdog.start()
        try:
            # exec_command only: no get_pty() (echo, merged stderr), no agent or X11
            # forwarding requests are ever made.
            channel.exec_command(command)
        except SSHException as exc:
            channel.close()
            if not watchdog.is_alive() and self._transport.is_active():
                raise NodeError(
                    ErrorKind.TIMEOUT,
                    f"the node did not answer the exec request within {self._timeouts.auth:g} s",
                ) from None
            raise NodeError(ErrorKind.CONNECT, f"the node refused to run the command: {exc}") from None
        finally:
            watchdog.cancel()
        # Closed by the process once finished, or here at the latest: each channel holds
        # a pipe (two fds) for select(), which a fleet of nodes would otherwise pile up.
        self._owned.add(channel.close)
        return SshProcess(channel, self._timeouts.command)

    def close(self) -> None:
        self._owned.close()
