"""ProxyJump and ProxyCommand: how the node's SSH socket is obtained when not direct.

paramiko has no ProxyJump (paramiko issue #1018: "building-block style"), so we build
it like `ssh -J` does: connect and authenticate to the first jump host, open a
`direct-tcpip` channel on it to the next hop, run the next SSH session over that
channel, and so on. Every hop is a full SSH connection of its own: its own ssh_config
settings (HostName, User, Port, IdentityFile), its own host key verified with the same
policy as the node. The orchestration lives in `ssh.py`; this module parses hop
specifications and opens the sockets.

ProxyCommand runs a local command (`/bin/sh -c 'exec <command>'`, as ssh(1) uses the
shell) whose stdin/stdout carry the SSH stream. The inventory and ssh_config are
therefore trusted code, exactly as they are for OpenSSH: whoever can edit them can run
commands as the user running nodeward.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import paramiko

# Host names, IPv4 and (bracketed in specs) IPv6 addresses; no shell metacharacters,
# no leading "-" (an option to whatever might one day receive it), no whitespace.
_HOST = re.compile(r"[A-Za-z0-9_.:%-]+")
_USER = re.compile(r"[A-Za-z0-9_.@+-]+")


@dataclass(frozen=True, slots=True)
class JumpSpec:
    """One hop of a ProxyJump list: `[user@]host[:port]` (or `ssh://` URI form)."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{host}{port}"


def parse_proxy_jump(value: str) -> tuple[JumpSpec, ...]:
    """`a,user@b:2222,[::1]:22` -> hops, first first. Raises ValueError when malformed."""
    hops = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            raise ValueError(f"empty hop in ProxyJump {value!r}")
        hops.append(_parse_hop(item))
    return tuple(hops)


def _parse_hop(item: str) -> JumpSpec:
    text = item.removeprefix("ssh://")
    user: str | None = None
    if "@" in text:
        user, _, text = text.rpartition("@")  # OpenSSH splits at the last "@"
        if not user or not _USER.fullmatch(user) or user.startswith("-"):
            raise ValueError(f"bad user in ProxyJump hop {item!r}")
    port_text: str | None = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad bracketed address in ProxyJump hop {item!r}")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text  # a bare IPv6 address has several colons and no port
    if not host or not _HOST.fullmatch(host) or host.startswith("-"):
        raise ValueError(f"bad host in ProxyJump hop {item!r}")
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port in ProxyJump hop {item!r}")
        port = int(port_text)
    return JumpSpec(host=host, user=user, port=port)


def open_direct_tcpip(via: paramiko.Transport, host: str, port: int, timeout: float) -> paramiko.Channel:
    """A channel on `via` connected to host:port, usable as the next hop's socket.

    The originator address is informational for the jump host's sshd; ssh(1) sends
    127.0.0.1:0 for -J as well.
    """
    return via.open_channel(
        "direct-tcpip", dest_addr=(host, port), src_addr=("127.0.0.1", 0), timeout=timeout
    )


def proxy_command(command: str) -> paramiko.ProxyCommand:
    """Start ProxyCommand through /bin/sh like ssh(1) does.

    paramiko.ProxyCommand splits its argument with shlex and executes it without a
    shell, so pipes, redirections and `$VAR` in a ProxyCommand that works with ssh(1)
    would silently break; wrapping it keeps OpenSSH's semantics.
    """
    import paramiko

    return paramiko.ProxyCommand("/bin/sh -c " + shlex.quote("exec " + command))
