"""How a node was reached: the connection facts reported with its result.

A transport produces this and a finding's NodeResult carries it to every report. It
lives in a module of its own, below both, so findings.py and the reporters never import
the transport (docs/architecture.md, forbidden edges).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """Facts about how we reached the node, reported with its result."""

    transport: str  # "ssh" or "local"
    address: str = ""  # the address actually connected to
    port: int = 0
    user: str = ""  # the login user
    server_version: str = ""  # SSH banner of the node
    host_key: str = ""  # "ssh-ed25519 SHA256:..." of the verified host key
    strict_kex: bool | None = None  # Terrapin mitigation negotiated (CVE-2023-48795)
    jump_hosts: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)  # e.g. "ForwardAgent ignored"
