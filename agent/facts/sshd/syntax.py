"""sshd_config lexing, exactly as OpenSSH 9.x reads a line.

sshd reads a line in three steps (servconf.c `load_server_config`,
`process_server_config_line_depth`; misc.c `strdelim`, `argv_split`):

1. leading blanks and CR are dropped when the file is loaded, trailing blanks, CR, LF
   and form feeds when the line is processed;
2. the keyword is cut with `strdelim`: it ends at a blank, a double quote or ONE `=`
   (so `Keyword=value`, `Keyword = value` and `Keyword value` are the same), and a
   line whose keyword starts with `#` is a comment;
3. the rest is split with `argv_split(..., terminate_on_comment=1)`: single and double
   quotes group, a backslash escapes a quote, a backslash or (outside quotes) a space,
   and a `#` at the START of an argument ends the line (`no#x` is one argument).

Match lines are the exception: their criteria are cut with `strdelim` again, which
knows double quotes only. Re-implementing this instead of `line.split()` is what makes
`Banner "/etc/issue net"` and `PasswordAuthentication=no # comment` come out as sshd
sees them (reference/reliability.md section 6.1).
"""

from __future__ import annotations

from dataclasses import dataclass

WHITESPACE = " \t\r\n"
_STRIP_TRAILING = WHITESPACE + "\f"
MAX_LINE = 8192  # longer lines are cut: nothing legitimate in sshd_config is that long


class QuoteError(ValueError):
    """An argument opened a quote and the line ended first (sshd: "invalid quotes")."""


@dataclass(frozen=True, slots=True)
class Line:
    """One configuration line after lexing; `keyword` is None for blanks and comments."""

    number: int
    keyword: str | None  # as written (case kept), None for a blank or comment line
    rest: str  # everything after the keyword and its separator, as sshd's `str`


def prepare(raw: str) -> str:
    """The line as process_server_config_line_depth starts working on it."""
    line = raw[:MAX_LINE].lstrip(" \t\r")
    # sshd strips trailing whitespace down to (but not including) the first character.
    end = len(line)
    while end > 1 and line[end - 1] in _STRIP_TRAILING:
        end -= 1
    return line[:end]


def strdelim(text: str | None) -> tuple[str | None, str | None]:
    """misc.c strdelim: (token, rest). rest None means "nothing follows" (sshd's NULL)."""
    if text is None:
        return None, None
    stops = WHITESPACE + '"='
    index = next((i for i, ch in enumerate(text) if ch in stops), -1)
    if index < 0:
        return text, None
    if text[index] == '"':
        # The quote is removed and the token runs to the next quote.
        opened = text[:index] + text[index + 1 :]
        close = opened.find('"', index)
        if close < 0:
            return None, None  # no matching quote
        token = opened[:close]
        return token, _skip_blanks(opened, close + 1)
    was_equals = text[index] == "="
    token = text[:index]
    rest = _skip_blanks(text, index + 1)
    if not was_equals and rest.startswith("="):
        rest = _skip_blanks(rest, 1)
    return token, rest


def _skip_blanks(text: str, start: int) -> str:
    end = start
    while end < len(text) and text[end] in WHITESPACE:
        end += 1
    return text[end:]


def split_line(number: int, raw: str) -> Line:
    """Cut the keyword off one raw line (before argument splitting)."""
    line = prepare(raw)
    if not line:
        return Line(number, None, "")
    keyword, rest = strdelim(line)
    if keyword == "":  # a line starting with the separator: sshd retries once
        keyword, rest = strdelim(rest)
    if not keyword or keyword.startswith("#"):
        return Line(number, None, "")
    return Line(number, keyword, rest or "")


def argv_split(text: str) -> tuple[str, ...]:
    """misc.c argv_split(text, terminate_on_comment=1). Raises QuoteError."""
    args: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == "#":
            break
        quote = ""
        arg: list[str] = []
        while i < n:
            ch = text[i]
            if ch == "\\":
                following = text[i + 1] if i + 1 < n else ""
                if following in ("'", '"', "\\") or (not quote and following == " "):
                    i += 1
                    arg.append(following)
                else:
                    arg.append(ch)  # unrecognised escape: kept as written
            elif not quote and ch in " \t":
                break
            elif not quote and ch in "\"'":
                quote = ch
            elif quote and ch == quote:
                quote = ""
            else:
                arg.append(ch)
            i += 1
        if quote:
            raise QuoteError("invalid quotes")
        args.append("".join(arg))
    return tuple(args)


def match_criteria(text: str | None) -> tuple[list[tuple[str, str | None]], str | None]:
    """Cut a Match line's criteria into (attribute, argument) pairs the way
    servconf.c match_cfg_line does (strdelim, a `#` token ends the line).

    Returns the pairs and an error message (None when well formed). `All` has no
    argument and must stand alone; every other attribute needs one.
    """
    pairs: list[tuple[str, str | None]] = []
    rest: str | None = text
    while True:
        attrib, rest = strdelim(rest)
        if attrib is None or attrib == "":
            break
        if attrib.startswith("#"):
            rest = None
            break
        if attrib.lower() == "all":
            following, _ = strdelim(rest)
            if pairs or (following is not None and following != "" and not following.startswith("#")):
                return pairs, "'all' cannot be combined with other Match attributes"
            pairs.append(("all", None))
            return pairs, None
        argument, rest = strdelim(rest)
        if argument is None or argument == "" or argument.startswith("#"):
            return pairs, f"Missing Match criteria for {attrib}"
        pairs.append((attrib.lower(), argument))
    if not pairs:
        return pairs, "One or more attributes required for Match"
    return pairs, None
