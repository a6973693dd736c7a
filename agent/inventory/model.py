"""The node model every other module consumes: one frozen Node per inventory host."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.secret import Secret


class Connection(enum.StrEnum):
    SSH = "ssh"
    LOCAL = "local"


@dataclass(frozen=True, slots=True)
class Node:
    """Everything needed to reach and judge one node.

    `None` means "not set in the inventory": the SSH layer then asks ssh_config and
    finally OpenSSH's defaults, in that order, as `ssh` itself would.
    """

    name: str  # inventory name: the node's identity in every report
    address: str | None = None  # ansible_host / address; None -> name (or ssh_config HostName)
    port: int | None = None
    user: str | None = None
    identity_files: tuple[str, ...] = ()
    proxy_jump: str | None = None  # OpenSSH syntax: [user@]host[:port][,...]
    proxy_command: str | None = None
    known_hosts_files: tuple[str, ...] = ()  # UserKnownHostsFile from ansible_ssh_common_args
    ssh_config_file: str | None = None  # -F from ansible_ssh_common_args
    strict_host_key_checking: str | None = None  # "yes" | "accept-new" (never "no")
    legacy_algorithms: tuple[str, ...] = ()  # SSH algorithms re-enabled (agent/transport/ssh_algorithms.yaml)
    allow_no_strict_kex: bool = False  # accept Terrapin-prone modes when the node lacks strict KEX
    connection: Connection = Connection.SSH
    become: bool = True  # gather as root through sudo (or directly when root)
    become_password: Secret | None = None
    groups: tuple[str, ...] = ()  # every group the host belongs to, including parents
    roles: tuple[str, ...] = ()  # node roles: control-plane, worker, etcd, bastion, ...
    vars: Mapping[str, object] = field(default_factory=dict)  # other variables, for checks
    source: str = ""  # "file:line" where the host was defined, for messages

    @property
    def target(self) -> str:
        """The host name or address to connect to, before ssh_config's HostName."""
        return self.address or self.name


@dataclass(frozen=True, slots=True)
class Inventory:
    nodes: tuple[Node, ...]
    groups: Mapping[str, tuple[str, ...]]  # group -> host names (transitively)
    source: str  # file path, for messages and the run record
    skipped: tuple[tuple[str, str], ...] = ()  # (host, reason): e.g. ansible_connection=winrm
