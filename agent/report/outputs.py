"""Where a run's reports go: `-o FILE` (repeatable, format from the extension),
`--output FORMAT=PATH`, or stdout in the `--format`.

Every destination is checked before any node is contacted: a cron job that cannot
write its report should fail in a second with the path named (exit 2), not after an
hour of scanning with a Python exception. Files are written atomically (fileio) with
the registry's file_mode.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.report import ReportFormat, Style, file_mode, parse_format, render

if TYPE_CHECKING:
    from agent.findings import RunResult
    from agent.remediate.run import RemediationRun

# The extension names the format, so one scan can feed an archive, node_exporter and CI.
EXTENSIONS: dict[str, ReportFormat] = {
    ".json": ReportFormat.JSON,
    ".xml": ReportFormat.JUNIT,
    ".html": ReportFormat.HTML,
    ".prom": ReportFormat.PROMETHEUS,
    ".txt": ReportFormat.TABLE,
}


class OutputError(ValueError):
    """A destination that cannot be used; the message names it. A usage error (exit 2)."""


@dataclass(frozen=True, slots=True)
class Destination:
    fmt: ReportFormat
    path: Path | None  # None: stdout


def destinations(values: Sequence[str], fmt: ReportFormat | None) -> list[Destination]:
    """The run's destinations from its `-o` values and `--format` (None: not given).

    One `-o PATH` with `--format` keeps today's meaning (the format is --format's);
    otherwise a bare PATH takes its format from its extension.
    """
    if not values:
        return [Destination(fmt or ReportFormat.TABLE, None)]
    found: list[Destination] = []
    for value in values:
        name, sep, rest = value.partition("=")
        if sep and name in {f.value for f in ReportFormat}:
            if not rest:
                raise OutputError(f"--output {value}: no path after {name}=")
            found.append(Destination(parse_format(name), Path(rest)))
        elif len(values) == 1 and fmt is not None:
            found.append(Destination(fmt, Path(value)))
        else:
            by_extension = EXTENSIONS.get(Path(value).suffix.lower())
            if by_extension is None and len(values) == 1:
                by_extension = ReportFormat.TABLE  # today's default for a lone -o
            if by_extension is None:
                known = " ".join(EXTENSIONS)
                raise OutputError(
                    f"--output {value}: cannot tell the format from the extension "
                    f"(one of {known}); write FORMAT=PATH"
                )
            found.append(Destination(by_extension, Path(value)))
    seen: set[str] = set()
    for destination in found:
        key = os.path.abspath(destination.path or "")
        if key in seen:
            raise OutputError(f"--output {destination.path}: given twice")
        seen.add(key)
    return found


def check_writable(path: Path) -> None:
    """OutputError unless `path` can be replaced by a report: its directory exists and
    is writable; an existing entry is a regular file we may write, or a symlink in a
    directory nobody else can write (elsewhere another user may have planted it)."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        dir_stat = os.stat(directory)
    except OSError as exc:
        raise OutputError(f"--output {path}: directory {directory}: {exc.strerror}") from None
    if not stat.S_ISDIR(dir_stat.st_mode):
        raise OutputError(f"--output {path}: {directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"--output {path}: directory {directory} is not writable")
    try:
        entry = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"--output {path}: {exc.strerror}") from None
    if stat.S_ISLNK(entry.st_mode):
        if dir_stat.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise OutputError(f"--output {path}: a symlink in a directory others can write")
        return  # the rename replaces the link itself, never its target
    if not stat.S_ISREG(entry.st_mode):
        raise OutputError(f"--output {path}: exists and is not a regular file")
    if not os.access(path, os.W_OK):
        raise OutputError(f"--output {path}: not writable")


def check_all(found: Sequence[Destination]) -> None:
    for destination in found:
        if destination.path is not None:
            check_writable(destination.path)


def write_all(found: Sequence[Destination], subject: RunResult | RemediationRun, style: Style) -> None:
    """Render and write each destination; files never get colour."""
    import sys

    from agent.fileio import write_atomic

    for destination in found:
        if destination.path is None:
            sys.stdout.write(render(destination.fmt, subject, style))
            sys.stdout.flush()
        else:
            plain = Style(width=style.width, show_passed=style.show_passed, fail_on=style.fail_on)
            text = render(destination.fmt, subject, plain)
            write_atomic(destination.path, text, file_mode(destination.fmt))
