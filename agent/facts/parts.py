"""Several commands in one fact section, framed so their output cannot forge structure.

Facts such as `packages` or `audit` need more than one command (a simulation, a
config dump, a few files). The gather contract gives each fact one section, so the
section's snippet frames every command itself:

    @begin <part>
    |<each stdout line, prefixed>
    !<each stderr line, prefixed; at most 2 KiB>
    @end <part> <exit code | missing>

Every line a command prints gets a prefix, so no output (a hostile file, a package
description) can start a line with `@` and fake a boundary. `missing` means the
command or file does not exist at all, which facts turn into Absent rather than
Unavailable. Each part's stdout is capped on the node (`head -c`), and the exit code
travels through its own fd so the cap does not hide it (the same trick as gather.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# POSIX sh helpers prepended to a fact's snippet (a constant: no Python formatting).
#   nw_part NAME MAXBYTES CMD [ARG...]   run a command (or shell function) as a part
#   nw_file NAME MAXBYTES PATH           the file's bytes as a part, `missing` if absent
# fds 8 and 9 are private to these helpers: 9 is the section's real stdout, 8 carries
# the command's exit code out of the pipeline.
SHELL = r"""
exec 9>&1
nw_e=/dev/null
if [ -n "${NW_TMP-}" ]; then nw_e="$NW_TMP/part.err"; fi
nw_part() {
  nw_p=$1; nw_m=$2; shift 2
  printf '@begin %s\n' "$nw_p"
  if ! command -v "$1" >/dev/null 2>&1; then printf '@end %s missing\n' "$nw_p"; return 0; fi
  nw_rc=$( { { "$@" 2>"$nw_e" </dev/null; echo "$?" >&8; } | head -c "$nw_m" | sed 's/^/|/' >&9; } 8>&1 )
  if [ "$nw_e" != /dev/null ] && [ -s "$nw_e" ]; then head -c 2048 "$nw_e" | sed 's/^/!/'; : >"$nw_e"; fi
  printf '\n@end %s %s\n' "$nw_p" "${nw_rc:-255}"
}
nw_file() {
  if [ -e "$3" ]; then nw_part "$1" "$2" cat -- "$3"
  else printf '@begin %s\n@end %s missing\n' "$1" "$1"; fi
}
"""

MAX_PARTS = 256
MAX_LINES = 200_000  # per part; more is hostile or a bug, and is cut
MAX_LINE = 4096  # characters kept of one line

_BEGIN = re.compile(r"^@begin ([A-Za-z0-9_.-]{1,64})$")
_END = re.compile(r"^@end ([A-Za-z0-9_.-]{1,64}) (\d{1,3}|missing)$")
_SIGPIPE = 141  # the command was cut by `head -c`: its output is truncated


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    lines: tuple[str, ...]  # stdout, one entry per line, prefixes removed
    errors: tuple[str, ...]  # stderr lines (capped)
    exit_code: int | None  # None: the part never ended (section cut off) or missing
    missing: bool = False  # the command or file does not exist
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.missing

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def error_text(self) -> str:
        return " ".join(" ".join(self.errors).split())[:300]


def split_parts(text: str) -> dict[str, Part]:
    """Every part of a section by name. Never raises; unknown lines are ignored.

    A part that appears twice keeps its first occurrence: the snippet never repeats a
    name, so a repeat can only come from tampering and must not override real data.
    """
    parts: dict[str, Part] = {}
    name: str | None = None
    lines: list[str] = []
    errors: list[str] = []
    cut = False

    def close(exit_code: int | None, missing: bool) -> None:
        if name is not None and name not in parts and len(parts) < MAX_PARTS:
            # The blank line the helper prints before `@end` (so a last line without a
            # newline still ends) reaches us as one empty unprefixed line: not data.
            truncated = cut or exit_code == _SIGPIPE
            parts[name] = Part(name, tuple(lines), tuple(errors), exit_code, missing, truncated)

    for raw in text.split("\n"):
        if raw.startswith("|"):
            if name is not None:
                if len(lines) < MAX_LINES:
                    lines.append(raw[1 : MAX_LINE + 1])
                else:
                    cut = True
            continue
        if raw.startswith("!"):
            if name is not None and len(errors) < 64:
                errors.append(raw[1:MAX_LINE])
            continue
        begin = _BEGIN.match(raw)
        if begin is not None:
            if name is not None:  # the previous part never ended
                close(None, False)
            name, lines, errors, cut = begin.group(1), [], [], False
            continue
        end = _END.match(raw)
        if end is not None and end.group(1) == name:
            missing = end.group(2) == "missing"
            close(None if missing else int(end.group(2)), missing)
            name = None
    if name is not None:
        close(None, False)
    return parts


def part_or_empty(parts: Mapping[str, Part], name: str) -> Part:
    """The named part, or a `missing` placeholder when the snippet never printed it."""
    return parts.get(name) or Part(name, (), (), None, missing=True)
