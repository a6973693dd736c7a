"""Make remote text safe to show: remote output is hostile input.

A compromised node can print ANSI escape sequences (rewrite the operator's terminal),
NUL bytes and XML-illegal characters (break JUnit), or megabytes in one "value".
Every string that came from a node passes through `printable` before it is stored
as evidence, so each reporter starts from bounded, control-free text.
"""

from __future__ import annotations

_LIMIT = 512


def printable(text: str, limit: int = _LIMIT) -> str:
    """Replace control characters (and backslash) with visible escapes and cap the length."""
    out: list[str] = []
    size = 0
    for char in text:
        if char == "\\":
            # Escaped too, or a node could print the four characters `\x1b` and have them
            # read as an escaped ESC: every backslash in the output is then ours.
            piece = "\\\\"
        elif char.isprintable() or char == " ":
            piece = char
        elif char == "\t":
            piece = "\\t"
        elif char == "\n":
            piece = "\\n"
        else:
            piece = f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
        size += len(piece)
        if size > limit:
            out.append("...")
            break
        out.append(piece)
    return "".join(out)


def render_value(value: object, limit: int = _LIMIT) -> str:
    """One observed value as text: tuples are space-joined like sshd prints them."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return printable(", ".join(str(v) for v in value), limit)
    return printable(str(value), limit)
