"""Which SSH server to reach, as whom, and within what time.

Settings for the node and for each ProxyJump hop, by precedence: command line >
inventory > ssh_config > OpenSSH defaults. Nothing here touches the network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from agent.errors import ErrorKind, NodeError
from agent.inventory.model import Node
from agent.transport import jump, knownhosts
from agent.transport.options import SshOptions, Timeouts
from agent.transport.sshconfig import (
    HostConfig,
    SshConfig,
    expand_path,
    expand_tokens,
    local_user,
    token_values,
)

__all__ = ["Deadline", "Endpoint", "resolve_hop", "resolve_node", "route"]


@dataclass(frozen=True, slots=True)
class Endpoint:
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
    connect_timeout: float  # bounds TCP connect, banner and key exchange together
    legacy_algorithms: tuple[str, ...]  # re-enabled by the inventory (ssh_algorithms.yaml)
    allow_no_strict_kex: bool  # Terrapin-prone modes accepted by the inventory
    notes: tuple[str, ...]

    @property
    def prefix(self) -> str:
        return f"{self.label}: " if self.label else ""

    @property
    def display(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}:{self.port}"


class Deadline:
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
    node: Node,
    options: SshOptions,
) -> Endpoint:
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
    return Endpoint(
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
        # The node's algorithm allowances also cover the jump hosts on its way (like its
        # StrictHostKeyChecking): a legacy algorithm is offered last, so a modern hop
        # still negotiates a modern one, and any legacy use is noted in the report.
        legacy_algorithms=node.legacy_algorithms,
        allow_no_strict_kex=node.allow_no_strict_kex,
        notes=tuple(notes),
    )


def resolve_node(node: Node, options: SshOptions, config: SshConfig) -> Endpoint:
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
        node=node,
        options=options,
    )


def resolve_hop(
    spec: jump.JumpSpec, index: int, count: int, node: Node, options: SshOptions, config: SshConfig
) -> Endpoint:
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
        node=node,
        options=options,
    )


def route(node: Node, target: Endpoint, config: SshConfig) -> tuple[tuple[jump.JumpSpec, ...], str | None]:
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
