"""Ansible's static inventories: YAML and INI files plus group_vars/ and host_vars/.

A reader for the static subset (ecosystem.md §1.3b), never an Ansible import: no
Jinja is evaluated, no vault is decrypted, no plugin runs. Anything that needs those
is reported with the way out: `ansible-inventory --list --yaml` resolves it all and
writes a static YAML inventory this module reads.

Faithful to Ansible where it matters for *which host gets which settings*:
YAML 1.1 scalars (`ansible_become: yes` is True), INI inline host vars through
`ast.literal_eval`, `host:port` and ranges, `[g:children]` declared in any order,
`ungrouped`, and the variable precedence in agent.inventory.tree. Unknown variables
are kept for checks (Node.vars); unknown `ansible_*` settings are ignored; hosts
with a connection we do not speak are listed in Inventory.skipped, never dropped.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.errors import InputError, Problem
from agent.inventory.fields import (
    Context,
    FieldError,
    build_inventory,
    read_vars,
    suggest,
    valid_group_name,
)
from agent.inventory.model import Inventory
from agent.inventory.ranges import RangeError, expand_host_range, split_host_port
from agent.inventory.tree import (
    ALL,
    UNGROUPED,
    GroupDef,
    Locator,
    Origin,
    Problems,
    Tree,
    Var,
    VarSet,
    base_dir,
)
from agent.inventory.vars_dirs import read_vars_dirs
from agent.yamlsafe import load_yaml

GROUP_KEYS = ("hosts", "vars", "children")

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_LINE = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")


def load_ansible(text: str, path: str, *, ini: bool) -> tuple[Inventory, dict[str, tuple[str, ...]]]:
    """Read an Ansible inventory file and the vars directories next to it.

    Returns the inventory and its full group membership (for --limit); raises
    InventoryError listing every problem found in the file and the vars files.
    """
    problems = Problems()
    tree = Tree(path)
    if ini:
        read_ini(text, path, tree, problems)
    else:
        read_yaml(text, path, tree, problems)
    read_vars_dirs(tree, base_dir(path), problems)
    return build_inventory(tree, Context(base_dir(path), lenient=True), problems, ungrouped=True)


# --- YAML ------------------------------------------------------------------------


def read_yaml(text: str, path: str, tree: Tree, problems: Problems) -> None:
    try:
        data, positions = load_yaml(text, path, strict=False)
    except InputError as error:
        problems.extend(error.problems)
        return
    root = Locator(path, (), positions)
    if isinstance(data, Mapping) and "plugin" in data:
        problems.add(
            root.at("plugin").problem(
                "this is an inventory plugin configuration, not an inventory; run "
                "`ansible-inventory -i <file> --list --yaml --output resolved.yml` and "
                "pass resolved.yml"
            )
        )
        return
    if not isinstance(data, Mapping) or not data:
        problems.add(root.at().problem("an Ansible YAML inventory is a mapping of groups"))
        return
    reader = _YamlReader(tree, problems)
    for name, body in data.items():
        reader.group_entry(ALL, name, body, root)


class _YamlReader:
    def __init__(self, tree: Tree, problems: Problems) -> None:
        self.tree = tree
        self.problems = problems

    def group_entry(self, parent: str, name: object, body: object, loc: Locator) -> None:
        here = loc.child(str(name))
        try:
            if not isinstance(name, str):
                raise FieldError(f"group names must be strings; quote {name!r}")
            valid_group_name(name)
        except FieldError as error:
            self.problems.add(here.at().problem(str(error)))
            return
        self.tree.group(name, here.at())
        if name != ALL:
            self.tree.add_child(parent, name)
        self.group(name, body, here)

    def group(self, name: str, body: object, loc: Locator) -> None:
        if body is None:
            return
        if not isinstance(body, Mapping):
            self.problems.add(loc.at().problem("a group is a mapping with hosts:, vars: and children:"))
            return
        for key in body:
            if key not in GROUP_KEYS:
                self.problems.add(
                    loc.at(str(key)).problem(
                        f"unexpected key {key!r} in group {name!r}{suggest(str(key), list(GROUP_KEYS))}"
                        " (a group has hosts:, vars: and children:)"
                    )
                )
        group = self.tree.groups[name]
        raw_vars = body.get("vars")
        group.inline.update(
            read_vars(raw_vars, loc.child("vars"), self.problems, native=False, host_scope=False)
        )
        _set_priority(group, raw_vars, loc.child("vars"), self.problems)
        self.hosts(name, body.get("hosts"), loc.child("hosts"))
        children = body.get("children")
        if isinstance(children, Mapping):
            for child, child_body in children.items():
                if child == ALL:
                    self.problems.add(loc.child("children").at(ALL).problem("'all' cannot be a child group"))
                    continue
                self.group_entry(name, child, child_body, loc.child("children"))
        elif children is not None:
            self.problems.add(loc.at("children").problem("children must be a mapping of group name: group"))

    def hosts(self, group: str, hosts: object, loc: Locator) -> None:
        if hosts is None:
            return
        if not isinstance(hosts, Mapping):
            self.problems.add(
                loc.at().problem("hosts must be a mapping of host name: variables (or nothing)")
            )
            return
        for key, entry in hosts.items():
            here = loc.child(str(key))
            # Ansible turns unquoted numeric names into strings; so do we.
            if isinstance(key, bool) or not isinstance(key, str | int | float):
                self.problems.add(here.at().problem(f"host names must be strings; quote {key!r}"))
                continue
            host_vars = read_vars(entry, here, self.problems, native=False, host_scope=True)
            add_hosts(self.tree, group, str(key), here, host_vars, self.problems)


def _set_priority(group: GroupDef, raw: object, loc: Locator, problems: Problems) -> None:
    """ansible_group_priority orders sibling groups; as in Ansible, only inline vars count."""
    if not isinstance(raw, Mapping) or "ansible_group_priority" not in raw:
        return
    value = raw["ansible_group_priority"]
    text = str(value).strip() if isinstance(value, str | int) else ""
    if isinstance(value, bool) or not text.lstrip("-").isdigit():
        problems.add(
            loc.at("ansible_group_priority").problem(
                f"ansible_group_priority must be a whole number, not {value!r}"
            )
        )
        return
    group.priority = int(text)


def add_hosts(
    tree: Tree, group: str, pattern: str, loc: Locator, host_vars: VarSet, problems: Problems
) -> None:
    """Add every host of an Ansible host pattern (`web[1:3]:2222`) to `group`."""
    try:
        hostpart, port = split_host_port(pattern)
        names = expand_host_range(hostpart)
    except RangeError as error:
        problems.add(loc.at().problem(str(error)))
        return
    # `host:port` sets ansible_port first, so an explicit ansible_port beats it (as Ansible).
    merged = VarSet()
    if port is not None:
        merged.fields["port"] = Var(port, loc.at())
    merged.update(host_vars)
    for name in names:
        tree.host(group, name, loc.at()).inline.update(merged)


# --- INI -------------------------------------------------------------------------


@dataclass(slots=True)
class _IniState:
    group: str = UNGROUPED
    kind: str = "hosts"  # hosts | vars | children | skip (after a bad section header)
    declared: set[str] = field(default_factory=lambda: {UNGROUPED, ALL})
    vars_refs: dict[str, int] = field(default_factory=dict)  # group -> first [g:vars] line
    child_refs: dict[str, tuple[int, str]] = field(default_factory=dict)  # child -> (line, parent)


def read_ini(text: str, path: str, tree: Tree, problems: Problems) -> None:
    """Ansible's INI format, line by line, reporting every bad line (not just the first)."""
    state = _IniState()
    tree.group(UNGROUPED, Origin(path, None, UNGROUPED))
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        loc = Locator(path, (state.group,), None, number)
        if _SECTION.match(line) or (line.startswith("[") and line.endswith("]")):
            # `[2001:db8::5]:2202` is a host line: Ansible's test is exactly this one.
            _ini_section(line, number, path, tree, state, problems)
        elif state.kind == "hosts":
            _ini_hosts(line, loc, tree, state.group, problems)
        elif state.kind == "vars":
            _ini_group_var(line, loc.child("vars"), tree.groups[state.group], problems)
        elif state.kind == "children":
            _ini_child(line, loc.child("children"), tree, state, problems)
    _check_declarations(path, state, problems)


def _ini_section(line: str, number: int, path: str, tree: Tree, state: _IniState, problems: Problems) -> None:
    match = _SECTION.match(line)
    where = Origin(path, number, line)
    state.kind = "skip"  # until the header proves valid, its lines are not read
    if match is None:
        problems.add(
            where.problem(
                "invalid section header: no spaces inside [ ], and only [group], "
                "[group:vars] or [group:children]"
            )
        )
        return
    name, kind = match.group(1), match.group(2) or "hosts"
    if kind not in ("hosts", "vars", "children"):
        problems.add(where.problem(f"unknown section type {kind!r} (use :vars or :children)"))
        return
    try:
        valid_group_name(name)
    except FieldError as error:
        problems.add(where.problem(str(error)))
        return
    tree.group(name, Origin(path, number, name))
    if kind == "vars":
        state.vars_refs.setdefault(name, number)
    else:
        state.declared.add(name)
    state.group, state.kind = name, kind


def _ini_hosts(line: str, loc: Locator, tree: Tree, group: str, problems: Problems) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as error:
        problems.add(loc.at().problem(f"cannot split host line: {error}"))
        return
    if not tokens:
        return
    here = loc.child("hosts", tokens[0])
    raw: dict[str, object] = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep or not key:
            problems.add(here.at().problem(f"expected key=value after the host, got {token!r}"))
            continue
        raw[key] = _inline_value(value)
    host_vars = read_vars(raw, here, problems, native=False, host_scope=True)
    add_hosts(tree, group, tokens[0], here, host_vars, problems)


def _inline_value(text: str) -> object:
    """Inline host vars are Python literals when they parse (Ansible's ast.literal_eval)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text
    return _plain(value, text)


def _plain(value: object, text: str) -> object:
    """Keep YAML-like types only: tuples and sets become lists, odd literals stay text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item, repr(item)) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item, repr(item)) for key, item in value.items()}
    return text  # bytes, complex, Ellipsis: not inventory data


def _ini_group_var(line: str, loc: Locator, group: GroupDef, problems: Problems) -> None:
    key, sep, value = (part.strip() for part in line.partition("="))
    if not sep or not key:
        problems.add(loc.at().problem(f"expected key=value, got {line!r}"))
        return
    raw = {key: group_var_value(value)}
    group.inline.update(read_vars(raw, loc, problems, native=False, host_scope=False))
    _set_priority(group, raw, loc, problems)


def group_var_value(text: str) -> str:
    """A `[group:vars]` value: always a string (Ansible's documented rule).

    One quoted string is unquoted, so `args='-o ProxyJump=b'` means `-o ProxyJump=b`,
    and a trailing `# comment` after a bare literal is dropped; otherwise the text is
    taken as written: `x=23` is "23", `x=FALSE` is "FALSE".
    """
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text
    if isinstance(value, str):
        return value
    before_comment = text.split("#", 1)[0].strip()
    return before_comment or text


def _ini_child(line: str, loc: Locator, tree: Tree, state: _IniState, problems: Problems) -> None:
    match = _GROUP_LINE.match(line)
    if match is None:
        problems.add(loc.at().problem(f"expected a group name, got {line!r}"))
        return
    child = match.group(1)
    here = loc.at(child)
    try:
        valid_group_name(child)
    except FieldError as error:
        problems.add(here.problem(str(error)))
        return
    if child in (ALL, state.group):
        problems.add(here.problem(f"group {child!r} cannot be a child of {state.group!r}"))
        return
    tree.group(child, here)
    tree.add_child(state.group, child)
    state.child_refs.setdefault(child, (here.line or 0, state.group))


def _check_declarations(path: str, state: _IniState, problems: Problems) -> None:
    # As Ansible: [g:vars] and [p:children] may come before [g], but g must exist somewhere.
    for name, line in state.vars_refs.items():
        if name not in state.declared:
            problems.add(Problem(path, line, name, f"section [{name}:vars] is for undefined group {name!r}"))
    for name, (line, parent) in state.child_refs.items():
        if name not in state.declared:
            problems.add(
                Problem(
                    path,
                    line,
                    f"{parent}.children.{name}",
                    f"[{parent}:children] includes undefined group {name!r}; "
                    f"declare it with a [{name}] section",
                )
            )
