"""`--limit`: choose hosts the way `ansible --limit` does, but refuse silent no-ops.

Patterns are separated by commas (or colons when there is no comma). Each names hosts
or groups, with shell wildcards (`node0*`, `work?rs`). `!pat` removes, `&pat` keeps
only hosts also in `pat`. As in Ansible, plain patterns are united first, then the
`&` patterns intersect, then the `!` patterns subtract, whatever the written order;
with only `!`/`&` patterns the start is every host.

Unlike Ansible, a pattern that matches nothing is an error, not a warning: a typo in
`--limit '!prod-db'` must not quietly scan (or remediate) the very host it meant to
spare.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NoReturn

from agent.errors import InventoryError, Problem
from agent.inventory.model import Inventory

SOURCE = "--limit"


@dataclass(frozen=True, slots=True)
class Pattern:
    op: str  # "" (union), "&" (intersect) or "!" (exclude)
    glob: str

    def __str__(self) -> str:
        return f"{self.op}{self.glob}"


def parse_limit(limit: str) -> list[Pattern]:
    """Split a limit string into patterns; empty pieces (`a,,b`) are ignored."""
    text = limit.strip()
    if "," in text:
        pieces = text.split(",")
    elif _is_ipv6(text.lstrip("!&")):
        pieces = [text]  # `fe80::1` is one host, not three patterns
    else:
        pieces = text.split(":")
    patterns = []
    for piece in (p.strip() for p in pieces):
        op = piece[0] if piece[:1] in ("!", "&") else ""
        glob = piece[len(op) :].strip()
        if glob:
            patterns.append(Pattern(op, glob))
    return patterns


def select(limit: str, hosts: Sequence[str], groups: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The hosts `limit` selects, in inventory order; InventoryError when any pattern
    (or the whole limit) selects nothing."""
    patterns = parse_limit(limit)
    if not patterns:
        _fail([f"--limit {limit!r} contains no pattern"])
    errors: list[str] = []
    matched = {str(p): _matches(p.glob, hosts, groups, errors) for p in patterns}
    if errors:
        _fail(errors)
    plain = [p for p in patterns if not p.op]
    chosen: set[str] = set()
    for pattern in plain:
        chosen |= matched[str(pattern)]
    if not plain:
        chosen = set(hosts)
    for pattern in patterns:
        if pattern.op == "&":
            chosen &= matched[str(pattern)]
    for pattern in patterns:
        if pattern.op == "!":
            chosen -= matched[str(pattern)]
    if not chosen:
        _fail([f"--limit {limit!r} selects no host"])
    return tuple(h for h in hosts if h in chosen)


def apply_limit(
    inventory: Inventory,
    limit: str,
    membership: Mapping[str, Sequence[str]] | None = None,
) -> Inventory:
    """`inventory` reduced to the selected hosts (nodes, groups and skipped alike).

    `membership` is the group map including skipped hosts (the loaders return it);
    without it, skipped hosts can only be selected by name.
    """
    groups = membership if membership is not None else inventory.groups
    names = [n.name for n in inventory.nodes] + [name for name, _ in inventory.skipped]
    chosen = set(select(limit, names, groups))
    return replace(
        inventory,
        nodes=tuple(n for n in inventory.nodes if n.name in chosen),
        groups={g: tuple(h for h in hs if h in chosen) for g, hs in inventory.groups.items()},
        skipped=tuple(s for s in inventory.skipped if s[0] in chosen),
    )


def _matches(
    glob: str, hosts: Sequence[str], groups: Mapping[str, Sequence[str]], errors: list[str]
) -> set[str]:
    if glob.startswith("~"):
        errors.append(f"pattern {glob!r}: regular expressions (~) are not supported; use * and ?")
        return set()
    found = {h for h in hosts if fnmatch.fnmatchcase(h, glob)}
    for group in (g for g in groups if fnmatch.fnmatchcase(g, glob)):
        found.update(groups[group])
    if not found and not any(fnmatch.fnmatchcase(g, glob) for g in groups):
        close = difflib.get_close_matches(glob, [*groups, *hosts], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        errors.append(f"pattern {glob!r} matches no host or group{hint}")
    return found


def _fail(messages: list[str]) -> NoReturn:
    raise InventoryError([Problem(SOURCE, None, "limit", m) for m in messages])


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
