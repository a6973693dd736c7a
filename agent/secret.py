"""A wrapper that keeps secrets out of reprs, logs, tracebacks and reports.

A Secret's value is reachable only through `reveal()`, so an accidental `repr(node)`
or `f"{options}"` prints `Secret('***')`, never the password itself.
"""

from __future__ import annotations


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the secret to disk or a pipe: refuse.
        raise TypeError("Secret values cannot be pickled")
