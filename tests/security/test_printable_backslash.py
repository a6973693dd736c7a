"""Review nit: remote text must not forge an escape that `printable` would have made.

`printable` shows ESC as the four characters `\\x1b`. If a literal backslash passed
through unchanged, a node could print `\\x1b[2J` as plain text and an operator (or a
tool reading the report) could not tell it from a neutralised escape sequence. Every
backslash is therefore escaped, so each `\\x..` in the output is one nodeward made.
"""

from __future__ import annotations

from agent.textsafe import printable, render_value


def test_a_literal_backslash_escape_from_a_node_is_not_an_escaped_control_character() -> None:
    forged = "\\x1b[2J"  # the characters a node prints: backslash, x, 1, b, ...
    real = "\x1b[2J"  # a real ESC
    assert printable(forged) != printable(real)
    assert printable(forged) == "\\\\x1b[2J"
    assert printable(real) == "\\x1b[2J"


def test_escaping_is_reversible_so_no_two_inputs_look_alike() -> None:
    pairs = [("\\n", "\n"), ("\\t", "\t"), ("\\\\", "\\"), ("\\u2028", "\u2028")]
    for literal, control in pairs:
        assert printable(literal) != printable(control), (literal, control)
    assert render_value(("a\\b", "c")) == "a\\\\b, c"
