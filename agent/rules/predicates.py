"""Named predicates: the only place check logic is Python instead of YAML.

For judgements a single comparison cannot express (sudoers privilege across files,
firewall default-deny across nftables and iptables). Each is a pure function of the
node's facts that returns a Verdict with its evidence; a check refers to one by name
(`assert: {predicate: name}`) and the catalogue loader rejects unknown names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.facts.model import FactValue
from agent.findings import Evidence, Status
from agent.inventory.model import Node


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status  # PASS, FAIL or ERROR
    reason: str
    evidence: tuple[Evidence, ...] = ()


Predicate = Callable[[Mapping[str, FactValue], Node], Verdict]

PREDICATES: Mapping[str, Predicate] = {}
