"""Open the transport a node's inventory entry asks for: local, or SSH.

The one place that chooses, so the scan, the remediation run and `rollback` reach a
node the same way. paramiko is imported only when a node needs SSH, so a local scan
and `nodeward --help` never load it.
"""

from __future__ import annotations

from agent.inventory.model import Connection, Node
from agent.transport.base import Transport
from agent.transport.local import LocalTransport
from agent.transport.options import SshOptions


def open_transport(node: Node, options: SshOptions) -> Transport:
    if node.connection is Connection.LOCAL:
        return LocalTransport()
    from agent.transport.ssh import connect

    return connect(node, options)
