"""Predicate families: one judging function, many checks, every number in the YAML.

A check says `assert: {predicate: FAMILY, args: {...}}`. The family's argument class
(a frozen pydantic model) is the schema of `args`: the catalogue loader validates it
and reports a bad mode, an unknown flag operator or a missing field with the file and
line of the check (agent/rules/schema.py). So a mode, an owner, a flag or a threshold
an auditor wants to read lives in the check's YAML, and a site can change it with an
overlay instead of a fork.

Named predicates (`assert: {predicate: name}`, no args) remain for judgements that are
genuinely code: sudoers privilege across files, the firewall packet walk.

Why pydantic: typed, validated arguments with the location of each error are exactly
what it does, and it is already installed (typer depends on it). Hand-written checks
of every field of every family would be more code and less precise messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from agent.facts.model import FactValue
from agent.inventory.model import Node
from agent.rules.verdict import Predicate, Verdict

Facts = Mapping[str, FactValue]


class FamilyArgs(BaseModel):
    """Base of every family's arguments: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    args: type[FamilyArgs]
    judge: Callable[[Any, Facts, Node], Verdict]  # (args of type `args`, facts, node)
    summary: str  # one line for `nodeward checks --show`


class DuplicateName(ValueError):
    """Two modules registered the same predicate or family name."""


def unique_registry(tables: Iterable[Mapping[str, Predicate]]) -> dict[str, Predicate]:
    """Merge named-predicate tables; a name registered twice is a programming error."""
    merged: dict[str, Predicate] = {}
    for table in tables:
        for name, predicate in table.items():
            if name in merged:
                raise DuplicateName(f"predicate {name!r} is registered twice")
            merged[name] = predicate
    return merged


def unique_families(families: Iterable[Family], *, taken: Iterable[str] = ()) -> dict[str, Family]:
    """Index families by name; a name used twice, or also by a named predicate, is an error."""
    merged: dict[str, Family] = {}
    named = set(taken)
    for family in families:
        if family.name in merged or family.name in named:
            raise DuplicateName(f"family {family.name!r} is registered twice")
        merged[family.name] = family
    return merged
