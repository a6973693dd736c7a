"""The check file schema: what a YAML check may say, validated with line numbers.

A check is data: identity, metadata, references, applicability and one assertion
over a typed fact (or a named predicate for logic YAML cannot express). Validation
collects every problem of every file so a catalogue author sees them all at once.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from agent.errors import Problem
from agent.findings import Override, Reference, Severity
from agent.rules.families import FamilyArgs
from agent.rules.ops import OPERATORS, PRESENCE

FieldPath = tuple[str | int, ...]
LineLookup = Callable[[FieldPath], int | None]  # path in the YAML document -> 1-based line
_Bad = Callable[[FieldPath, str], None]

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{2,80}$")
ROLES = frozenset({"control-plane", "worker", "etcd", "bastion", "kubernetes"})
_TOP_KEYS = frozenset(
    {"id", "title", "severity", "fact", "needs", "assert", "rationale", "references", "applies_to",
     "remediation", "manual", "description", "fix_hint"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Condition:
    key: str  # path inside the fact, e.g. an sshd keyword
    op: str
    value: object = None  # absent for presence operators


@dataclass(frozen=True, slots=True)
class Applicability:
    roles: tuple[str, ...] = ()  # any of; empty means every node
    os_family: tuple[str, ...] = ()  # any of; empty means every distro


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    title: str
    severity: Severity
    fact: str
    needs: tuple[str, ...]  # further facts a predicate reads (gathered too; ERROR if unavailable)
    conditions: tuple[Condition, ...]  # all must hold
    predicate: str | None  # a named predicate, or a family when `args` is set
    rationale: str
    references: tuple[Reference, ...]
    applies_to: Applicability
    remediation: str | None
    manual: bool  # CIS calls it Manual: shown with the check, never changes a verdict
    fix_hint: str
    source: str  # file the check came from
    args: FamilyArgs | None = None  # the validated arguments of a predicate family
    description: str = ""  # where and how the check applies, beyond the title
    overridden: tuple[Override, ...] = ()  # what site overlays changed (agent/overlay.py)
    # `args` as the YAML wrote them ("0600", not 384): what an overlay merges over and
    # what `nodeward checks --show` prints.
    args_yaml: Mapping[str, object] | None = None


def validate_check(
    raw: object,
    *,
    file: str,
    stem: str,
    line_of: LineLookup,
    facts: frozenset[str],
    predicates: frozenset[str],
    families: Mapping[str, type[FamilyArgs]] | None = None,
) -> Check | list[Problem]:
    """Turn one loaded YAML document into a Check, or the list of everything wrong."""
    problems: list[Problem] = []

    def bad(path: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(file, line_of(path), ".".join(str(p) for p in path), message))

    if not isinstance(raw, Mapping):
        return [Problem(file, 1, "", "a check file must be a mapping")]
    for key in raw:
        if key not in _TOP_KEYS:
            bad((str(key),), f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    check_id = raw.get("id")
    if not isinstance(check_id, str) or not ID_PATTERN.match(check_id):
        bad(("id",), "must be snake_case: a letter, then letters, digits or _")
    elif check_id != stem:
        bad(("id",), f"must equal the file name {stem!r}")
    for key in ("title", "rationale"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            bad((key,), "must be a non-empty string")
    severity = Severity.INFO
    try:
        severity = Severity.parse(str(raw.get("severity", "")))
    except ValueError as exc:
        bad(("severity",), str(exc))
    fact = raw.get("fact")
    if not isinstance(fact, str) or fact not in facts:
        bad(("fact",), f"unknown fact {fact!r} (known: {', '.join(sorted(facts))})")
    needs = raw.get("needs", [])
    if not isinstance(needs, list) or any(not isinstance(n, str) or n not in facts for n in needs):
        bad(("needs",), f"must be a list of known facts ({', '.join(sorted(facts))})")
        needs = []
    conditions, predicate, args = _assertion(raw.get("assert"), bad, predicates, families or {})
    references = _references(raw.get("references", []), bad)
    applies_to = _applicability(raw.get("applies_to", {}), bad)
    remediation = raw.get("remediation")
    if remediation is not None and not isinstance(remediation, str):
        bad(("remediation",), "must be the id of a remediation template")
    manual = raw.get("manual", False)
    if not isinstance(manual, bool):
        bad(("manual",), "must be true or false")
    fix_hint = raw.get("fix_hint", "")
    if not isinstance(fix_hint, str):
        bad(("fix_hint",), "must be a string")
    description = raw.get("description", "")
    if not isinstance(description, str):
        bad(("description",), "must be a string")
    if problems or not isinstance(check_id, str) or not isinstance(fact, str):
        return problems
    return Check(
        id=check_id,
        title=str(raw["title"]).strip(),
        severity=severity,
        fact=fact,
        needs=tuple(needs),
        conditions=conditions,
        predicate=predicate,
        rationale=" ".join(str(raw["rationale"]).split()),
        references=references,
        applies_to=applies_to,
        remediation=remediation if isinstance(remediation, str) else None,
        manual=bool(manual),
        fix_hint=" ".join(str(fix_hint).split()),
        source=file,
        args=args,
        description=" ".join(str(description).split()),
        args_yaml=_written_args(raw.get("assert")) if args is not None else None,
    )


def _written_args(assertion: object) -> Mapping[str, object] | None:
    if not isinstance(assertion, Mapping) or not isinstance(assertion.get("args"), Mapping):
        return None
    return copy.deepcopy(dict(assertion["args"]))  # a private copy: the loader's data is not ours


Assertion = tuple[tuple[Condition, ...], str | None, FamilyArgs | None]


def _assertion(
    raw: object, bad: _Bad, predicates: frozenset[str], families: Mapping[str, type[FamilyArgs]]
) -> Assertion:
    if not isinstance(raw, Mapping):
        bad(("assert",), "must be a mapping: {key, op, value}, {all: [...]} or {predicate: name[, args]}")
        return (), None, None
    if "predicate" in raw:
        return _predicate(raw, bad, predicates, families)
    items: list[tuple[tuple[str | int, ...], object]]
    if "all" in raw:
        entries = raw["all"]
        if not isinstance(entries, list) or not entries:
            bad(("assert", "all"), "must be a non-empty list of conditions")
            return (), None, None
        items = [(("assert", "all", i), entry) for i, entry in enumerate(entries)]
    else:
        items = [(("assert",), raw)]
    conditions = []
    for path, entry in items:
        condition = _condition(entry, path, bad)
        if condition is not None:
            conditions.append(condition)
    return tuple(conditions), None, None


def _predicate(
    raw: Mapping[str, object], bad: _Bad, predicates: frozenset[str], families: Mapping[str, type[FamilyArgs]]
) -> Assertion:
    """`{predicate: name}` for a named predicate, `{predicate: family, args: {...}}` for a
    family, whose args are validated by the family's own argument class."""
    name = raw["predicate"]
    for key in raw:
        if key not in ("predicate", "args"):
            bad(("assert", str(key)), "a predicate assertion takes only `predicate` and `args`")
    if isinstance(name, str) and name in families:
        if not isinstance(raw.get("args"), Mapping):
            bad(("assert", "args"), f"the {name} family needs `args`, a mapping")
            return (), None, None
        try:
            return (), name, families[name].model_validate(raw["args"])
        except ValidationError as exc:
            for error in exc.errors():
                location = tuple(part for part in error["loc"] if isinstance(part, str | int))
                bad(("assert", "args", *location), error["msg"])
            return (), None, None
    if not isinstance(name, str) or name not in predicates:
        bad(("assert", "predicate"), f"unknown predicate {name!r}")
        return (), None, None
    if "args" in raw:
        bad(("assert", "args"), f"{name} is a named predicate: it takes no args")
        return (), None, None
    return (), name, None


def _condition(raw: object, path: tuple[str | int, ...], bad: _Bad) -> Condition | None:
    if not isinstance(raw, Mapping):
        bad(path, "a condition must be a mapping {key, op, value}")
        return None
    key, op = raw.get("key"), raw.get("op")
    if not isinstance(key, str) or not key:
        bad((*path, "key"), "must name the value to test")
        return None
    if op in PRESENCE:
        if "value" in raw:
            bad((*path, "value"), f"`{op}` takes no value")
        return Condition(key=key, op=str(op))
    if op not in OPERATORS:
        bad((*path, "op"), f"unknown operator {op!r} (known: {', '.join(sorted([*OPERATORS, *PRESENCE]))})")
        return None
    if "value" not in raw:
        bad((*path, "value"), f"`{op}` needs a value")
        return None
    value = raw["value"]
    if op in ("in", "not_in") and not isinstance(value, list):
        bad((*path, "value"), f"`{op}` needs a list")
        return None
    if op == "matches":
        try:
            re.compile(str(value))
        except re.error as exc:
            bad((*path, "value"), f"not a valid regular expression: {exc}")
            return None
    return Condition(key=key, op=str(op), value=tuple(value) if isinstance(value, list) else value)


def _references(raw: object, bad: _Bad) -> tuple[Reference, ...]:
    if not isinstance(raw, list):
        bad(("references",), "must be a list of {framework, id}")
        return ()
    refs = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("framework"), str) or "id" not in item:
            bad(("references", i), "each reference needs `framework` and `id`")
            continue
        refs.append(Reference(framework=item["framework"], id=str(item["id"])))
    return tuple(refs)


def _applicability(raw: object, bad: _Bad) -> Applicability:
    if not isinstance(raw, Mapping):
        bad(("applies_to",), "must be a mapping with `roles` and/or `os_family`")
        return Applicability()
    roles = raw.get("roles", [])
    families = raw.get("os_family", [])
    if not isinstance(roles, list) or any(r not in ROLES for r in roles):
        bad(("applies_to", "roles"), f"must be a list of: {', '.join(sorted(ROLES))}")
        roles = []
    if not isinstance(families, list) or not all(isinstance(f, str) for f in families):
        bad(("applies_to", "os_family"), "must be a list of distro families")
        families = []
    return Applicability(roles=tuple(roles), os_family=tuple(families))
