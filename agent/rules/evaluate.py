"""Judge one check against one node's facts. Never raises: odd data becomes ERROR.

The order of questions matters and is the same for every check:
1. does it apply to this node (role, distro)?  no -> NOT_APPLICABLE
2. is the fact there?  could not gather -> ERROR (never PASS); not installed -> NOT_APPLICABLE
3. does every condition hold?  yes -> PASS; no -> FAIL. WARN is only what a predicate
   cannot decide (stale package metadata, say); CIS's "Manual" label never softens a
   verdict nodeward computed from the effective value (issue 10)
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.facts.model import Absent, Fact, FactValue, Unavailable
from agent.facts.system import SystemInfo
from agent.findings import Evidence, Finding, Status
from agent.inventory.model import Node
from agent.rules.ops import OPERATORS, describe
from agent.rules.predicates import FAMILIES, PREDICATES
from agent.rules.schema import Check, Condition
from agent.textsafe import render_value


def evaluate(check: Check, facts: Mapping[str, FactValue], node: Node) -> Finding:
    try:
        return _evaluate(check, facts, node)
    except Exception as exc:  # a bug in a predicate must not hide the other checks
        return _finding(check, Status.ERROR, f"internal error while evaluating: {exc!r}"[:300])


def _evaluate(check: Check, facts: Mapping[str, FactValue], node: Node) -> Finding:
    not_applicable = _not_applicable(check, facts, node)
    if not_applicable is not None:
        return _finding(check, Status.NOT_APPLICABLE, not_applicable)
    fact = facts.get(check.fact)
    if fact is None:
        return _finding(check, Status.ERROR, f"the {check.fact} fact was not gathered")
    if isinstance(fact, Unavailable):
        return _finding(check, Status.ERROR, fact.reason)
    if isinstance(fact, Absent):
        return _finding(check, Status.NOT_APPLICABLE, fact.reason)
    for name in check.needs:
        needed = facts.get(name)
        if needed is None or isinstance(needed, Unavailable):
            why = needed.reason if needed is not None else "was not gathered"
            return _finding(check, Status.ERROR, f"also needs the {name} fact, which {why}"[:300])
    if check.predicate is not None:
        if check.args is not None:
            verdict = FAMILIES[check.predicate].judge(check.args, facts, node)
        else:
            verdict = PREDICATES[check.predicate](facts, node)
        return _finding(check, verdict.status, verdict.reason, verdict.evidence)
    return _conditions(check, fact)


def _conditions(check: Check, fact: Fact) -> Finding:
    evidence: list[Evidence] = []
    failed: list[str] = []
    for condition in check.conditions:
        observation = fact.lookup(condition.key)
        if observation is None and condition.op != "absent":
            return _finding(check, Status.ERROR, f"{check.fact} does not report {condition.key!r}")
        observed = None if observation is None else observation.value
        source = check.fact if observation is None else observation.source
        expected = describe(condition.op, condition.value)
        evidence.append(Evidence(render_value(observed, 200), expected, source))
        if not _holds(condition, observed, present=observation is not None):
            failed.append(f"{condition.key} is {render_value(observed, 80)}, expected {expected}")
    if failed:
        return _finding(check, Status.FAIL, "; ".join(failed), tuple(evidence))
    summary = "; ".join(f"{c.key} is {e.observed}" for c, e in zip(check.conditions, evidence, strict=True))
    return _finding(check, Status.PASS, summary, tuple(evidence))


def _holds(condition: Condition, observed: object, *, present: bool) -> bool:
    if condition.op == "present":
        return present and observed is not None
    if condition.op == "absent":
        return not present or observed is None
    return OPERATORS[condition.op](observed, condition.value)


def _not_applicable(check: Check, facts: Mapping[str, FactValue], node: Node) -> str | None:
    roles = check.applies_to.roles
    if roles and not set(roles) & set(node.roles):
        have = ", ".join(node.roles) or "none"
        return f"applies to roles {', '.join(roles)}; this node's roles: {have}"
    families = check.applies_to.os_family
    if families:
        system = facts.get("system")
        if isinstance(system, SystemInfo) and system.os_family not in families:
            return f"applies to {', '.join(families)}; this node runs {system.os_family or 'an unknown OS'}"
    return None


def _finding(check: Check, status: Status, reason: str, evidence: tuple[Evidence, ...] = ()) -> Finding:
    return Finding(
        check_id=check.id,
        title=check.title,
        severity=check.severity,
        status=status,
        reason=reason,
        evidence=evidence,
        references=check.references,
        remediation=check.remediation,
        overrides=check.overridden,
    )
