"""Collecting the sudo policy: the node-side gather script and the records it prints.

SCRIPT ships every file sudo could read — the main sudoers file (the path `sudo -V`
reports), each `#include`/`@include` target and every entry of each
`#includedir`/`@includedir`, recursively — with its stat (mode, owner, group, size) and
its content base64-encoded in length-capped, one-record-per-line framing, so no file name
or content can forge a record. Names sudo skips (containing `.` or ending in `~`) are
shipped too, so they can be reported as ignored (anchors.md: a `x.conf` drop-in is a
classic "why does my rule not work" and a silent hole in naive scanners). Alongside:
`visudo -c`'s verdict, `sudo -V` (version and compiled-in defaults), the host names and
interface addresses Host_Lists match against, the nsswitch `sudoers:` sources, and
`getent group` for the admin groups and every %group the policy names. parse_wire()
reads those records back; assemble.py applies sudo's rules to them.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from agent.facts.model import FactParseError

FACT = "sudoers"
MAX_FILES = 512
FILE_CAP = 256 * 1024  # per file, enforced on the node by head -c
ADMIN_GROUPS = ("sudo", "wheel", "admin")

# Records, one per line, every free-text field base64 (so names and contents cannot break
# the framing):  S <key> <b64>   F <depth> <role> <symlink> <mode-hex> <uid> <gid> <size> <b64 path>
# C <b64 content> (follows its F)   D <depth> <symlink> <mode-hex> <uid> <gid> <size> <b64 path>
# X <reason> <b64 path>   G <b64 getent group line>
SCRIPT = r"""
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


def int_or_none(text: str, base: int = 10) -> int | None:
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
                int_or_none(depth) or 0,
                link == "1",
                int_or_none(mode, 16),
                int_or_none(uid),
                int_or_none(gid),
                int_or_none(size),
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
                int_or_none(depth) or 0,
                link == "1",
                int_or_none(mode, 16),
                int_or_none(uid),
                int_or_none(gid),
                int_or_none(size),
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
