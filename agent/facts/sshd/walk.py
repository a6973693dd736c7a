"""What the node sends about sshd, in one section: effective views plus the file walk.

The snippet (FUNCTIONS + MAIN) is constant POSIX sh. It runs, in this order:

1. `sshd -T -C` for the operator's own connection (the bastion's address as the node
   saw it, the login user, the node's address and port);
2. the file walk: the main file and, recursively, every file an Include reaches. The
   node's shell expands each Include pattern (so glob order is the node's, as sshd
   sees it) and prints the text of each file, every line prefixed with `|`, with
   stat(2) data for the file permission checks (CIS 5.1.1, SSG
   file_permissions_sshd_config);
3. host key metadata (stat and `ssh-keygen -l`) and the smallest /etc/ssh/moduli group;
4. one `sshd -T -C` per distinct connection that some Match line selects. awk reads
   the Match lines and derives a representative value per criterion (the first
   non-negated entry of a list, a wildcard filled in, the network address of a
   CIDR; a member of the group for `Match Group`); the shell checks every derived
   value against a strict character class and passes it to sshd as one argument.
   Nothing read from a file is ever evaluated as shell code.

Wire format, one record per line (paths and values contain no blanks: the shell
refuses anything outside [A-Za-z0-9._/:@%+,=~*?-]):

    @nodeward-sshd 1            version of this format
    @P <euid>                   who ran it (sshd -T needs root for the host keys)
    @C <path>                   the main configuration file
    @T <label> <spec>           an sshd -T evaluation; its output follows verbatim
    @E <text>                   a line of that evaluation's stderr
    @R <exit code>              end of the evaluation
    @F <path> <state> [size]    a file of the walk; state ok|missing|unreadable|dir|special|skipped
    |<text>                     a line of the file just announced
    @G <pattern>                an Include pattern, resolved as sshd resolves it
    @g <path>                   a match of the last pattern, in the node's glob order
    @X                          a match whose name the shell would not pass on
    @S <hexmode> <uid> <gid> <user> <group> <path>
    @B <path> <ssh-keygen -l output>
    @Q <smallest size> <count>  /etc/ssh/moduli (size column: bits - 1); "- 0" if absent
    @U <user> <groups...>       groups of an account used in an evaluation
    @M <path> <line> <spec>     a Match line and the connection derived for it
    @M <path> <line> - <why>    ... or why none could be derived
    @end
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.facts.model import FactParseError
from agent.facts.sshd.files import ConfigTree, SourceFile

FILE_CAP = 262144  # bytes of one configuration file the node sends
MAX_FILES = 256
MAX_EVALUATIONS = 32

FUNCTIONS = r"""
set -f
nw_word() {
  case $1 in ''|-*|*[!A-Za-z0-9._:@%/+-]*) return 1 ;; esac
  return 0
}
nw_glob() {
  case $1 in ''|-*|*[!A-Za-z0-9._/:@%+,=~*?-]*) return 1 ;; esac
  return 0
}
nw_spec_ok() {
  case $1 in ''|*[!A-Za-z0-9._:@%/+,=-]*) return 1 ;; esac
  return 0
}
nw_sshd() {
  if [ -n "$nw_hostkey" ]; then
    sshd -f "$nw_cfg" -o "HostKey=$nw_hostkey" "$@"
  else
    sshd -f "$nw_cfg" "$@"
  fi
}
nw_eval() {
  if ! nw_spec_ok "$2"; then
    printf '@T %s -\n@E nodeward: connection parameters with unexpected characters\n@R 2\n' "$1"
    return 0
  fi
  printf '@T %s %s\n' "$1" "$2"
  nw_tail=$( { nw_sshd -T -C "$2" 2>&1 >&4 4>&-; nw_rc=$?; echo; echo "@R $nw_rc"; } \
    | tail -n 8 | cut -c 1-300 )
  printf '\n%s\n' "$nw_tail" | awk '
    /^@R [0-9]+$/ { rc = $0; next }
    NF { print "@E " $0 }
    END { print (rc == "" ? "@R 255" : rc) }'
}
nw_stat() {
  nw_st=$(stat -L -c '%f %u %g %U %G' -- "$1" 2>/dev/null) && printf '@S %s %s\n' "$nw_st" "$1"
  return 0
}
nw_file() {
  if [ -d "$1" ]; then nw_stat "$1"; printf '@F %s dir\n' "$1"; return 1; fi
  if [ ! -e "$1" ]; then printf '@F %s missing\n' "$1"; return 1; fi
  if [ ! -f "$1" ]; then printf '@F %s special\n' "$1"; return 1; fi
  nw_stat "$1"
  if [ ! -r "$1" ]; then printf '@F %s unreadable\n' "$1"; return 1; fi
  printf '@F %s ok %s\n' "$1" "$(wc -c < "$1" | tr -d ' ')"
  head -c 262144 < "$1" | awk '{ print "|" $0 }'
  return 0
}
nw_includes() {
  awk '{
    sub(/^[ \t\r]+/, "")
    if (!match($0, /^[^ \t\r"=]+/)) next
    if (tolower(substr($0, 1, RLENGTH)) != "include") next
    rest = substr($0, RLENGTH + 1)
    gsub(/["\047]/, "", rest)
    n = split(rest, w, /[ \t\r=]+/)
    for (i = 1; i <= n; i++) {
      if (w[i] == "") continue
      if (substr(w[i], 1, 1) == "#") break
      print w[i]
    }
  }' < "$1"
}
nw_walk() {
  nw_seen=' '
  nw_read=''
  nw_count=0
  set -- "$1"
  while [ "$#" -gt 0 ]; do
    nw_f=$1
    shift
    case $nw_seen in *" $nw_f "*) continue ;; esac
    nw_seen="$nw_seen$nw_f "
    nw_count=$((nw_count + 1))
    if [ "$nw_count" -gt 256 ]; then printf '@F %s skipped\n' "$nw_f"; continue; fi
    nw_file "$nw_f" || continue
    nw_read="$nw_read $nw_f"
    for nw_p in $(nw_includes "$nw_f"); do
      nw_glob "$nw_p" || continue
      case $nw_p in /*|\~*) ;; *) nw_p=/etc/ssh/$nw_p ;; esac
      printf '@G %s\n' "$nw_p"
      case ${nw_p%/*} in *[*?]*) ;; ?*) nw_stat "${nw_p%/*}" ;; esac
      set +f
      for nw_m in $nw_p; do
        if [ -e "$nw_m" ] || [ -L "$nw_m" ]; then
          if ! nw_glob "$nw_m"; then printf '@X\n'; continue; fi
          printf '@g %s\n' "$nw_m"
          set -- "$@" "$nw_m"
        fi
      done
      set -f
    done
  done
}
nw_hostkeys() {
  nw_keys=' '
  nw_named=''
  [ -n "$nw_read" ] && nw_named=$(awk '{
      sub(/^[ \t\r]+/, "")
      if (!match($0, /^[^ \t\r"=]+/)) next
      k = tolower(substr($0, 1, RLENGTH))
      if (k != "hostkey" && k != "hostdsakey") next
      rest = substr($0, RLENGTH + 1)
      gsub(/["\047]/, "", rest)
      n = split(rest, w, /[ \t\r=]+/)
      for (i = 1; i <= n; i++) if (w[i] != "") { print w[i]; break }
    }' $nw_read)
  for nw_k in $nw_named \
    /etc/ssh/ssh_host_rsa_key /etc/ssh/ssh_host_ecdsa_key /etc/ssh/ssh_host_ed25519_key; do
    nw_glob "$nw_k" || continue
    case $nw_k in /*) ;; *) continue ;; esac
    case $nw_keys in *" $nw_k "*) continue ;; esac
    nw_keys="$nw_keys$nw_k "
    [ -f "$nw_k" ] || continue
    nw_stat "$nw_k"
    [ -f "$nw_k.pub" ] && nw_stat "$nw_k.pub"
    # The public half answers without root; the private key is the fallback.
    nw_kf=$nw_k.pub
    [ -r "$nw_kf" ] || nw_kf=$nw_k
    nw_fp=$(ssh-keygen -l -f "$nw_kf" 2>/dev/null | head -n 1 | cut -c 1-300)
    [ -n "$nw_fp" ] && printf '@B %s %s\n' "$nw_k" "$nw_fp"
  done
  if [ -r /etc/ssh/moduli ]; then
    awk '$1 !~ /^#/ && NF >= 7 { n++; if (min == "" || $5 + 0 < min) min = $5 + 0 }
      END { printf "@Q %s %d\n", (min == "" ? "-" : min), n }' /etc/ssh/moduli
  elif [ ! -e /etc/ssh/moduli ]; then
    printf '@Q - 0\n'
  fi
}
nw_member() {
  command -v getent >/dev/null 2>&1 || return 0
  getent group | {
    nw_gids=' '
    while IFS=: read -r nw_gn nw_gx nw_gid nw_gm; do
      case $nw_gn in $1) ;; *) continue ;; esac
      if [ -n "$nw_gm" ]; then printf '%s\n' "${nw_gm%%,*}"; exit 0; fi
      nw_gids="$nw_gids$nw_gid "
    done
    [ "$nw_gids" = ' ' ] && exit 0
    getent passwd | while IFS=: read -r nw_pn nw_px nw_pu nw_pg nw_rest; do
      case $nw_gids in *" $nw_pg "*) printf '%s\n' "$nw_pn"; exit 0 ;; esac
    done
  }
}
nw_groups() {
  nw_word "$1" || return 0
  printf '@U %s %s\n' "$1" "$(id -Gn -- "$1" 2>/dev/null | cut -c 1-2000)"
}
nw_matches() {
  [ "$#" -gt 0 ] || return 0
  awk '{
    line = $0
    sub(/^[ \t\r]+/, "", line)
    if (!match(line, /^[^ \t\r"=]+/)) next
    if (tolower(substr(line, 1, RLENGTH)) != "match") next
    rest = substr(line, RLENGTH + 1)
    gsub(/"/, "", rest)
    n = split(rest, w, /[ \t\r=]+/)
    out = ""
    for (i = 1; i <= n; i++) {
      a = tolower(w[i])
      if (a == "") continue
      if (substr(a, 1, 1) == "#") break
      if (a == "all") continue
      i++
      v = (i <= n) ? w[i] : ""
      if (v == "" || substr(v, 1, 1) == "#") break
      pick = ""
      m = split(v, e, ",")
      for (j = 1; j <= m; j++) if (e[j] != "" && substr(e[j], 1, 1) != "!") { pick = e[j]; break }
      if (a == "user") { if (pick != "") { gsub(/[*?]/, "x", pick); out = out " user=" pick } }
      else if (a == "group") { if (pick != "") out = out " group=" pick }
      else if (a == "host") {
        if (pick == "") pick = "nodeward.invalid"
        gsub(/[*?]/, "x", pick); out = out " host=" pick
      } else if (a == "address" || a == "localaddress") {
        if (pick == "") pick = "203.0.113.7"
        sub(/\/.*/, "", pick); gsub(/[*?]/, "1", pick)
        out = out (a == "address" ? " addr=" : " laddr=") pick
      } else if (a == "localport") out = out " lport=" pick
      else if (a == "rdomain") {
        if (pick == "") pick = "nodeward"
        gsub(/[*?]/, "x", pick); out = out " rdomain=" pick
      } else out = out " unknown=" a
    }
    print FILENAME, FNR, out
  }' "$@"
}
nw_match_evals() {
  nw_matches "$@" | {
    nw_done=" $nw_operator "
    nw_n=0
    while read -r nw_mf nw_ml nw_kvs; do
      nw_u=$NW_USER nw_h=$NW_CLIENT_ADDR nw_a=$NW_CLIENT_ADDR
      nw_la=$NW_SERVER_ADDR nw_lp=$NW_SERVER_PORT nw_rd='' nw_g='' nw_why='' nw_uset=''
      for nw_kv in $nw_kvs; do
        nw_k=${nw_kv%%=*}
        nw_v=${nw_kv#*=}
        if [ "$nw_k" = group ]; then
          nw_glob "$nw_v" && nw_g=$nw_v || nw_why="a Group pattern with characters nodeward does not pass on"
          continue
        fi
        if ! nw_word "$nw_v"; then
          nw_why="a $nw_k value with characters nodeward does not pass on"
          continue
        fi
        case $nw_k in
          user) nw_u=$nw_v; nw_uset=1 ;;
          host) nw_h=$nw_v ;;
          addr) nw_a=$nw_v ;;
          laddr) nw_la=$nw_v ;;
          lport) nw_lp=$nw_v ;;
          rdomain) nw_rd=$nw_v ;;
          *) nw_why="an unsupported criterion" ;;
        esac
      done
      if [ -n "$nw_g" ] && [ -z "$nw_uset" ]; then
        nw_u=$(nw_member "$nw_g")
        if [ -z "$nw_u" ] || ! nw_word "$nw_u"; then nw_why="no account is in a group matching $nw_g"; fi
      fi
      if [ -n "$nw_why" ]; then printf '@M %s %s - %s\n' "$nw_mf" "$nw_ml" "$nw_why"; continue; fi
      nw_spec="user=$nw_u,host=$nw_h,addr=$nw_a,laddr=$nw_la,lport=$nw_lp"
      [ -n "$nw_rd" ] && nw_spec="$nw_spec,rdomain=$nw_rd"
      printf '@M %s %s %s\n' "$nw_mf" "$nw_ml" "$nw_spec"
      case $nw_done in *" $nw_spec "*) continue ;; esac
      nw_n=$((nw_n + 1))
      [ "$nw_n" -gt 32 ] && continue
      nw_done="$nw_done$nw_spec "
      nw_groups "$nw_u"
      nw_eval match "$nw_spec"
    done
  }
}
nw_sshd_main() {
  nw_cfg=$1
  nw_hostkey=${2-}
  exec 4>&1
  printf '@nodeward-sshd 1\n@P %s\n@C %s\n' "$(id -u)" "$nw_cfg"
  nw_operator="user=$NW_USER,host=$NW_CLIENT_ADDR,addr=$NW_CLIENT_ADDR"
  nw_operator="$nw_operator,laddr=$NW_SERVER_ADDR,lport=$NW_SERVER_PORT"
  nw_groups "$NW_USER"
  nw_eval operator "$nw_operator"
  nw_walk "$nw_cfg"
  nw_hostkeys
  nw_match_evals $nw_read
  printf '@end\n'
}
"""

MAIN = r"""
nw_sshd_main /etc/ssh/sshd_config
"""

SCRIPT = FUNCTIONS + MAIN


@dataclass(frozen=True, slots=True)
class Evaluation:
    label: str  # "operator" or "match"
    spec: str  # the -C argument, exactly as the node passed it
    output: str  # sshd -T's stdout
    exit_code: int | None  # None when the record never ended
    stderr: str


@dataclass(frozen=True, slots=True)
class FileStat:
    path: str
    mode: int  # st_mode, file type bits included
    uid: int
    gid: int
    user: str
    group: str

    @property
    def is_dir(self) -> bool:
        return self.mode & 0o170000 == 0o040000

    @property
    def permissions(self) -> int:
        return self.mode & 0o7777


@dataclass(frozen=True, slots=True)
class HostKey:
    path: str
    bits: int | None
    kind: str  # "RSA", "ED25519", ... as ssh-keygen -l prints it


@dataclass(frozen=True, slots=True)
class MatchRequest:
    file: str
    line: int
    spec: str | None  # None: no connection could be derived
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Walk:
    euid: int | None
    main: str
    operator: Evaluation | None
    evaluations: Mapping[str, Evaluation]  # every evaluation by spec, the operator's included
    tree: ConfigTree
    requests: tuple[MatchRequest, ...]
    groups: Mapping[str, frozenset[str] | None]
    stats: Mapping[str, FileStat]
    host_keys: Mapping[str, HostKey]
    moduli: tuple[int | None, int] | None  # (smallest size column, entries); None: no file
    finished: bool  # the @end record arrived
    gaps: tuple[str, ...] = field(default=())  # files the walk announced but could not send


_RECORD = re.compile(r"^@([A-Za-z]+) ?(.*)$")
_MAX_LINES = 400_000


class _Reader:
    def __init__(self) -> None:
        self.euid: int | None = None
        self.main = "/etc/ssh/sshd_config"
        self.operator: Evaluation | None = None
        self.evaluations: dict[str, Evaluation] = {}
        self.files: dict[str, SourceFile] = {}
        self.globs: dict[str, list[str]] = {}
        self.requests: list[MatchRequest] = []
        self.groups: dict[str, frozenset[str] | None] = {}
        self.stats: dict[str, FileStat] = {}
        self.host_keys: dict[str, HostKey] = {}
        self.moduli: tuple[int | None, int] | None = None
        self.finished = False
        self.gaps: list[str] = []
        # what the lines that follow belong to
        self.eval_label: str | None = None
        self.eval_spec = ""
        self.eval_out: list[str] = []
        self.eval_err: list[str] = []
        self.file_path: str | None = None
        self.file_lines: list[str] = []
        self.file_size = 0
        self.pattern: str | None = None

    def close_file(self) -> None:
        if self.file_path is None:
            return
        if self.file_size > FILE_CAP:
            self.gaps.append(f"{self.file_path} (larger than {FILE_CAP} bytes)")
            self.files[self.file_path] = SourceFile(self.file_path, None, f"larger than {FILE_CAP} bytes")
        else:
            self.files[self.file_path] = SourceFile(self.file_path, tuple(self.file_lines))
        self.file_path = None
        self.file_lines = []

    def close_eval(self, exit_code: int | None) -> None:
        if self.eval_label is None:
            return
        evaluation = Evaluation(
            self.eval_label, self.eval_spec, "\n".join(self.eval_out), exit_code, "\n".join(self.eval_err)
        )
        if self.eval_label == "operator":
            self.operator = evaluation
        if len(self.evaluations) <= MAX_EVALUATIONS:  # the operator's counts as a Match view too
            self.evaluations[self.eval_spec] = evaluation
        self.eval_label = None
        self.eval_out, self.eval_err = [], []

    def feed(self, line: str) -> None:
        if self.eval_label is not None:
            # Inside an evaluation everything is sshd -T output until its @E/@R records.
            if line.startswith("@E"):
                if len(self.eval_err) < 20:
                    self.eval_err.append(line[3:303])
            elif line.startswith("@R"):
                self.close_eval(_int(line[3:].strip()))
            elif len(self.eval_out) < 5000:
                self.eval_out.append(line)
            return
        if line.startswith("|"):
            if self.file_path is not None and len(self.file_lines) < _MAX_LINES:
                self.file_lines.append(line[1:])
            return
        record = _RECORD.match(line)
        if record is not None:
            self.record(record.group(1), record.group(2))

    def record(self, kind: str, rest: str) -> None:
        words = rest.split()
        if kind not in ("g", "S", "X"):
            self.pattern = None  # glob matches follow their @G record directly
        if kind in ("F", "T", "end"):
            self.close_file()
        if kind == "F":
            self.file_record(words)
        elif kind == "T" and len(words) == 2:
            self.eval_label, self.eval_spec = words[0], words[1]
        elif kind == "G" and words:
            self.pattern = words[0]
            self.globs[words[0]] = []  # the same pattern twice: the node expanded it twice
        elif kind == "g" and words and self.pattern is not None:
            if len(self.globs[self.pattern]) < MAX_FILES:
                self.globs[self.pattern].append(words[0])
        elif kind == "X" and self.pattern is not None:
            self.gaps.append(f"a file matching {self.pattern} has a name nodeward does not pass on")
        elif kind == "S" and len(words) >= 6:
            self.stat_record(rest)
        elif kind == "B" and len(words) >= 3:
            self.host_keys[words[0]] = HostKey(words[0], _int(words[1]), words[-1].strip("()"))
        elif kind == "Q" and len(words) == 2:
            self.moduli = (_int(words[0]), _int(words[1]) or 0)
        elif kind == "U" and words:
            self.groups[words[0]] = frozenset(words[1:]) if len(words) > 1 else None
        elif kind == "M" and len(words) >= 3:
            self.match_record(words)
        elif kind == "P" and words:
            self.euid = _int(words[0])
        elif kind == "C" and words:
            self.main = words[0]
        elif kind == "end":
            self.finished = True

    def file_record(self, words: list[str]) -> None:
        if len(words) < 2:
            return
        path, state = words[0], words[1]
        if len(self.files) >= MAX_FILES:
            return
        if state == "ok":
            self.file_path = path
            self.file_size = _int(words[2]) or 0 if len(words) > 2 else 0
        elif state == "dir":
            # glob(3) hands sshd a directory like a file; reading it yields no lines.
            self.files[path] = SourceFile(path, ())
        else:
            self.files[path] = SourceFile(path, None, state)
            self.gaps.append(f"{path} ({state})")

    def stat_record(self, rest: str) -> None:
        mode, uid, gid, user, group, path = rest.split(" ", 5)
        try:
            self.stats[path] = FileStat(path, int(mode, 16), int(uid), int(gid), user, group)
        except ValueError:
            return

    def match_record(self, words: list[str]) -> None:
        line = _int(words[1])
        if line is None or len(self.requests) > 4096:
            return
        if words[2] == "-":
            self.requests.append(MatchRequest(words[0], line, None, " ".join(words[3:])[:200]))
        else:
            self.requests.append(MatchRequest(words[0], line, words[2]))


def _int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"-?[0-9]{1,12}", text) else None


def read(text: str) -> Walk:
    """Parse the section. Raises FactParseError only for output that is not this format."""
    lines = text.split("\n")
    if not lines or not lines[0].startswith("@nodeward-sshd 1"):
        raise FactParseError("sshd", 1, "not nodeward's sshd section format")
    if len(lines) > _MAX_LINES:
        raise FactParseError("sshd", _MAX_LINES, "more lines than any sshd configuration produces")
    reader = _Reader()
    for line in lines[1:]:
        reader.feed(line)
    reader.close_eval(None)
    reader.close_file()
    tree = ConfigTree(
        main=reader.main,
        files=reader.files,
        globs={pattern: tuple(matches) for pattern, matches in reader.globs.items()},
    )
    return Walk(
        euid=reader.euid,
        main=reader.main,
        operator=reader.operator,
        evaluations=reader.evaluations,
        tree=tree,
        requests=tuple(reader.requests),
        groups=reader.groups,
        stats=reader.stats,
        host_keys=reader.host_keys,
        moduli=reader.moduli,
        finished=reader.finished,
        gaps=tuple(reader.gaps),
    )
