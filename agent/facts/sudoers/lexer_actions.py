"""What each sudoers lexer rule does when it matches: toke.l's actions, one function each.

An action may change the start condition, accumulate a string or a command with its
arguments across several matches, push text back (flex's yyless), and yield tokens. The
state they share is LexerState; lexer.py maps each rule of tokens.RULES
to its action here and runs the loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from agent.facts.sudoers.tokens import (
    EXPECTPATH,
    GOTCMND,
    GOTDEFS,
    GOTINC,
    GOTREGEX,
    INDEFS,
    INITIAL,
    INSTR,
    STARTDEFS,
    WANTDIGEST,
    Token,
)

Action = Callable[["LexerState", str, int, int], Iterator[Token]]

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


class LexerState:
    """The lexer's variables that toke.l keeps in globals: position, start condition, accumulators."""

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


def emit(kind: str) -> Action:
    def action(lexer: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
        yield lexer._tok(kind, text, column)

    return action


def on_defs_blank(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = STARTDEFS
    return iter(())


def on_defvar(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = INDEFS
    yield lx._tok("DEFVAR", text, column)


def on_indefs_comma(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = STARTDEFS
    yield lx._tok(",", text, column)


def on_begin_string(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.string = None
    lx.string_line = (lx.line, column)
    lx.prev_state = INITIAL if lx.state == GOTINC else lx.state
    lx.state = INSTR
    return iter(())


def on_instr_cont(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx._newline(start, text.index("\n") + 1)
    lx.continued = True
    return iter(())


def on_instr_end(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
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


def on_instr_append(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.string = (lx.string or "") + (text if text == "\\" else _unescape(text))
    return iter(())


def _fill_args(lx: LexerState, text: str, addspace: bool) -> None:
    path, args, line, col = lx.cmnd or ("", None, lx.line, 1)
    args = text if args is None else args + (" " if addspace else "") + text
    lx.cmnd = (path, args, line, col)


def on_cmnd_globchar(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    _fill_args(lx, text, lx.sawspace)
    lx.sawspace = False
    return iter(())


def on_cmnd_quoted(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    _fill_args(lx, text[1:], lx.sawspace)
    lx.sawspace = False
    return iter(())


def on_cmnd_end(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = INITIAL
    lx._less(start, 0)
    lx.bol = False
    yield lx._command()


def on_cmnd_arg(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
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


def on_regex_quoted(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    _fill_args(lx, text, False)
    return iter(())


def on_regex_bad(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx._less(start, 0)
    lx.bol = False
    lx.state = INITIAL
    lx.cmnd = None
    yield lx._tok("ERROR", "unterminated regular expression", column)


def on_regex_end(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    _fill_args(lx, "$", False)
    lx.state = INITIAL
    lx.continued = False
    yield lx._command()


def on_regex_body(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    if lx.continued:
        text = text.lstrip(" \t")
        lx.continued = False
    if text:
        _fill_args(lx, text, False)
    return iter(())


def on_digest(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = INITIAL
    size = lx.digest_len
    expected = (size * 2,) if re.fullmatch(r"[0-9A-Fa-f]+", text) else ()
    padded = 4 * ((size + 2) // 3) if text.endswith("=") else (4 * size + 2) // 3
    if len(text) in (*expected, padded):
        yield lx._tok("DIGEST", text, column)
    # else: consumed without a token, as toke.l does; the parser then reports the error


def on_continued_error(kind: str) -> Action:
    def action(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
        if lx.continued:
            yield lx._tok("ERROR", "invalid line continuation", column)
            return
        lx.state = GOTINC
        yield lx._tok(kind, text, column)

    return action


def on_hash_include(keep: int, kind: str) -> Action:
    def action(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
        if lx.continued:
            yield lx._tok("ERROR", "invalid line continuation", column)
            return
        lx._less(start, keep)
        lx.bol = False
        lx.state = GOTINC
        yield lx._tok(kind, text[:keep], column)

    return action


def on_defaults(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
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


def on_alias_kw(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    if lx.continued:
        yield lx._tok("ERROR", "invalid line continuation", column)
        return
    word = text.lstrip(" \t")
    column += len(text) - len(word)
    kind = {"H": "HOSTALIAS", "C": "CMNDALIAS", "U": "USERALIAS", "R": "RUNASALIAS"}[word[0]]
    yield lx._tok(kind, word, column)


def on_tag(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    yield lx._tok(text.rstrip(": \t"), text, column)


def on_empty_group(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    yield lx._tok("ERROR", "empty netgroup" if text == "+" else "empty group", column)


def on_ipv6(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
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


def on_option(kind: str) -> Action:
    def action(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
        if kind in ("CWD", "CHROOT"):
            lx.prev_state = lx.state
            lx.state = EXPECTPATH
        yield lx._tok(kind, text, column)

    return action


def on_defs_command(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    yield Token("COMMAND", _strip_backslashes(text), lx.line, column, None)


def on_sha(kind: str, name: str) -> Action:
    def action(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
        lx.digest_len = _DIGEST_BYTES[name]
        lx.state = WANTDIGEST
        yield lx._tok(kind, text, column)

    return action


def on_sudoedit(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = GOTCMND
    lx.sawspace = False
    lx.cmnd = (text, None, lx.line, column)
    return iter(())


def on_expect_path(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = lx.prev_state
    yield lx._tok("WORD", _unescape(text), column)


def on_path(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    if text.endswith("/"):
        yield Token("COMMAND", _strip_backslashes(text), lx.line, column, None)
        return
    lx.state = GOTCMND
    lx.sawspace = False
    lx.cmnd = (_strip_backslashes(text), None, lx.line, column)


def on_regex(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = GOTCMND
    lx.sawspace = False
    lx.cmnd = (text, None, lx.line, column)
    return iter(())


def on_word(kind: str) -> Action:
    def action(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
        yield lx._tok(kind, _unescape(text), column)

    return action


def on_inc_word(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.state = INITIAL
    yield lx._tok("WORD", _unescape(text), column)


def on_bang(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    if len(text) % 2:
        yield lx._tok("!", text, column)


def on_newline(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
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


def on_blank(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.sawspace = True
    return iter(())


def on_continuation(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    lx.sawspace = True
    lx._newline(start, len(text))
    lx.continued = True
    return iter(())


def on_comment(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    token = lx._tok("NL", "\n", column)
    if text.endswith("\n"):
        lx.state = INITIAL
        lx._newline(start, len(text))
        lx.continued = False
    yield token


def on_nomatch(lx: LexerState, text: str, start: int, column: int) -> Iterator[Token]:
    yield lx._tok("NOMATCH", text, column)
