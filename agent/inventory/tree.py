"""The group tree every inventory format is read into, and Ansible's variable precedence.

Readers (native YAML, Ansible YAML, Ansible INI) only *record* what a file says: which
group contains which hosts and child groups, and which variables were set where. This
module then answers the questions that are easy to get subtly wrong and must be
answered the same way for every format:

* which groups a host belongs to (transitively, always including `all`);
* in which order its variable layers apply. Ansible's order, lowest first:
  `all`'s inline vars, other groups' inline vars, `group_vars/all`, other
  `group_vars/<group>`, the host's inline vars, `host_vars/<host>`; groups sorted by
  (depth, ansible_group_priority, name), so children beat parents and siblings merge
  alphabetically unless a priority says otherwise.

Every value keeps its Origin (file, line, dotted field) so a problem found later, when
the value is validated for one host, still points at the line that set it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from agent.errors import InventoryError, Problem
from agent.yamlsafe import PositionMap

Path = tuple[str | int, ...]

ALL = "all"
UNGROUPED = "ungrouped"
MAX_FILE_BYTES = 8 << 20  # inventories and vars files; the same cap load_yaml applies


def dotted(path: Path) -> str:
    """`("all", "hosts", "n1", "roles", 0)` -> `all.hosts.n1.roles[0]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True, slots=True)
class Origin:
    """Where something was written."""

    file: str
    line: int | None
    field: str

    @property
    def where(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"

    def problem(self, message: str) -> Problem:
        return Problem(self.file, self.line, self.field, message)


@dataclass(frozen=True, slots=True)
class Locator:
    """Builds Origins for paths inside one mapping of one file.

    YAML readers pass the PositionMap of the document; the INI reader has no map and
    passes the line of the current line instead (`line`).
    """

    file: str
    base: Path = ()
    positions: PositionMap | None = None
    line: int | None = None

    def at(self, *parts: str | int) -> Origin:
        path = (*self.base, *parts)
        line = self.positions.line(path) if self.positions is not None else self.line
        return Origin(self.file, line, dotted(path))

    def child(self, *parts: str | int) -> Locator:
        return Locator(self.file, (*self.base, *parts), self.positions, self.line)


@dataclass(frozen=True, slots=True)
class Var:
    value: object
    origin: Origin


@dataclass(slots=True)
class VarSet:
    """Variables set in one place, already split by meaning.

    `fields` are connection settings under their canonical names (`port`, not
    `ansible_port`); `extra` are free-form variables that end up in Node.vars.
    """

    fields: dict[str, Var] = field(default_factory=dict)
    extra: dict[str, Var] = field(default_factory=dict)

    def update(self, other: VarSet, problems: Problems | None = None) -> None:
        """Merge `other` in; later wins. With `problems`, a *different* value is an error.

        Native inventories pass `problems`: a host listed in two groups may repeat its
        fields, but two different ports for one host are a mistake, not a precedence
        question. Ansible files pass None: there the last definition wins.
        """
        for mine, theirs in ((self.fields, other.fields), (self.extra, other.extra)):
            for name, var in theirs.items():
                old = mine.get(name)
                if problems is not None and old is not None and old.value == var.value:
                    continue  # a repeat: keep pointing at the first place that said it
                if problems is not None and old is not None:
                    problems.add(
                        var.origin.problem(
                            f"conflicts with the value already set at {old.origin.where}; set it in one place"
                        )
                    )
                    continue
                mine[name] = var


class Problems:
    """Collects every problem of a load, so the user sees them all at once."""

    def __init__(self) -> None:
        self._items: dict[Problem, None] = {}  # ordered set: hosts from a range share lines

    def add(self, problem: Problem) -> None:
        self._items.setdefault(problem, None)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.add(problem)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self._items)

    def raise_if_any(self) -> None:
        """Raise one InventoryError with every problem, in file and line order."""
        if self._items:
            ordered = sorted(self._items, key=lambda p: (p.file, p.line or 0))  # stable
            raise InventoryError(ordered)


@dataclass(slots=True)
class GroupDef:
    name: str
    origin: Origin
    children: dict[str, None] = field(default_factory=dict)  # ordered sets
    hosts: dict[str, None] = field(default_factory=dict)
    inline: VarSet = field(default_factory=VarSet)
    files: VarSet = field(default_factory=VarSet)  # group_vars/<name>
    priority: int = 1  # ansible_group_priority


@dataclass(slots=True)
class HostDef:
    name: str
    origin: Origin  # first definition: Node.source
    inline: VarSet = field(default_factory=VarSet)
    files: VarSet = field(default_factory=VarSet)  # host_vars/<name>


@dataclass(frozen=True, slots=True)
class ResolvedHost:
    name: str
    origin: Origin
    groups: tuple[str, ...]  # `all` first, then in precedence order
    layers: tuple[VarSet, ...]  # lowest precedence first


class Tree:
    """Groups and hosts as a file declares them; `resolve()` computes the rest."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.groups: dict[str, GroupDef] = {ALL: GroupDef(ALL, Origin(file, None, ALL))}
        self.hosts: dict[str, HostDef] = {}

    def group(self, name: str, origin: Origin) -> GroupDef:
        found = self.groups.get(name)
        if found is None:
            found = self.groups[name] = GroupDef(name, origin)
        return found

    def add_child(self, parent: str, child: str) -> None:
        self.groups[parent].children.setdefault(child, None)

    def host(self, group: str, name: str, origin: Origin) -> HostDef:
        found = self.hosts.get(name)
        if found is None:
            found = self.hosts[name] = HostDef(name, origin)
        self.groups[group].hosts.setdefault(name, None)
        return found

    def resolve(self, problems: Problems, *, ungrouped: bool) -> list[ResolvedHost]:
        """Membership and layer order for every host, in definition order.

        `ungrouped=True` mimics Ansible: a host that is in no group but `all` is also
        put in `ungrouped`, and a host in other groups is taken out of it.
        """
        if ungrouped:
            self.group(UNGROUPED, Origin(self.file, None, UNGROUPED))
        self._adopt_orphans()
        parents = self._parents(problems)
        depth = _depths(parents)
        direct: dict[str, list[str]] = {}
        for group in self.groups.values():
            for name in group.hosts:
                direct.setdefault(name, []).append(group.name)
        resolved = []
        for host in self.hosts.values():
            names = _ancestors(direct.get(host.name, []), parents) | {ALL}
            if ungrouped:
                names = _fix_ungrouped(names)
            ordered = sorted(
                (self.groups[n] for n in names if n != ALL),
                key=lambda g: (depth[g.name], g.priority, g.name),
            )
            everything = [self.groups[ALL], *ordered]
            layers = (
                *(g.inline for g in everything),
                *(g.files for g in everything),
                host.inline,
                host.files,
            )
            resolved.append(ResolvedHost(host.name, host.origin, tuple(g.name for g in everything), layers))
        return resolved

    def _adopt_orphans(self) -> None:
        # Ansible: every group that nobody contains is a child of `all`.
        contained = {c for g in self.groups.values() for c in g.children}
        for name in self.groups:
            if name != ALL and name not in contained:
                self.add_child(ALL, name)

    def _parents(self, problems: Problems) -> dict[str, list[str]]:
        """child -> parents. An edge that would close a cycle is reported and dropped.

        Edges are accepted one at a time, so a cycle a -> b -> a is reported once, at
        the edge that closes it, and the rest of the tree stays usable.
        """
        accepted: dict[str, list[str]] = {name: [] for name in self.groups}  # parent -> children
        parents: dict[str, list[str]] = {name: [] for name in self.groups}
        for group in self.groups.values():
            for child in group.children:
                if child == ALL or _reaches(accepted, child, group.name):
                    problems.add(
                        group.origin.problem(
                            f"group {child!r} cannot be a child of {group.name!r}: "
                            "that makes a group its own ancestor"
                        )
                    )
                    continue
                accepted.setdefault(group.name, []).append(child)
                parents.setdefault(child, []).append(group.name)
        return parents


def _reaches(children: dict[str, list[str]], start: str, target: str) -> bool:
    """True when `target` is `start` or one of its descendants (iterative: no recursion)."""
    stack, seen = [start], set()
    while stack:
        name = stack.pop()
        if name == target:
            return True
        if name not in seen:
            seen.add(name)
            stack.extend(children.get(name, []))
    return False


def _depths(parents: dict[str, list[str]]) -> dict[str, int]:
    """Longest distance from `all`, as Ansible's Group.depth (the graph is acyclic by now).

    Iterative, because an INI file can chain thousands of `[x:children]` sections.
    """
    depth: dict[str, int] = {}
    for start in parents:
        stack = [start]
        while stack:
            name = stack[-1]
            if name in depth:
                stack.pop()
                continue
            above = parents.get(name, [])
            pending = [p for p in above if p not in depth]
            if pending:
                stack.extend(pending)
                continue
            depth[name] = max((depth[p] for p in above), default=-1) + 1
            stack.pop()
    return depth


def _ancestors(direct: list[str], parents: dict[str, list[str]]) -> set[str]:
    found: set[str] = set()
    stack = list(direct)
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(parents.get(name, []))
    return found


def _fix_ungrouped(names: set[str]) -> set[str]:
    real = names - {ALL, UNGROUPED}
    return names - {UNGROUPED} if real else names | {UNGROUPED}


def read_text(path: str, problems: Problems, *, shown_as: str | None = None) -> str | None:
    """The UTF-8 text of `path`, or None after recording why it cannot be read."""
    name = shown_as or path
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        problems.add(Problem(name, None, "", "is a directory, not an inventory file"))
        return None
    except OSError as error:
        problems.add(Problem(name, None, "", f"cannot read: {error.strerror or error}"))
        return None
    if len(data) > MAX_FILE_BYTES:
        problems.add(Problem(name, None, "", f"larger than {MAX_FILE_BYTES} bytes; refusing it"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problems.add(Problem(name, line, "", "not valid UTF-8 text"))
        return None


def base_dir(path: str) -> str:
    """Directory that relative paths in the inventory at `path` are resolved against."""
    return os.path.dirname(os.path.abspath(path))
