"""Judge one catalogue check, by its id, exactly as a scan does: the named predicate or
the family with the check's own args from its YAML. Tests of predicates go through
this so they judge the thresholds the catalogue ships, not a copy."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from agent.catalog import load_catalog
from agent.facts.model import FactValue
from agent.inventory.model import Node
from agent.rules.predicates import FAMILIES, PREDICATES
from agent.rules.schema import Check
from agent.rules.verdict import Verdict


@cache
def catalog_checks() -> Mapping[str, Check]:
    return {check.id: check for check in load_catalog().checks}


def run_check(check_id: str, facts: Mapping[str, FactValue], node: Node) -> Verdict:
    check = catalog_checks()[check_id]
    if check.predicate is None:
        raise ValueError(f"{check_id} is a YAML comparison, not a predicate")
    if check.args is not None:
        return FAMILIES[check.predicate].judge(check.args, facts, node)
    return PREDICATES[check.predicate](facts, node)
