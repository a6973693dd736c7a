"""Directories only their owner can write, whatever the umask (render --out).

`nodeward render --out DIR` writes scripts that someone later runs as root on a node:
whoever can write into DIR (or DIR/<node>/) can swap a script for their own between
the render and that run. os.mkdir's mode is filtered through the umask, never widened
by it, but a umask of 000 leaves a directory made with the default mode open to all;
hence an explicit mode on creation AND an explicit chmod. An existing directory is
used only when it is a real directory (not a symbolic link) owned by us that nobody
else can write: we never chmod someone else's directory, we refuse it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agent.errors import NodewardError

MODE = 0o700


class UnsafeDirectory(NodewardError):
    """An existing directory others could write into (or not ours, or not a directory)."""


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and missing parents) 0700, or check that an existing one is safe."""
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    if not missing:
        _check_existing(path)
        return
    for directory in reversed(missing):
        os.mkdir(directory, MODE)
        os.chmod(directory, MODE)  # the umask may have taken bits away; never trust it to add none


def _check_existing(path: Path) -> None:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeDirectory(f"{path} is a symbolic link: give a real directory")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeDirectory(f"{path} exists and is not a directory")
    if info.st_uid != os.geteuid():
        raise UnsafeDirectory(f"{path} belongs to uid {info.st_uid}, not to us: use a directory of your own")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeDirectory(
            f"{path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o}): "
            "the scripts in it run as root later; chmod go-w it or use another directory"
        )
