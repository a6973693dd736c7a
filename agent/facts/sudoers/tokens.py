"""The sudoers lexer's vocabulary: tokens, start conditions, and toke.l's rule table.

The rules are sudo 1.9's plugins/sudoers/toke.l, pattern for pattern and in the same
order, because flex chooses "longest match, then earliest rule" and the odd corners of
the language (`#1000` a uid but `# 1000` a comment, `#include` only in column 1) come
from that choice. What each rule does is in lexer_actions.py; the loop that picks
a rule is in lexer.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INITIAL, GOTDEFS, GOTCMND, GOTREGEX, STARTDEFS, INDEFS, INSTR, WANTDIGEST, GOTINC, EXPECTPATH = (
    "INITIAL", "GOTDEFS", "GOTCMND", "GOTREGEX", "STARTDEFS", "INDEFS", "INSTR", "WANTDIGEST",
    "GOTINC", "EXPECTPATH",
)  # fmt: skip
# flex: rules without a start condition are active in INITIAL and the inclusive (%s) states.
_INCLUSIVE = frozenset({INITIAL, GOTDEFS, WANTDIGEST, EXPECTPATH})
_EVERY = frozenset(
    {INITIAL, GOTDEFS, GOTCMND, GOTREGEX, STARTDEFS, INDEFS, INSTR, WANTDIGEST, GOTINC, EXPECTPATH}
)

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})"  # longest alternative first: flex picks the longest
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_HEX16 = r"[0-9A-Fa-f]{1,4}"
_IPV6_A = rf"(?:(?:{_HEX16})?:){{2,7}}(?:{_HEX16})?"
_IPV6_B = rf"(?:(?:{_HEX16})?:){{2,6}}:{_IPV4}"
_WORD = r'(?:[^#>!=:,() \t\r\n\\"]|\\[^\t\n])+'
_ID = r"#-?[0-9]+"
_PATH = r"/(?:\\[,:= \t#]|[^,:=\\ \t\r\n#])+"
_REGEX = r"\^(?:\\[#$]|[^#\r\n$])*\$"  # escape first: flex takes the longest match
_ENVAR = r'(?:[^#!=, \t\r\n\\"]|\\[^\r\n])(?:[^#=, \t\r\n\\"]|\\[^\r\n])*'
_TAGS = (
    "NOPASSWD", "PASSWD", "NOEXEC", "EXEC", "INTERCEPT", "NOINTERCEPT", "SETENV", "NOSETENV",
    "LOG_OUTPUT", "NOLOG_OUTPUT", "LOG_INPUT", "NOLOG_INPUT", "MAIL", "NOMAIL", "FOLLOW", "NOFOLLOW",
)  # fmt: skip
# Option_Spec words and the tag pairs they set (a tag's "NO" twin sets the same key false).
TAG_KEYS = {
    "NOPASSWD": ("NOPASSWD", True), "PASSWD": ("NOPASSWD", False),
    "NOEXEC": ("NOEXEC", True), "EXEC": ("NOEXEC", False),
    "INTERCEPT": ("INTERCEPT", True), "NOINTERCEPT": ("INTERCEPT", False),
    "SETENV": ("SETENV", True), "NOSETENV": ("SETENV", False),
    "LOG_OUTPUT": ("LOG_OUTPUT", True), "NOLOG_OUTPUT": ("LOG_OUTPUT", False),
    "LOG_INPUT": ("LOG_INPUT", True), "NOLOG_INPUT": ("LOG_INPUT", False),
    "MAIL": ("MAIL", True), "NOMAIL": ("MAIL", False),
    "FOLLOW": ("FOLLOW", True), "NOFOLLOW": ("FOLLOW", False),
}  # fmt: skip
OPTION_TOKENS = ("CMND_TIMEOUT", "NOTBEFORE", "NOTAFTER", "CWD", "CHROOT", "ROLE", "TYPE")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: str
    line: int
    column: int
    args: str | None = None  # COMMAND only


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    states: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]  # flex takes the longest of them
    bol: bool = False


def _rule(name: str, states: frozenset[str] | str | None, *patterns: str, bol: bool = False) -> Rule:
    if states is None:
        active = _INCLUSIVE
    elif isinstance(states, str):
        active = frozenset(states.split(","))
    else:
        active = states
    return Rule(name, active, tuple(re.compile(p) for p in patterns), bol)


# In toke.l's order: on equal length the earlier rule wins, exactly as in flex.
RULES: tuple[Rule, ...] = (
    _rule("defs_comma", GOTDEFS, r"[ \t]*,[ \t]*"),
    _rule("defs_blank", GOTDEFS, r"[ \t]+"),
    _rule("defvar", STARTDEFS, r"[a-z_]+"),
    _rule("indefs_comma", INDEFS, r","),
    _rule("indefs_eq", INDEFS, r"="),
    _rule("indefs_add", INDEFS, r"\+="),
    _rule("indefs_sub", INDEFS, r"-="),
    _rule("indefs_quote", INDEFS, r'"'),
    _rule("indefs_word", INDEFS, _ENVAR),
    _rule("instr_cont", INSTR, r"\\[ \t]*\r?\n[ \t]*"),
    _rule("instr_end", INSTR, r'"'),
    _rule("instr_backslash", INSTR, r"\\"),
    _rule("instr_body", INSTR, r'(?:[^"\r\n\\]|\\")+'),
    _rule("cmnd_globchar", GOTCMND, r"\\[*?\[\]!^]"),
    _rule("cmnd_quoted", GOTCMND, r"\\[:\\,= \t#]"),
    _rule("cmnd_end", GOTCMND, r"[#:,=\r\n]"),
    _rule("cmnd_arg", GOTCMND, r"[^#\\:, \t\r\n]+"),
    _rule("regex_quoted", GOTREGEX, r"\\[^\r\n]"),
    _rule("regex_bad", GOTREGEX, r"[#\r\n]"),
    _rule("regex_end", GOTREGEX, r"\$"),
    _rule("regex_body", GOTREGEX, r"[^#\\\r\n$]+"),
    _rule("digest_hex", WANTDIGEST, r"[0-9A-Fa-f]+"),
    _rule("digest_b64", WANTDIGEST, r"[A-Za-z0-9+/=]+"),
    _rule("at_include", INITIAL, r"@include"),
    _rule("at_includedir", INITIAL, r"@includedir"),
    _rule("hash_include", INITIAL, r"#include[ \t]+.*(?:\r\n|\n)?", bol=True),
    _rule("hash_includedir", INITIAL, r"#includedir[ \t]+.*(?:\r\n|\n)?", bol=True),
    _rule("defaults", INITIAL, rf'[ \t]*Defaults(?:[:@>!][ \t]*!*"?(?:{_ID}|{_WORD}))?', bol=True),
    _rule("alias_kw", INITIAL, r"[ \t]*(?:Host|Cmnd|Cmd|User|Runas)_Alias", bol=True),
    *(_rule("tag", None, rf"{tag}[ \t]*:") for tag in _TAGS),
    _rule("empty_group", "INITIAL,GOTDEFS", r"\+|%:|%"),
    _rule("netgroup", None, rf"\+{_WORD}"),
    _rule("usergroup", None, rf"%:?(?:{_WORD}|{_ID})"),
    _rule("ipv4", None, rf"{_IPV4}(?:/{_IPV4})?"),
    _rule("ipv4_prefix", None, rf"{_IPV4}/(?:3[0-2]|[12]?[0-9])"),
    _rule("ipv6", None, rf"{_IPV6_A}(?:/{_IPV6_A})?", rf"{_IPV6_B}(?:/{_IPV6_B})?"),
    _rule("ipv6_prefix", None, rf"{_IPV6_A}/(?:12[0-8]|1[01][0-9]|[1-9][0-9]|[0-9])"),
    _rule("all", None, r"ALL"),
    _rule("timeout", INITIAL, r"TIMEOUT"),
    _rule("notbefore", INITIAL, r"NOTBEFORE"),
    _rule("notafter", INITIAL, r"NOTAFTER"),
    _rule("cwd", INITIAL, r"CWD"),
    _rule("chroot", INITIAL, r"CHROOT"),
    _rule("role", INITIAL, r"ROLE"),
    _rule("type", INITIAL, r"TYPE"),
    _rule("alias", None, r"[A-Z][A-Z0-9_]*"),
    _rule("defs_command", GOTDEFS, _PATH, _REGEX, r"sudoedit"),
    _rule("sha224", None, r"sha224"),
    _rule("sha256", None, r"sha256"),
    _rule("sha384", None, r"sha384"),
    _rule("sha512", None, r"sha512"),
    _rule("sudoedit", None, r"sudoedit"),
    _rule("expect_path", EXPECTPATH, _PATH, _WORD),
    _rule("path", None, _PATH),
    _rule("regex", None, _REGEX),
    _rule("quote", "INITIAL,GOTDEFS", r'"'),
    _rule("word", "INITIAL,GOTDEFS", _ID, _WORD),
    _rule("inc_word", GOTINC, r'[^"\s](?:\\[ \t]|[^\s])*'),
    _rule("inc_quote", GOTINC, r'"'),
    _rule("lparen", None, r"\("),
    _rule("rparen", None, r"\)"),
    _rule("comma", None, r","),
    _rule("equals", None, r"="),
    _rule("colon", None, r":"),
    _rule("bang", _EVERY, r"!+"),
    _rule("newline", _EVERY, r"\r?\n"),
    _rule("blank", _EVERY, r"[ \t]+"),
    _rule("continuation", _EVERY, r"\\[ \t]*\r?\n"),
    _rule("comment", "INITIAL,STARTDEFS,INDEFS", r"#(?:-[^\r\n0-9].*|[^\r\n0-9-].*)?(?:\r\n|\n)?"),
    _rule("nomatch", _EVERY, r"(?s:.)"),
)
