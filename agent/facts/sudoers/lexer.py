"""The sudoers lexer: sudo 1.9's plugins/sudoers/toke.l as a loop over one file's text.

At each position the longest match among the rules active in the current start condition
wins, the earliest rule on a tie, exactly as in flex (tokens.RULES); the rule's
action (lexer_actions.py) then moves the state on and yields tokens. Remote text
is hostile: the loop is bounded by the input length and the caps below, and nothing here
raises except FactParseError for input beyond them.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.facts.model import FactParseError
from agent.facts.sudoers import lexer_actions as on
from agent.facts.sudoers.tokens import GOTCMND, RULES, Rule, Token

MAX_TEXT = 1 << 20  # one sudoers file; the gather script caps files at 256 KiB anyway
MAX_TOKENS = 200_000


class _Lexer(on.LexerState):
    """toke.l as a loop: pick the longest match among the active rules, run its action."""

    def _match(self) -> tuple[Rule, str]:
        best: tuple[Rule, str] | None = None
        for rule in RULES:
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

    def _act(self, name: str, text: str, start: int, column: int) -> Iterator[Token]:
        return ACTIONS[name](self, text, start, column)


ACTIONS: dict[str, on.Action] = {
    "defs_comma": on.emit(","),
    "defs_blank": on.on_defs_blank,
    "defvar": on.on_defvar,
    "indefs_comma": on.on_indefs_comma,
    "indefs_eq": on.emit("="),
    "indefs_add": on.emit("+"),
    "indefs_sub": on.emit("-"),
    "indefs_quote": on.on_begin_string,
    "indefs_word": on.on_word("WORD"),
    "instr_cont": on.on_instr_cont,
    "instr_end": on.on_instr_end,
    "instr_backslash": on.on_instr_append,
    "instr_body": on.on_instr_append,
    "cmnd_globchar": on.on_cmnd_globchar,
    "cmnd_quoted": on.on_cmnd_quoted,
    "cmnd_end": on.on_cmnd_end,
    "cmnd_arg": on.on_cmnd_arg,
    "regex_quoted": on.on_regex_quoted,
    "regex_bad": on.on_regex_bad,
    "regex_end": on.on_regex_end,
    "regex_body": on.on_regex_body,
    "digest_hex": on.on_digest,
    "digest_b64": on.on_digest,
    "at_include": on.on_continued_error("INCLUDE"),
    "at_includedir": on.on_continued_error("INCLUDEDIR"),
    "hash_include": on.on_hash_include(len("#include"), "INCLUDE"),
    "hash_includedir": on.on_hash_include(len("#includedir"), "INCLUDEDIR"),
    "defaults": on.on_defaults,
    "alias_kw": on.on_alias_kw,
    "tag": on.on_tag,
    "empty_group": on.on_empty_group,
    "netgroup": on.on_word("NETGROUP"),
    "usergroup": on.on_word("USERGROUP"),
    "ipv4": on.emit("NTWKADDR"),
    "ipv4_prefix": on.emit("NTWKADDR"),
    "ipv6": on.on_ipv6,
    "ipv6_prefix": on.on_ipv6,
    "all": on.emit("ALL"),
    "timeout": on.on_option("CMND_TIMEOUT"),
    "notbefore": on.on_option("NOTBEFORE"),
    "notafter": on.on_option("NOTAFTER"),
    "cwd": on.on_option("CWD"),
    "chroot": on.on_option("CHROOT"),
    "role": on.on_option("ROLE"),
    "type": on.on_option("TYPE"),
    "alias": on.emit("ALIAS"),
    "defs_command": on.on_defs_command,
    "sha224": on.on_sha("SHA224", "sha224"),
    "sha256": on.on_sha("SHA256", "sha256"),
    "sha384": on.on_sha("SHA384", "sha384"),
    "sha512": on.on_sha("SHA512", "sha512"),
    "sudoedit": on.on_sudoedit,
    "expect_path": on.on_expect_path,
    "path": on.on_path,
    "regex": on.on_regex,
    "quote": on.on_begin_string,
    "word": on.on_word("WORD"),
    "inc_word": on.on_inc_word,
    "inc_quote": on.on_begin_string,
    "lparen": on.emit("("),
    "rparen": on.emit(")"),
    "comma": on.emit(","),
    "equals": on.emit("="),
    "colon": on.emit(":"),
    "bang": on.on_bang,
    "newline": on.on_newline,
    "blank": on.on_blank,
    "continuation": on.on_continuation,
    "comment": on.on_comment,
    "nomatch": on.on_nomatch,
}


def tokenize(text: str) -> list[Token]:
    """Every token of one file, ending with EOF. Raises FactParseError only past the caps."""
    if len(text) > MAX_TEXT:
        raise FactParseError("sudoers", None, f"a sudoers file larger than {MAX_TEXT} characters")
    return list(_Lexer(text).tokens())
