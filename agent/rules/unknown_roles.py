"""Judging a node whose roles are unknown: "unknown" must never be taken for "none".

Roles come from the inventory or, when it sets none, from the Kubernetes components
found running. When that discovery failed (the k8s_components fact is Unavailable: cut
off, timed out, unparsable) the node may well be a control-plane node, and judging it
as a node without roles would make every role-gated check NOT_APPLICABLE and every
role-aware predicate (forwarding, static pods, the files of etcd) judge a plain host:
a quiet "nothing to see here" exactly when we saw nothing.

So a check is judged under every role set discovery could have produced. When the
verdicts agree, the roles do not matter for it and that verdict stands; when they
differ, the check is ERROR with the reason discovery failed. A Kubernetes that is truly
absent (the fact is Absent) is not unknown: that node has no roles.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping

from agent.facts.k8s_components import K8sComponents
from agent.facts.model import Absent, FactValue, Unavailable
from agent.findings import Finding, Status
from agent.inventory.model import Node
from agent.rules.evaluate import evaluate
from agent.rules.schema import Check

# The roles discovery can give a node (K8sComponents.roles), in every combination.
DISCOVERABLE_ROLES = ("control-plane", "etcd", "worker")
_ROLE_SETS = tuple(
    combo
    for size in range(1, len(DISCOVERABLE_ROLES) + 1)
    for combo in itertools.combinations(DISCOVERABLE_ROLES, size)
)


def unknown_roles(node: Node, facts: Mapping[str, FactValue]) -> str | None:
    """Why this node's roles are unknown, or None when they are known (possibly none)."""
    if node.roles:
        return None  # the inventory's word, or what discovery found
    found = facts.get("k8s_components")
    if isinstance(found, K8sComponents | Absent):
        return None
    if isinstance(found, Unavailable):
        return f"Kubernetes discovery failed: {found.reason}"
    return "Kubernetes discovery did not run (the k8s_components fact was not gathered)"


def evaluate_with_unknown_roles(
    check: Check, facts: Mapping[str, FactValue], node: Node, why: str
) -> Finding:
    """The check's verdict if no possible role set changes it, else ERROR saying why."""
    first = evaluate(check, facts, node)
    if first.status is Status.ERROR:
        return first
    for roles in _ROLE_SETS:
        if evaluate(check, facts, dataclasses.replace(node, roles=roles)).status is not first.status:
            reason = f"depends on this node's roles, which are unknown: {why}"
            return dataclasses.replace(first, status=Status.ERROR, reason=reason[:300], evidence=())
    return first
