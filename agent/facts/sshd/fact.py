"""sshd's effective configuration: `sshd -T -C ...` on the node, explained by a file walk.

`sshd -T` prints the configuration sshd would really use, after Include files,
drop-ins, defaults and compiled-in values: reading sshd_config ourselves misses
drop-ins that win over the main file (cloud images ship `50-cloud-init.conf` with
`PasswordAuthentication yes`, which beats a `no` in sshd_config). Plain `sshd -T`
ignores Match blocks; with `-C user=,host=,addr=,laddr=,lport=` it evaluates them for
the connection we actually made (Lynis issue #548), so the answer is the operator's
effective view.

Three things make it more than that (issue 3, reference/anchors.md "beat them"):
- the file walk (files.py) names the file and line behind every value, so a
  finding says which drop-in won and which line sshd ignored;
- every Match line gets its own `sshd -T -C` for a connection it selects, so a block
  that re-opens passwords for 10.0.0.0/8 is reported with its condition even though
  the operator's own connection never sees it;
- without root (no sudo: sshd -T cannot read the host keys and fails) the file walk
  alone gives the values, and every source says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.facts.model import FactParseError, FactValue, Observation, RawSection, Unavailable
from agent.facts.sshd import walk as sshd_walk
from agent.facts.sshd.files import Directive, Effective, MatchBlock, Setting, evaluate
from agent.facts.sshd.keywords import DEFAULTS, KEYWORDS
from agent.facts.sshd.match import Connection, GroupsOf
from agent.facts.sshd.sources import attribution
from agent.facts.sshd.walk import FileStat, HostKey, Walk
from agent.textsafe import printable

# sshd prints lower-case keywords. Keep the whole line bounded: hostile output could
# hold a 10 MB "value" and we only ever compare short tokens.
_LINE = re.compile(r"^([a-z0-9]+) ?(.*)$")
_MAX_VALUE = 4096

# Keywords sshd prints once per value (sshd -T repeats the line).
MULTI_VALUED = frozenset(
    {
        "port", "listenaddress", "hostkey", "acceptenv", "allowusers", "denyusers",
        "allowgroups", "denygroups", "subsystem", "setenv", "include", "hostcertificate",
        "authorizedkeysfile", "permitopen", "permitlisten", "channeltimeout",
    }
)  # fmt: skip

SCRIPT = sshd_walk.SCRIPT

FILE_WALK = "file walk"


@dataclass(frozen=True, slots=True)
class MatchView:
    """One Match line and what sshd gives a connection that it selects."""

    block: MatchBlock
    spec: str | None  # the -C connection evaluated; None when none could be derived
    options: Mapping[str, tuple[str, ...]]  # effective values for that connection ({} if none)
    settings: Mapping[str, Setting]  # the file walk's attribution for that connection
    selected: bool | None  # does that connection really select the block (walk's verdict)
    method: str  # "sshd -T -C ..." or "file walk ..."; "" when not evaluated
    note: str  # why it was not evaluated, or a caveat
    directives: tuple[Directive, ...]  # the lines inside the block

    def value(self, key: str) -> str | None:
        values = self.options.get(key)
        return values[0] if values else None


@dataclass(frozen=True, slots=True)
class SshdConfig:
    options: Mapping[str, tuple[str, ...]]
    source: str  # the exact evaluation, e.g. "sshd -T -C user=scanner,addr=10.0.0.5,..."
    unknown_lines: int = 0  # lines that were not `keyword value`: counted, ignored
    method: str = "sshd -T"  # or FILE_WALK when sshd -T could not run
    settings: Mapping[str, Setting] = field(default_factory=dict)  # walk attribution
    config_valid: bool | None = True  # sshd -T accepted the files; None: could not tell
    config_errors: tuple[str, ...] = ()
    match_views: tuple[MatchView, ...] = ()
    walk_gaps: tuple[str, ...] = ()  # parts of the configuration the walk could not see
    walked: bool = False  # the section carried a file walk (not only sshd -T output)
    config_files: tuple[str, ...] = ()  # files sshd reads, as the walk found them
    config_dirs: tuple[str, ...] = ()  # directories Include patterns read from
    stats: Mapping[str, FileStat] = field(default_factory=dict)
    host_keys: Mapping[str, HostKey] = field(default_factory=dict)
    moduli: tuple[int | None, int] | None = None  # (smallest size column, entries)

    def lookup(self, path: str) -> Observation | None:
        key = path.lower()
        values = self.options.get(key)
        if values is None:
            return None
        value: object = values if key in MULTI_VALUED else values[0]
        return Observation(value=value, source=self.source_of(key))

    def source_of(self, key: str) -> str:
        """`file:line` of the value (from the walk) followed by how it was obtained."""
        if not self.walked:
            return self.source
        setting = self.settings.get(key)
        walk_says = setting.values if setting is not None else DEFAULTS.get(key)
        if walk_says is None:
            return self.source
        if self.method != FILE_WALK and tuple(walk_says) != tuple(self.options.get(key, ())):
            return f"{self.source} (the file walk could not attribute this value)"
        caveat = f" (the file walk missed {self.walk_gaps[0]})" if self.walk_gaps else ""
        # Each part is printable already (attribution, walk_gaps, source): escaping again
        # would double every backslash, so only the length is bounded here.
        text = f"{attribution(setting)}{caveat} — {self.source}"
        return text if len(text) <= 900 else text[:897] + "..."


def parse_sshd_t(text: str, *, source: str) -> SshdConfig:
    options: dict[str, list[str]] = {}
    unknown = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            unknown += 1
            continue
        key, value = match.group(1), match.group(2)[:_MAX_VALUE]
        options.setdefault(key, []).append(value)
        if number > 100_000:
            raise FactParseError("sshd", number, "more lines than any sshd -T prints")
    if not options:
        raise FactParseError("sshd", None, "sshd -T printed no configuration")
    return SshdConfig(options={k: tuple(v) for k, v in options.items()}, source=source, unknown_lines=unknown)


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    if not section.stdout.startswith(b"@nodeward-sshd"):
        return _parse_plain(section, context)
    try:
        walk = sshd_walk.read(section.text)
        return _assemble(walk, context)
    except FactParseError as exc:
        return Unavailable(str(exc))


def _parse_plain(section: RawSection, context: Mapping[str, str]) -> FactValue:
    """A section holding nothing but sshd -T output (fixtures, older scripts)."""
    source = (
        f"sshd -T -C user={context.get('user', '?')},addr={context.get('client_addr', '?')}"
        f",lport={context.get('server_port', '?')}"
    )
    if section.truncated:  # no end record to tell a whole list from a cut one
        return Unavailable("sshd -T output exceeded the size cap")
    try:
        return parse_sshd_t(section.text, source=source)
    except FactParseError as exc:
        return Unavailable(str(exc))


def _connection(walk: Walk, context: Mapping[str, str]) -> Connection:
    if walk.operator is not None:
        parsed = Connection.from_spec(walk.operator.spec)
        if parsed is not None:
            return parsed
    port = context.get("server_port", "22")
    return Connection(
        user=context.get("user"),
        host=context.get("client_addr"),
        addr=context.get("client_addr"),
        laddr=context.get("server_addr"),
        lport=int(port) if port.isdigit() else 22,
    )


def _all_printed(effective: Effective) -> dict[str, tuple[str, ...]]:
    options: dict[str, tuple[str, ...]] = {}
    for key in (*KEYWORDS, *DEFAULTS):
        values = effective.printed(key)
        if values is not None and key not in options:
            options[key] = values
    return options


def _failure(walk: Walk) -> str:
    operator = walk.operator
    if operator is None:
        return "sshd -T did not run"
    detail = " ".join(operator.stderr.split())[:300] or "no message"
    return f"sshd -T exited {operator.exit_code if operator.exit_code is not None else 'early'}: {detail}"


def _assemble(walk: Walk, context: Mapping[str, str]) -> FactValue:
    def groups_of(user: str) -> frozenset[str] | None:
        return walk.groups.get(user)

    connection = _connection(walk, context)
    main = walk.tree.files.get(walk.main)
    effective = evaluate(walk.tree, connection, groups_of) if main is not None and main.lines else None
    gaps = list(walk.gaps) + (list(effective.gaps) if effective is not None else [f"{walk.main} not read"])
    if not walk.finished:
        gaps.append("the node's output ended before the walk finished")
    gaps = list(dict.fromkeys(gaps))
    operator = walk.operator
    problems = tuple(str(p) for p in effective.problems) if effective is not None else ()
    if operator is not None and operator.exit_code == 0:
        parsed = parse_sshd_t(operator.output, source=f"sshd -T -C {operator.spec}")
        options, method, source = dict(parsed.options), "sshd -T", parsed.source
        unknown, valid, errors = parsed.unknown_lines, True, problems
    else:
        failure = _failure(walk)
        if effective is None or gaps:
            return Unavailable(
                f"{failure}; the file walk cannot stand in for it: {'; '.join(gaps[:3]) or 'nothing read'}"
            )
        options, method, unknown = _all_printed(effective), FILE_WALK, 0
        if walk.euid == 0 and "privilege separation directory" in failure:
            # Socket-activated or stopped sshd: /run/sshd is missing, which says nothing
            # about the configuration itself.
            valid, errors = None, problems
            source = f"file walk of {walk.main}, because {failure}"
        elif walk.euid == 0:
            valid, errors = False, (failure, *problems)
            source = f"file walk of {walk.main}, because {failure}"
        else:
            # Without root sshd cannot read its host keys, so -T always fails: expected.
            valid, errors = None, problems
            source = f"file walk of {walk.main} (no root, so no sshd -T: {failure})"
    views = _match_views(walk, effective, method, groups_of)
    dirs = tuple(
        path
        for path, stat in walk.stats.items()
        if stat.is_dir and any(pattern.rsplit("/", 1)[0] == path for pattern in walk.tree.globs)
    )
    return SshdConfig(
        options=options,
        source=printable(source, 400),
        unknown_lines=unknown,
        method=method,
        settings=dict(effective.settings) if effective is not None else {},
        config_valid=valid,
        config_errors=tuple(printable(e, 300) for e in errors[:10]),
        match_views=views,
        walk_gaps=tuple(printable(g, 300) for g in gaps[:20]),
        walked=effective is not None,
        config_files=tuple(p for p, f in walk.tree.files.items() if f.lines is not None),
        config_dirs=dirs,
        stats=walk.stats,
        host_keys=walk.host_keys,
        moduli=walk.moduli,
    )


def _match_views(
    walk: Walk, effective: Effective | None, method: str, groups_of: GroupsOf
) -> tuple[MatchView, ...]:
    if effective is None:
        return ()
    requests = {(r.file, r.line): r for r in walk.requests}
    views: list[MatchView] = []
    for block in dict.fromkeys(effective.blocks):
        inside = tuple(d for d in effective.directives if d.block == block)
        request = requests.get((block.location.file, block.location.line))
        if request is None or request.spec is None:
            why = request.reason if request is not None else "the node derived no connection for this line"
            views.append(MatchView(block, None, {}, {}, None, "", printable(why, 200), inside))
            continue
        connection = Connection.from_spec(request.spec)
        model = evaluate(walk.tree, connection, groups_of) if connection is not None else None
        selected = None if model is None else block in model.selected
        settings = dict(model.settings) if model is not None else {}
        evaluation = walk.evaluations.get(request.spec)
        options: Mapping[str, tuple[str, ...]] = {}
        note = ""
        how = ""
        if evaluation is not None and evaluation.exit_code == 0:
            try:
                options = parse_sshd_t(evaluation.output, source=request.spec).options
                how = f"sshd -T -C {request.spec}"
            except FactParseError as exc:
                note = str(exc)
        elif method == FILE_WALK and model is not None:
            options, how = _all_printed(model), f"file walk for {request.spec}"
        elif evaluation is None:
            note = f"sshd -T was not run for {request.spec} (at most {sshd_walk.MAX_EVALUATIONS} per node)"
        else:
            note = f"sshd -T -C {request.spec} failed: {' '.join(evaluation.stderr.split())[:200]}"
        views.append(
            MatchView(block, request.spec, options, settings, selected, how, printable(note, 300), inside)
        )
    return tuple(views)
