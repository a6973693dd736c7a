"""The sshd_config file walk: which file and line set each effective value.

Input is what the node sent (agent/facts/sshd/walk.py): the text of the main file and
of every file an Include reached, and each Include pattern's glob result as the node's
own shell expanded it. `evaluate` then replays sshd's two passes (servconf.c
`parse_server_config_depth`, `parse_server_match_config`, `copy_set_server_options`):

1. the connection-less pass: top-level lines (and `Match All` blocks) apply, first
   value wins for most keywords, some accumulate, Match blocks are syntax-checked;
2. the connection pass, for one `-C user=,host=,addr=,...`: only lines inside Match
   blocks that select the connection apply, first value wins among them, and every
   value set there replaces the first pass's value.

Include follows sshd: relative patterns are under /etc/ssh, files in glob order, an
included file starts in the including line's Match state and its own Match blocks
end with it; more than 16 levels is an error. A line's `block` is the Match block it
sits in, which is what a finding shows ("PasswordAuthentication yes at
/etc/ssh/sshd_config:41 in Match Address 10.0.0.0/8").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.facts.sshd.keywords import DEFAULTS, KEYWORDS, Merge, ValueError_, lookup
from agent.facts.sshd.match import Connection, GroupsOf, match_criteria
from agent.facts.sshd.syntax import QuoteError, argv_split, split_line
from agent.facts.sshd.syntax import match_criteria as split_criteria
from agent.textsafe import printable

SSHDIR = "/etc/ssh"  # where relative Include patterns live (sshd's compiled-in SSHDIR)
MAX_DEPTH = 16  # servconf.c SERVCONF_MAX_DEPTH
_MATCH_ONLY = 0x08  # servconf.c SSHCFG_MATCH_ONLY
_NEVER_MATCH = 0x04  # servconf.c SSHCFG_NEVERMATCH
_MAX_PROBLEMS = 50


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str
    lines: tuple[str, ...] | None  # None: the node could not give us this file
    problem: str = ""  # why lines is None: "unreadable", "missing", "too large", ...


@dataclass(frozen=True, slots=True)
class ConfigTree:
    main: str
    files: Mapping[str, SourceFile]
    globs: Mapping[str, tuple[str, ...]]  # resolved Include pattern -> matches, node's order


@dataclass(frozen=True, slots=True)
class MatchBlock:
    location: Location
    condition: str  # the criteria as written, printable and bounded

    def __str__(self) -> str:
        return f"Match {self.condition}"


@dataclass(frozen=True, slots=True)
class Directive:
    location: Location
    keyword: str  # canonical keyword
    text: str  # the line as written, printable and bounded
    values: tuple[str, ...]  # as sshd -T would print them
    block: MatchBlock | None  # the Match block the line sits in; None at top level


@dataclass(frozen=True, slots=True)
class Setting:
    keyword: str
    values: tuple[str, ...]  # as sshd -T prints them
    origin: tuple[Directive, ...]  # the lines that produced the value; () = compiled-in default
    ignored: tuple[Directive, ...] = ()  # lines sshd read and did not use for this value

    @property
    def block(self) -> MatchBlock | None:
        return self.origin[0].block if self.origin else None


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    location: Location | None
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


@dataclass(frozen=True, slots=True)
class Effective:
    """The configuration sshd would use for one connection (or for none)."""

    settings: Mapping[str, Setting]  # keywords some line set; see printed() for the rest
    problems: tuple[ConfigProblem, ...]  # sshd -t would refuse the configuration
    gaps: tuple[str, ...]  # parts of the configuration the walk could not see
    selected: tuple[MatchBlock, ...]  # Match blocks that select this connection
    blocks: tuple[MatchBlock, ...]  # every Match line, in the order sshd reads them
    directives: tuple[Directive, ...]  # every valid line, in the order sshd reads them

    def printed(self, keyword: str) -> tuple[str, ...] | None:
        """What sshd -T prints for `keyword`: the set value, else the compiled-in default."""
        setting = self.settings.get(keyword)
        if setting is not None:
            return setting.values
        return DEFAULTS.get(keyword)

    @property
    def complete(self) -> bool:
        return not self.gaps


@dataclass
class _Options:
    values: dict[str, list[str]] = field(default_factory=dict)
    origin: dict[str, list[Directive]] = field(default_factory=dict)
    ignored: dict[str, list[Directive]] = field(default_factory=dict)
    startups: list[int] = field(default_factory=lambda: [-1, -1, -1])  # begin, rate, full

    def apply(self, merge: Merge, directive: Directive) -> str | None:
        """Record one active line; returns an error message sshd would print, if any."""
        key = directive.keyword
        present = key in self.values
        if merge is Merge.IGNORED:
            return None
        if merge is Merge.FIRST or merge is Merge.FIRST_LINE:
            if present:
                self.ignored.setdefault(key, []).append(directive)
                return None
            self.values[key] = list(directive.values)
            self.origin[key] = [directive]
        elif merge is Merge.ACCUMULATE:
            if key == "subsystem":
                name = directive.values[0].split(" ", 1)[0]
                if any(v.split(" ", 1)[0] == name for v in self.values.get(key, [])):
                    return f"Subsystem '{name}' already defined."
            self.values.setdefault(key, []).extend(directive.values)
            self.origin.setdefault(key, []).append(directive)
        elif merge is Merge.LAST:
            self.ignored.setdefault(key, []).extend(self.origin.get(key, []))
            self.values[key] = list(directive.values)
            self.origin[key] = [directive]
        elif merge is Merge.MAXSTARTUPS:
            parts = [int(p) for p in directive.values[0].split(":")]
            if len(parts) == 3:
                self.startups = parts
            else:  # sscanf matched one number: begin and full, the rate stays
                self.startups = [parts[0], self.startups[1], parts[0]]
            self.ignored.setdefault(key, []).extend(self.origin.get(key, []))
            self.origin[key] = [directive]
            begin, rate, full = (
                v if v >= 0 else d for v, d in zip(self.startups, (10, 30, 100), strict=True)
            )
            self.values[key] = [f"{begin}:{rate}:{full}"]
        return None


class _Walk:
    """One pass over the configuration, as parse_server_config_depth does it."""

    def __init__(
        self, tree: ConfigTree, connection: Connection | None, groups_of: GroupsOf, options: _Options
    ) -> None:
        self.tree = tree
        self.connection = connection
        self.groups_of = groups_of
        self.options = options
        self.problems: list[ConfigProblem] = []
        self.gaps: list[str] = []
        self.selected: list[MatchBlock] = []
        self.blocks: list[MatchBlock] = []
        self.directives: list[Directive] = []

    def problem(self, location: Location | None, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(ConfigProblem(location, printable(message, 300)))

    def file(self, path: str, flags: int, active: list[bool], depth: int, block: MatchBlock | None) -> None:
        if depth > MAX_DEPTH:
            self.problem(None, f"{path}: Too many recursive configuration includes")
            return
        source = self.tree.files.get(path)
        if source is None or source.lines is None:
            why = source.problem if source is not None else "not sent by the node"
            self.gaps.append(f"{path} ({why or 'unreadable'})")
            return
        state = _FileState(flags=flags, block=block)
        for number, raw in enumerate(source.lines, start=1):
            self.line(path, number, raw, state, active, depth)

    def line(
        self, path: str, number: int, raw: str, state: _FileState, active: list[bool], depth: int
    ) -> None:
        where = Location(path, number)
        line = split_line(number, raw)
        if line.keyword is None:
            return
        if "\x00" in raw:
            self.problem(where, "NUL byte in configuration")
            return
        if not line.rest:
            self.problem(where, f'no argument after keyword "{printable(line.keyword, 60)}"')
            return
        name = line.keyword.lower()
        if name in ("include", "match"):
            keyword, in_match = None, True
        else:
            found = lookup(line.keyword)
            if found is None:
                self.problem(where, f"Bad configuration option: {line.keyword}")
                return
            keyword, in_match = found
        try:
            args = argv_split(line.rest)
        except QuoteError:
            self.problem(where, "invalid quotes")
            return
        if not active[0] and not in_match:
            if self.connection is None:
                self.problem(where, f"Directive '{line.keyword}' is not allowed within a Match block")
            return  # the connection pass skips what the first pass already applied
        if name == "include":
            self.include(where, args, state, active, depth)
            return
        if name == "match":
            self.match(where, line.rest, state, active)
            return
        if keyword is None:  # include and match were handled above
            return
        try:
            values = keyword.value(args, line.rest)
        except ValueError_ as exc:
            self.problem(where, f"{line.keyword}: {exc}")
            return
        if (
            keyword.name == "authenticationmethods"
            and "any" in values
            and self.options.values.get(keyword.name)
        ):
            # servconf.c checks "any" against lines already applied, even in an inactive block.
            self.problem(where, '"any" must appear alone in AuthenticationMethods')
            return
        text = printable(f"{line.keyword} {line.rest}", 200)
        directive = Directive(where, keyword.name, text, values, state.block)
        if self.connection is None:
            self.directives.append(directive)
        if active[0]:
            error = self.options.apply(keyword.merge, directive)
            if error:
                self.problem(where, error)

    def include(
        self, where: Location, args: tuple[str, ...], state: _FileState, active: list[bool], depth: int
    ) -> None:
        if not args:
            self.problem(where, "Include missing filename argument")
            return
        for pattern in args:
            if pattern == "":
                self.problem(where, "Include: empty argument")
                return
            resolved = pattern if pattern.startswith(("/", "~")) else f"{SSHDIR}/{pattern}"
            matches = self.tree.globs.get(resolved)
            if matches is None:
                self.gaps.append(f"Include {printable(resolved, 200)} at {where} (not expanded on the node)")
                continue
            outer = active[0]
            # Before the first Match of a file in the connection pass, included files
            # look for their own Match blocks; after it they inherit the includer's state.
            flags = _MATCH_ONLY if state.flags & _MATCH_ONLY else (0 if outer else _NEVER_MATCH)
            for included in matches:
                self.file(included, flags, active, depth + 1, state.block)
                active[0] = outer  # an included file never changes the includer's Match state

    def match(self, where: Location, rest: str, state: _FileState, active: list[bool]) -> None:
        pairs, error = split_criteria(rest)
        block = MatchBlock(where, printable(rest.split("#", 1)[0].strip(), 200))
        state.block = block
        state.flags &= ~_MATCH_ONLY
        if self.connection is None:
            self.blocks.append(block)
        if error is not None:
            self.problem(where, f"Bad Match condition: {error}")
            active[0] = False
            return
        connection = None if state.flags & _NEVER_MATCH else self.connection
        verdict = match_criteria(pairs, connection, self.groups_of)
        if verdict.error is not None:
            self.problem(where, f"Bad Match condition: {verdict.error}")
        active[0] = False if state.flags & _NEVER_MATCH else verdict.matched
        if active[0] and self.connection is not None:
            self.selected.append(block)


@dataclass
class _FileState:
    flags: int
    block: MatchBlock | None


def evaluate(tree: ConfigTree, connection: Connection | None, groups_of: GroupsOf) -> Effective:
    """The configuration sshd -T [-C connection] would print, with where each value came from."""
    first = _Walk(tree, None, groups_of, _Options())
    first.file(tree.main, 0, [True], 0, None)
    settings = _settings(first.options)
    problems = list(first.problems)
    unsatisfiable = _auth_methods_problem(settings)
    if unsatisfiable is not None:
        problems.append(unsatisfiable)
    selected: tuple[MatchBlock, ...] = ()
    if connection is not None:
        second = _Walk(tree, connection, groups_of, _Options())
        second.file(tree.main, _MATCH_ONLY, [False], 0, None)
        selected = tuple(second.selected)
        problems += [p for p in second.problems if p not in problems]
        for key, setting in _settings(second.options).items():
            if not KEYWORDS[key].in_match:
                continue  # copy_set_server_options copies Match-capable options only
            replaced = settings.get(key)
            ignored = () if replaced is None else (*replaced.origin, *replaced.ignored)
            settings[key] = Setting(key, setting.values, setting.origin, (*setting.ignored, *ignored))
    return Effective(
        settings=settings,
        problems=tuple(problems),
        gaps=tuple(dict.fromkeys(first.gaps)),
        selected=selected,
        blocks=tuple(first.blocks),
        directives=tuple(first.directives),
    )


# AuthenticationMethods entries and the flag that enables each (auth2.c authmethods[]).
_METHOD_FLAGS = {
    "publickey": "pubkeyauthentication",
    "password": "passwordauthentication",
    "keyboard-interactive": "kbdinteractiveauthentication",
    "hostbased": "hostbasedauthentication",
    "gssapi-with-mic": "gssapiauthentication",
}


def _auth_methods_problem(settings: Mapping[str, Setting]) -> ConfigProblem | None:
    """sshd.c refuses a global AuthenticationMethods whose every list needs a method
    that is switched off ("cannot be satisfied by enabled authentication methods")."""
    setting = settings.get("authenticationmethods")
    if setting is None or setting.values == ("any",):
        return None

    def enabled(method: str) -> bool:
        flag = _METHOD_FLAGS.get(method.split(":", 1)[0])
        if flag is None:
            return False
        chosen = settings.get(flag)
        return (chosen.values if chosen is not None else DEFAULTS.get(flag)) == ("yes",)

    lists = setting.values[0].split(" ")
    if any(all(enabled(m) for m in methods.split(",")) for methods in lists):
        return None
    return ConfigProblem(
        setting.origin[0].location,
        "AuthenticationMethods cannot be satisfied by enabled authentication methods",
    )


def _settings(options: _Options) -> dict[str, Setting]:
    settings: dict[str, Setting] = {}
    for key, values in options.values.items():
        keyword = KEYWORDS[key]
        shown = (" ".join(values),) if keyword.oneline else tuple(values)
        settings[key] = Setting(key, shown, tuple(options.origin[key]), tuple(options.ignored.get(key, ())))
    return settings
