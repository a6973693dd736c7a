"""Shared pieces of the firewall predicates: getting the facts, roles, evidence text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from agent.facts.firewall.state import FirewallState
from agent.facts.firewall.walk import Decision, HookResult
from agent.facts.model import Absent, FactValue, Unavailable
from agent.facts.sockets import Sockets
from agent.facts.sysctl import Sysctl
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.verdict import Verdict

_F = TypeVar("_F")

KUBERNETES_ROLES = frozenset({"control-plane", "worker", "etcd", "kubernetes"})
GATHERED_BY = "nft list tables / nft -j list table, iptables-{legacy,nft}-save -t filter"


def is_kubernetes(node: Node) -> bool:
    return bool(KUBERNETES_ROLES & set(node.roles))


def roles_text(node: Node) -> str:
    return ", ".join(node.roles) or "none"


def verdict(status: Status, reason: str, evidence: Sequence[Evidence] = ()) -> Verdict:
    return Verdict(status, reason[:1000], tuple(evidence))


def need(facts: Mapping[str, FactValue], name: str, kind: type[_F]) -> _F | Verdict:
    """The fact, or a Verdict saying why it cannot be judged (never a PASS)."""
    fact = facts.get(name)
    if isinstance(fact, kind):
        return fact
    if fact is None:
        return verdict(
            Status.ERROR,
            f"this check also needs the {name} fact, which was not gathered (select a {name} check too)",
        )
    if isinstance(fact, Unavailable):
        return verdict(Status.ERROR, f"{name}: {fact.reason}")
    if isinstance(fact, Absent):
        return verdict(Status.NOT_APPLICABLE, f"{name}: {fact.reason}")
    return verdict(Status.ERROR, f"the {name} fact has an unexpected shape")


def firewall(facts: Mapping[str, FactValue]) -> FirewallState | Verdict:
    return need(facts, "firewall", FirewallState)


def sockets(facts: Mapping[str, FactValue]) -> Sockets | Verdict:
    return need(facts, "sockets", Sockets)


def sysctl(facts: Mapping[str, FactValue]) -> Sysctl | Verdict:
    return need(facts, "sysctl", Sysctl)


def decision_text(decision: Decision | None) -> str:
    if decision is None:
        return "no host firewall chain at this hook (nothing filters it)"
    how = f"rule `{decision.text}`" if decision.by_rule else decision.text
    return f"{decision.verdict} by {how} in {decision.chain}"


def decision_source(decision: Decision | None, fallback: str = GATHERED_BY) -> str:
    return decision.source if decision is not None and decision.source else fallback


def hook_evidence(result: HookResult, probe: str, expected: str) -> Evidence:
    verdict = "accepted" if result.accepted else "dropped"
    observed = f"{probe}: {verdict}; {decision_text(result.deciding)}"
    if result.uncertain:
        observed += f" (rules nodeward cannot evaluate were passed over: {'; '.join(result.uncertain[:3])})"
    return Evidence(observed[:600], expected, decision_source(result.deciding))


def cluster_note(state: FirewallState) -> str:
    owned = state.cluster_chains()
    if not owned:
        return ""
    shown = ", ".join(owned[:6]) + (f" and {len(owned) - 6} more" if len(owned) > 6 else "")
    return f" Kubernetes networking chains are present and were not counted as the host firewall: {shown}."


def listing(items: Sequence[str], limit: int = 6) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")
