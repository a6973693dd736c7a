"""The SSH transport: paramiko.Transport driven step by step, never SSHClient.

`connect(node, options)` does what `ssh` would, in this order, each step bounded by
what is left of the node's deadline (Timeouts.node_deadline):

1. settings: command line > inventory > ssh_config > OpenSSH defaults (sshconfig.py);
2. a socket: TCP to every address getaddrinfo returns, or a ProxyCommand, or a
   `direct-tcpip` channel through each ProxyJump hop (jump.py);
3. key exchange, offering only the host key types known_hosts already lists for the
   host, so a known ed25519 key cannot be side-stepped by negotiating rsa;
4. the host key checked against known_hosts (knownhosts.py) BEFORE authenticating:
   an unknown, changed or revoked key ends here and nothing is sent to the node;
5. public key authentication, each identity offered once (a retry loop would trip
   fail2ban or MaxAuthTries); no password, no PTY, no agent forwarding, no X11.

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
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message
from paramiko.pkey import UnknownKeyType
from paramiko.ssh_exception import (
    AuthenticationException,
    BadAuthenticationType,
    ChannelException,
    IncompatiblePeer,
    PartialAuthentication,
    ProxyCommandFailure,
    SSHException,
)

from agent.errors import ErrorKind, InputError, NodeError
from agent.inventory.model import Node
from agent.transport import jump, knownhosts
from agent.transport.base import ConnectionInfo
from agent.transport.options import PassphraseSource, SshOptions, Timeouts
from agent.transport.sshconfig import (
    HostConfig,
    SshConfig,
    expand_path,
    expand_tokens,
    load_ssh_config,
    local_user,
    token_values,
)

if TYPE_CHECKING:
    from agent.secret import Secret

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_IDENTITIES", "SshProcess", "SshTransport", "connect"]

DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
_READ_CHUNK = 65536
_SEND_CHUNK = 32768
_KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL in SshProcess.kill()
_POLL = 0.02  # the channel's fileno only signals stdout: stderr is polled this often

# Host key algorithms and key exchanges paramiko >= 5.0 no longer speaks (SHA-1;
# CVE-2026-44405, paramiko issue #2623). A node offering only these cannot be reached,
# and the bare "no acceptable host key" of paramiko does not tell the operator why.
_SHA1_HOST_KEYS = {
    "ssh-rsa",
    "ssh-dss",
    "ssh-rsa-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
}
_SHA1_KEX = {
    "diffie-hellman-group1-sha1",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group-exchange-sha1",
}


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """One SSH server to reach: the node, or a jump host on the way to it."""

    label: str  # message prefix: "" for the node, "jump host x (hop 1 of 2)" for hops
    original_host: str  # the name ssh_config was looked up with
    hostname: str  # after HostName
    port: int
    user: str
    identity_files: tuple[str, ...]  # expanded paths, in the order they are offered
    identities_required: bool  # from --identity / inventory: a missing file is an error
    identities_only: bool  # no agent and no ~/.ssh/id_* (IdentitiesOnly semantics)
    user_known_hosts: tuple[str, ...]  # UserKnownHostsFile: the first one receives TOFU lines
    extra_known_hosts: tuple[str, ...]  # --known-hosts: read, never written
    global_known_hosts: tuple[str, ...]
    hash_known_hosts: bool
    policy: knownhosts.Policy
    connect_timeout: float
    notes: tuple[str, ...]

    @property
    def prefix(self) -> str:
        return f"{self.label}: " if self.label else ""

    @property
    def display(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}:{self.port}"


class _Deadline:
    """What is left of the per-node budget; every wait is capped by it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self, what: str) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise NodeError(ErrorKind.TIMEOUT, f"the per-node deadline ({self.seconds:g} s) ran out {what}")
        return left

    def cap(self, limit: float, what: str) -> float:
        return min(limit, self.remaining(what))


def _config_error(prefix: str, message: str) -> NodeError:
    return NodeError(ErrorKind.CONFIG, f"{prefix}{message}")


def _paths(values: tuple[str, ...], tokens: dict[str, str], prefix: str, what: str) -> tuple[str, ...]:
    try:
        return tuple(expand_path(v, tokens) for v in values)
    except ValueError as exc:
        raise _config_error(prefix, f"{what}: {exc}") from exc


def _connect_timeout(options: SshOptions, config: HostConfig) -> float:
    # Timeouts always carries a value, so "set on the command line" can only be told
    # from "left at the default" by comparing: a changed value beats ssh_config's
    # ConnectTimeout, the default does not (precedence CLI > ssh_config > defaults).
    cli = options.timeouts.connect
    if config.connect_timeout is not None and cli == Timeouts().connect:
        return config.connect_timeout
    return cli


def _resolve(
    *,
    label: str,
    original_host: str,
    config: HostConfig,
    address: str | None,
    user: str | None,
    port: int | None,
    identities: tuple[str, ...],
    identities_required: bool,
    user_known_hosts: tuple[str, ...],
    strict_value: str | None,
    options: SshOptions,
) -> _Endpoint:
    prefix = f"{label}: " if label else ""
    if address:
        hostname = address
    elif config.hostname:
        try:
            hostname = expand_tokens(config.hostname, {"h": original_host}, allowed="h")
        except ValueError as exc:
            raise _config_error(prefix, f"ssh_config HostName: {exc}") from exc
    else:
        hostname = original_host
    login = user or config.user or local_user()
    port = port or config.port or 22
    tokens = token_values(original_host=original_host, hostname=hostname, port=port, remote_user=login)
    if not identities:
        identities, identities_required = config.identity_files, False
    identity_files = _paths(identities, tokens, prefix, "IdentityFile")
    # UserKnownHostsFile: the inventory's (ansible_ssh_common_args -o) replaces
    # ssh_config's, which replaces OpenSSH's defaults; --known-hosts files are read on
    # top of them. Trust on first use writes to the first UserKnownHostsFile, as ssh does.
    user_files: tuple[str, ...] | None = user_known_hosts or config.user_known_hosts_files
    if user_files is None:
        user_files = knownhosts.DEFAULT_USER_FILES
    global_files = config.global_known_hosts_files
    if global_files is None:
        global_files = knownhosts.DEFAULT_GLOBAL_FILES
    policy = knownhosts.resolve_policy(
        accept_new_flag=options.accept_new_host_keys,
        node_value=strict_value,
        config_value=config.strict_host_key_checking,
        label=label,
    )
    notes: list[str] = []
    if config.forward_agent:
        notes.append(f"{prefix}ForwardAgent in ssh_config ignored: nodeward never forwards the agent")
    return _Endpoint(
        label=label,
        original_host=original_host,
        hostname=hostname,
        port=port,
        user=login,
        identity_files=identity_files,
        identities_required=identities_required,
        identities_only=bool(identity_files) or bool(config.identities_only),
        user_known_hosts=_paths(user_files, tokens, prefix, "UserKnownHostsFile"),
        extra_known_hosts=_paths(options.known_hosts_files, tokens, prefix, "--known-hosts"),
        global_known_hosts=_paths(global_files, tokens, prefix, "GlobalKnownHostsFile"),
        hash_known_hosts=bool(config.hash_known_hosts),
        policy=policy,
        connect_timeout=_connect_timeout(options, config),
        notes=tuple(notes),
    )


def _resolve_node(node: Node, options: SshOptions, config: SshConfig) -> _Endpoint:
    # ssh_config is looked up with the inventory name, as `ssh -o HostName=<address>
    # <name>` would: `Host <name>` blocks (the usual aliases) apply, and the inventory's
    # address, when set, wins over their HostName. (Ansible runs `ssh <ansible_host>`
    # instead, so `Host <name>` blocks never apply there once ansible_host is set.)
    host_config = config.lookup(node.name)
    explicit = options.identity_files or node.identity_files
    return _resolve(
        label="",
        original_host=node.name,
        config=host_config,
        address=node.address,
        user=options.user or node.user,
        port=node.port,
        identities=explicit,
        identities_required=bool(explicit),
        user_known_hosts=node.known_hosts_files,
        strict_value=node.strict_host_key_checking,
        options=options,
    )


def _resolve_hop(
    spec: jump.JumpSpec, index: int, count: int, node: Node, options: SshOptions, config: SshConfig
) -> _Endpoint:
    # Like `ssh -J`, a hop takes its own User/Port/HostName/IdentityFile from ssh_config;
    # --user and the inventory's user/port describe the node, not the bastion. The
    # scanning identity (--identity) is offered to hops that configure none themselves:
    # the bastion usually accepts the same key, and cron has no agent to fall back on.
    host_config = config.lookup(spec.host)
    return _resolve(
        label=f"jump host {spec} (hop {index} of {count})",
        original_host=spec.host,
        config=host_config,
        address=None,
        user=spec.user,
        port=spec.port,
        identities=() if host_config.identity_files else options.identity_files,
        identities_required=not host_config.identity_files and bool(options.identity_files),
        user_known_hosts=(),  # the inventory's UserKnownHostsFile is the node's
        strict_value=node.strict_host_key_checking,
        options=options,
    )


def _route(node: Node, target: _Endpoint, config: SshConfig) -> tuple[tuple[jump.JumpSpec, ...], str | None]:
    """(ProxyJump hops, ProxyCommand) for the node; at most one of them is set."""
    if node.proxy_jump and node.proxy_command:
        raise _config_error("", "the inventory sets both a ProxyJump and a ProxyCommand")
    jump_value, command = node.proxy_jump, node.proxy_command
    if not jump_value and not command:
        host_config = config.lookup(node.name)
        jump_value, command = host_config.proxy_jump, host_config.proxy_command
    tokens = token_values(
        original_host=target.original_host,
        hostname=target.hostname,
        port=target.port,
        remote_user=target.user,
    )
    try:
        if command and command.strip().lower() != "none":
            return (), expand_tokens(command, tokens, allowed="hnpr")
        if jump_value and jump_value.lower() != "none":
            return jump.parse_proxy_jump(expand_tokens(jump_value, tokens, allowed="hnpr")), None
    except ValueError as exc:
        raise _config_error("", str(exc)) from exc
    return (), None


# --------------------------------------------------------------------------- sockets


def _tcp_connect(endpoint: _Endpoint, deadline: _Deadline) -> socket.socket:
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
        return sock
    kind_ = ErrorKind.TIMEOUT if failures and all_timed_out else ErrorKind.CONNECT
    raise NodeError(kind_, f"{prefix}cannot connect: {'; '.join(failures) or 'no address'}")


class _Transport(paramiko.Transport):
    """paramiko.Transport that remembers the server's KEXINIT offer.

    When negotiation fails paramiko only says "no acceptable host key"; with the
    server's lists at hand we can say "the server offers only SHA-1" instead.
    """

    server_offer: dict[str, list[str]] | None = None

    def _parse_kex_init(self, m: Message) -> None:
        try:
            parsed = self._really_parse_kex_init(Message(m.asbytes()))  # type: ignore[attr-defined]
            self.server_offer = cast("dict[str, list[str]]", parsed)
        except Exception:  # diagnostics only: never let them break negotiation
            log.debug("could not record the server's KEXINIT", exc_info=True)
        super()._parse_kex_init(m)  # type: ignore[misc]


def _host_key_algorithms(known_types: tuple[str, ...], preferred: tuple[str, ...]) -> list[str]:
    """paramiko's host key algorithms restricted to the key types already known."""

    def key_type(algorithm: str) -> str:
        return "ssh-rsa" if algorithm in ("rsa-sha2-512", "rsa-sha2-256") else algorithm

    return [a for a in preferred if key_type(a) in known_types]


# --------------------------------------------------------------------------- handshake


@dataclass(slots=True)
class _Hop:
    """An established, authenticated SSH connection (the node's or a jump host's)."""

    endpoint: _Endpoint
    transport: _Transport
    host_key: knownhosts.Accepted
    identity: str


def _negotiation_error(
    exc: BaseException, transport: _Transport, endpoint: _Endpoint, known_types: tuple[str, ...]
) -> NodeError:
    prefix = endpoint.prefix
    where = f"{endpoint.hostname} port {endpoint.port}"
    if isinstance(exc, ProxyCommandFailure):
        return NodeError(ErrorKind.CONNECT, f"{prefix}ProxyCommand failed: {exc}")
    if isinstance(exc, IncompatiblePeer):
        return _incompatible(exc, transport, endpoint, known_types)
    if not transport.remote_version:
        cause = exc.__context__ or exc
        if isinstance(cause, TimeoutError):
            return NodeError(
                ErrorKind.BANNER,
                f"{prefix}{where} accepted the connection but sent no SSH banner within "
                f"{transport.banner_timeout:g} s (not an SSH server, or sshd is overloaded: "
                "MaxStartups, slow DNS lookups with UseDNS yes)",
            )
        if "Indecipherable" in str(exc) or "Incompatible version" in str(exc):
            return NodeError(ErrorKind.PROTOCOL, f"{prefix}{where} is not an SSH-2 server: {exc}")
        return NodeError(
            ErrorKind.CONNECT,
            f"{prefix}{where} closed the connection before sending an SSH banner "
            "(tcpwrappers, MaxStartups, or a firewall/proxy in between)",
        )
    if transport.packetizer.handshake_timed_out():
        return NodeError(
            ErrorKind.TIMEOUT,
            f"{prefix}{where}: key exchange did not finish within {transport.handshake_timeout:g} s",
        )
    if isinstance(exc, (EOFError, OSError)) or str(exc) == "Negotiation failed.":
        return NodeError(
            ErrorKind.CONNECT,
            f"{prefix}{where} ({transport.remote_version}) closed the connection during key exchange",
        )
    return NodeError(ErrorKind.PROTOCOL, f"{prefix}SSH negotiation with {where} failed: {exc}")


def _incompatible(
    exc: IncompatiblePeer, transport: _Transport, endpoint: _Endpoint, known_types: tuple[str, ...]
) -> NodeError:
    prefix = endpoint.prefix
    offer = transport.server_offer or {}
    version = transport.remote_version
    text = str(exc)
    if "host key" in text:
        offered = offer.get("server_key_algo_list", [])
        if offered and set(offered) <= _SHA1_HOST_KEYS:
            return NodeError(
                ErrorKind.PROTOCOL,
                f"{prefix}the server ({version}) offers only SHA-1 host key signatures "
                f"({', '.join(offered)}), which paramiko 5 removed (CVE-2026-44405): enable "
                "rsa-sha2-256/512 or an ed25519 host key on the node (OpenSSH >= 7.2)",
            )
        if known_types:
            return NodeError(
                ErrorKind.HOSTKEY,
                f"{prefix}known_hosts lists only {', '.join(known_types)} key(s) for "
                f"{knownhosts.host_token(endpoint.hostname, endpoint.port)}, but the server "
                f"offers {', '.join(offered) or 'other types'}: its host key may have been "
                "replaced. Verify it out of band and update known_hosts. Nothing was run.",
            )
        return NodeError(
            ErrorKind.PROTOCOL,
            f"{prefix}no common host key algorithm: the server ({version}) offers "
            f"{', '.join(offered) or 'nothing usable'}",
        )
    if "kex" in text:
        offered = [a for a in offer.get("kex_algo_list", []) if not a.startswith(("ext-", "kex-"))]
        if offered and set(offered) <= _SHA1_KEX:
            return NodeError(
                ErrorKind.PROTOCOL,
                f"{prefix}the server ({version}) offers only SHA-1 key exchange "
                f"({', '.join(offered)}), which paramiko 5 removed (CVE-2026-44405): enable "
                "curve25519-sha256 or diffie-hellman-group14-sha256 on the node",
            )
        return NodeError(
            ErrorKind.PROTOCOL,
            f"{prefix}no common key exchange algorithm: the server ({version}) offers "
            f"{', '.join(offered) or 'nothing usable'}",
        )
    return NodeError(ErrorKind.PROTOCOL, f"{prefix}SSH negotiation failed ({version}): {text}")


def _handshake(
    sock: Any, endpoint: _Endpoint, options: SshOptions, deadline: _Deadline, owned: _Owned
) -> _Hop:
    transport = _Transport(sock)
    owned.add(transport.close)
    transport.banner_timeout = deadline.cap(options.timeouts.banner, "before the SSH banner")
    # paramiko reuses this for the whole key exchange after the banner.
    transport.handshake_timeout = deadline.cap(options.timeouts.banner, "before key exchange")
    known = knownhosts.KnownHosts.load(
        (*endpoint.user_known_hosts, *endpoint.extra_known_hosts, *endpoint.global_known_hosts)
    )
    name = knownhosts.host_token(endpoint.hostname, endpoint.port)
    known_types = known.known_types(name)
    security = transport.get_security_options()
    algorithms = _host_key_algorithms(known_types, tuple(security.key_types))
    if algorithms:
        security.key_types = algorithms
    try:
        transport.start_client(timeout=deadline.remaining("before key exchange"))
    except (SSHException, EOFError, OSError) as exc:
        raise _negotiation_error(exc, transport, endpoint, known_types) from exc
    if not transport.initial_kex_done:
        # start_client() returns silently when its timeout passes.
        raise NodeError(
            ErrorKind.TIMEOUT,
            f"{endpoint.prefix}key exchange with {endpoint.hostname} port {endpoint.port} "
            "did not finish before the per-node deadline",
        )
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
    identity = _authenticate(transport, endpoint, options, deadline)
    return _Hop(endpoint, transport, accepted, identity)


# --------------------------------------------------------------------------- auth


class _KeyProblem(Exception):
    """An identity that cannot be offered (missing, unreadable, encrypted, ...)."""


# A failure is remembered too: a fleet run must not prompt once per node for a key whose
# passphrase was refused or wrong.
_key_cache: dict[tuple[object, str, int, int], paramiko.PKey | _KeyProblem] = {}
_key_locks: dict[str, threading.Lock] = {}
_cache_lock = threading.Lock()


def _load_key(path: str, source: PassphraseSource | None) -> paramiko.PKey:
    """Load a private key (and `<key>-cert.pub` beside it), asking for a passphrase once.

    Decrypted keys are cached per key file and passphrase source, so a fleet of nodes
    neither asks again nor repeats the (deliberately slow) bcrypt KDF of encrypted keys.
    """
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise _KeyProblem(f"identity file {path} does not exist") from None
    except OSError as exc:
        raise _KeyProblem(f"cannot read identity file {path}: {exc.strerror}") from None
    real = os.path.realpath(path)
    try:
        hash(source)
        owner: object = source
    except TypeError:  # an unhashable callable object: cache per instance instead
        owner = id(source)
    cache_key = (owner, real, stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        path_lock = _key_locks.setdefault(real, threading.Lock())
    with path_lock:  # one prompt per key even when many nodes start at once
        with _cache_lock:
            cached = _key_cache.get(cache_key)
        if cached is None:
            try:
                cached = _decode_key(path, source)
            except _KeyProblem as exc:
                cached = exc
            with _cache_lock:
                _key_cache[cache_key] = cached
    if isinstance(cached, _KeyProblem):
        raise _KeyProblem(str(cached))
    return cached


def _decode_key(path: str, source: PassphraseSource | None) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(path)
    except TypeError as exc:
        if "password" not in str(exc).lower():
            raise
    except OSError as exc:
        raise _KeyProblem(f"cannot read identity file {path}: {exc.strerror or exc}") from None
    except UnknownKeyType:
        raise _KeyProblem(
            f"identity file {path} has an unsupported key type (DSA was removed in paramiko 4)"
        ) from None
    except (ValueError, SSHException) as exc:
        raise _KeyProblem(f"identity file {path} is not a usable private key: {exc}") from None
    # Encrypted.
    secret: Secret | None = source(path) if source is not None else None
    if secret is None:
        raise _KeyProblem(
            f"identity file {path} is encrypted and no passphrase is available (no terminal "
            "and no passphrase file): use an ssh-agent, or provide the passphrase"
        )
    try:
        # paramiko 5.1's from_path hands `password` straight to cryptography's
        # load_ssh_private_key, which wants bytes ("password must be bytes" for str);
        # its annotation says str.
        password = cast(str, secret.reveal().encode())
        return paramiko.PKey.from_path(path, password)
    except (ValueError, TypeError, SSHException):
        raise _KeyProblem(f"cannot decrypt identity file {path}: wrong passphrase or corrupt key") from None


def _identities(
    endpoint: _Endpoint, options: SshOptions, skipped: list[str], agent_holder: list[paramiko.Agent]
) -> Iterator[tuple[str, paramiko.PKey]]:
    """(description, key) in the order they are offered; loaded lazily."""
    if endpoint.identity_files:
        for path in endpoint.identity_files:
            try:
                yield path, _load_key(path, options.passphrase)
            except _KeyProblem as exc:
                if endpoint.identities_required or os.path.exists(path):
                    raise NodeError(ErrorKind.AUTH, f"{endpoint.prefix}{exc}") from None
                skipped.append(str(exc))  # like ssh: a configured but absent file is skipped
        return
    if options.use_agent and not endpoint.identities_only:
        try:
            agent = paramiko.Agent()
        except SSHException as exc:
            skipped.append(f"ssh-agent: {exc}")
        else:
            agent_holder.append(agent)
            for key in agent.get_keys():
                yield f"agent key {key.get_name()} {key.fingerprint}", key
    for default in DEFAULT_IDENTITIES:
        path = os.path.expanduser(default)
        if not os.path.exists(path):
            continue
        try:
            yield path, _load_key(path, options.passphrase)
        except _KeyProblem as exc:
            skipped.append(str(exc))


def _authenticate(
    transport: _Transport, endpoint: _Endpoint, options: SshOptions, deadline: _Deadline
) -> str:
    prefix = endpoint.prefix
    who = endpoint.display
    auth_end = time.monotonic() + options.timeouts.auth
    tried: list[str] = []
    skipped: list[str] = []
    agents: list[paramiko.Agent] = []
    try:
        for description, key in _identities(endpoint, options, skipped, agents):
            left = min(auth_end - time.monotonic(), deadline.remaining("during authentication"))
            if left <= 0:
                raise NodeError(
                    ErrorKind.TIMEOUT,
                    f"{prefix}authentication as {who} took longer than {options.timeouts.auth:g} s",
                )
            transport.auth_timeout = left
            tried.append(description)
            try:
                remaining = transport.auth_publickey(endpoint.user, key)
            except BadAuthenticationType as exc:
                raise NodeError(
                    ErrorKind.AUTH,
                    f"{prefix}{who} does not accept public keys (server allows: "
                    f"{', '.join(exc.allowed_types) or 'nothing'})",
                ) from None
            except PartialAuthentication as exc:
                remaining = list(exc.allowed_types)
            except AuthenticationException as exc:
                if "timeout" in str(exc).lower():
                    raise NodeError(
                        ErrorKind.TIMEOUT,
                        f"{prefix}{who}: no answer to authentication within {left:g} s",
                    ) from None
                if not transport.is_active():
                    raise NodeError(
                        ErrorKind.AUTH,
                        f"{prefix}{who} closed the connection during authentication after "
                        f"trying {', '.join(tried)} (MaxAuthTries reached?)",
                    ) from None
                continue
            except SSHException as exc:
                raise NodeError(
                    ErrorKind.CONNECT, f"{prefix}connection lost during authentication: {exc}"
                ) from None
            if remaining:
                raise NodeError(
                    ErrorKind.AUTH,
                    f"{prefix}{who} accepted {description} but asks for more "
                    f"({', '.join(remaining)}); multi-factor login is not supported",
                )
            return description
    finally:
        for agent in agents:
            agent.close()
    if tried:
        message = f"{prefix}no identity was accepted for {who}: tried {', '.join(tried)}"
    else:
        message = (
            f"{prefix}no identity to offer for {who}: give --identity, an IdentityFile in "
            "ssh_config or the inventory, or run an ssh-agent"
        )
    if skipped:
        message += f" (skipped: {'; '.join(skipped)})"
    raise NodeError(ErrorKind.AUTH, message)


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
    deadline = _Deadline(options.timeouts.node_deadline)
    try:
        config = load_ssh_config(options.ssh_config_file or node.ssh_config_file)
        target = _resolve_node(node, options, config)
        hops_spec, command = _route(node, target, config)
        hop_endpoints = [
            _resolve_hop(spec, index, len(hops_spec), node, options, config)
            for index, spec in enumerate(hops_spec, start=1)
        ]
    except InputError as exc:  # the CLI validates ssh_config up front; this is the fallback
        raise NodeError(ErrorKind.CONFIG, f"ssh_config: {exc}") from exc
    owned = _Owned()
    try:
        hops: list[_Hop] = []
        for endpoint in hop_endpoints:
            hop_sock = _open_socket(endpoint, hops[-1] if hops else None, deadline, owned)
            hops.append(_handshake(hop_sock, endpoint, options, deadline, owned))
        sock: socket.socket | paramiko.Channel | paramiko.ProxyCommand
        if command is not None:
            sock = _proxy_command(command, owned)
        else:
            sock = _open_socket(target, hops[-1] if hops else None, deadline, owned)
        hop = _handshake(sock, target, options, deadline, owned)
    except BaseException:
        owned.close()
        raise
    return SshTransport(hop, hops, owned, options.timeouts, command is not None)


def _open_socket(
    endpoint: _Endpoint, via: _Hop | None, deadline: _Deadline, owned: _Owned
) -> socket.socket | paramiko.Channel:
    if via is None:
        sock = _tcp_connect(endpoint, deadline)
        owned.add(sock.close)
        return sock
    timeout = deadline.cap(endpoint.connect_timeout, f"before connecting to {endpoint.hostname}")
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
    return channel


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


class SshProcess:
    """One exec channel: stdin, stdout and stderr, drained together."""

    def __init__(self, channel: paramiko.Channel, write_timeout: float) -> None:
        self._channel = channel
        self._write_timeout = write_timeout
        self._out = bytearray()  # output that arrived while write() waited
        self._err = bytearray()
        self._stdin_closed = False
        # Creating the pipe early: it signals stdout data and channel close, so read()
        # can sleep in select() instead of spinning.
        self._fileno = channel.fileno()

    def _drain(self) -> None:
        channel = self._channel
        # paramiko deadlocks if one stream is read while the other's window fills:
        # always take everything that is buffered on both.
        while channel.recv_ready():
            chunk = channel.recv(_READ_CHUNK)
            if not chunk:
                break
            self._out += chunk
        while channel.recv_stderr_ready():
            chunk = channel.recv_stderr(_READ_CHUNK)
            if not chunk:
                break
            self._err += chunk

    def _take(self) -> tuple[bytes, bytes]:
        out, err = bytes(self._out), bytes(self._err)
        self._out.clear()
        self._err.clear()
        return out, err

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._channel.eof_received or self._channel.closed:
            # After EOF the pipe stays readable forever; select would return at once.
            time.sleep(min(seconds, _POLL))
            return
        select.select([self._fileno], [], [], min(seconds, _POLL))

    def read(self, wait: float) -> tuple[bytes, bytes]:
        end = time.monotonic() + max(wait, 0.0)
        while True:
            self._drain()
            if self._out or self._err:
                return self._take()
            if self.finished:
                self._channel.close()  # releases the select() pipe; nothing more can come
                return b"", b""
            left = end - time.monotonic()
            if left <= 0:
                return b"", b""
            self._wait(left)

    def write(self, data: bytes) -> None:
        channel = self._channel
        if self._stdin_closed or channel.eof_sent:
            raise NodeError(ErrorKind.GATHER, "stdin of the remote command is already closed")
        view = memoryview(data)
        give_up = time.monotonic() + self._write_timeout
        while view:
            self._check_writable()
            if channel.send_ready():
                try:
                    sent = channel.send(bytes(view[:_SEND_CHUNK]))
                except OSError:
                    sent = 0
                if sent == 0:
                    self._check_writable()
                    raise NodeError(ErrorKind.GATHER, "the remote command closed its input")
                view = view[sent:]
                continue
            # The send window is full: the remote side is not reading its stdin, maybe
            # because it is blocked writing output that nobody reads. Read it for the
            # caller meanwhile, so neither side can wait on the other forever.
            self._drain()
            if time.monotonic() > give_up:
                raise NodeError(
                    ErrorKind.TIMEOUT,
                    f"the remote command did not read its input for {self._write_timeout:g} s",
                )
            self._wait(_POLL)

    def _check_writable(self) -> None:
        channel = self._channel
        if not channel.get_transport().is_active():
            raise NodeError(ErrorKind.CONNECT, "the SSH connection was lost")
        if channel.closed or channel.exit_status_ready():
            raise NodeError(ErrorKind.GATHER, "the remote command exited before reading all its input")

    def close_stdin(self) -> None:
        if self._stdin_closed:
            return
        self._stdin_closed = True
        with contextlib.suppress(OSError, EOFError, SSHException):
            self._channel.shutdown_write()

    @property
    def finished(self) -> bool:
        channel = self._channel
        return bool(
            (channel.closed or (channel.eof_received and channel.exit_status_ready()))
            and not channel.recv_ready()
            and not channel.recv_stderr_ready()
            and not self._out
            and not self._err
        )

    @property
    def exit_code(self) -> int | None:
        channel = self._channel
        if not channel.status_event.is_set():
            return None
        # -1 is paramiko's "never received": the channel closed without exit-status
        # (connection lost, or the command died from a signal: exit-signal).
        return None if channel.exit_status == -1 else channel.exit_status

    def kill(self) -> None:
        """Stop the command: SIGTERM, then SIGKILL, to its session, then close the channel.

        Closing the channel alone does not stop anything: without a PTY, sshd just
        closes the pipes and a `sleep` or a hung `sshd -T` keeps running. The signals
        travel as RFC 4254 "signal" requests, which OpenSSH's sshd turns into a killpg()
        of the session (verified with 9.2p1); sudo relays the TERM to its command.
        Servers that do not support them ignore the request.
        """
        channel = self._channel
        with contextlib.suppress(Exception):
            if not channel.closed and not channel.exit_status_ready():
                _send_signal(channel, "TERM")
                give_up = time.monotonic() + _KILL_GRACE
                while not channel.exit_status_ready() and time.monotonic() < give_up:
                    time.sleep(_POLL)
                if not channel.exit_status_ready():
                    _send_signal(channel, "KILL")
        with contextlib.suppress(Exception):
            channel.close()


def _send_signal(channel: paramiko.Channel, name: str) -> None:
    # paramiko has no API for the "signal" channel request (RFC 4254 section 6.9).
    message = Message()
    message.add_byte(cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string("signal")
    message.add_boolean(False)  # want-reply: sshd sends none for signals anyway
    message.add_string(name)
    send = getattr(channel.get_transport(), "_send_user_message", None)
    if send is not None:
        send(message)
