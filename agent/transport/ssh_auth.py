"""Public key authentication: which identities are offered, in what order, and how.

Each identity is offered once (a retry loop would trip fail2ban or MaxAuthTries); no
password, no keyboard-interactive. An encrypted key is decrypted (and its passphrase asked) once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

import paramiko
from paramiko.pkey import UnknownKeyType
from paramiko.ssh_exception import (
    AuthenticationException,
    BadAuthenticationType,
    PartialAuthentication,
    SSHException,
)

from agent.errors import ErrorKind, NodeError
from agent.transport.options import PassphraseSource, SshOptions
from agent.transport.ssh_route import Deadline, Endpoint

if TYPE_CHECKING:
    from agent.secret import Secret

__all__ = ["DEFAULT_IDENTITIES", "authenticate"]

DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


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
    endpoint: Endpoint, options: SshOptions, skipped: list[str], agent_holder: list[paramiko.Agent]
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


def authenticate(
    transport: paramiko.Transport, endpoint: Endpoint, options: SshOptions, deadline: Deadline
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
