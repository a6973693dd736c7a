"""What the sudoers grammar produces for one file: aliases, Defaults, user specs, includes.

Plain frozen records, in sudo's own vocabulary (gram.y's member kinds, Cmnd_Spec's tags
and options), so the assembler, the matcher and the checks read one shape of policy.
"""

from __future__ import annotations

from dataclasses import dataclass


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
