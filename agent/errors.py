"""Typed errors. Library code raises these; only cli.py turns them into exit codes.

A NodeError belongs to one node and never stops the others: the runner stores it on
that node's result with its kind, so reports and JSON can say *why* a node was not
scanned (dns, connect, banner, auth, hostkey, sudo, timeout, ...).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class ErrorKind(enum.StrEnum):
    """Why a node could not be (fully) scanned. Values are part of the JSON schema."""

    DNS = "dns"  # the name does not resolve
    CONNECT = "connect"  # refused, unreachable, reset before the SSH banner
    BANNER = "banner"  # TCP accepted but no SSH banner within banner_timeout
    PROTOCOL = "protocol"  # SSH negotiation failed (no common algorithm, bad packet)
    HOSTKEY = "hostkey"  # unknown, changed or revoked host key: nothing was run
    AUTH = "auth"  # no offered identity was accepted, or a key could not be loaded
    SUDO = "sudo"  # privilege escalation refused (no rule, password needed, requiretty)
    TIMEOUT = "timeout"  # a command or the per-node deadline ran out
    CONFIG = "config"  # the node's connection settings are unusable (ssh_config, jump)
    GATHER = "gather"  # the gather script ran but its output was not usable
    INCOMPLETE = "incomplete"  # output arrived only in part: the findings cover what did arrive
    INTERRUPTED = "interrupted"  # the run was stopped (SIGINT, SIGTERM, SIGHUP) before this node finished
    SKIPPED = "skipped"  # connection type we do not speak (winrm, docker, ...)
    INTERNAL = "internal"  # a bug in nodeward: reported per node, never hides others


class NodewardError(Exception):
    """Base of every error nodeward raises on purpose."""


class NodeError(NodewardError):
    """An error confined to one node (and, for jump hosts, the hop that failed)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a user-supplied file: where it is and what is wrong."""

    file: str
    line: int | None  # 1-based; None when the problem has no single place
    field: str  # dotted path of the offending field, or "" for the whole file
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        field = f": {self.field}" if self.field else ""
        return f"{where}{field}: {self.message}"


class InputError(NodewardError):
    """Bad user input (inventory, ssh_config, catalogue, flags): one Problem each.

    Raised before any node is contacted; cli.py maps it to exit code 2.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InventoryError(InputError):
    """The inventory (or its host_vars/group_vars) is invalid."""


class CatalogError(InputError):
    """A check or remediation file in the catalogue is invalid."""
