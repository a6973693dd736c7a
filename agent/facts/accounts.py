"""Privileged accounts: who has UID/GID 0, root's password state and SSH directory, system
accounts that can log in, `su` restrictions and rhosts-style trust files (catalogue §2).

The script never prints a password hash: /etc/shadow is reduced on the node, by awk, to
one state per account — `empty` (no password: anyone may log in where PAM allows it),
`locked` (`!...`, `*`, `!!`: nothing crypt(3) can match) or `set` — with the line number
it came from. ~/.netrc and ~/.rhosts are only stat'ed, never read: the first holds
passwords. /root/.ssh/authorized_keys is shipped (public keys, capped) so a finding can
say how many keys root has and how many are restricted by a forced command, as cloud
images do ("Please login as the user ...").
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

from agent.facts.model import FactParseError, FactValue, Observation, RawSection, Unavailable

FACT = "accounts"

SCRIPT = r"""
nw_b() { base64 | tr -d '\n'; }
nw_s() { printf '%s' "$1" | nw_b; }
nw_stat() { stat -L -c '%f %u %g %s' -- "$1" 2>/dev/null || echo '- - - -'; }
nw_path() {
  if [ -L "$2" ]; then nw_l=1; else nw_l=0; fi
  printf 'T %s %s %s %s\n' "$1" "$nw_l" "$(nw_stat "$2")" "$(nw_s "$2")"
}
printf 'H nodeward-accounts 1\n'
for nw_f in /etc/passwd /etc/group /etc/login.defs /etc/pam.d/su; do
  if [ ! -r "$nw_f" ]; then printf 'M %s\n' "$(nw_s "$nw_f")"; continue; fi
  printf 'C %s ' "$(nw_s "$nw_f")"
  case "$nw_f" in
    # Only what is read, each line prefixed with its number: login.defs is mostly comments.
    /etc/login.defs) grep -n -E '^[[:blank:]]*(UID_MIN|SYS_UID_MAX)[[:blank:]]' -- "$nw_f" | nw_b ;;
    /etc/pam.d/su) grep -n -v -E '^[[:blank:]]*(#|$)' -- "$nw_f" | head -c 65536 | nw_b ;;
    *) head -c 1048576 -- "$nw_f" | nw_b ;;
  esac
  printf '\n'
done
if [ -r /etc/shadow ]; then
  awk -F: 'NR <= 100000 { p = $2; s = "locked"
    if (p == "") s = "empty"
    else if (p ~ /^\$/ || (length(p) == 13 && p ~ /^[.\/0-9A-Za-z]+$/)) s = "set"
    printf "W %d %s %s\n", NR, s, $1 }' /etc/shadow
else printf 'U shadow\n'; fi
for nw_p in /root/.ssh /root/.ssh/authorized_keys /root/.ssh/authorized_keys2; do
  if [ -e "$nw_p" ] || [ -L "$nw_p" ]; then nw_path root_ssh "$nw_p"; fi
done
for nw_p in /root/.ssh/authorized_keys /root/.ssh/authorized_keys2; do
  [ -f "$nw_p" ] && [ -r "$nw_p" ] || continue
  printf 'K %s ' "$(nw_s "$nw_p")"; head -c 65536 -- "$nw_p" | nw_b; printf '\n'
done
for nw_p in /etc/hosts.equiv /etc/shosts.equiv; do
  if [ -e "$nw_p" ] || [ -L "$nw_p" ]; then nw_path equiv "$nw_p"; fi
done
nw_min=$(awk '$1 == "UID_MIN" { print $2; exit }' /etc/login.defs 2>/dev/null)
case "$nw_min" in ''|*[!0-9]*) nw_min=1000 ;; esac
head -n 5000 /etc/passwd 2>/dev/null | while IFS=: read -r nw_n nw_x nw_u nw_g nw_c nw_h nw_sh; do
  case "$nw_h" in /*) ;; *) continue ;; esac
  for nw_f in .rhosts .shosts .netrc; do
    if [ -e "$nw_h/$nw_f" ] || [ -L "$nw_h/$nw_f" ]; then nw_path home "$nw_h/$nw_f"; fi
  done
  case "$nw_u" in ''|*[!0-9]*) continue ;; esac
  if [ "$nw_u" -gt 0 ] && { [ "$nw_u" -lt "$nw_min" ] || [ "$nw_u" -eq 65534 ]; }; then
    for nw_f in authorized_keys authorized_keys2; do
      if [ -e "$nw_h/.ssh/$nw_f" ]; then nw_path syskeys "$nw_h/.ssh/$nw_f"; fi
    done
  fi
done
exit 0
"""

# Shells that cannot give an interactive session (SSG no_shelllogin_for_systemaccounts).
NOLOGIN_SHELLS = frozenset(
    {"/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false", "/bin/nologin", "/usr/bin/nologin"}
)
# The classic exceptions: their "shells" run one fixed program (SSG and CIS exclude them).
SHELL_EXCEPTIONS = frozenset({"sync", "shutdown", "halt"})


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int | None
    gid: int | None
    home: str
    shell: str
    line: int  # in /etc/passwd


@dataclass(frozen=True, slots=True)
class GroupEntry:
    name: str
    gid: int | None
    members: tuple[str, ...]
    line: int  # in /etc/group


@dataclass(frozen=True, slots=True)
class PathState:
    kind: str  # root_ssh, equiv, home, syskeys
    path: str
    symlink: bool
    mode: int | None  # st_mode with type bits (stat follows symlinks); None: broken link
    uid: int | None
    gid: int | None
    size: int | None

    @property
    def perms(self) -> int:
        return (self.mode or 0) & 0o7777

    @property
    def is_dir(self) -> bool:
        return self.mode is not None and (self.mode & 0o170000) == 0o040000

    def describe(self) -> str:
        if self.mode is None:
            return f"{self.path} (dangling symlink)"
        link = ", a symlink" if self.symlink else ""
        return f"{self.path}: {self.perms:04o} uid {self.uid} gid {self.gid}{link}"


@dataclass(frozen=True, slots=True)
class AuthorizedKey:
    line: int
    key_type: str
    restricted: bool  # a forced command (command="...") or "restrict": no free shell


@dataclass(frozen=True, slots=True)
class PamLine:
    line: int
    kind: str  # auth, account, ...
    control: str
    module: str
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AccountsFact:
    accounts: tuple[Account, ...]
    groups: tuple[GroupEntry, ...]
    passwords: Mapping[str, tuple[str, int]]  # name -> (empty | locked | set, /etc/shadow line)
    shadow_readable: bool
    uid_min: int
    uid_min_source: str
    paths: tuple[PathState, ...]
    root_keys: tuple[AuthorizedKey, ...]
    pam_su: tuple[PamLine, ...] | None  # None: /etc/pam.d/su missing
    missing: tuple[str, ...]  # files that were not there

    def account(self, name: str) -> Account | None:
        return next((a for a in self.accounts if a.name == name), None)

    def group(self, name: str) -> GroupEntry | None:
        return next((g for g in self.groups if g.name == name), None)

    def is_system(self, account: Account) -> bool:
        return (
            account.uid is not None
            and account.uid != 0
            and (account.uid < self.uid_min or account.uid == 65534)
        )

    def paths_of(self, kind: str) -> tuple[PathState, ...]:
        return tuple(p for p in self.paths if p.kind == kind)

    def lookup(self, path: str) -> Observation | None:
        if path == "uid0_accounts":
            names = tuple(a.name for a in self.accounts if a.uid == 0)
            return Observation(names, "/etc/passwd")
        if path == "root.password":
            state = self.passwords.get("root")
            if state is None:
                return Observation(None, "/etc/shadow")
            return Observation(state[0], f"/etc/shadow:{state[1]}")
        if path == "uid_min":
            return Observation(self.uid_min, self.uid_min_source)
        return None


# --------------------------------------------------------------------------- parsing


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as exc:
        raise FactParseError(FACT, None, f"a field is not base64: {exc}") from None


def _int(text: str, base: int = 10) -> int | None:
    try:
        return int(text, base)
    except ValueError:
        return None


def parse_passwd(text: str) -> tuple[Account, ...]:
    rows = []
    for number, line in enumerate(text.splitlines()[:100_000], start=1):
        fields = line.split(":")
        if len(fields) < 7 or not fields[0] or fields[0].startswith(("#", "+", "-")):
            continue
        rows.append(
            Account(fields[0], _int(fields[2]), _int(fields[3]), fields[5], fields[6].strip(), number)
        )
    return tuple(rows)


def parse_group(text: str) -> tuple[GroupEntry, ...]:
    rows = []
    for number, line in enumerate(text.splitlines()[:100_000], start=1):
        fields = line.split(":")
        if len(fields) < 4 or not fields[0] or fields[0].startswith(("#", "+", "-")):
            continue
        members = tuple(m.strip() for m in fields[3].split(",") if m.strip())
        rows.append(GroupEntry(fields[0], _int(fields[2]), members[:10_000], number))
    return tuple(rows)


def _numbered(text: str) -> list[tuple[int, str]]:
    """`grep -n` output: (line number, line)."""
    rows = []
    for raw in text.splitlines()[:10_000]:
        number, sep, line = raw.partition(":")
        if sep and number.isdigit():
            rows.append((int(number), line))
    return rows


def parse_login_defs(text: str | None) -> tuple[int, str]:
    """UID_MIN from /etc/login.defs (the last one wins, as login.defs(5) reads it)."""
    found, source = 1000, "UID_MIN default (1000)"
    for number, line in _numbered(text or ""):
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "UID_MIN" and parts[1].isdigit():
            found, source = int(parts[1]), f"/etc/login.defs:{number}"
    return found, source


def parse_authorized_keys(text: str) -> tuple[AuthorizedKey, ...]:
    keys = []
    for number, raw in enumerate(text.splitlines()[:10_000], start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        options, key_type = "", ""
        tokens = _split_options(line)
        for index, token in enumerate(tokens):
            if token.startswith(("ssh-", "ecdsa-", "sk-")):
                key_type = token
                options = ",".join(tokens[:index])
                break
        if not key_type:
            continue
        lowered = options.lower()
        keys.append(
            AuthorizedKey(number, key_type, "command=" in lowered or "restrict" in lowered.split(","))
        )
    return tuple(keys)


def _split_options(line: str) -> list[str]:
    """Split an authorized_keys line on blanks outside double quotes (sshd(8) AUTHORIZED_KEYS)."""
    tokens: list[str] = []
    current: list[str] = []
    quoted = False
    for char in line[:16_384]:
        if char == '"':
            quoted = not quoted
        if char in " \t" and not quoted:
            if current:
                tokens.append("".join(current))
                current = []
            continue
        current.append(char)
    if current:
        tokens.append("".join(current))
    return tokens


def parse_pam(text: str) -> tuple[PamLine, ...]:
    """`grep -n` of a PAM file without comment lines."""
    lines = []
    for number, raw in _numbered(text):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("@"):
            continue
        parts = line.split()
        if len(parts) < 3:
            continue
        control, rest = parts[1], parts[2:]
        if control.startswith("["):  # [success=1 default=ignore] spans words
            while rest and not control.endswith("]"):
                control += " " + rest.pop(0)
        if not rest:
            continue
        lines.append(
            PamLine(number, parts[0].lstrip("-"), control, rest[0].rsplit("/", 1)[-1], tuple(rest[1:]))
        )
    return tuple(lines)


def parse_output(text: str) -> AccountsFact:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "H nodeward-accounts 1":
        raise FactParseError(FACT, 1, "the output does not start with the nodeward-accounts header")
    contents: dict[str, str] = {}
    missing: list[str] = []
    passwords: dict[str, tuple[str, int]] = {}
    shadow_readable = True
    paths: list[PathState] = []
    keys: list[AuthorizedKey] = []
    for number, line in enumerate(lines[1:], start=2):
        tag, _, rest = line.partition(" ")
        fields = rest.split(" ")
        if tag == "C" and len(fields) == 2:
            contents[_b64(fields[0])] = _b64(fields[1])
        elif tag == "M" and len(fields) == 1:
            missing.append(_b64(fields[0]))
        elif tag == "W" and len(fields) >= 3:
            shadow_line, state, name = _int(fields[0]), fields[1], " ".join(fields[2:])
            if state in ("empty", "locked", "set") and shadow_line is not None:
                passwords.setdefault(name, (state, shadow_line))
        elif tag == "U" and rest == "shadow":
            shadow_readable = False
        elif tag == "T" and len(fields) == 7:
            kind, link, mode, uid, gid, size, path = fields
            paths.append(
                PathState(kind, _b64(path), link == "1", _int(mode, 16), _int(uid), _int(gid), _int(size))
            )
        elif tag == "K" and len(fields) == 2:
            keys.extend(parse_authorized_keys(_b64(fields[1])))
        else:
            raise FactParseError(FACT, number, f"unexpected record {tag[:12]!r}")
    if "/etc/passwd" not in contents:
        raise FactParseError(FACT, None, "/etc/passwd could not be read")
    uid_min, uid_min_source = parse_login_defs(contents.get("/etc/login.defs"))
    pam_su = contents.get("/etc/pam.d/su")
    return AccountsFact(
        accounts=parse_passwd(contents["/etc/passwd"]),
        groups=parse_group(contents.get("/etc/group", "")),
        passwords=passwords,
        shadow_readable=shadow_readable,
        uid_min=uid_min,
        uid_min_source=uid_min_source,
        paths=tuple(paths[:20_000]),
        root_keys=tuple(keys),
        pam_su=None if pam_su is None else parse_pam(pam_su),
        missing=tuple(missing),
    )


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    try:
        return parse_output(section.text)
    except FactParseError as exc:
        return Unavailable(str(exc))
