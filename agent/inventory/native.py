"""nodeward's own inventory format: Ansible-shaped YAML, read strictly.

    all:
      vars: {user: ops}            # fields for every host, inherited
      hosts:
        bastion: {address: 203.0.113.10}
      children:
        workers:
          vars: {proxy_jump: bastion, roles: [worker]}
          hosts:
            node[01:03].example.com:

Strict means: YAML 1.2 scalars and no duplicate keys (agent.yamlsafe), every key known
(a typo such as `prot:` is an error that suggests `port`, never a silently ignored
setting), and types as written (`become: yes` is an error, not True). See
inventory.example.yaml for every field.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.errors import InputError
from agent.inventory.fields import (
    Context,
    FieldError,
    build_inventory,
    read_vars,
    suggest,
    valid_group_name,
)
from agent.inventory.model import Inventory
from agent.inventory.ranges import RangeError, expand_host_range
from agent.inventory.tree import ALL, Locator, Problems, Tree, base_dir
from agent.yamlsafe import load_yaml

GROUP_KEYS = ("hosts", "vars", "children")


def load_native(text: str, path: str) -> tuple[Inventory, dict[str, tuple[str, ...]]]:
    """Read a native inventory; returns it with its full group membership (for --limit).

    Raises InventoryError listing every problem in the file.
    """
    problems = Problems()
    tree = read_native(text, path, problems)
    return build_inventory(tree, Context(base_dir(path), lenient=False), problems, ungrouped=False)


def read_native(text: str, path: str, problems: Problems) -> Tree:
    tree = Tree(path)
    try:
        data, positions = load_yaml(text, path, strict=True)
    except InputError as error:
        problems.extend(error.problems)
        return tree
    root = Locator(path, (), positions)
    if not isinstance(data, Mapping) or ALL not in data:
        problems.add(root.at().problem("a native inventory is a mapping with one key, 'all:'"))
        return tree
    for key in data:
        if key != ALL:
            problems.add(
                root.at(str(key)).problem(
                    f"unknown top-level key {key!r}: everything goes under 'all:' (groups under all.children)"
                )
            )
    _Reader(tree, problems).group(ALL, data[ALL], root.child(ALL))
    return tree


class _Reader:
    def __init__(self, tree: Tree, problems: Problems) -> None:
        self.tree = tree
        self.problems = problems

    def group(self, name: str, body: object, loc: Locator) -> None:
        if body is None:
            return
        if not isinstance(body, Mapping):
            self.problems.add(loc.at().problem("a group is a mapping with hosts:, vars: and children:"))
            return
        for key in body:
            if key not in GROUP_KEYS:
                hint = suggest(str(key), list(GROUP_KEYS))
                self.problems.add(
                    loc.at(str(key)).problem(
                        f"unknown group key {key!r}{hint} (a group has hosts:, vars:, "
                        "children:; host fields go under hosts: <name>:)"
                    )
                )
        group_vars = read_vars(
            body.get("vars"), loc.child("vars"), self.problems, native=True, host_scope=False
        )
        self.tree.groups[name].inline.update(group_vars, self.problems)
        self.hosts(name, body.get("hosts"), loc.child("hosts"))
        self.children(name, body.get("children"), loc.child("children"))

    def hosts(self, group: str, hosts: object, loc: Locator) -> None:
        if hosts is None:
            return
        if not isinstance(hosts, Mapping):
            self.problems.add(loc.at().problem("hosts must be a mapping of host name: fields (or nothing)"))
            return
        for key, entry in hosts.items():
            here = loc.child(str(key))
            if not isinstance(key, str):
                self.problems.add(here.at().problem(f"host names must be strings; quote {key!r}"))
                continue
            try:
                names = expand_host_range(key)
            except RangeError as error:
                self.problems.add(here.at().problem(str(error)))
                continue
            fields = read_vars(entry, here, self.problems, native=True, host_scope=True)
            for name in names:
                self.tree.host(group, name, here.at()).inline.update(fields, self.problems)

    def children(self, parent: str, children: object, loc: Locator) -> None:
        if children is None:
            return
        if not isinstance(children, Mapping):
            self.problems.add(loc.at().problem("children must be a mapping of group name: group"))
            return
        for key, body in children.items():
            here = loc.child(str(key))
            try:
                if not isinstance(key, str):
                    raise FieldError(f"group names must be strings; quote {key!r}")
                valid_group_name(key)
            except FieldError as error:
                self.problems.add(here.at().problem(str(error)))
                continue
            if key == ALL:
                self.problems.add(here.at().problem("'all' contains every group; it has no parent"))
                continue
            self.tree.group(key, here.at())
            self.tree.add_child(parent, key)
            self.group(key, body, here)
