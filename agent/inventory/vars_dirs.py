"""Ansible's group_vars/ and host_vars/ directories next to an inventory file.

Lookup follows Ansible: for a group or host `<name>`, the entries `<name>`, `<name>.yml`,
`<name>.yaml` and `<name>.json`; a directory is read recursively, in name order,
skipping hidden files and editor backups.

What must never happen is a vars file that *silently* drops out: it may hold the jump
host or the login user of a node, and without it the node would be contacted directly,
as someone else. So an entry that would be read but cannot be (a dangling symlink, a
symlink loop, a FIFO or device, a directory we may not list) is an inventory problem
naming the file, and the whole load fails (exit 2) before anything is contacted.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat

from agent.errors import InputError, Problem
from agent.inventory.fields import read_vars
from agent.inventory.tree import Locator, Problems, Tree, VarSet, read_text
from agent.yamlsafe import PositionMap, load_yaml

VARS_EXTENSIONS = (".yml", ".yaml", ".json")  # plus no extension, as Ansible
_MAX_VARS_DIR_DEPTH = 8  # group_vars/<g>/a/b/...: deeper nesting is refused, not cut off
_SAFE_VARS_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:%-]*")


def read_vars_dirs(tree: Tree, directory: str, problems: Problems) -> None:
    """Apply group_vars/<group> and host_vars/<host> found next to the inventory file."""
    for name, group in tree.groups.items():
        for file in vars_files(os.path.join(directory, "group_vars"), name, problems):
            group.files.update(_read_vars_file(file, problems, host_scope=False))
    for name, host in tree.hosts.items():
        for file in vars_files(os.path.join(directory, "host_vars"), name, problems):
            host.files.update(_read_vars_file(file, problems, host_scope=True))


def vars_files(directory: str, name: str, problems: Problems) -> list[str]:
    """The files Ansible would read for `name` under `directory`, in its order."""
    if not _SAFE_VARS_NAME.fullmatch(name):
        return []  # a name that is not a plain file name never reaches the file system
    if _kind(directory, problems) != "dir":
        return []  # no group_vars/ at all is fine; a broken one was just reported
    found: list[str] = []
    for ext in ("", *VARS_EXTENSIONS):
        candidate = os.path.join(directory, name + ext)
        kind = _kind(candidate, problems)
        if kind == "dir":
            # group_vars/ itself counts as above: `group_vars/web/up -> ..` is a loop too.
            above = (_identity(directory), _identity(candidate))
            found.extend(_dir_files(candidate, problems, seen=above))
        elif kind == "file":
            found.append(candidate)
    return found


def _dir_files(directory: str, problems: Problems, *, seen: tuple[tuple[int, int], ...]) -> list[str]:
    """Files of a vars directory, recursively. `seen` is the chain of directories above
    (device, inode): a symlink back into that chain would read the same files forever."""
    if len(seen) > _MAX_VARS_DIR_DEPTH + 1:
        problems.add(Problem(directory, None, "", f"nested deeper than {_MAX_VARS_DIR_DEPTH} directories"))
        return []
    try:
        entries = sorted(os.listdir(directory))
    except OSError as error:
        problems.add(Problem(directory, None, "", f"cannot list this directory: {error.strerror or error}"))
        return []
    found: list[str] = []
    for entry in entries:
        if entry.startswith(".") or entry.endswith("~"):  # hidden files and editor backups
            continue
        full = os.path.join(directory, entry)
        ext = os.path.splitext(entry)[1]
        if ext and ext not in VARS_EXTENSIONS:
            continue  # README.md, notes.txt: Ansible does not read them either
        kind = _kind(full, problems)
        if kind == "dir" and not ext:
            identity = _identity(full)
            if identity in seen:
                problems.add(Problem(full, None, "", "symlink loop: leads back to a directory it is in"))
                continue
            found.extend(_dir_files(full, problems, seen=(*seen, identity)))
        elif kind == "file":
            found.append(full)
    return found


def _kind(path: str, problems: Problems) -> str | None:
    """ "file", "dir", or None when there is nothing to read (absent, or reported here).

    `os.path.isfile` is False for a dangling symlink, which is how such a file used to
    vanish without a word; here every entry that exists but does not lead to a regular
    file or a directory is a problem.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            problems.add(Problem(path, None, "", f"dangling symlink to {_link_target(path)}"))
        return None  # simply not there: Ansible's lookup tries the next name
    except OSError as error:
        if error.errno == errno.ELOOP:
            problems.add(Problem(path, None, "", "symlink loop: it never leads to a file"))
        else:
            problems.add(Problem(path, None, "", f"cannot read: {error.strerror or error}"))
        return None
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISREG(st.st_mode):
        return "file"
    # Reading a FIFO would block the whole load; a device is never a vars file.
    problems.add(Problem(path, None, "", "not a regular file or directory"))
    return None


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _link_target(path: str) -> str:
    try:
        return repr(os.readlink(path))
    except OSError:
        return "a missing file"


def _read_vars_file(file: str, problems: Problems, *, host_scope: bool) -> VarSet:
    text = read_text(file, problems)
    if text is None:
        return VarSet()
    try:
        data, positions = load_yaml(text, file, strict=False)
    except InputError as error:
        if not file.endswith(".json"):
            problems.extend(error.problems)
            return VarSet()
        # JSON is almost always valid YAML, but not with tab indentation.
        try:
            data, positions = json.loads(text), PositionMap()
        except ValueError:
            problems.extend(error.problems)
            return VarSet()
    return read_vars(data, Locator(file, (), positions), problems, native=False, host_scope=host_scope)
