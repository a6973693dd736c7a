"""Key exchange: offer only the host key types already known, and explain failures.

paramiko's own messages ("no acceptable host key", "Negotiation failed.") do not tell
the operator what to change; the server's KEXINIT offer, recorded here, usually does.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import paramiko
from paramiko.message import Message
from paramiko.ssh_exception import IncompatiblePeer, ProxyCommandFailure

from agent.errors import ErrorKind, NodeError
from agent.textsafe import printable
from agent.transport import knownhosts, ssh_algorithms
from agent.transport.ssh_route import Endpoint

log = logging.getLogger(__name__)

__all__ = [
    "OfferRecordingTransport",
    "RecordingSocket",
    "host_key_algorithms",
    "negotiation_error",
    "not_ssh_error",
]

_HEAD = 256  # bytes of the server's first words kept to explain a failure


class RecordingSocket:
    """A socket (or channel, or ProxyCommand) that keeps the first bytes it receives.

    paramiko discards what it read when the banner is not SSH ("Indecipherable" only
    after 100 lines; a decode error or a close before that looks like a refused
    connection). With the first bytes at hand, "not an SSH server" can be told from
    "closed before a word" and from "a banner still arriving".
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.head = bytearray()

    def recv(self, size: int) -> bytes:
        data: bytes = self._sock.recv(size)
        if len(self.head) < _HEAD:
            self.head += data[: _HEAD - len(self.head)]
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def banner_pending(self) -> bool:
        """Nothing received yet, or text that may still become an SSH version line.

        A partial last line compatible with "SSH-" is a banner still arriving (slowly);
        earlier complete lines are allowed before it (RFC 4253 4.2). Anything else, such
        as binary data or an SMTP greeting waiting for us, is not SSH.
        """
        if not self.head:
            return True
        text = bytes(self.head).replace(b"\r\n", b"\n")
        if any(byte < 0x20 and byte != 0x0A for byte in text) or 0x7F in text:
            return False
        partial = text.rsplit(b"\n", 1)[-1]
        return bool(partial) and (partial.startswith(b"SSH-") or b"SSH-".startswith(partial))

    def describe(self) -> str:
        """The first bytes received, escaped for a message."""
        return printable(bytes(self.head[:64]).decode("utf-8", "backslashreplace"), 200)


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


class OfferRecordingTransport(paramiko.Transport):
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


def host_key_algorithms(known_types: tuple[str, ...], preferred: tuple[str, ...]) -> list[str]:
    """paramiko's host key algorithms restricted to the key types already known."""

    def key_type(algorithm: str) -> str:
        return "ssh-rsa" if algorithm in ("rsa-sha2-512", "rsa-sha2-256") else algorithm

    return [a for a in preferred if key_type(a) in known_types]


def not_ssh_error(received: RecordingSocket, endpoint: Endpoint) -> NodeError:
    return NodeError(
        ErrorKind.PROTOCOL,
        f"{endpoint.prefix}{endpoint.hostname} port {endpoint.port} is not an SSH server: "
        f"instead of an SSH banner it sent '{received.describe()}'",
    )


def negotiation_error(
    exc: BaseException,
    transport: OfferRecordingTransport,
    endpoint: Endpoint,
    known_types: tuple[str, ...],
    received: RecordingSocket | None = None,
) -> NodeError:
    prefix = endpoint.prefix
    where = f"{endpoint.hostname} port {endpoint.port}"
    if isinstance(exc, ProxyCommandFailure):
        return NodeError(ErrorKind.CONNECT, f"{prefix}ProxyCommand failed: {exc}")
    if isinstance(exc, IncompatiblePeer):
        return _incompatible(exc, transport, endpoint, known_types)
    if not transport.remote_version:
        if received is not None and not received.banner_pending():
            return not_ssh_error(received, endpoint)
        cause = exc.__context__ or exc
        if isinstance(cause, TimeoutError):
            return NodeError(
                ErrorKind.BANNER,
                f"{prefix}{where} accepted the connection but sent no SSH banner within "
                f"{transport.banner_timeout:g} s (not an SSH server, or sshd is overloaded: "
                "MaxStartups, slow DNS lookups with UseDNS yes)",
            )
        if "Indecipherable" in str(exc) or "Incompatible version" in str(exc):
            return NodeError(
                ErrorKind.PROTOCOL, f"{prefix}{where} is not an SSH-2 server: {printable(str(exc), 200)}"
            )
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
    exc: IncompatiblePeer,
    transport: OfferRecordingTransport,
    endpoint: Endpoint,
    known_types: tuple[str, ...],
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
    for word, category in (("cipher", "ciphers"), ("macs", "macs")):
        if word in text:
            return ssh_algorithms.legacy_refusal(category, offer, version, prefix)
    return NodeError(ErrorKind.PROTOCOL, f"{prefix}SSH negotiation failed ({version}): {text}")
