"""The sudoers grammar: sudo 1.9's plugins/sudoers/gram.y as recursive descent over tokens.

One file's tokens (lexer.py) become entries (syntax_tree.py) by the same
productions as gram.y: Cmnd_Specs in a line inherit tags, options and the Runas_Spec of
the one before, Defaults parameters are validated against sudo's option types
(defaults.py), and a syntax error drops the rest of its line as bison's
`error '\\n'` rule does. Syntax problems are collected, never raised.
"""

from __future__ import annotations

import re

from agent.facts.sudoers.defaults import defaults_problem, valid_timeout
from agent.facts.sudoers.lexer import tokenize
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
from agent.facts.sudoers.tokens import OPTION_TOKENS, TAG_KEYS, Token

_OPTION_NAMES = {"CMND_TIMEOUT": "TIMEOUT"}


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
_RESERVED = frozenset({"ALL", *OPTION_TOKENS})
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
        while self.at(*OPTION_TOKENS):
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
