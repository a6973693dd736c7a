"""One node's inspection: the per-node pipeline that scan, plan and remediate share.

`inspect(transport, node, checks)` gathers every fact the checks read in ONE exec,
parses it, settles the node's roles (the inventory's word wins; else the Kubernetes
components found running) and judges every check. When the roles are unknown (no
inventory roles and discovery failed) a verdict that depends on them is ERROR.

`scan.py` runs this on each node of a fleet (parallelism, deadlines, interrupts);
`remediate/` runs it before planning and again after applying. Nothing here opens a
connection or knows about other nodes: the caller hands in an open transport, so the
same steps run over SSH, locally, or over a fake in unit tests.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent import gather
from agent.errors import ErrorKind
from agent.facts.k8s_components import K8sComponents
from agent.facts.model import FactValue
from agent.facts.system import SystemInfo
from agent.findings import Finding, NodeFailure, NodeResult
from agent.inventory.model import Node
from agent.rules.evaluate import evaluate
from agent.rules.schema import Check
from agent.rules.unknown_roles import evaluate_with_unknown_roles, unknown_roles
from agent.secret import Secret
from agent.transport.base import ConnectionInfo, RemoteProcess, Transport


@dataclass(frozen=True, slots=True)
class Inspection:
    """What one inspection learnt: facts, findings, and the connection as the node saw it."""

    node: Node  # with its effective roles (inventory, else discovered)
    facts: Mapping[str, FactValue]
    findings: tuple[Finding, ...]
    context: Mapping[str, str]  # user, client_addr, server_addr, server_port (as the node saw us)
    summary: Mapping[str, str]
    incomplete: str | None = None  # why the gather is not whole; None when nothing was lost

    @property
    def complete(self) -> bool:
        """The gather script ran to its end (L13: only then may a node be remediated)."""
        return self.incomplete is None

    @property
    def roles(self) -> tuple[str, ...]:
        return self.node.roles


def inspect(
    transport: Transport,
    node: Node,
    checks: Sequence[Check],
    *,
    become_password: Secret | None,
    timeout: float,
) -> Inspection:
    """Gather in one exec, discover roles, judge. Raises NodeError when the node fails."""
    gathered = gather.collect(
        transport,
        facts_for(checks),
        become=node.become,
        become_password=node.become_password or become_password,
        timeout=timeout,
    )
    judged = with_discovered_roles(node, gathered.facts)
    return Inspection(
        node=judged,
        facts=gathered.facts,
        findings=judge(checks, gathered.facts, judged),
        context=gathered.context,
        summary=facts_summary(gathered.facts, judged),
        incomplete=gathered.incomplete,
    )


def node_result(node: Node, transport: CountingTransport, inspection: Inspection, began: float) -> NodeResult:
    """The report's view of an inspected node. A gather that did not complete is never
    shown as a clean scan: the node carries error kind `incomplete` with its findings."""
    error = None
    if inspection.incomplete is not None:
        error = NodeFailure(
            ErrorKind.INCOMPLETE,
            f"the gather did not complete ({inspection.incomplete}); the findings cover only the "
            "sections that arrived",
        )
    return NodeResult(
        name=node.name,
        address=node.target,
        connection=transport.info,
        error=error,
        findings=inspection.findings,
        facts_summary=dict(inspection.summary),
        duration_seconds=round(time.monotonic() - began, 3),
        execs=transport.execs,
    )


def failed_result(
    node: Node, transport: CountingTransport | None, kind: ErrorKind, message: str, began: float
) -> NodeResult:
    """The report's view of a node that could not be inspected."""
    return NodeResult(
        name=node.name,
        address=node.target,
        connection=transport.info if transport is not None else None,
        error=NodeFailure(kind, message),
        duration_seconds=round(time.monotonic() - began, 3),
        execs=transport.execs if transport is not None else 0,
    )


def judge(checks: Sequence[Check], facts: Mapping[str, FactValue], node: Node) -> tuple[Finding, ...]:
    """Every check against the facts. `node` carries the effective roles; when they are
    unknown (no inventory roles, discovery failed) a verdict that depends on them is ERROR."""
    why = unknown_roles(node, facts)
    if why is None:
        return tuple(evaluate(check, facts, node) for check in checks)
    return tuple(evaluate_with_unknown_roles(check, facts, node, why) for check in checks)


def facts_for(checks: Sequence[Check]) -> set[str]:
    """Every fact the checks read: their own and the further ones they declare."""
    return {name for check in checks for name in (check.fact, *check.needs)}


def with_discovered_roles(node: Node, facts: Mapping[str, FactValue]) -> Node:
    """The node with the roles its running Kubernetes components show, unless the
    inventory set roles (the operator's word wins). Done once, before any check or
    predicate runs, so every judgement sees the same roles."""
    found = facts.get("k8s_components")
    if node.roles or not isinstance(found, K8sComponents):
        return node
    return dataclasses.replace(node, roles=found.roles)


def facts_summary(facts: Mapping[str, FactValue], node: Node) -> dict[str, str]:
    """What a report shows about the node itself; `node` carries the effective roles."""
    system = facts.get("system")
    if not isinstance(system, SystemInfo):
        return {}
    return {
        "os": system.os_pretty_name or system.os_id,
        "kernel": system.kernel,
        "hostname": system.hostname,
        "root": "yes" if system.root else "no",
        "roles": "unknown" if unknown_roles(node, facts) else ", ".join(node.roles) or "none",
    }


class CountingTransport:
    """Counts exec channels, so the report can prove one exec per node."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self.execs = 0

    @property
    def info(self) -> ConnectionInfo:
        return self._inner.info

    @property
    def login_user(self) -> str:
        return self._inner.login_user

    def start(self, command: str) -> RemoteProcess:
        self.execs += 1
        return self._inner.start(command)

    def close(self) -> None:
        self._inner.close()
