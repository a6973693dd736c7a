"""What a named predicate returns, in a module of its own.

Predicate modules import Verdict from here; agent/rules/predicates.py imports the
predicate modules to build its registry. Keeping Verdict out of predicates.py means
neither side needs a lazy import to break the cycle.
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
