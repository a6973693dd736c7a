"""The sudoers grammar: one file's text -> entries (aliases, Defaults, user specs, includes).

A port of sudo 1.9's own lexer (plugins/sudoers/toke.l) and grammar (gram.y), not a set of
regexes over lines: the lexer is a table of the same rules, with the same start conditions
and flex's "longest match, then earliest rule" choice, so the odd corners come out as sudo
sees them — `#1000` is a uid but `# 1000` a comment, `#include` counts only in column 1
while `@include` may be indented, `NOPASSWORD:` is an undefined alias plus a syntax error,
a `Defaults` line after a backslash continuation is an error, `\\,` escapes a comma in a
command argument. The parser is recursive descent over the same productions; visudo -c
and `sudo -l -U` are the oracles it is tested against (tests/fleet/test_sudo.py).

The port is split by job: tokens.py (toke.l's rule table), lexer.py and
lexer_actions.py (the lexer), grammar.py (gram.y), syntax_tree.py (what it
produces) and defaults.py (the Defaults option types). This module is their
public face: parse_text() and the names callers use.

Deliberate limits, each tested or documented:
* includes are not followed here: an `Include` entry is returned in order and the caller
  (agent/facts/sudoers/assemble.py) splices the included file's entries in, which is where sudo's
  rules for skipping names with `.` or `~` and insecure files live;
* a syntax error drops the rest of its line and the partial entry. sudo's error recovery
  (on by default since 1.9.3) may keep a prefix of that entry; a policy with errors is
  flagged as such and checks say the inventory is best effort;
* Defaults values are validated with the types of sudo 1.9.13 (see
  sudoers_defaults.DEFAULT_KINDS); an option this table does not know is reported as
  unknown, never guessed.

Remote text is hostile: every loop is bounded by the input length, the caller caps sizes,
and nothing here raises except FactParseError for input beyond the caps.
"""

from __future__ import annotations

from agent.facts.sudoers.defaults import DEFAULT_KINDS, TUPLE_VALUES, defaults_problem, valid_timeout
from agent.facts.sudoers.grammar import parse_text
from agent.facts.sudoers.lexer import MAX_TEXT, MAX_TOKENS, tokenize
from agent.facts.sudoers.syntax_tree import (
    Alias,
    CmndSpec,
    Command,
    DefaultsEntry,
    Entry,
    Include,
    Member,
    ParsedFile,
    Privilege,
    SyntaxProblem,
    UserSpec,
    Where,
)
from agent.facts.sudoers.tokens import TAG_KEYS, Token

__all__ = [
    "DEFAULT_KINDS",
    "MAX_TEXT",
    "MAX_TOKENS",
    "TAG_KEYS",
    "TUPLE_VALUES",
    "Alias",
    "CmndSpec",
    "Command",
    "DefaultsEntry",
    "Entry",
    "Include",
    "Member",
    "ParsedFile",
    "Privilege",
    "SyntaxProblem",
    "Token",
    "UserSpec",
    "Where",
    "defaults_problem",
    "parse_text",
    "tokenize",
    "valid_timeout",
]
