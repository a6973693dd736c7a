"""The sudoers grammar: one file's text -> entries (aliases, Defaults, user specs, includes).

A port of sudo 1.9's own lexer (plugins/sudoers/toke.l) and grammar (gram.y), not a set of
regexes over lines: the lexer is a table of the same rules, with the same start conditions
and flex's "longest match, then earliest rule" choice, so the odd corners come out as sudo
sees them — `#1000` is a uid but `# 1000` a comment, `#include` counts only in column 1
while `@include` may be indented, `NOPASSWORD:` is an undefined alias plus a syntax error,
a `Defaults` line after a backslash continuation is an error, `\\,` escapes a comma in a
command argument. The parser is recursive descent over the same productions; visudo -c
and `sudo -l -U` are the oracles it is tested against (tests/fleet/test_sudo.py).

Deliberate limits, each tested or documented:
* includes are not followed here: an `Include` entry is returned in order and the caller
  (agent/facts/sudoers.py) splices the included file's entries in, which is where sudo's
  rules for skipping names with `.` or `~` and insecure files live;
* a syntax error drops the rest of its line and the partial entry. sudo's error recovery
  (on by default since 1.9.3) may keep a prefix of that entry; a policy with errors is
  flagged as such and checks say the inventory is best effort;
* Defaults values are validated with the types of sudo 1.9.13 (see _DEFAULT_TYPES); an
  option this table does not know is reported as unknown, never guessed.

Remote text is hostile: every loop is bounded by the input length, the caller caps sizes,
and nothing here raises except FactParseError for input beyond the caps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agent.facts.model import FactParseError

MAX_TEXT = 1 << 20  # one sudoers file; the gather script caps files at 256 KiB anyway
MAX_TOKENS = 200_000

# --------------------------------------------------------------------------- the AST


@dataclass(frozen=True, slots=True)
class Where:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Command:
    """A command in a Cmnd_List: path (or "sudoedit", "list", a ^regex$, a directory/)."""

    path: str
    args: str | None  # None: any arguments; '""': none allowed; else the pattern as written
    digests: tuple[str, ...] = ()  # "sha256:..." entries that must also match


@dataclass(frozen=True, slots=True)
class Member:
    """One item of a user, host, runas or command list, with its negation."""

    kind: str  # ALL, ALIAS, WORD, USERGROUP, NETGROUP, NTWKADDR, COMMAND, MYSELF
    name: str  # "alice", "#1000", "%sudo", "%#27", "+ops", "ADMINS", "10.0.0.0/8", "" for ALL
    negated: bool = False
    command: Command | None = None

    def text(self) -> str:
        bang = "!" if self.negated else ""
        if self.kind == "ALL":
            return bang + "ALL"
        if self.kind == "MYSELF":
            return bang + "(invoking user)"
        if self.command is not None:
            args = "" if self.command.args is None else " " + self.command.args
            return bang + self.command.path + args
        return bang + self.name


@dataclass(frozen=True, slots=True)
class CmndSpec:
    runas_users: tuple[Member, ...] | None  # None: no Runas_Spec (runas_default, i.e. root)
    runas_groups: tuple[Member, ...] | None
    tags: tuple[tuple[str, bool], ...]  # ("NOPASSWD", True) ... after inheritance in the line
    options: tuple[tuple[str, str], ...]  # ("CWD", "/tmp") ...
    command: Member
    where: Where  # the line the command itself is on

    def tag(self, name: str) -> bool | None:
        for key, value in self.tags:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Privilege:
    hosts: tuple[Member, ...]
    cmndspecs: tuple[CmndSpec, ...]


@dataclass(frozen=True, slots=True)
class UserSpec:
    users: tuple[Member, ...]
    privileges: tuple[Privilege, ...]
    where: Where


@dataclass(frozen=True, slots=True)
class DefaultsEntry:
    scope: str  # global, host, user, runas, cmnd
    binding: tuple[Member, ...]
    name: str
    op: str  # "true" (bare), "false" (negated), "=", "+=", "-="
    value: str | None
    where: Where


@dataclass(frozen=True, slots=True)
class Alias:
    kind: str  # User_Alias, Runas_Alias, Host_Alias, Cmnd_Alias (Cmd_Alias is stored as Cmnd_Alias)
    name: str
    members: tuple[Member, ...]
    where: Where


@dataclass(frozen=True, slots=True)
class Include:
    directive: str  # "@include", "@includedir", "#include", "#includedir"
    path: str  # as written, quotes and escapes removed; %h and relative paths not yet resolved
    is_dir: bool
    where: Where


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    where: Where
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.where}:{self.column}: {self.message}"


Entry = UserSpec | DefaultsEntry | Alias | Include


@dataclass(frozen=True, slots=True)
class ParsedFile:
    path: str
    entries: tuple[Entry, ...]
    errors: tuple[SyntaxProblem, ...]  # everything visudo -c rejects
    dropped: tuple[SyntaxProblem, ...] = ()  # the subset that cost a whole line (syntax errors)


# --------------------------------------------------------------------------- the lexer

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
_OPTION_TOKENS = ("CMND_TIMEOUT", "NOTBEFORE", "NOTAFTER", "CWD", "CHROOT", "ROLE", "TYPE")
_OPTION_NAMES = {"CMND_TIMEOUT": "TIMEOUT"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: str
    line: int
    column: int
    args: str | None = None  # COMMAND only


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    states: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]  # flex takes the longest of them
    bol: bool = False


def _rule(name: str, states: frozenset[str] | str | None, *patterns: str, bol: bool = False) -> _Rule:
    if states is None:
        active = _INCLUSIVE
    elif isinstance(states, str):
        active = frozenset(states.split(","))
    else:
        active = states
    return _Rule(name, active, tuple(re.compile(p) for p in patterns), bol)


# In toke.l's order: on equal length the earlier rule wins, exactly as in flex.
_RULES: tuple[_Rule, ...] = (
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
_DIGEST_BYTES = {"sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}


def _unescape(text: str) -> str:
    """sudo's fill()/fill_txt(): `\\xHH` is a hex byte, any other `\\c` is c."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            if text[i + 1] == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 2 : i + 4]):
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append(text[i + 1])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _strip_backslashes(text: str) -> str:
    """fill_cmnd(): a backslash quotes the next character (for `\\,` and friends in paths)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i != len(text) - 1:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


class _Lexer:
    """toke.l as a loop: pick the longest match among the active rules, run its action."""

    def __init__(self, text: str) -> None:
        # sudoers_input() supplies a final newline when the file lacks one.
        self.text = text if text.endswith("\n") else text + "\n"
        self.pos = 0
        self.state = INITIAL
        self.prev_state = INITIAL
        self.bol = True
        self.line = 1
        self.line_start = 0
        self.continued = False
        self.sawspace = False
        self.string: str | None = None  # INSTR accumulator
        self.string_line = (1, 1)
        self.cmnd: tuple[str, str | None, int, int] | None = None  # GOTCMND: path, args, line, col
        self.digest_len = 0

    def _match(self) -> tuple[_Rule, str]:
        best: tuple[_Rule, str] | None = None
        for rule in _RULES:
            if self.state not in rule.states or (rule.bol and not self.bol):
                continue
            for pattern in rule.patterns:
                found = pattern.match(self.text, self.pos)
                if found is not None and (best is None or len(found.group()) > len(best[1])):
                    best = (rule, found.group())
        if best is None:  # cannot happen: "nomatch" takes any one character
            raise FactParseError("sudoers", self.line, "no lexer rule matches")
        return best

    def tokens(self) -> Iterator[Token]:
        produced = 0
        steps = 0
        while self.pos < len(self.text):
            steps += 1
            if steps > 4 * len(self.text) + 64:  # every action consumes or changes state
                raise FactParseError("sudoers", self.line, "the lexer stopped making progress")
            rule, text = self._match()
            start, column = self.pos, self.pos - self.line_start + 1
            self.pos += len(text)
            self.bol = text.endswith("\n")
            for token in self._act(rule.name, text, start, column):
                produced += 1
                if produced > MAX_TOKENS:
                    raise FactParseError("sudoers", self.line, "more tokens than any sudoers file has")
                yield token
        if self.state == GOTCMND and self.cmnd is not None:
            yield self._command()
        yield Token("EOF", "", self.line, 1)

    def _less(self, start: int, keep: int) -> None:
        """flex's yyless(): keep `keep` characters of the match, rescan the rest."""
        self.pos = start + keep

    def _newline(self, start: int, length: int) -> None:
        self.line += 1
        self.line_start = start + length

    def _command(self) -> Token:
        path, args, line, column = self.cmnd or ("", None, self.line, 1)
        self.cmnd = None
        return Token("COMMAND", path, line, column, args)

    def _tok(self, kind: str, value: str, column: int) -> Token:
        return Token(kind, value, self.line, column)

    def _act(self, name: str, text: str, start: int, column: int) -> Iterator[Token]:
        return _ACTIONS[name](self, text, start, column)


def _emit(kind: str) -> Callable[[_Lexer, str, int, int], Iterator[Token]]:
    def action(lexer: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
        yield lexer._tok(kind, text, column)

    return action


def _a_defs_blank(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = STARTDEFS
    return iter(())


def _a_defvar(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = INDEFS
    yield lx._tok("DEFVAR", text, column)


def _a_indefs_comma(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = STARTDEFS
    yield lx._tok(",", text, column)


def _a_begin_string(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.string = None
    lx.string_line = (lx.line, column)
    lx.prev_state = INITIAL if lx.state == GOTINC else lx.state
    lx.state = INSTR
    return iter(())


def _a_instr_cont(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx._newline(start, text.index("\n") + 1)
    lx.continued = True
    return iter(())


def _a_instr_end(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = lx.prev_state
    value = lx.string
    line, col = lx.string_line
    if value is None:
        yield Token("ERROR", "empty string", line, col)
        return
    if lx.prev_state in (INITIAL, GOTDEFS):
        if value.startswith("%"):
            if value in ("%", "%:"):
                yield Token("ERROR", "empty group", line, col)
            else:
                yield Token("USERGROUP", value, line, col)
            return
        if value.startswith("+"):
            if value == "+":
                yield Token("ERROR", "empty netgroup", line, col)
            else:
                yield Token("NETGROUP", value, line, col)
            return
    yield Token("WORD", value, line, col)


def _a_instr_append(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.string = (lx.string or "") + (text if text == "\\" else _unescape(text))
    return iter(())


def _fill_args(lx: _Lexer, text: str, addspace: bool) -> None:
    path, args, line, col = lx.cmnd or ("", None, lx.line, 1)
    args = text if args is None else args + (" " if addspace else "") + text
    lx.cmnd = (path, args, line, col)


def _a_cmnd_globchar(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    _fill_args(lx, text, lx.sawspace)
    lx.sawspace = False
    return iter(())


def _a_cmnd_quoted(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    _fill_args(lx, text[1:], lx.sawspace)
    lx.sawspace = False
    return iter(())


def _a_cmnd_end(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = INITIAL
    lx._less(start, 0)
    lx.bol = False
    yield lx._command()


def _a_cmnd_arg(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    if lx.cmnd is not None and lx.cmnd[1] is None and text.startswith("^"):
        lx.state = GOTREGEX
        lx._less(start, 0)
        lx.bol = False
        # the regex starts on this word; a space before it is not part of it
        lx.sawspace = False
        return iter(())
    _fill_args(lx, text, lx.sawspace)
    lx.sawspace = False
    return iter(())


def _a_regex_quoted(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    _fill_args(lx, text, False)
    return iter(())


def _a_regex_bad(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx._less(start, 0)
    lx.bol = False
    lx.state = INITIAL
    lx.cmnd = None
    yield lx._tok("ERROR", "unterminated regular expression", column)


def _a_regex_end(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    _fill_args(lx, "$", False)
    lx.state = INITIAL
    lx.continued = False
    yield lx._command()


def _a_regex_body(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    if lx.continued:
        text = text.lstrip(" \t")
        lx.continued = False
    if text:
        _fill_args(lx, text, False)
    return iter(())


def _a_digest(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = INITIAL
    size = lx.digest_len
    expected = (size * 2,) if re.fullmatch(r"[0-9A-Fa-f]+", text) else ()
    padded = 4 * ((size + 2) // 3) if text.endswith("=") else (4 * size + 2) // 3
    if len(text) in (*expected, padded):
        yield lx._tok("DIGEST", text, column)
    # else: consumed without a token, as toke.l does; the parser then reports the error


def _a_continued_error(kind: str) -> Callable[[_Lexer, str, int, int], Iterator[Token]]:
    def action(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
        if lx.continued:
            yield lx._tok("ERROR", "invalid line continuation", column)
            return
        lx.state = GOTINC
        yield lx._tok(kind, text, column)

    return action


def _a_hash_include(keep: int, kind: str) -> Callable[[_Lexer, str, int, int], Iterator[Token]]:
    def action(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
        if lx.continued:
            yield lx._tok("ERROR", "invalid line continuation", column)
            return
        lx._less(start, keep)
        lx.bol = False
        lx.state = GOTINC
        yield lx._tok(kind, text[:keep], column)

    return action


def _a_defaults(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    if lx.continued:
        yield lx._tok("ERROR", "invalid line continuation", column)
        return
    n = len(text) - len(text.lstrip(" \t"))
    column += n
    n += len("Defaults")
    deftype = text[n] if n < len(text) else ""
    lx.state = GOTDEFS
    kinds = {":": "DEFAULTS_USER", ">": "DEFAULTS_RUNAS", "@": "DEFAULTS_HOST", "!": "DEFAULTS_CMND"}
    if deftype in kinds:
        n += 1
        while n < len(text) and text[n] in " \t":
            n += 1
        lx._less(start, n)
        yield lx._tok(kinds[deftype], "Defaults" + deftype, column)
        return
    yield lx._tok("DEFAULTS", "Defaults", column)


def _a_alias_kw(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    if lx.continued:
        yield lx._tok("ERROR", "invalid line continuation", column)
        return
    word = text.lstrip(" \t")
    column += len(text) - len(word)
    kind = {"H": "HOSTALIAS", "C": "CMNDALIAS", "U": "USERALIAS", "R": "RUNASALIAS"}[word[0]]
    yield lx._tok(kind, word, column)


def _a_tag(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    yield lx._tok(text.rstrip(": \t"), text, column)


def _a_empty_group(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    yield lx._tok("ERROR", "empty netgroup" if text == "+" else "empty group", column)


def _a_ipv6(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    import ipaddress

    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        address = text.split("/", 1)[0]
        try:
            ipaddress.ip_address(address)
        except ValueError:
            yield lx._tok("ERROR", "invalid IPv6 address", column)
            return
    yield lx._tok("NTWKADDR", text, column)


def _a_option(kind: str) -> Callable[[_Lexer, str, int, int], Iterator[Token]]:
    def action(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
        if kind in ("CWD", "CHROOT"):
            lx.prev_state = lx.state
            lx.state = EXPECTPATH
        yield lx._tok(kind, text, column)

    return action


def _a_defs_command(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    yield Token("COMMAND", _strip_backslashes(text), lx.line, column, None)


def _a_sha(kind: str, name: str) -> Callable[[_Lexer, str, int, int], Iterator[Token]]:
    def action(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
        lx.digest_len = _DIGEST_BYTES[name]
        lx.state = WANTDIGEST
        yield lx._tok(kind, text, column)

    return action


def _a_sudoedit(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = GOTCMND
    lx.sawspace = False
    lx.cmnd = (text, None, lx.line, column)
    return iter(())


def _a_expect_path(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = lx.prev_state
    yield lx._tok("WORD", _unescape(text), column)


def _a_path(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    if text.endswith("/"):
        yield Token("COMMAND", _strip_backslashes(text), lx.line, column, None)
        return
    lx.state = GOTCMND
    lx.sawspace = False
    lx.cmnd = (_strip_backslashes(text), None, lx.line, column)


def _a_regex(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = GOTCMND
    lx.sawspace = False
    lx.cmnd = (text, None, lx.line, column)
    return iter(())


def _a_word(kind: str) -> Callable[[_Lexer, str, int, int], Iterator[Token]]:
    def action(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
        yield lx._tok(kind, _unescape(text), column)

    return action


def _a_inc_word(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = INITIAL
    yield lx._tok("WORD", _unescape(text), column)


def _a_bang(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    if len(text) % 2:
        yield lx._tok("!", text, column)


def _a_newline(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    if lx.state == INSTR:
        lx.state = INITIAL
        lx._less(start, 0)
        lx.bol = False
        line, col = lx.string_line
        lx.string = None
        yield Token("ERROR", "unexpected line break in string", line, col)
        return
    lx.state = INITIAL
    token = lx._tok("NL", "\n", column)
    lx._newline(start, len(text))
    lx.continued = False
    yield token


def _a_blank(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.sawspace = True
    return iter(())


def _a_continuation(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    lx.sawspace = True
    lx._newline(start, len(text))
    lx.continued = True
    return iter(())


def _a_comment(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    token = lx._tok("NL", "\n", column)
    if text.endswith("\n"):
        lx.state = INITIAL
        lx._newline(start, len(text))
        lx.continued = False
    yield token


def _a_nomatch(lx: _Lexer, text: str, start: int, column: int) -> Iterator[Token]:
    yield lx._tok("NOMATCH", text, column)


_ACTIONS: dict[str, Callable[[_Lexer, str, int, int], Iterator[Token]]] = {
    "defs_comma": _emit(","),
    "defs_blank": _a_defs_blank,
    "defvar": _a_defvar,
    "indefs_comma": _a_indefs_comma,
    "indefs_eq": _emit("="),
    "indefs_add": _emit("+"),
    "indefs_sub": _emit("-"),
    "indefs_quote": _a_begin_string,
    "indefs_word": _a_word("WORD"),
    "instr_cont": _a_instr_cont,
    "instr_end": _a_instr_end,
    "instr_backslash": _a_instr_append,
    "instr_body": _a_instr_append,
    "cmnd_globchar": _a_cmnd_globchar,
    "cmnd_quoted": _a_cmnd_quoted,
    "cmnd_end": _a_cmnd_end,
    "cmnd_arg": _a_cmnd_arg,
    "regex_quoted": _a_regex_quoted,
    "regex_bad": _a_regex_bad,
    "regex_end": _a_regex_end,
    "regex_body": _a_regex_body,
    "digest_hex": _a_digest,
    "digest_b64": _a_digest,
    "at_include": _a_continued_error("INCLUDE"),
    "at_includedir": _a_continued_error("INCLUDEDIR"),
    "hash_include": _a_hash_include(len("#include"), "INCLUDE"),
    "hash_includedir": _a_hash_include(len("#includedir"), "INCLUDEDIR"),
    "defaults": _a_defaults,
    "alias_kw": _a_alias_kw,
    "tag": _a_tag,
    "empty_group": _a_empty_group,
    "netgroup": _a_word("NETGROUP"),
    "usergroup": _a_word("USERGROUP"),
    "ipv4": _emit("NTWKADDR"),
    "ipv4_prefix": _emit("NTWKADDR"),
    "ipv6": _a_ipv6,
    "ipv6_prefix": _a_ipv6,
    "all": _emit("ALL"),
    "timeout": _a_option("CMND_TIMEOUT"),
    "notbefore": _a_option("NOTBEFORE"),
    "notafter": _a_option("NOTAFTER"),
    "cwd": _a_option("CWD"),
    "chroot": _a_option("CHROOT"),
    "role": _a_option("ROLE"),
    "type": _a_option("TYPE"),
    "alias": _emit("ALIAS"),
    "defs_command": _a_defs_command,
    "sha224": _a_sha("SHA224", "sha224"),
    "sha256": _a_sha("SHA256", "sha256"),
    "sha384": _a_sha("SHA384", "sha384"),
    "sha512": _a_sha("SHA512", "sha512"),
    "sudoedit": _a_sudoedit,
    "expect_path": _a_expect_path,
    "path": _a_path,
    "regex": _a_regex,
    "quote": _a_begin_string,
    "word": _a_word("WORD"),
    "inc_word": _a_inc_word,
    "inc_quote": _a_begin_string,
    "lparen": _emit("("),
    "rparen": _emit(")"),
    "comma": _emit(","),
    "equals": _emit("="),
    "colon": _emit(":"),
    "bang": _a_bang,
    "newline": _a_newline,
    "blank": _a_blank,
    "continuation": _a_continuation,
    "comment": _a_comment,
    "nomatch": _a_nomatch,
}


def tokenize(text: str) -> list[Token]:
    """Every token of one file, ending with EOF. Raises FactParseError only past the caps."""
    if len(text) > MAX_TEXT:
        raise FactParseError("sudoers", None, f"a sudoers file larger than {MAX_TEXT} characters")
    return list(_Lexer(text).tokens())


# --------------------------------------------------------------------------- Defaults types

# sudo 1.9.13's option table (sudoers(5) "SUDOERS OPTIONS", checked value by value against
# visudo -cf): how each option may be written. Kinds:
#   flag          bare or !name only
#   list          needs a value; !name clears; =, += and -= all allowed
#   *_bool        !name is allowed (turns it off); a bare name is not
#   tuple_bare    a bare name and !name both allowed, a value must be one of the words
_FLAGS = (
    "always_query_group_plugin always_set_home authenticate case_insensitive_group "
    "case_insensitive_user closefrom_override compress_io exec_background env_editor env_reset "
    "fast_glob log_passwords fqdn ignore_audit_errors ignore_dot ignore_iolog_errors "
    "ignore_logfile_errors ignore_local_sudoers ignore_unknown_defaults insults log_allowed "
    "log_denied log_exit_status log_host log_input log_output log_server_keepalive "
    "log_server_verify log_stderr log_stdin log_stdout log_subcmds log_ttyin log_ttyout log_year "
    "long_otp_prompt mail_all_cmnds mail_always mail_badpass mail_no_host mail_no_perms "
    "mail_no_user match_group_by_gid intercept intercept_allow_setid intercept_authenticate "
    "intercept_verify netgroup_tuple noexec noninteractive_auth pam_acct_mgmt pam_rhost pam_ruser "
    "pam_session pam_setcred passprompt_override path_info preserve_groups pwfeedback requiretty "
    "root_sudo rootpw runas_allow_unknown_id runas_check_shell runaspw selinux set_home set_logname "
    "set_utmp setenv shell_noargs stay_setuid sudoedit_checkdir sudoedit_follow syslog_pid targetpw "
    "tty_tickets umask_override use_netgroups use_pty user_command_timeouts utmp_runas visiblepw "
    "iolog_flush"
)
_KINDS = {
    "int": "closefrom",
    "timeout_bool": "command_timeout log_server_timeout",
    "uint": "passwd_tries syslog_maxlen",
    "uint_bool": "loglinelen",
    "float_bool": "passwd_timeout timestamp_timeout",
    "mode_bool": "umask",
    "mode": "iolog_mode",
    "str": "authfail_message badpass_message iolog_file mailsub pam_askpass_service pam_login_service "
    "pam_service passprompt role runas_default timestampowner type group_plugin maxseq sudoers_locale",
    "path": "editor iolog_dir lecture_status_dir noexec_file timestampdir",
    "str_bool": "exempt_group mailerflags mailfrom mailto secure_path iolog_group iolog_user",
    "path_bool": "admin_flag env_file lecture_file logfile mailerpath restricted_env_file "
    "log_server_cabundle log_server_peer_cert log_server_peer_key",
    "dir_bool": "runchroot runcwd",
    "tuple_bool": "intercept_type timestamp_type log_format syslog_badpri syslog_goodpri",
    "tuple_bare": "fdexec lecture listpw verifypw syslog",
    "rlimit": "rlimit_as rlimit_core rlimit_cpu rlimit_data rlimit_fsize rlimit_locks rlimit_memlock "
    "rlimit_nofile rlimit_nproc rlimit_rss rlimit_stack",
    "list": "env_check env_delete env_keep log_servers passprompt_regex",
}
_PRIORITIES = ("alert", "crit", "debug", "emerg", "err", "info", "notice", "warning", "none")
_FACILITIES = ("authpriv", "auth", "daemon", "user", *(f"local{n}" for n in range(8)))
TUPLE_VALUES: dict[str, tuple[str, ...]] = {
    "intercept_type": ("dso", "trace"),
    "timestamp_type": ("global", "ppid", "tty", "kernel"),
    "log_format": ("sudo", "json"),
    "syslog_badpri": _PRIORITIES,
    "syslog_goodpri": _PRIORITIES,
    "fdexec": ("never", "digest_only", "always"),
    "lecture": ("never", "once", "always"),
    "listpw": ("never", "any", "all", "always"),
    "verifypw": ("never", "all", "any", "always"),
    "syslog": _FACILITIES,
}
DEFAULT_KINDS: dict[str, str] = {name: "flag" for name in _FLAGS.split()} | {
    name: kind for kind, names in _KINDS.items() for name in names.split()
}
_TIMEOUT = re.compile(r"(?=\d)(?:\d+[dD])?(?:\d+[hH])?(?:\d+[mM])?(?:\d+[sS]?)?")


def valid_timeout(value: str) -> bool:
    """A Timeout_Spec: 7d8h30m10s, 14d, 600s, 3600 (largest unit first, each once)."""
    return _TIMEOUT.fullmatch(value) is not None


def _value_ok(kind: str, name: str, value: str) -> bool:
    if kind == "int":
        return re.fullmatch(r"[+-]?\d{1,10}", value) is not None
    if kind in ("uint", "uint_bool"):
        return re.fullmatch(r"\+?\d{1,10}", value) is not None
    if kind == "float_bool":
        return re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)", value) is not None
    if kind == "timeout_bool":
        return valid_timeout(value)
    if kind in ("mode", "mode_bool"):
        return re.fullmatch(r"[0-7]{1,4}", value) is not None and int(value, 8) <= 0o777
    if kind in ("path", "path_bool"):
        return value.startswith("/")
    if kind == "dir_bool":
        return value.startswith(("/", "~")) or value == "*"
    if kind in ("tuple_bool", "tuple_bare"):
        return value in TUPLE_VALUES[name]
    if kind == "rlimit":
        part = r"(?:\d+|infinity)"
        return re.fullmatch(rf"{part}(?:,{part})?|default|user", value) is not None
    return True  # str, str_bool, list: any text


def defaults_problem(name: str, op: str, value: str | None) -> str | None:
    """visudo's complaint about one Defaults parameter, or None when it is acceptable."""
    kind = DEFAULT_KINDS.get(name)
    if kind is None:
        return f'unknown defaults entry "{name}"'
    if op in ("+=", "-=") and kind != "list":
        return f'option "{name}" does not take a value of that kind'
    if op == "true":
        if kind in ("flag", "tuple_bare"):
            return None
        return f'no value specified for "{name}"'
    if op == "false":
        if kind in ("flag", "list", "tuple_bare", "rlimit") or kind.endswith("_bool"):
            return None
        return f'"{name}" cannot be used in a boolean context'
    if kind == "flag":
        return f'option "{name}" does not take a value'
    if value is None or not _value_ok(kind, name, value):
        return f'value "{value}" is invalid for option "{name}"'
    return None


# --------------------------------------------------------------------------- the parser


class _Syntax(Exception):
    def __init__(self, token: Token, message: str = "syntax error") -> None:
        super().__init__(message)
        self.token = token
        self.message = message


_USER_KINDS = frozenset({"ALIAS", "ALL", "NETGROUP", "USERGROUP", "WORD"})
_HOST_KINDS = frozenset({"ALIAS", "ALL", "NETGROUP", "NTWKADDR", "WORD"})
_GROUP_KINDS = frozenset({"ALIAS", "ALL", "WORD"})
_ALIAS_KEYWORDS = {
    "USERALIAS": "User_Alias",
    "RUNASALIAS": "Runas_Alias",
    "HOSTALIAS": "Host_Alias",
    "CMNDALIAS": "Cmnd_Alias",
}
_DEFAULTS_SCOPES = {
    "DEFAULTS": "global",
    "DEFAULTS_HOST": "host",
    "DEFAULTS_USER": "user",
    "DEFAULTS_RUNAS": "runas",
    "DEFAULTS_CMND": "cmnd",
}
_RESERVED = frozenset({"ALL", *_OPTION_TOKENS})
_SHA = ("SHA224", "SHA256", "SHA384", "SHA512")
_GENTIME = re.compile(r"\d{10}(?:\d{2}(?:\d{2})?)?(?:[.,]\d+)?(?:Z|[+-]\d{4})?")


class _Parser:
    def __init__(self, tokens: list[Token], path: str) -> None:
        self.tokens = tokens
        self.i = 0
        self.path = path
        self.entries: list[Entry] = []
        self.errors: list[SyntaxProblem] = []
        self.dropped: list[SyntaxProblem] = []

    # ---- token helpers

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        if token.kind != "EOF":
            self.i += 1
        if token.kind in ("ERROR", "NOMATCH"):
            raise _Syntax(token, token.value if token.kind == "ERROR" else "syntax error")
        return token

    def expect(self, *kinds: str) -> Token:
        token = self.peek()
        if token.kind not in kinds:
            self.take()  # an ERROR token raises with its own words
            raise _Syntax(token)
        return self.take()

    def at(self, *kinds: str) -> bool:
        return self.peek().kind in kinds

    def where(self, token: Token) -> Where:
        return Where(self.path, token.line)

    # ---- driver

    def parse(self) -> ParsedFile:
        while not self.at("EOF"):
            if self.at("NL"):
                self.take()
                continue
            start = self.i
            try:
                self.entry()
            except _Syntax as problem:
                token = problem.token
                found = SyntaxProblem(self.where(token), token.column, problem.message)
                self.errors.append(found)
                self.dropped.append(found)
                self.recover(start)
        return ParsedFile(self.path, tuple(self.entries), tuple(self.errors), tuple(self.dropped))

    def recover(self, start: int) -> None:
        """Drop the rest of the line, as bison's `error '\\n'` rule does."""
        self.i = max(self.i, start + 1)
        while not self.at("NL", "EOF"):
            self.i += 1
        if self.at("NL"):
            self.i += 1

    def eol(self) -> None:
        self.expect("NL")

    def entry(self) -> None:
        first = self.peek()
        if first.kind in ("INCLUDE", "INCLUDEDIR"):
            self.include()
        elif first.kind in _ALIAS_KEYWORDS:
            self.aliases()
        elif first.kind in _DEFAULTS_SCOPES:
            self.defaults()
        else:
            self.userspec()

    # ---- entries

    def include(self) -> None:
        keyword = self.take()
        path = self.expect("WORD")
        self.eol()
        directive = ("@" if keyword.value.startswith("@") else "#") + (
            "includedir" if keyword.kind == "INCLUDEDIR" else "include"
        )
        self.entries.append(Include(directive, path.value, keyword.kind == "INCLUDEDIR", self.where(keyword)))

    def aliases(self) -> None:
        keyword = self.take()
        kind = _ALIAS_KEYWORDS[keyword.kind]
        found: list[Alias] = []
        while True:
            name = self.peek()
            if name.kind in _RESERVED:
                raise _Syntax(name, f"syntax error, reserved word {name.value} used as an alias name")
            self.expect("ALIAS")
            self.expect("=")
            if kind == "Host_Alias":
                members = self.hostlist()
            elif kind == "Cmnd_Alias":
                members = self.cmndlist()
            else:
                members = self.userlist()
            found.append(Alias(kind, name.value, members, self.where(name)))
            if not self.at(":"):
                break
            self.take()
        self.eol()
        self.entries.extend(found)

    def defaults(self) -> None:
        keyword = self.take()
        scope = _DEFAULTS_SCOPES[keyword.kind]
        binding: tuple[Member, ...] = ()
        if scope in ("user", "runas"):
            binding = self.userlist()
        elif scope == "host":
            binding = self.hostlist()
        elif scope == "cmnd":
            binding = self.cmndlist()
        params: list[tuple[Token, str, str | None]] = []
        while True:
            negated = False
            if self.at("!"):
                self.take()
                negated = True
            name = self.expect("DEFVAR")
            op, value = ("false" if negated else "true"), None
            if not negated and self.at("=", "+", "-"):
                sign = self.take().kind
                op = {"=": "=", "+": "+=", "-": "-="}[sign]
                value = self.expect("WORD").value
            params.append((name, op, value))
            if not self.at(","):
                break
            self.take()
        self.eol()
        for name, op, value in params:
            problem = defaults_problem(name.value, op, value)
            if problem is not None:
                # visudo rejects it and sudo skips it at run time: it never takes effect.
                self.errors.append(SyntaxProblem(self.where(name), name.column, problem))
                continue
            self.entries.append(DefaultsEntry(scope, binding, name.value, op, value, self.where(keyword)))

    def userspec(self) -> None:
        first = self.peek()
        users = self.userlist()
        privileges = [self.privilege()]
        while self.at(":"):
            self.take()
            privileges.append(self.privilege())
        self.eol()
        self.entries.append(UserSpec(users, tuple(privileges), self.where(first)))

    def privilege(self) -> Privilege:
        hosts = self.hostlist()
        self.expect("=")
        specs = [self.cmndspec()]
        while self.at(","):
            self.take()
            specs.append(self.cmndspec())
        return Privilege(hosts, _inherit(specs))

    def cmndspec(self) -> CmndSpec:
        runas_users: tuple[Member, ...] | None = None
        runas_groups: tuple[Member, ...] | None = None
        if self.at("("):
            runas_users, runas_groups = self.runas()
        options: list[tuple[str, str]] = []
        while self.at(*_OPTION_TOKENS):
            options.append(self.option())
        tags: dict[str, bool] = {}
        while self.peek().kind in TAG_KEYS:
            key, value = TAG_KEYS[self.take().kind]
            tags[key] = value
        first = self.peek()
        command = self.digcmnd()
        return CmndSpec(
            runas_users, runas_groups, tuple(tags.items()), tuple(options), command, self.where(first)
        )

    def runas(self) -> tuple[tuple[Member, ...] | None, tuple[Member, ...] | None]:
        self.expect("(")
        myself = (Member("MYSELF", ""),)
        if self.at(")"):
            self.take()
            return myself, None
        if self.at(":"):
            self.take()
            if self.at(")"):
                self.take()
                return myself, None
            groups = self.grouplist()
            self.expect(")")
            return None, groups
        users = self.userlist()
        runas_groups: tuple[Member, ...] | None = None
        if self.at(":"):
            self.take()
            runas_groups = self.grouplist()
        self.expect(")")
        return users, runas_groups

    def option(self) -> tuple[str, str]:
        token = self.take()
        self.expect("=")
        value_token = self.expect("WORD")
        name, value = _OPTION_NAMES.get(token.kind, token.kind), value_token.value
        if name == "TIMEOUT" and not valid_timeout(value):
            raise _Syntax(value_token, "invalid timeout value")
        if name in ("NOTBEFORE", "NOTAFTER") and _GENTIME.fullmatch(value) is None:
            raise _Syntax(value_token, f"invalid {name.lower()} value")
        if name in ("CWD", "CHROOT") and not (value.startswith(("/", "~")) or value == "*"):
            raise _Syntax(value_token, f"values for \"{name}\" must start with a '/', '~', or '*'")
        return name, value

    def digcmnd(self) -> Member:
        digests: list[str] = []
        while self.at(*_SHA):
            algorithm = self.take().kind.lower()
            self.expect(":")
            digests.append(f"{algorithm}:{self.expect('DIGEST').value}")
            if self.at(",") and self.peek(1).kind in _SHA:
                self.take()
        member = self.opcmnd()
        if digests:
            if member.command is None and member.kind != "ALL":
                raise _Syntax(self.peek(), "a digest requires a path name")
            if member.command is not None:
                command = Command(member.command.path, member.command.args, tuple(digests))
                member = Member(member.kind, member.name, member.negated, command)
        return member

    def opcmnd(self) -> Member:
        negated = False
        if self.at("!"):
            self.take()
            negated = True
        token = self.peek()
        if token.kind == "ALL":
            self.take()
            return Member("ALL", "", negated)
        if token.kind == "ALIAS":
            self.take()
            return Member("ALIAS", token.value, negated)
        if token.kind == "COMMAND":
            self.take()
            path = token.value
            if "/" in path and path.rsplit("/", 1)[1] == "sudoedit":
                raise _Syntax(token, "sudoedit should not be specified with a path")
            return Member("COMMAND", path, negated, Command(path, token.args))
        if token.kind == "WORD":
            self.take()
            if token.value == "list":
                return Member("COMMAND", "list", negated, Command("list", None))
            raise _Syntax(token, "expected a fully-qualified path name")
        self.take()
        raise _Syntax(token)

    # ---- lists

    def _list(self, kinds: frozenset[str]) -> tuple[Member, ...]:
        members = [self._member(kinds)]
        while self.at(","):
            self.take()
            members.append(self._member(kinds))
        return tuple(members)

    def _member(self, kinds: frozenset[str]) -> Member:
        negated = False
        if self.at("!"):
            self.take()
            negated = True
        token = self.expect(*kinds)
        return Member(token.kind, "" if token.kind == "ALL" else token.value, negated)

    def userlist(self) -> tuple[Member, ...]:
        return self._list(_USER_KINDS)

    def hostlist(self) -> tuple[Member, ...]:
        return self._list(_HOST_KINDS)

    def grouplist(self) -> tuple[Member, ...]:
        return self._list(_GROUP_KINDS)

    def cmndlist(self) -> tuple[Member, ...]:
        members = [self.digcmnd()]
        while self.at(","):
            self.take()
            members.append(self.digcmnd())
        return tuple(members)


def _inherit(specs: list[CmndSpec]) -> tuple[CmndSpec, ...]:
    """gram.y's cmndspeclist: tags, options and the Runas_Spec carry over to later commands."""
    out: list[CmndSpec] = []
    for spec in specs:
        if out:
            prev = out[-1]
            tags = dict(prev.tags) | dict(spec.tags)
            options = dict(prev.options) | dict(spec.options)
            users, groups = spec.runas_users, spec.runas_groups
            if users is None and groups is None:
                users, groups = prev.runas_users, prev.runas_groups
            spec = CmndSpec(
                users, groups, tuple(tags.items()), tuple(options.items()), spec.command, spec.where
            )
        out.append(spec)
    return tuple(out)


def parse_text(text: str, path: str) -> ParsedFile:
    """Parse one sudoers file. Syntax problems are collected, never raised."""
    return _Parser(tokenize(text), path).parse()
