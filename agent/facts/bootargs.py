"""Kernel command line, as running (/proc/cmdline) and as configured for the next boot.

Shared by the MAC fact (selinux=0, apparmor=0, enforcing=0) and the audit fact
(audit=1, audit_backlog_limit=). /etc/default/grub and its drop-ins
(/etc/default/grub.d/*.cfg, sourced after it on Ubuntu cloud images) are shell: the
reader below evaluates the GRUB_CMDLINE_LINUX* assignments the way sh would for the
forms those files use (quotes, `$VAR` / `${VAR}` of earlier values), and records the
file and line of every assignment so evidence can point at it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CMDLINE_SOURCE = "/proc/cmdline"
_ASSIGN = re.compile(r"^\s*(?:export\s+)?(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)=(.*)$")
_REFERENCE = re.compile(r"\$\{?(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)\}?")


@dataclass(frozen=True, slots=True)
class BootArgs:
    args: tuple[str, ...]  # in order; `key=value` or a bare flag
    source: str  # /proc/cmdline, or the file:line of the last assignment that shaped them

    def value(self, key: str) -> str | None:
        """The kernel's view: the last occurrence of `key=` wins, a bare `key` is ""."""
        found: str | None = None
        for arg in self.args:
            name, sep, value = arg.partition("=")
            if name == key:
                found = value if sep else ""
        return found


def running(text: str) -> BootArgs:
    words = text.split()[:512]
    # Everything after a bare `--` is handed to init, not parsed by the kernel.
    if "--" in words:
        words = words[: words.index("--")]
    return BootArgs(tuple(words), CMDLINE_SOURCE)


def configured(files: Iterable[tuple[str, str]]) -> BootArgs | None:
    """GRUB_CMDLINE_LINUX + GRUB_CMDLINE_LINUX_DEFAULT after reading `files` in order
    ((path, text) pairs). None when no file sets either variable."""
    values: dict[str, str] = {"GRUB_CMDLINE_LINUX": "", "GRUB_CMDLINE_LINUX_DEFAULT": ""}
    where = ""
    for path, text in files:
        for number, line in enumerate(text.splitlines()[:10_000], start=1):
            match = _ASSIGN.match(line)
            if match is None:
                continue
            values[match.group(1)] = _evaluate(match.group(2), values)
            where = f"{path}:{number}"
    if not where:
        return None
    words = f"{values['GRUB_CMDLINE_LINUX']} {values['GRUB_CMDLINE_LINUX_DEFAULT']}".split()
    return BootArgs(tuple(words[:512]), where)


def _evaluate(raw: str, values: Mapping[str, str]) -> str:
    """The value sh would assign, for quoted text with $GRUB_CMDLINE_* references."""
    text = raw.strip()[:8192]
    try:
        words = shlex.split(text, comments=True, posix=True)
    except ValueError:
        words = [text.strip("\"'")]
    value = " ".join(words)
    # Single-quoted text is literal in sh; the files in the wild reference earlier
    # values only from double quotes or bare words.
    if text.startswith("'"):
        return value
    return _REFERENCE.sub(lambda m: values.get(m.group(1), ""), value)
