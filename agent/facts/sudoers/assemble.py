"""Assembling the policy sudo reads: the main file with its includes spliced in, in order.

Assembly follows sudo's rules (plugins/sudoers/toke.l push_include/read_dir_files, and
lib/util/secure_path.c): an insecure main file disables sudo; an insecure or missing
include directory is skipped; directory entries are read in strcmp order, skipping names
with `.` or `~` and anything that is not a regular file or not secure (owner root, not
world-writable, group-writable only with group root). Every file sudo does not read is
kept with the reason, and what visudo only warns about (undefined or cyclic aliases) is
collected apart from errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from agent.facts.model import FactParseError
from agent.facts.sudoers.collect import FILE_CAP, MAX_FILES, FileInfo, Wire
from agent.facts.sudoers.grammar import parse_text
from agent.facts.sudoers.syntax_tree import Alias, DefaultsEntry, Entry, Include, Member, UserSpec, Where

MAX_DEPTH = 128  # sudo's MAX_SUDOERS_DEPTH


@dataclass(frozen=True, slots=True)
class Ignored:
    """A file sudo does not read, and why (`x.conf` in sudoers.d, an insecure file...)."""

    path: str
    reason: str
    rules: int  # user specifications and Defaults in it that therefore do not apply


@dataclass(frozen=True, slots=True)
class IncludeUse:
    directive: Include
    resolved: str


@dataclass(frozen=True, slots=True)
class Policy:
    """The assembled policy, in the order sudo reads it."""

    entries: tuple[Entry, ...]
    aliases: Mapping[tuple[str, str], Alias]
    read: tuple[str, ...]  # files actually parsed, in order
    ignored: tuple[Ignored, ...]
    includes: tuple[IncludeUse, ...]
    errors: tuple[str, ...]  # syntax and structure errors, "file:line:col: message"
    dropped: tuple[str, ...]  # syntax errors that cost a line: sudo may keep part of it
    warnings: tuple[str, ...]  # what visudo only warns about (undefined or cyclic aliases)
    uncollected: tuple[str, ...]  # paths sudo reads that the gather did not ship: inventory incomplete
    disabled: str | None = None  # sudo refuses the whole policy (insecure main file): why

    @property
    def userspecs(self) -> tuple[UserSpec, ...]:
        return tuple(e for e in self.entries if isinstance(e, UserSpec))

    @property
    def defaults(self) -> tuple[DefaultsEntry, ...]:
        return tuple(e for e in self.entries if isinstance(e, DefaultsEntry))


def resolve_include(path: str, including: str, short_host: str) -> str:
    """expand_include(): %h is the short host name; a relative path is beside its includer."""
    if len(path) > 1 and path.startswith('"') and path.endswith('"'):
        path = path[1:-1]
    if "%h" in path:
        path = path.replace("%h", short_host)
    if not path.startswith("/"):
        path = including.rsplit("/", 1)[0] + "/" + path
    return path


def _rule_count(text: str | None, path: str) -> int:
    if not text:
        return 0
    try:
        parsed = parse_text(text, path)
    except FactParseError:
        return 0
    return sum(1 for e in parsed.entries if isinstance(e, UserSpec | DefaultsEntry))


class _Assembler:
    def __init__(self, wire: Wire, short_host: str) -> None:
        self.wire = wire
        self.short_host = short_host
        self.entries: list[Entry] = []
        self.aliases: dict[tuple[str, str], Alias] = {}
        self.read: list[str] = []
        self.ignored: list[Ignored] = []
        self.includes: list[IncludeUse] = []
        self.errors: list[str] = []
        self.dropped: list[str] = []
        self.uncollected: list[str] = [f"gather stopped: {note}" for note in wire.notes]
        self.budget = MAX_FILES

    def ignore(self, info: FileInfo, reason: str) -> None:
        self.ignored.append(Ignored(info.path, reason, _rule_count(info.content, info.path)))

    def file(self, path: str, depth: int) -> None:
        self.budget -= 1
        if self.budget < 0:
            self.uncollected.append(f"{path}: more files than nodeward follows")
            return
        info = self.wire.files.get(path)
        if info is None or (info.exists and info.is_regular and info.content is None):
            self.uncollected.append(path)
            return
        if info.truncated:
            self.uncollected.append(f"{path}: larger than {FILE_CAP} bytes, cut on the node")
        self.read.append(path)
        parsed = parse_text(info.content or "", path)
        self.errors.extend(str(problem) for problem in parsed.errors)
        self.dropped.extend(str(problem) for problem in parsed.dropped)
        for entry in parsed.entries:
            if isinstance(entry, Include):
                self.include(entry, depth + 1)
            elif isinstance(entry, Alias):
                key = (entry.kind, entry.name)
                if key in self.aliases:
                    self.errors.append(f'{entry.where}: Alias "{entry.name}" already defined')
                    continue
                self.aliases[key] = entry
                self.entries.append(entry)
            else:
                self.entries.append(entry)

    def include(self, directive: Include, depth: int) -> None:
        target = resolve_include(directive.path, directive.where.file, self.short_host)
        self.includes.append(IncludeUse(directive, target))
        if depth > MAX_DEPTH:
            self.errors.append(f"{directive.where}: {target}: too many levels of includes")
            return
        if directive.is_dir:
            self.directory(target, directive, depth)
            return
        info = self.wire.files.get(target)
        if info is None:
            self.uncollected.append(target)
            return
        problem = (
            "missing"
            if not info.exists
            else ("not a regular file" if not info.is_regular else info.insecure())
        )
        if problem is not None:
            # sudo: "unable to open" / "is world writable" and a parse error for this line;
            # the rest of the policy still applies (error recovery).
            self.errors.append(f"{directive.where}: {directive.directive} {target}: {problem}")
            if info.exists:
                self.ignore(info, problem)
            return
        self.file(target, depth)

    def directory(self, target: str, directive: Include, depth: int) -> None:
        info = self.wire.dirs.get(target)
        if info is None:
            self.uncollected.append(f"{target}/")
            return
        if not info.exists:
            return  # a missing include directory is not an error for sudo
        problem = "not a directory" if not info.is_dir else info.insecure()
        if problem is not None:
            for entry in self.entries_of(target):
                self.ignore(entry, f"its directory {target} is {problem}")
            self.errors.append(f"{directive.where}: sudo skips {target}: {problem}")
            return
        for entry in self.entries_of(target):
            name = entry.path.rsplit("/", 1)[1]
            if "." in name or name.endswith("~"):
                self.ignore(entry, "sudo skips names that contain '.' or end in '~'")
            elif not entry.is_regular:
                self.ignore(entry, "not a regular file")
            elif (why := entry.insecure()) is not None:
                self.ignore(entry, why)
            else:
                self.file(entry.path, depth)

    def entries_of(self, directory: str) -> list[FileInfo]:
        prefix = directory.rstrip("/") + "/"
        found = [
            info
            for path, info in self.wire.files.items()
            if path.startswith(prefix)
            and "/" not in path[len(prefix) :]
            and info.role in ("dirent", "ignored")
        ]
        return sorted(found, key=lambda info: info.path.encode())  # strcmp order, as qsort(pl_compare)


def assemble(wire: Wire, short_host: str) -> Policy:
    main_path = wire.scalars.get("main") or "/etc/sudoers"
    builder = _Assembler(wire, short_host)
    main = wire.files.get(main_path)
    disabled = None
    if main is None:
        builder.uncollected.append(main_path)
    elif not main.exists:
        disabled = f"{main_path} does not exist"
    elif (why := main.insecure()) is not None or not main.is_regular:
        disabled = f"{main_path} is {why or 'not a regular file'}: sudo refuses to run"
    else:
        builder.file(main_path, 0)
    warnings = _alias_warnings(builder.entries, builder.aliases)
    return Policy(
        entries=tuple(builder.entries) if disabled is None else (),
        aliases=builder.aliases,
        read=tuple(builder.read),
        ignored=tuple(builder.ignored),
        includes=tuple(builder.includes),
        errors=tuple(builder.errors),
        dropped=tuple(builder.dropped),
        warnings=warnings,
        uncollected=tuple(builder.uncollected),
        disabled=disabled,
    )


def _alias_refs(entries: Iterable[Entry]) -> Iterator[tuple[str, str, Where]]:
    def refs(members: Iterable[Member], kind: str, where: Where) -> Iterator[tuple[str, str, Where]]:
        for member in members:
            if member.kind == "ALIAS":
                yield kind, member.name, where

    for entry in entries:
        if isinstance(entry, UserSpec):
            yield from refs(entry.users, "User_Alias", entry.where)
            for priv in entry.privileges:
                yield from refs(priv.hosts, "Host_Alias", entry.where)
                for spec in priv.cmndspecs:
                    yield from refs(spec.runas_users or (), "Runas_Alias", spec.where)
                    yield from refs(spec.runas_groups or (), "Runas_Alias", spec.where)
                    yield from refs((spec.command,), "Cmnd_Alias", spec.where)
        elif isinstance(entry, DefaultsEntry):
            kind = {"user": "User_Alias", "runas": "Runas_Alias", "host": "Host_Alias", "cmnd": "Cmnd_Alias"}
            if entry.scope in kind:
                yield from refs(entry.binding, kind[entry.scope], entry.where)
        elif isinstance(entry, Alias):
            yield from refs(entry.members, entry.kind, entry.where)


def _alias_warnings(entries: Sequence[Entry], aliases: Mapping[tuple[str, str], Alias]) -> tuple[str, ...]:
    """visudo -c only warns about these (exit 0); visudo -cs would fail."""
    warnings = [
        f'{where}: {kind} "{name}" referenced but not defined'
        for kind, name, where in _alias_refs(entries)
        if (kind, name) not in aliases
    ]
    for (kind, name), alias in aliases.items():
        if _cyclic(kind, name, aliases, ()):
            warnings.append(f'{alias.where}: cycle in {kind} "{name}"')
    return tuple(dict.fromkeys(warnings))


def _cyclic(kind: str, name: str, aliases: Mapping[tuple[str, str], Alias], path: tuple[str, ...]) -> bool:
    if name in path:
        return True
    alias = aliases.get((kind, name))
    if alias is None or len(path) > 64:
        return False
    return any(
        _cyclic(kind, member.name, aliases, (*path, name))
        for member in alias.members
        if member.kind == "ALIAS"
    )
