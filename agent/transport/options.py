"""Connection settings that come from the command line (not from the inventory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agent.secret import Secret

# Asked once per encrypted key file; returns None when no passphrase can be had
# (no terminal and no --key-passphrase-file), which makes that key an `auth` error.
PassphraseSource = Callable[[str], Secret | None]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. Every network wait is bounded; `node_deadline` bounds them all together."""

    connect: float = 10.0  # TCP connect, per address tried
    banner: float = 10.0  # from TCP accept to the SSH banner
    auth: float = 15.0  # key exchange done -> authenticated
    command: float = 120.0  # one exec, from start to exit status
    node_deadline: float = 300.0  # everything for one node, jump hosts included


@dataclass(frozen=True, slots=True)
class SshOptions:
    ssh_config_file: str | None = None  # -F; None means ~/.ssh/config then /etc/ssh/ssh_config
    known_hosts_files: tuple[str, ...] = ()  # read in addition to ssh_config's files
    accept_new_host_keys: bool = False  # explicit trust-on-first-use; a changed key still fails
    identity_files: tuple[str, ...] = ()  # --identity: overrides inventory and ssh_config
    user: str | None = None  # --user: overrides inventory and ssh_config
    use_agent: bool = True  # ignored when an identity file is set (IdentitiesOnly semantics)
    passphrase: PassphraseSource | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
