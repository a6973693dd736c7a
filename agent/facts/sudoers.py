"""The whole sudo policy of a node, as sudo itself would read it, and who it makes root.

Collection (SCRIPT) ships every file sudo could read — the main sudoers file (the path
`sudo -V` reports), each `#include`/`@include` target and every entry of each
`#includedir`/`@includedir`, recursively — with its stat (mode, owner, group, size) and
its content base64-encoded in length-capped, one-record-per-line framing, so no file name
or content can forge a record. Names sudo skips (containing `.` or ending in `~`) are
shipped too, so they can be reported as ignored (anchors.md: a `x.conf` drop-in is a
classic "why does my rule not work" and a silent hole in naive scanners). Alongside:
`visudo -c`'s verdict, `sudo -V` (version and compiled-in defaults), the host names and
interface addresses Host_Lists match against, the nsswitch `sudoers:` sources, and
`getent group` for the admin groups and every %group the policy names.

Assembly follows sudo's rules (plugins/sudoers/toke.l push_include/read_dir_files, and
lib/util/secure_path.c): an insecure main file disables sudo; an insecure or missing
include directory is skipped; directory entries are read in strcmp order, skipping names
with `.` or `~` and anything that is not a regular file or not secure (owner root, not
world-writable, group-writable only with group root). Semantics follow
plugins/sudoers/match.c and parse.c: in every list the last matching item decides, the
last matching command spec decides, Defaults apply global/host/user/runas in file order
and command Defaults after them, a NOPASSWD/PASSWD tag beats the `authenticate` default,
and exempt_group members never authenticate. tests/fleet/test_sudo.py holds `sudo -l -U`
and `visudo -c` as oracles over generated policies.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from agent.facts.model import FactParseError, FactValue, Observation, RawSection, Unavailable
from agent.facts.sudoers_parse import (
    Alias,
    CmndSpec,
    DefaultsEntry,
    Entry,
    Include,
    Member,
    UserSpec,
    Where,
    parse_text,
)

FACT = "sudoers"
MAX_FILES = 512
MAX_DEPTH = 128  # sudo's MAX_SUDOERS_DEPTH
FILE_CAP = 256 * 1024  # per file, enforced on the node by head -c
ADMIN_GROUPS = ("sudo", "wheel", "admin")

# Records, one per line, every free-text field base64 (so names and contents cannot break
# the framing):  S <key> <b64>   F <depth> <role> <symlink> <mode-hex> <uid> <gid> <size> <b64 path>
# C <b64 content> (follows its F)   D <depth> <symlink> <mode-hex> <uid> <gid> <size> <b64 path>
# X <reason> <b64 path>   G <b64 getent group line>
SCRIPT = r"""
command -v base64 >/dev/null 2>&1 || { echo "base64 (coreutils) is not installed" >&2; exit 126; }
nw_b() { base64 | tr -d '\n'; }
nw_s() { printf '%s' "$1" | nw_b; }
nw_n=0
nw_paths=
printf 'H nodeward-sudoers 1\n'
nw_sudo=$(command -v sudo 2>/dev/null)
printf 'S sudo %s\n' "$(nw_s "$nw_sudo")"
nw_v=
# Only the lines nodeward reads (version, path, the defaults it judges): -V is long.
if [ -n "$nw_sudo" ]; then
  nw_re='^(Sudoers |Always run|Ignore |Reset the env|Require |Authentication timestamp|Path to log file'
  nw_re="$nw_re|Value to override|Default user to run|Users in this group)"
  nw_v=$(sudo -V 2>/dev/null | awk -v re="$nw_re" 'NR == 1 || $0 ~ re' | head -c 32768)
fi
printf 'S sudo_v %s\n' "$(nw_s "$nw_v")"
nw_main=$(printf '%s\n' "$nw_v" | sed -n 's/^Sudoers path: //p' | head -n 1)
[ -n "$nw_main" ] || nw_main=/etc/sudoers
printf 'S main %s\n' "$(nw_s "$nw_main")"
nw_host=$(uname -n 2>/dev/null)
printf 'S host %s\n' "$(nw_s "$nw_host")"
if command -v timeout >/dev/null 2>&1 && command -v getent >/dev/null 2>&1; then
  printf 'S fqdn %s\n' "$(timeout 3 getent hosts "$nw_host" 2>/dev/null | head -n 1 | nw_b)"
fi
if command -v ip >/dev/null 2>&1; then
  printf 'S addrs %s\n' "$(ip -o addr show 2>/dev/null | awk '{print $2, $4}' | head -n 256 | nw_b)"
fi
if [ -r /etc/nsswitch.conf ]; then
  nw_ns=$(sed -n 's/^[[:blank:]]*sudoers[[:blank:]]*://p' /etc/nsswitch.conf | head -n 1)
  printf 'S nsswitch %s\n' "$(nw_s "$nw_ns")"
fi
if command -v visudo >/dev/null 2>&1; then
  if [ "$nw_main" = /etc/sudoers ]; then nw_c=$(visudo -c 2>&1; echo "nodeward-rc=$?")
  else nw_c=$(visudo -c -f "$nw_main" 2>&1; echo "nodeward-rc=$?"); fi
  printf 'S visudo %s\n' "$(printf '%s' "$nw_c" | head -c 65536 | nw_b)"
fi
if [ -n "$NW_USER" ]; then printf 'S scan_groups %s\n' "$(id -Gn -- "$NW_USER" 2>/dev/null | nw_b)"; fi
nw_stat() { stat -L -c '%f %u %g %s' -- "$1" 2>/dev/null || echo '- - - -'; }
nw_file() {
  if [ "$nw_n" -ge 512 ]; then printf 'X too-many-files %s\n' "$(nw_s "$1")"; return 1; fi
  nw_n=$((nw_n + 1))
  if [ -L "$1" ]; then nw_l=1; else nw_l=0; fi
  printf 'F %s %s %s %s %s\n' "$3" "$2" "$nw_l" "$(nw_stat "$1")" "$(nw_s "$1")"
  if [ -f "$1" ] && [ -r "$1" ]; then
    printf 'C '; head -c 262144 -- "$1" | nw_b; printf '\n'
    nw_paths="$nw_paths$1
"
  fi
}
nw_incs() {
  sed -n -e 's/^[[:blank:]]*@includedir[[:blank:]]\{1,\}/d /p' -e 's/^#includedir[[:blank:]]\{1,\}/d /p' \
    -e 's/^[[:blank:]]*@include[[:blank:]]\{1,\}/f /p' -e 's/^#include[[:blank:]]\{1,\}/f /p' -- "$1" \
    | head -n 64
}
nw_target() {
  nw_p=$(printf '%s' "$2" | sed 's/[[:space:]]*$//')
  case "$nw_p" in
    \"*) nw_p=$(printf '%s' "$nw_p" | sed 's/^"//; s/".*$//') ;;
    *) nw_p=$(printf '%s' "$nw_p" | sed 's/\([^\\]\)[[:blank:]].*$/\1/; s/\\\(.\)/\1/g') ;;
  esac
  case "$nw_host" in *[!A-Za-z0-9.-]*|'') ;; *)
    nw_p=$(printf '%s' "$nw_p" | sed "s/%h/${nw_host%%.*}/g") ;; esac
  case "$nw_p" in /*) ;; *) nw_p="${1%/*}/$nw_p" ;; esac
  printf '%s' "$nw_p"
}
nw_visit() {
  nw_file "$1" "$2" "$3" || return 0
  [ -f "$1" ] && [ -r "$1" ] || return 0
  if [ "$3" -ge 16 ]; then printf 'X depth %s\n' "$(nw_s "$1")"; return 0; fi
  nw_list=$(nw_incs "$1")
  [ -n "$nw_list" ] || return 0
  while IFS= read -r nw_line; do
    nw_t=$(nw_target "$1" "${nw_line#? }")
    case "$nw_line" in
      d\ *) nw_dir "$nw_t" $(($3 + 1)) ;;
      *) nw_visit "$nw_t" include $(($3 + 1)) ;;
    esac
  done <<NW_EOF
$nw_list
NW_EOF
}
nw_dir() {
  if [ -L "$1" ]; then nw_l=1; else nw_l=0; fi
  printf 'D %s %s %s %s\n' "$2" "$nw_l" "$(nw_stat "$1")" "$(nw_s "$1")"
  [ -d "$1" ] || return 0
  for nw_f in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [ -e "$nw_f" ] || [ -L "$nw_f" ] || continue
    case "${nw_f##*/}" in
      *.*|*~) nw_file "$nw_f" ignored "$2" || return 0 ;;
      *) nw_visit "$nw_f" dirent "$2" ;;
    esac
  done
}
nw_visit "$nw_main" main 0
nw_groups=$( { printf 'sudo\nwheel\nadmin\n'
  printf '%s' "$nw_paths" | while IFS= read -r nw_f; do
    [ -n "$nw_f" ] || continue
    grep -ho '%#\{0,1\}[A-Za-z0-9_][A-Za-z0-9_.-]*' -- "$nw_f" 2>/dev/null | sed 's/^%#\{0,1\}//'
    sed -n 's/.*exempt_group[[:blank:]]*=[[:blank:]]*"\{0,1\}\([A-Za-z_][A-Za-z0-9_.-]*\).*/\1/p' -- "$nw_f"
  done; } | sort -u | head -n 64)
for nw_g in $nw_groups; do
  nw_e=$(getent group "$nw_g" 2>/dev/null | head -c 65536) && printf 'G %s\n' "$(nw_s "$nw_e")"
done
if [ -r /etc/passwd ]; then printf 'P '; head -c 1048576 /etc/passwd | nw_b; printf '\n'; fi
exit 0
"""


# --------------------------------------------------------------------------- wire format


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One path sudo might read, as stat(2) (following symlinks) saw it on the node."""

    path: str
    role: str  # main, include, dirent, ignored, dir
    depth: int
    symlink: bool
    mode: int | None  # st_mode including the type bits; None when stat failed (missing)
    uid: int | None
    gid: int | None
    size: int | None
    content: str | None = None  # None: not a readable regular file, or not shipped

    @property
    def exists(self) -> bool:
        return self.mode is not None

    @property
    def is_dir(self) -> bool:
        return self.mode is not None and (self.mode & 0o170000) == 0o040000

    @property
    def is_regular(self) -> bool:
        return self.mode is not None and (self.mode & 0o170000) == 0o100000

    @property
    def perms(self) -> int:
        return (self.mode or 0) & 0o7777

    @property
    def truncated(self) -> bool:
        return self.content is not None and self.size is not None and self.size > FILE_CAP

    def insecure(self) -> str | None:
        """sudo_secure_path(): why sudo refuses this path, or None when it reads it."""
        if self.mode is None or self.uid is None or self.gid is None:
            return "missing"
        if self.uid != 0:
            return f"owned by uid {self.uid}, not root"
        if self.perms & 0o002:
            return "world writable"
        if self.perms & 0o020 and self.gid != 0:
            return f"group writable with group {self.gid}, not root"
        return None

    def describe(self) -> str:
        if self.mode is None:
            return f"{self.path}: missing"
        kind = "dir" if self.is_dir else "file"
        link = ", via a symlink" if self.symlink else ""
        return f"{self.path}: {kind} {self.perms:04o} uid {self.uid} gid {self.gid}{link}"


@dataclass(frozen=True, slots=True)
class Wire:
    scalars: Mapping[str, str]
    files: Mapping[str, FileInfo]  # regular entries, includes and ignored names
    dirs: Mapping[str, FileInfo]
    groups: tuple[str, ...]  # getent group lines
    passwd: str
    notes: tuple[str, ...]  # X records: what the script did not follow


def _b64(text: str) -> str:
    if text in ("", "-"):
        return ""
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as exc:
        raise FactParseError(FACT, None, f"a field is not base64: {exc}") from None


def _int(text: str, base: int = 10) -> int | None:
    try:
        return int(text, base)
    except ValueError:
        return None


def parse_wire(text: str) -> Wire:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "H nodeward-sudoers 1":
        raise FactParseError(FACT, 1, "the output does not start with the nodeward-sudoers header")
    scalars: dict[str, str] = {}
    files: dict[str, FileInfo] = {}
    dirs: dict[str, FileInfo] = {}
    groups: list[str] = []
    notes: list[str] = []
    passwd = ""
    last: FileInfo | None = None
    for number, line in enumerate(lines[1:], start=2):
        tag, _, rest = line.partition(" ")
        fields = rest.split(" ")
        if tag == "S" and len(fields) >= 1:
            scalars[fields[0]] = _b64(fields[1] if len(fields) > 1 else "")
        elif tag == "F" and len(fields) == 8:
            depth, role, link, mode, uid, gid, size, path = fields
            last = FileInfo(
                _b64(path),
                role,
                _int(depth) or 0,
                link == "1",
                _int(mode, 16),
                _int(uid),
                _int(gid),
                _int(size),
            )
            files.setdefault(last.path, last)
        elif tag == "C" and last is not None and len(fields) == 1:
            files[last.path] = dataclasses.replace(last, content=_b64(fields[0]))
            last = None
        elif tag == "D" and len(fields) == 7:
            depth, link, mode, uid, gid, size, path = fields
            info = FileInfo(
                _b64(path),
                "dir",
                _int(depth) or 0,
                link == "1",
                _int(mode, 16),
                _int(uid),
                _int(gid),
                _int(size),
            )
            dirs.setdefault(info.path, info)
        elif tag == "X" and len(fields) == 2:
            notes.append(f"{fields[0]}: {_b64(fields[1])}")
        elif tag == "G" and len(fields) == 1:
            groups.extend(line for line in _b64(fields[0]).splitlines() if line)
        elif tag == "P" and len(fields) == 1:
            passwd = _b64(fields[0])
        else:
            raise FactParseError(FACT, number, f"unexpected record {tag[:12]!r}")
        if len(files) > MAX_FILES + 64:
            raise FactParseError(FACT, number, "more files than the gather script ships")
    return Wire(scalars, files, dirs, tuple(groups[:4096]), passwd, tuple(notes))


# --------------------------------------------------------------------------- assembly


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


# --------------------------------------------------------------------------- identities


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    uid: int | None
    gid: int | None
    groups: frozenset[str]  # group names (primary included) as far as the node told us
    gids: frozenset[int]


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    gid: int | None
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HostInfo:
    short: str
    long: str  # the fully-qualified name when the node resolves one, else uname -n
    interfaces: tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...]  # loopback excluded, as sudo


def parse_groups(lines: Iterable[str]) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    for line in lines:
        fields = line.split(":")
        if len(fields) < 4 or not fields[0]:
            continue
        members = tuple(m for m in fields[3].split(",") if m)
        groups.setdefault(fields[0], Group(fields[0], _int(fields[2]), members[:10_000]))
    return groups


def parse_passwd(text: str) -> list[tuple[str, int | None, int | None, int]]:
    """(name, uid, gid, line number) of each well-formed /etc/passwd line."""
    rows = []
    for number, line in enumerate(text.splitlines()[:100_000], start=1):
        fields = line.split(":")
        if len(fields) >= 7 and fields[0] and not fields[0].startswith(("#", "+", "-")):
            rows.append((fields[0], _int(fields[2]), _int(fields[3]), number))
    return rows


def person(
    name: str, uid: int | None, gid: int | None, groups: Mapping[str, Group], extra: Iterable[str] = ()
) -> Person:
    names = {g.name for g in groups.values() if name in g.members or (gid is not None and g.gid == gid)}
    names.update(extra)
    gids = {g.gid for g in groups.values() if g.name in names and g.gid is not None}
    if gid is not None:
        gids.add(gid)
    return Person(name, uid, gid, frozenset(names), frozenset(gids))


def _interfaces(text: str) -> tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...]:
    found = []
    for line in text.splitlines()[:256]:
        parts = line.split()
        if len(parts) != 2:
            continue
        try:
            interface = ipaddress.ip_interface(parts[1])
        except ValueError:
            continue
        if not interface.ip.is_loopback:
            found.append(interface)
    return tuple(found)


# --------------------------------------------------------------------------- Defaults

# Values the checks judge, when no Defaults line sets them: the node's own `sudo -V` (run as
# root it prints the compiled-in defaults merged with the global Defaults), else upstream's.
_VERSION_FLAGS: Mapping[str, tuple[str, ...]] = {
    "use_pty": ("Always run commands in a pseudo-tty", "Always run commands in a pseudo-terminal"),
    "ignore_dot": ("Ignore '.' in $PATH",),
    "env_reset": ("Reset the environment to a default set of variables",),
    "authenticate": ("Require users to authenticate by default",),
    "fqdn": ("Require fully-qualified hostnames in the sudoers file",),
    "case_insensitive_user": ("Ignore case when matching user names",),
    "case_insensitive_group": ("Ignore case when matching group names",),
}
_VERSION_VALUES: Mapping[str, str] = {
    "timestamp_timeout": "Authentication timestamp timeout: ",
    "logfile": "Path to log file: ",
    "secure_path": "Value to override user's $PATH with: ",
    "runas_default": "Default user to run commands as: ",
    "exempt_group": "Users in this group are exempt from password and PATH requirements: ",
}
_UPSTREAM: Mapping[str, object] = {
    "use_pty": False,  # on by default from sudo 1.9.14, see compiled_defaults()
    "ignore_dot": False,
    "env_reset": True,
    "authenticate": True,
    "fqdn": False,
    "case_insensitive_user": True,
    "case_insensitive_group": True,
    "timestamp_timeout": 5.0,
    "logfile": None,
    "secure_path": None,
    "runas_default": "root",
    "exempt_group": None,
}


@dataclass(frozen=True, slots=True)
class Setting:
    value: object
    source: str  # "file:line" of the Defaults entry, or where the default comes from


def sudo_version(text: str) -> tuple[str, tuple[int, ...]]:
    """("1.9.13p3", (1, 9, 13)) from `sudo -V`; other implementations (sudo-rs) by name."""
    lines = text.splitlines()
    for line in lines:
        found = re.match(r"Sudo version (\d+)\.(\d+)\.(\d+)", line)
        if found:
            return line.removeprefix("Sudo version ").strip()[:80], tuple(int(g) for g in found.groups())
    return (lines[0].strip()[:80] if lines else ""), ()


def compiled_defaults(
    version_text: str, set_for_root: Callable[[str], bool] = lambda name: False
) -> dict[str, Setting]:
    """sudo's own defaults. `sudo -V` run by root prints the values in force for root, so it
    shows the compiled-in default of every option no Defaults entry sets for root here
    (`set_for_root`); the others fall back to upstream's documented defaults."""
    label, version = sudo_version(version_text)
    upstream = dict(_UPSTREAM)
    if version >= (1, 9, 14):
        upstream["use_pty"] = True
    lines = version_text.splitlines()
    trusted = any(line.startswith("Sudoers policy plugin version") for line in lines)
    result: dict[str, Setting] = {}
    for name, fallback in upstream.items():
        source = f"sudo {label or '(version unknown)'} built-in default"
        value: object = fallback
        if trusted and not set_for_root(name):
            source = "sudo -V (compiled-in default)"
            if name in _VERSION_FLAGS:
                value = any(line.strip() in _VERSION_FLAGS[name] for line in lines)
            else:
                prefix = _VERSION_VALUES[name]
                shown = next((line[len(prefix) :].strip() for line in lines if line.startswith(prefix)), None)
                value = _coerce(name, shown) if shown is not None else fallback
                if shown is None and name in ("logfile", "secure_path", "exempt_group"):
                    value = None
        result[name] = Setting(value, source)
    return result


def _coerce(name: str, shown: str) -> object:
    if name == "timestamp_timeout":
        number = re.match(r"-?[0-9.]+", shown)
        return float(number.group()) if number else None
    return shown


def apply_default(current: object, entry: DefaultsEntry) -> object:
    if entry.op == "true":
        return True
    if entry.op == "false":
        return 0.0 if entry.name == "timestamp_timeout" else (False if isinstance(current, bool) else None)
    if entry.name == "timestamp_timeout" and entry.value is not None:
        try:
            return float(entry.value)
        except ValueError:
            return current
    return entry.value


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class Probe:
    """A command a user might run: absolute path and its arguments ("" for none)."""

    path: str
    args: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    needs_password: bool | None  # None when not allowed
    rule: CmndSpec | None
    why: str  # which rule decided, and why no password is needed


_META = re.compile(r"[*?\[]")


def _glob_regex(pattern: str, pathname: bool) -> re.Pattern[str] | None:
    """fnmatch(3) with backslash escapes, and FNM_PATHNAME when `pathname` (for paths)."""
    out: list[str] = []
    i = 0
    any_char = "[^/]" if pathname else "."
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char == "*":
            out.append(any_char + "*")
        elif char == "?":
            out.append(any_char)
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                body = body.replace("\\", "\\\\").replace("^", "\\^")
                out.append(f"[{'^' if negate else ''}{body}]")
                i = end + 1
                continue
        else:
            out.append(re.escape(char))
        i += 1
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return None


def _glob(pattern: str, text: str, *, pathname: bool, casefold: bool = False) -> bool:
    compiled = _glob_regex(pattern.casefold() if casefold else pattern, pathname)
    return compiled is not None and compiled.fullmatch(text.casefold() if casefold else text) is not None


def _regex(pattern: str, text: str) -> bool:
    flags = 0
    if pattern.startswith("^(?i)"):
        pattern, flags = "^" + pattern[5:], re.IGNORECASE
    try:
        return re.search(pattern, text, flags) is not None
    except re.error:
        return False


def command_matches(path: str, args: str | None, probe: Probe) -> bool:
    if path in ("list", "sudoedit"):
        return probe.path == path
    if path.startswith("^"):
        matched = _regex(path, probe.path)
    elif path.endswith("/"):
        return probe.path.rsplit("/", 1)[0] + "/" == path
    elif _META.search(path):
        matched = _glob(path, probe.path, pathname=True)
    else:
        matched = path == probe.path
    if not matched:
        return False
    if args is None:
        return True
    if args == '""':
        return probe.args == ""
    if args.startswith("^"):
        return _regex(args, probe.args)
    return _glob(args, probe.args, pathname=False)


Verdict = bool | None  # True ALLOW, False DENY, None no match (sudo's UNSPEC)


def _last(members: Sequence[Member], match: Callable[[Member], Verdict]) -> Verdict:
    """Every sudoers list: the last item that matches decides (match.c, *_matches)."""
    for member in reversed(members):
        verdict = match(member)
        if verdict is not None:
            return verdict
    return None


def _flip(member: Member, matched: bool) -> Verdict:
    return (not member.negated) if matched else None


class Evaluator:
    """sudo's matching rules over one assembled policy, for one host."""

    def __init__(self, policy: Policy, host: HostInfo, compiled: Mapping[str, Setting]) -> None:
        self.policy = policy
        self.host = host
        self.compiled = compiled
        self.defaults = policy.defaults
        base = {
            name: self.setting(name).value for name in ("case_insensitive_user", "case_insensitive_group")
        }
        self.ci_user = base["case_insensitive_user"] is True
        self.ci_group = base["case_insensitive_group"] is True

    # ---- members

    def _alias(
        self, kind: str, member: Member, seen: tuple[str, ...], match: Callable[[Member], Verdict]
    ) -> Verdict:
        alias = self.policy.aliases.get((kind, member.name))
        if alias is None or member.name in seen or len(seen) > 64:
            return None
        verdict = _last(alias.members, match)
        if verdict is None:
            return None
        return (not verdict) if member.negated else verdict

    def _same_user(self, pattern: str, who: Person) -> bool:
        if pattern.startswith("#") and who.uid is not None and _int(pattern[1:]) == who.uid:
            return True
        return pattern.casefold() == who.name.casefold() if self.ci_user else pattern == who.name

    def _in_group(self, pattern: str, who: Person) -> bool | None:
        name = pattern[1:]
        if name.startswith(":"):
            return None  # non-Unix group: needs sudo's group plugin, unknown here
        if name.startswith("#"):
            gid = _int(name[1:])
            return gid is not None and gid in who.gids
        if self.ci_group:
            return name.casefold() in {g.casefold() for g in who.groups}
        return name in who.groups

    def user_matches(self, member: Member, who: Person, seen: tuple[str, ...] = ()) -> Verdict:
        if member.kind == "ALL":
            return not member.negated
        if member.kind == "ALIAS":
            return self._alias(
                "User_Alias", member, seen, lambda m: self.user_matches(m, who, (*seen, member.name))
            )
        if member.kind == "WORD":
            return _flip(member, self._same_user(member.name, who))
        if member.kind == "USERGROUP":
            return _flip(member, self._in_group(member.name, who) is True)
        return None  # netgroups: not evaluated

    def host_matches(self, member: Member, seen: tuple[str, ...] = ()) -> Verdict:
        if member.kind == "ALL":
            return not member.negated
        if member.kind == "ALIAS":
            return self._alias(
                "Host_Alias", member, seen, lambda m: self.host_matches(m, (*seen, member.name))
            )
        if member.kind == "NTWKADDR":
            return _flip(member, self._address_matches(member.name))
        if member.kind == "WORD":
            target = self.host.long if "." in member.name else self.host.short
            if _META.search(member.name):
                return _flip(member, _glob(member.name, target, pathname=False, casefold=True))
            return _flip(member, member.name.casefold() == target.casefold())
        return None

    def _address_matches(self, text: str) -> bool:
        try:
            if "/" in text:
                address, mask = text.split("/", 1)
                network = ipaddress.ip_network(f"{address}/{mask}", strict=False)
                return any(i.ip in network for i in self.host.interfaces)
            wanted = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(i.ip == wanted or i.network.network_address == wanted for i in self.host.interfaces)

    def runas_user_matches(
        self, member: Member, target: Person, who: Person, seen: tuple[str, ...] = ()
    ) -> Verdict:
        if member.kind == "ALL":
            return not member.negated
        if member.kind == "ALIAS":
            return self._alias(
                "Runas_Alias",
                member,
                seen,
                lambda m: self.runas_user_matches(m, target, who, (*seen, member.name)),
            )
        if member.kind == "WORD":
            return _flip(member, self._same_user(member.name, target))
        if member.kind == "USERGROUP":
            return _flip(member, self._in_group(member.name, target) is True)
        if member.kind == "MYSELF":
            return _flip(member, target.name == who.name)
        return None

    def runas_ok(self, spec: CmndSpec, target: Person, who: Person, invoker: Person | None = None) -> bool:
        """Whether `spec` lets `who` run as `target`. An empty Runas_Spec, "()", means the
        user running sudo, which for root's `sudo -l -U who` is root (`invoker`), not `who`
        (observed with sudo 1.9.13; a "(:group)" spec compares with `who` either way)."""
        if spec.runas_users is None and spec.runas_groups is None:
            default = self.setting("runas_default", who).value
            return isinstance(default, str) and self._same_user(default, target)
        if spec.runas_users is None:
            return target.name == who.name  # (:group) runs as the listed user only
        myself = invoker or who
        return _last(spec.runas_users, lambda m: self.runas_user_matches(m, target, myself)) is True

    def cmnd_matches(self, member: Member, probe: Probe, seen: tuple[str, ...] = ()) -> Verdict:
        if member.kind == "ALL":
            return not member.negated
        if member.kind == "ALIAS":
            return self._alias(
                "Cmnd_Alias", member, seen, lambda m: self.cmnd_matches(m, probe, (*seen, member.name))
            )
        if member.command is not None:
            return _flip(member, command_matches(member.command.path, member.command.args, probe))
        return None

    # ---- Defaults

    def setting(
        self, name: str, who: Person | None = None, target: Person | None = None, probe: Probe | None = None
    ) -> Setting:
        """The value sudo would use: global/host/user/runas Defaults in file order, then
        command Defaults (sudoers.c: update_defaults() passes)."""
        current = self.compiled.get(name, Setting(None, "unset"))
        value, source = current.value, current.source
        for entry in self.defaults:
            if entry.name == name and entry.scope != "cmnd" and self.binds(entry, who, target, probe):
                value, source = apply_default(value, entry), str(entry.where)
        for entry in self.defaults:
            if entry.name == name and entry.scope == "cmnd" and self.binds(entry, who, target, probe):
                value, source = apply_default(value, entry), str(entry.where)
        return Setting(value, source)

    def binds(
        self, entry: DefaultsEntry, who: Person | None, target: Person | None, probe: Probe | None
    ) -> bool:
        if entry.scope == "global":
            return True
        if entry.scope == "host":
            return _last(entry.binding, self.host_matches) is True
        if entry.scope == "user":
            return who is not None and _last(entry.binding, lambda m: self.user_matches(m, who)) is True
        if entry.scope == "runas":
            return (
                who is not None
                and target is not None
                and _last(entry.binding, lambda m: self.runas_user_matches(m, target, who)) is True
            )
        return probe is not None and _last(entry.binding, lambda m: self.cmnd_matches(m, probe)) is True

    # ---- decisions

    def decide(self, who: Person, target: Person, probe: Probe, invoker: Person | None = None) -> Decision:
        """What `sudo -u target probe` does for `who`: the last matching spec decides.
        `invoker` answers for `sudo -l -U who` run by someone else (see runas_ok)."""
        for spec_user in reversed(self.policy.userspecs):
            if _last(spec_user.users, lambda m: self.user_matches(m, who)) is not True:
                continue
            for priv in reversed(spec_user.privileges):
                if _last(priv.hosts, self.host_matches) is not True:
                    continue
                for spec in reversed(priv.cmndspecs):
                    if not self.runas_ok(spec, target, who, invoker):
                        continue
                    verdict = self.cmnd_matches(spec.command, probe)
                    if verdict is None:
                        continue
                    if not verdict:
                        return Decision(False, None, spec, f"denied by {spec.where}")
                    return self._authenticate(spec, who, target, probe)
        return Decision(False, None, None, "no rule matches")

    def _authenticate(self, spec: CmndSpec, who: Person, target: Person, probe: Probe) -> Decision:
        exempt = self.setting("exempt_group", who, target, probe)
        if isinstance(exempt.value, str) and exempt.value:
            group = exempt.value if exempt.value.startswith("%") else "%" + exempt.value
            if self._in_group(group, who):
                return Decision(
                    True, False, spec, f"{spec.where}; {who.name} is in exempt_group ({exempt.source})"
                )
        tag = spec.tag("NOPASSWD")
        if tag is not None:
            word = "NOPASSWD" if tag else "PASSWD"
            return Decision(True, not tag, spec, f"{spec.where} ({word} tag)")
        auth = self.setting("authenticate", who, target, probe)
        needs = auth.value is not False
        why = "" if needs else f", !authenticate from {auth.source}"
        return Decision(True, needs, spec, f"{spec.where}{why}")

    def may_list(self, who: Person) -> bool:
        """Whether `sudo -l -U who` finds any entry for this host."""
        return any(
            _last(spec.users, lambda m: self.user_matches(m, who)) is True
            and any(_last(priv.hosts, self.host_matches) is True for priv in spec.privileges)
            for spec in self.policy.userspecs
        )

    # ---- inventory

    def expand(self, kind: str, members: Sequence[Member], negate: bool = False, depth: int = 0) -> list[str]:
        out: list[str] = []
        for member in members:
            flipped = member.negated != negate
            if member.kind == "ALIAS" and depth < 16:
                alias = self.policy.aliases.get((kind, member.name))
                if alias is not None:
                    out.extend(self.expand(kind, alias.members, flipped, depth + 1))
                    continue
                out.append(("!" if flipped else "") + member.name + " (undefined alias)")
                continue
            out.append(Member(member.kind, member.name, flipped, member.command).text())
        return out

    def positive(self, member: Member, depth: int = 0) -> bool:
        """Whether a command item allows at least one command (not only negations)."""
        if member.kind == "ALIAS":
            alias = self.policy.aliases.get(("Cmnd_Alias", member.name))
            if alias is None or depth > 16:
                return False
            inner = any(self.positive(m, depth + 1) for m in alias.members)
            return inner and not member.negated
        return not member.negated

    def root_privileges(self) -> list[RootPrivilege]:
        """Per rule and host part: the commands (allowed and excluded) that run as root."""
        root = Person("root", 0, 0, frozenset({"root"}), frozenset({0}))
        nobody = Person("\0nobody", None, None, frozenset(), frozenset())
        found = []
        for spec_user in self.policy.userspecs:
            for priv in spec_user.privileges:
                if _last(priv.hosts, self.host_matches) is False:
                    continue
                commands = [
                    text
                    for spec in priv.cmndspecs
                    if self.runas_ok(spec, root, nobody)
                    for text in self.expand("Cmnd_Alias", (spec.command,))
                ]
                if commands:
                    users = tuple(self.expand("User_Alias", spec_user.users))
                    found.append(RootPrivilege(users, tuple(commands), str(spec_user.where)))
        return found

    def grants(self, root_only: bool = True) -> list[Grant]:
        """Every command spec that lets someone run something (as root, with `root_only`) on
        this host. A host list nodeward cannot evaluate (netgroups) counts as matching:
        better one privilege too many in a report than one missed."""
        root = Person("root", 0, 0, frozenset({"root"}), frozenset({0}))
        nobody = Person("\0nobody", None, None, frozenset(), frozenset())  # never "myself"
        found: list[Grant] = []
        for spec_user in self.policy.userspecs:
            for priv in spec_user.privileges:
                if _last(priv.hosts, self.host_matches) is False:
                    continue
                for spec in priv.cmndspecs:
                    if root_only and not self.runas_ok(spec, root, nobody):
                        continue
                    if not self.positive(spec.command):
                        continue
                    commands = self.expand("Cmnd_Alias", (spec.command,))
                    found.append(
                        Grant(
                            principals=tuple(self.expand("User_Alias", spec_user.users)),
                            runas=_runas_text(spec),
                            commands=tuple(commands),
                            all_commands=self.cmnd_matches(spec.command, Probe("/nodeward/any/command"))
                            is True,
                            nopasswd=spec.tag("NOPASSWD") is True,
                            source=str(spec_user.where),
                            spec=spec,
                            userspec=spec_user,
                        )
                    )
        return found


@dataclass(frozen=True, slots=True)
class RootPrivilege:
    """One `host = commands` part of a rule, as far as it concerns running as root."""

    principals: tuple[str, ...]
    commands: tuple[str, ...]  # aliases expanded, "!cmd" for exclusions
    source: str


def _runas_text(spec: CmndSpec) -> str:
    if spec.runas_users is None and spec.runas_groups is None:
        return "root (runas_default)"
    users = ", ".join(m.text() for m in spec.runas_users or ())
    groups = ", ".join(m.text() for m in spec.runas_groups or ())
    return f"({users}{' : ' + groups if groups else ''})"


@dataclass(frozen=True, slots=True)
class Grant:
    """One command spec that lets its principals run commands as root on this host."""

    principals: tuple[str, ...]  # aliases expanded: "alice", "%sudo", "!bob", "ALL"
    runas: str
    commands: tuple[str, ...]
    all_commands: bool  # any command at all: as good as a root shell
    nopasswd: bool  # NOPASSWD tag on this spec (inherited within its line, as sudo does)
    source: str  # file:line of the rule
    spec: CmndSpec = field(repr=False, compare=False)
    userspec: UserSpec = field(repr=False, compare=False)

    def summary(self) -> str:
        what = "ALL commands" if self.all_commands else ", ".join(self.commands)[:160]
        auth = "without a password" if self.nopasswd else "with a password"
        return f"{', '.join(self.principals)} may run {what} as {self.runas} {auth}"


# --------------------------------------------------------------------------- visudo


@dataclass(frozen=True, slots=True)
class Visudo:
    exit_code: int | None
    parsed_ok: tuple[str, ...]
    syntax: tuple[str, ...]  # "file:line:col: message" and other failures that are not about modes
    permissions: tuple[str, ...]  # "bad permissions" / "wrong owner" complaints
    warnings: tuple[str, ...]

    @property
    def syntax_ok(self) -> bool:
        return not self.syntax and (self.exit_code == 0 or bool(self.permissions))


def parse_visudo(text: str) -> Visudo:
    lines = text.splitlines()[:2000]
    code = None
    if lines and lines[-1].startswith("nodeward-rc="):
        code = _int(lines.pop()[len("nodeward-rc=") :])
    parsed, syntax, perms, warnings = [], [], [], []
    for line in lines:
        line = line[:400]
        if line.endswith(": parsed OK"):
            parsed.append(line[: -len(": parsed OK")])
        elif line.startswith("Warning:") or "referenced but not defined" in line or "cycle in" in line:
            warnings.append(line)
        elif "bad permissions" in line or "wrong owner" in line or "is world writable" in line:
            perms.append(line)
        elif (
            re.match(r"^\S.*:\d+:\d+: ", line) or line.startswith(("visudo:", ">>>")) or "parse error" in line
        ):
            syntax.append(line)
    return Visudo(code, tuple(parsed), tuple(syntax), tuple(perms), tuple(warnings))


# --------------------------------------------------------------------------- the fact


@dataclass(frozen=True, slots=True)
class SudoersFact:
    installed: bool
    sudo_path: str
    version: str
    main: str
    policy: Policy
    files: Mapping[str, FileInfo]
    dirs: Mapping[str, FileInfo]
    visudo: Visudo | None  # None: visudo not installed
    host: HostInfo
    nsswitch: tuple[str, ...]  # sudoers sources other than files mean rules we cannot see
    scan_user: str
    scan_groups: tuple[str, ...]
    groups: Mapping[str, Group]
    accounts: tuple[tuple[str, int | None, int | None, int], ...]  # /etc/passwd rows
    compiled: Mapping[str, Setting]

    @property
    def source(self) -> str:
        return self.main

    def evaluator(self) -> Evaluator:
        return Evaluator(self.policy, self.host, self.compiled)

    def person(self, name: str) -> Person:
        row = next((r for r in self.accounts if r[0] == name), None)
        extra = self.scan_groups if name == self.scan_user else ()
        uid, gid = (row[1], row[2]) if row else (None, None)
        return person(name, uid, gid, self.groups, extra)

    @property
    def external_sources(self) -> tuple[str, ...]:
        return tuple(s for s in self.nsswitch if s not in ("files", "[NOTFOUND=return]"))

    def lookup(self, path: str) -> Observation | None:
        values: dict[str, object] = {
            "installed": self.installed,
            "version": self.version,
            "main": self.main,
            "files_read": len(self.policy.read),
            "ignored_files": tuple(i.path for i in self.policy.ignored),
            "visudo_ok": None if self.visudo is None else self.visudo.exit_code == 0,
        }
        if path not in values:
            return None
        source = "command -v sudo; sudo -V" if path in ("installed", "version") else self.main
        return Observation(values[path], source)


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    if section.exit_code == 126:
        return Unavailable(f"cannot read the sudo policy: {section.error_text or 'base64 is missing'}")
    if section.exit_code != 0:
        return Unavailable(f"the sudoers section failed (exit {section.exit_code}): {section.error_text}")
    if section.truncated:
        return Unavailable("the sudo policy is larger than the gather cap")
    try:
        return build(parse_wire(section.text), context.get("user", ""))
    except FactParseError as exc:
        return Unavailable(str(exc))


def build(wire: Wire, scan_user: str) -> SudoersFact:
    scalars = wire.scalars
    uname = scalars.get("host", "")
    fqdn_line = scalars.get("fqdn", "").split()
    long_name = fqdn_line[1] if len(fqdn_line) > 1 else uname
    host_short = uname.split(".", 1)[0]
    policy = assemble(wire, host_short)
    host = HostInfo(host_short, long_name, _interfaces(scalars.get("addrs", "")))
    version_text = scalars.get("sudo_v", "")
    groups = parse_groups(wire.groups)
    accounts = tuple(parse_passwd(wire.passwd))
    compiled = _compiled_for(policy, host, version_text, groups, accounts)
    if compiled["fqdn"].value is not True:
        host = HostInfo(host_short, uname, host.interfaces)
    visudo = parse_visudo(scalars["visudo"]) if "visudo" in scalars else None
    nsswitch = tuple(scalars.get("nsswitch", "").split()[:16])
    return SudoersFact(
        installed=bool(scalars.get("sudo")),
        sudo_path=scalars.get("sudo", ""),
        version=sudo_version(scalars.get("sudo_v", ""))[0],
        main=scalars.get("main") or "/etc/sudoers",
        policy=policy,
        files=wire.files,
        dirs=wire.dirs,
        visudo=visudo,
        host=host,
        nsswitch=nsswitch,
        scan_user=scan_user,
        scan_groups=tuple(scalars.get("scan_groups", "").split()[:256]),
        groups=groups,
        accounts=accounts,
        compiled=compiled,
    )


def _compiled_for(
    policy: Policy,
    host: HostInfo,
    version_text: str,
    groups: Mapping[str, Group],
    accounts: Sequence[tuple[str, int | None, int | None, int]],
) -> dict[str, Setting]:
    """Which options a Defaults entry sets for `sudo -V` run by root (see compiled_defaults)."""
    upstream = compiled_defaults(version_text)
    evaluator = Evaluator(policy, host, upstream)

    def someone(name: str) -> Person:
        row = next((r for r in accounts if r[0] == name), None)
        return person(name, row[1] if row else None, row[2] if row else None, groups)

    root = someone("root")
    default_runas = evaluator.setting("runas_default", root).value
    target = someone(default_runas if isinstance(default_runas, str) else "root")

    def set_for_root(name: str) -> bool:
        return any(
            entry.name == name and entry.scope != "cmnd" and evaluator.binds(entry, root, target, None)
            for entry in policy.defaults
        )

    return compiled_defaults(version_text, set_for_root)
