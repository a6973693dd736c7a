"""The closed set of comparison operators a YAML check may use.

Values from the node are strings (sshd -T), ints, bools or tuples of strings. Numeric
operators convert both sides and fail closed: a value that is not a number cannot
satisfy `lte`, so garbage from a node never turns into a PASS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _norm(value: object) -> object:
    """Compare strings case-insensitively: sshd -T lower-cases its answers anyway."""
    return value.lower() if isinstance(value, str) else value


def _eq(observed: object, expected: object) -> bool:
    return _norm(observed) == _norm(expected)


def _in(observed: object, expected: object) -> bool:
    if not isinstance(expected, list | tuple):
        return False
    return any(_eq(observed, item) for item in expected)


def _compare(test: Callable[[float, float], bool]) -> Callable[[object, object], bool]:
    def op(observed: object, expected: object) -> bool:
        left, right = _as_number(observed), _as_number(expected)
        return left is not None and right is not None and test(left, right)

    return op


def _matches(observed: object, expected: object) -> bool:
    return (
        isinstance(observed, str)
        and isinstance(expected, str)
        and re.fullmatch(expected, observed) is not None
    )


def _contains(observed: object, expected: object) -> bool:
    if isinstance(observed, tuple | list):
        return any(_eq(item, expected) for item in observed)
    return isinstance(observed, str) and isinstance(expected, str) and expected.lower() in observed.lower()


OPERATORS: Mapping[str, Callable[[object, object], bool]] = {
    "eq": _eq,
    "ne": lambda observed, expected: not _eq(observed, expected),
    "in": _in,
    "not_in": lambda observed, expected: not _in(observed, expected),
    "lt": _compare(lambda a, b: a < b),
    "lte": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b),
    "gte": _compare(lambda a, b: a >= b),
    "matches": _matches,
    "contains": _contains,
    "not_contains": lambda observed, expected: not _contains(observed, expected),
}

# Operators that test presence and take no `value`.
PRESENCE = frozenset({"present", "absent"})


def describe(op: str, expected: object) -> str:
    """Human wording of the expectation, used as Evidence.expected."""
    shown = ", ".join(str(v) for v in expected) if isinstance(expected, list | tuple) else str(expected)
    words = {
        "eq": f"{shown}",
        "ne": f"anything but {shown}",
        "in": f"one of: {shown}",
        "not_in": f"none of: {shown}",
        "lt": f"less than {shown}",
        "lte": f"at most {shown}",
        "gt": f"more than {shown}",
        "gte": f"at least {shown}",
        "matches": f"matching /{shown}/",
        "contains": f"containing {shown}",
        "not_contains": f"not containing {shown}",
        "present": "set",
        "absent": "not set",
    }
    return words.get(op, f"{op} {shown}")
