"""Which Kubernetes components run on a node, with the exact argv each one was started with.

Discovery reads `/proc/<pid>/cmdline` (NUL-separated argv) and decides by the EXACT
basename of argv[0] or of `/proc/<pid>/exe` (issue 4; anchors.md user ask 3: kube-bench
greps `ps` output and matches `kubelet` inside `grep kubelet`, `kubelet-watchdog`, or a
container whose arguments mention kubelet). `/proc/<pid>/comm` is only a cheap,
fork-free pre-filter in the snippet (the kernel's name of the executable, 15 bytes);
the decision is always made here, in Python, on the full argv and exe path.

Three layouts:
* kubeadm / EKS / kops / RKE2: each component is its own process (RKE2 starts a real
  kubelet from /var/lib/rancher/rke2/data/<hash>/bin and runs the control plane as static
  pods under /var/lib/rancher/rke2/agent/pod-manifests);
* k3s: one `k3s server` / `k3s agent` process embeds kubelet, kube-proxy and (server)
  kube-apiserver, controller-manager, scheduler, etcd. k3s hides its own arguments
  (setproctitle: the cmdline reads `/usr/local/bin/k3s server`) and logs the argv it
  gives each embedded component as `msg="Running kubelet --a=b ..."`; kube-bench's
  k3s profiles audit exactly that journal line (cfg/k3s-cis-1.x: `journalctl -m -u k3s
  | grep 'Running kubelet' | tail -n1`). We read it from the journal of THAT process
  (`journalctl _PID=<pid> -b`), not of the unit, so a restarted k3s with new flags is
  never judged by its predecessor's log line.
* static pods not (yet) running: `/etc/kubernetes/manifests/*` (kubeadm), the RKE2 and
  k3s pod-manifest directories; the container's command + args become the argv.

Records of the snippet, one per line, every free-text field hex (od, POSIX) so no argv
or file content can forge a record:
    P <pid> <exe hex|-> <argv hex|-> <real uid> <effective uid> <exe uid> <exe mode> <user|-> <ns>
    J <pid> <journal line hex>
    F <tag> <path hex>   followed by hex lines of content, then a line "."
    X <tag> <path hex>   a path that is missing ("missing.<pid>") or a directory ("dir.<pid>")
    W <text hex>         a limit was hit; what was found still counts
    U <text hex>         discovery is incomplete: the fact is Unavailable, never Absent

<ns> is `host` when the process shares the scanning shell's mount namespace, `other`
when it does not (a container), `-` when unknown (k8s_trust.py decides what that means).

Only processes whose argv[0] or executable has a component's exact name are listed, and
those that could be components (k8s_trust.py's accounts, a root-owned executable) come
first under their own cap: no number of processes of an unprivileged user can push the
kubelet out of the list (review of issue 12, finding 4). More than 64 such processes make
the fact Unavailable (roles unknown, checks ERROR), never Absent.
"""

from __future__ import annotations

import binascii
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from agent.errors import InputError
from agent.facts.k8s_flags import Flags, parse_flags
from agent.facts.k8s_trust import ROOT_IDENTITY, UNKNOWN, Identity, accounts_pattern, distrust
from agent.facts.model import Absent, FactParseError, FactValue, Observation, RawSection, Unavailable
from agent.textsafe import printable
from agent.yamlsafe import load_yaml

FACT = "k8s_components"

KUBELET = "kubelet"
APISERVER = "kube-apiserver"
ETCD = "etcd"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
PROXY = "kube-proxy"
KINDS: tuple[str, ...] = (KUBELET, APISERVER, ETCD, CONTROLLER_MANAGER, SCHEDULER, PROXY)
CONTROL_PLANE_KINDS = frozenset({APISERVER, CONTROLLER_MANAGER, SCHEDULER})
EMBEDDERS = ("k3s", "rke2")

MAX_TRUSTED = 64  # candidates that could be components; enforced node-side, more is Unavailable
MAX_OTHERS = 64  # other processes named like a component (impostors), listed after them
MAX_PROCESSES = MAX_TRUSTED + MAX_OTHERS
MAX_FILES = 64
MAX_ARGV_BYTES = 128 * 1024
MANIFEST_CAP = 256 * 1024  # a kubeadm manifest is ~4 KiB
MAX_ARGS = 4096

# Shell functions shared with the kubelet snippet (agent/facts/kubelet.py): constants
# concatenated as constants, never formatted with runtime values.
SHELL_HELPERS = r"""
nw_hex() { od -An -v -tx1 | tr -d ' \n'; }
nw_shex() { printf '%s' "$1" | nw_hex; }
nw_file() {
  printf 'F %s %s\n' "$1" "$(nw_shex "$2")"
  head -c "$4" "$3" 2>/dev/null | od -An -v -tx1
  printf '.\n'
}
# nw_rootproc PID: real and effective uid 0, and an executable owned by root that no one
# else can write. Root reads nothing a process names unless this holds (k8s_trust.py
# decides again, authoritatively, on the bastion).
nw_rootproc() {
  [ "$(awk '/^Uid:/ { print $2 " " $3; exit }' "/proc/$1/status" 2>/dev/null)" = "0 0" ] || return 1
  nw_x=$(stat -L -c '%u %a' "/proc/$1/exe" 2>/dev/null) || return 1
  case $nw_x in "0 "[0-7]*) ;; *) return 1 ;; esac
  [ $((0${nw_x#0 } & 022)) -eq 0 ]
}
# nw_who PID: "REAL-UID EFFECTIVE-UID EXE-UID EXE-MODE USER", "-" where unknown.
nw_who() {
  nw_ids=$(awk '/^Uid:/ { print $2 " " $3; exit }' "/proc/$1/status" 2>/dev/null)
  case $nw_ids in [0-9]*' '[0-9]*) ;; *) nw_ids='- -' ;; esac
  nw_x=$(stat -L -c '%u %a' "/proc/$1/exe" 2>/dev/null)
  case $nw_x in [0-9]*' '[0-7]*) ;; *) nw_x='- -' ;; esac
  nw_u=$(getent passwd "${nw_ids%% *}" 2>/dev/null | cut -d: -f1)
  case $nw_u in '' | *[!a-z0-9_-]*) nw_u=- ;; esac
  printf '%s %s %s' "$nw_ids" "$nw_x" "$nw_u"
}
# "The host" is PID 1's mount namespace, not this shell's: an sshd unit with PrivateTmp= or
# ProtectSystem= gives its sessions a namespace of their own, and the kubelet would then
# look like a container. Unreadable (no root): this shell's, where nothing is trusted anyway.
nw_selfns=$(readlink /proc/1/ns/mnt 2>/dev/null || readlink /proc/self/ns/mnt 2>/dev/null)
# nw_ns PID: "host" when PID shares the host's mount namespace, "other" when it runs in
# another one (a container), "-" when either cannot be read.
nw_ns() {
  nw_mn=$(readlink "/proc/$1/ns/mnt" 2>/dev/null)
  if [ -z "$nw_selfns" ] || [ -z "$nw_mn" ]; then printf -
  elif [ "$nw_mn" = "$nw_selfns" ]; then printf host
  else printf other
  fi
}
# nw_named DIR: argv[0] or the executable has a component's exact basename (the test of
# kind_of and embedder_of). A process merely started through a link named kubelet has
# the comm "kubelet" but is neither, and must not use up a cap.
nw_named() {
  nw_a=$(head -c 4096 "$1/cmdline" 2>/dev/null | tr '\0' '\n' | head -n 1)
  nw_e=$(readlink "$1/exe" 2>/dev/null)
  for nw_b in "${nw_a##*/}" "${nw_e##*/}"; do
    case ${nw_b% (deleted)} in
      kubelet|kube-apiserver|etcd|kube-controller-manager|kube-scheduler|kube-proxy) return 0 ;;
      hyperkube|k3s|k3s-*|rke2|rke2-*) return 0 ;;
    esac
  done
  return 1
}
# nw_trustlike RUID EUID EXE-UID EXE-MODE USER (nw_who's words): could k8s_trust.py
# believe it? Such processes are listed first, under their own cap.
nw_trustlike() {
  [ "$1" = "$2" ] && [ "$3" = 0 ] || return 1
  case $4 in [0-7]*) ;; *) return 1 ;; esac
  [ $((0$4 & 022)) -eq 0 ] || return 1
  [ "$1" = 0 ] && return 0
  case $5 in @ACCOUNTS@) return 0 ;; esac
  return 1
}
nw_proc() {
  nw_pid=$1
  nw_c=
  read -r nw_c 2>/dev/null <"/proc/$nw_pid/comm" || return 0
  nw_exe=$(readlink "/proc/$nw_pid/exe" 2>/dev/null | head -c 4096 | nw_hex)
  nw_argv=$(head -c 131072 "/proc/$nw_pid/cmdline" 2>/dev/null | nw_hex)
  printf 'P %s %s %s %s %s\n' "$nw_pid" "${nw_exe:--}" "${nw_argv:--}" \
    "$(nw_who "$nw_pid")" "$(nw_ns "$nw_pid")"
  case $nw_c in
    k3s*)
      if nw_rootproc "$nw_pid" && command -v journalctl >/dev/null 2>&1; then
        journalctl -b "_PID=$nw_pid" -o cat --no-pager 2>/dev/null \
          | grep -E 'msg="Running (kubelet|kube-[a-z-]+) ' \
          | tail -n 12 | head -c 262144 | while IFS= read -r nw_l; do
              printf 'J %s %s\n' "$nw_pid" "$(nw_shex "$nw_l")"
            done
      fi ;;
  esac
}
nw_procs() {
  nw_n=0
  nw_o=0
  nw_later=
  for nw_d in /proc/[0-9]*; do
    nw_c=
    read -r nw_c 2>/dev/null <"$nw_d/comm" || continue
    case $nw_c in
      kubelet|kube-apiserver|etcd|kube-controller*|kube-scheduler|kube-proxy) ;;
      hyperkube|k3s|k3s-*|rke2|rke2-*) ;;
      *) continue ;;
    esac
    nw_named "$nw_d" || continue
    # nw_who prints five plain words (digits, "-", an account name): split on purpose.
    # shellcheck disable=SC2046
    if nw_trustlike $(nw_who "${nw_d#/proc/}"); then
      nw_n=$((nw_n + 1))
      if [ "$nw_n" -gt 64 ]; then
        printf 'U %s\n' "$(nw_shex 'more than 64 processes that could be Kubernetes components')"
        return 0
      fi
      nw_proc "${nw_d#/proc/}"
    else
      nw_o=$((nw_o + 1))
      if [ "$nw_o" -le 64 ]; then nw_later="$nw_later ${nw_d#/proc/}"; fi
    fi
  done
  if [ "$nw_o" -gt 64 ]; then
    printf 'W %s\n' "$(nw_shex "$nw_o processes named like a component that cannot be one; 64 listed")"
  fi
  for nw_p in $nw_later; do nw_proc "$nw_p"; done
}
""".replace("@ACCOUNTS@", accounts_pattern())

SCRIPT = (
    SHELL_HELPERS
    + r"""
printf '@nodeward-k8s 1\n'
nw_procs
nw_m=0
for nw_f in /etc/kubernetes/manifests/* /var/lib/rancher/rke2/agent/pod-manifests/* \
    /var/lib/rancher/k3s/agent/pod-manifests/*; do
  [ -f "$nw_f" ] || continue
  case ${nw_f##*/} in .*) continue ;; esac
  nw_m=$((nw_m + 1))
  if [ "$nw_m" -gt 64 ]; then printf 'W %s\n' "$(nw_shex 'more than 64 manifests')"; break; fi
  nw_file manifest "$nw_f" "$nw_f" 262145
done
exit 0
"""
)


# --- records -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    exe: str | None  # readlink of /proc/<pid>/exe; None when unreadable
    argv: tuple[str, ...]
    who: Identity = UNKNOWN  # what nw_who reported; unknown is never trusted


@dataclass(frozen=True, slots=True)
class FileRecord:
    tag: str
    path: str
    data: bytes
    truncated: bool


@dataclass(frozen=True, slots=True)
class Records:
    processes: tuple[Process, ...] = ()
    journal: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    files: tuple[FileRecord, ...] = ()
    marks: tuple[tuple[str, str], ...] = ()  # (tag, path): "missing.<pid>", "dir.<pid>"
    warnings: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()  # why discovery did not see every candidate (U records)


def unhex(text: str) -> bytes:
    """Decode an od/hex field; undecodable input is structurally impossible output."""
    if text == "-":
        return b""
    try:
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise FactParseError(FACT, None, "a hex field is not hex") from None


def _number(text: str, base: int = 10) -> int | None:
    try:
        return int(text, base) if text.isdigit() and len(text) <= 10 else None
    except ValueError:
        return None


_NAMESPACES = {"host": True, "other": False}


def identity(fields: Sequence[str], exe: str | None = None) -> Identity:
    """`<real uid> <effective uid> <exe uid> <exe mode octal> <user> [<ns>]`; "-" is
    unknown, and so is a missing <ns> (host_ns None: never believed where it matters)."""
    ruid, euid, exe_uid, exe_mode, user = fields[:5]
    host_ns = _NAMESPACES.get(fields[5]) if len(fields) > 5 else None
    uids = (_number(ruid), _number(euid))
    return Identity(*uids, printable(user, 32), _number(exe_uid), _number(exe_mode, 8), exe, host_ns)


def decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def split_argv(data: bytes) -> tuple[str, ...]:
    """NUL-separated argv as the kernel stores it (a trailing NUL ends the last one)."""
    if data.endswith(b"\0"):
        data = data[:-1]
    if not data:
        return ()
    return tuple(decode(part) for part in data.split(b"\0")[:MAX_ARGS])


def read_records(text: str, *, caps: Mapping[str, int] | None = None) -> Records:
    """Parse the record stream of SHELL_HELPERS; unknown lines are ignored.

    Upper-case records are what the snippet prints (every free-text field hex). The
    lower-case twins (`p <pid> <exe> <arg> ...`, `j <pid> <text>`, `f <tag> <path>` then
    raw lines up to ".", `x <tag> <path>`) are a readable dialect for hand-written check
    fixtures only: the snippet never prints them, and since everything it prints from
    the node is hex, node content can never forge one. A fixture `p` process runs as
    root from a root-owned executable in the host's mount namespace unless an `o <pid>
    <real uid> <effective uid> <exe uid> <exe mode octal> <user> [host|other|-]` record
    says otherwise.
    """
    processes: list[Process] = []
    journal: dict[int, list[str]] = {}
    files: list[FileRecord] = []
    marks: list[tuple[str, str]] = []
    warnings: list[str] = []
    incomplete: list[str] = []
    lines = iter(text.splitlines())
    for line in lines:
        tag, _, rest = line.partition(" ")
        fields = rest.split(" ")
        if tag in ("P", "p") and len(fields) >= 2 and fields[0].isdigit():
            if tag == "P" and len(fields) in (3, 8, 9):
                exe = decode(unhex(fields[1])).rstrip("\n") or None
                argv = split_argv(unhex(fields[2])[:MAX_ARGV_BYTES])
                who = identity(fields[3:], exe) if len(fields) >= 8 else UNKNOWN
            elif tag == "P":
                continue
            else:
                exe, argv = (fields[1] if fields[1] != "-" else None), tuple(fields[2:MAX_ARGS])
                who = ROOT_IDENTITY
            if len(processes) < MAX_PROCESSES:
                processes.append(Process(int(fields[0]), exe, argv, who))
            elif not incomplete:
                incomplete.append(f"more than {MAX_PROCESSES} process records")
        elif tag == "o" and len(fields) in (6, 7) and fields[0].isdigit():
            pid = int(fields[0])
            processes = [
                Process(
                    p.pid,
                    p.exe,
                    p.argv,
                    identity([*fields[1:6], fields[6] if len(fields) == 7 else "host"], p.exe),
                )
                if p.pid == pid
                else p
                for p in processes
            ]
        elif tag in ("J", "j") and len(fields) >= 2 and fields[0].isdigit():
            body = decode(unhex(fields[1])) if tag == "J" else " ".join(fields[1:])
            journal.setdefault(int(fields[0]), []).append(body)
        elif tag in ("F", "f") and len(fields) == 2:
            path = decode(unhex(fields[1])) if tag == "F" else fields[1]
            data = bytearray()
            for chunk in lines:
                if chunk == ".":
                    break
                data += unhex("".join(chunk.split())) if tag == "F" else (chunk + "\n").encode()
                if len(data) > 64 << 20:
                    raise FactParseError(FACT, None, "a file record is larger than any cap")
            cap = (caps or {}).get(fields[0].partition(".")[0], MANIFEST_CAP)
            if len(files) < MAX_FILES * 4:
                files.append(FileRecord(fields[0], path, bytes(data[:cap]), len(data) > cap))
        elif tag in ("X", "x") and len(fields) == 2:
            marks.append((fields[0], decode(unhex(fields[1])) if tag == "X" else fields[1]))
        elif tag == "W" and len(fields) == 1:
            warnings.append(printable(decode(unhex(fields[0])), 200))
        elif tag == "U" and len(fields) == 1:
            incomplete.append(printable(decode(unhex(fields[0])), 200))
    return Records(
        tuple(processes),
        {pid: tuple(got) for pid, got in journal.items()},
        tuple(files),
        tuple(marks[: MAX_FILES * 4]),
        tuple(warnings),
        tuple(incomplete),
    )


# --- the model -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Component:
    kind: str  # one of KINDS
    pid: int | None  # None when found only as a static pod manifest
    argv: tuple[str, ...]  # argv[0] is the executable
    flags: Flags
    source: str  # "/proc/1234/cmdline", a manifest path, or the k3s journal line
    embedded_in: str | None = None  # "k3s" or "rke2"
    argv_known: bool = True  # False: embedded, and the embedder did not reveal the argv
    in_container: bool = False  # runs in another mount namespace (a static pod, kube-proxy's pod)


@dataclass(frozen=True, slots=True)
class Impostor:
    """A process named like a component that k8s_trust.py does not believe: it gives
    the node no role and nodeward no flag or path."""

    kind: str
    pid: int
    exe: str | None
    why: str

    @property
    def text(self) -> str:
        exe = printable(self.exe or "unknown executable", 200)
        return f"pid {self.pid} looks like {self.kind} ({exe}) but {self.why}"


@dataclass(frozen=True, slots=True)
class K8sComponents:
    components: tuple[Component, ...]
    manifests: tuple[str, ...] = ()  # static pod manifest files read
    notes: tuple[str, ...] = ()  # what could not be read or decided, for the report
    embedders: Mapping[str, int] = field(default_factory=dict)  # "k3s" -> pid of the k3s process
    impostors: tuple[Impostor, ...] = ()
    undecided: tuple[str, ...] = ()  # why the roles cannot be told (parse() makes the fact Unavailable)

    def get(self, kind: str) -> Component | None:
        """The running process of `kind`; else its static pod manifest. parse() refuses
        a node where believed processes of one kind disagree (ambiguous), so any is it."""
        found = [c for c in self.components if c.kind == kind]
        running = [c for c in found if c.pid is not None]
        chosen = running or found
        return chosen[0] if chosen else None

    def all(self, kind: str) -> tuple[Component, ...]:
        return tuple(c for c in self.components if c.kind == kind)

    @property
    def roles(self) -> tuple[str, ...]:
        kinds = {c.kind for c in self.components}
        roles: list[str] = []
        if kinds & CONTROL_PLANE_KINDS:
            roles.append("control-plane")
        if ETCD in kinds:
            roles.append("etcd")
        if KUBELET in kinds:
            roles.append("worker")
        return tuple(roles)

    def lookup(self, path: str) -> Observation | None:
        """`roles`, `<kind>.present`, `<kind>.pid`, `<kind>.source`, `<kind>.embedded_in`,
        `<kind>.flag.<name>` (effective value; None when not set), `impostors.count`."""
        if path == "impostors.count":
            shown = "; ".join(i.text for i in self.impostors[:8]) or "no process posing as a component"
            return Observation(len(self.impostors), f"/proc/<pid>/status and /proc/<pid>/exe: {shown}"[:900])
        if path == "roles":
            return Observation(self.roles, "discovered from /proc/<pid>/cmdline and static pod manifests")
        kind, _, rest = path.partition(".")
        if kind not in KINDS:
            return None
        component = self.get(kind)
        if rest == "present":
            where = component.source if component is not None else "no process or static pod manifest"
            return Observation(component is not None, where)
        if component is None:
            return None
        if rest == "pid":
            return Observation(component.pid, component.source)
        if rest == "source":
            return Observation(component.source, component.source)
        if rest == "embedded_in":
            return Observation(component.embedded_in, component.source)
        if rest.startswith("flag."):
            name = rest[len("flag.") :]
            return Observation(
                component.flags.get(name), f"{component.flags.source(name)} ({component.source})"
            )
        return None


# --- assembling ----------------------------------------------------------------------


def basename(path: str) -> str:
    return posixpath.basename(path.removesuffix(" (deleted)"))


def kind_of(process: Process) -> tuple[str | None, int]:
    """(kind, index of the first flag) by exact executable basename; hyperkube's
    `hyperkube kubelet --flags` form puts the component in argv[1]."""
    names = [basename(process.argv[0])] if process.argv else []
    if process.exe:
        names.append(basename(process.exe))
    for name in names:
        if name in KINDS:
            return name, 1
    if "hyperkube" in names and len(process.argv) > 1 and process.argv[1] in KINDS:
        return process.argv[1], 2
    return None, 0


def embedder_of(process: Process) -> str | None:
    names = [basename(process.argv[0])] if process.argv else []
    if process.exe:
        names.append(basename(process.exe))
    for name in names:
        for embedder in EMBEDDERS:
            if name == embedder or name.startswith(embedder + "-"):
                return embedder
    return None


def rke2_child(process: Process) -> bool:
    """RKE2 runs the real kubelet binary it unpacked under /var/lib/rancher/rke2/."""
    paths = [process.exe or "", process.argv[0] if process.argv else ""]
    return any("/rancher/rke2/" in p for p in paths)


_RUNNING = re.compile(
    r'msg="Running (kubelet|kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy) (.*)"\s*$'
)


def journal_argv(line: str) -> tuple[str, tuple[str, ...]] | None:
    """`msg="Running kubelet --a=b --c=d"` -> ("kubelet", ("kubelet", "--a=b", "--c=d")).

    logrus quotes msg with Go's %q: `\"` and `\\` are the escapes that matter. k3s joins
    the args with single spaces (pkg/daemons/executor: strings.Join(args, " ")), so a value
    containing a space cannot be told apart; such values do not occur in k3s' own args.
    """
    match = _RUNNING.search(line)
    if match is None:
        return None
    kind, rest = match.group(1), match.group(2).replace('\\"', '"').replace("\\\\", "\\")
    return kind, (kind, *[arg for arg in rest.split(" ") if arg][:MAX_ARGS])


def manifest_argv(data: bytes, path: str) -> tuple[str, tuple[str, ...]] | str:
    """(kind, argv) of a static pod manifest's first container whose command names a
    component; a string says why there is none."""
    try:
        doc, _ = load_yaml(decode(data), path, strict=False, max_bytes=MANIFEST_CAP, max_nodes=20_000)
    except InputError as exc:
        return f"{path}: {printable(str(exc), 200)}"
    if not isinstance(doc, Mapping):
        return f"{path}: not a pod manifest"
    spec = doc.get("spec")
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    if not isinstance(containers, list):
        return f"{path}: no spec.containers"
    for container in containers:
        if not isinstance(container, Mapping):
            continue
        command = _strings(container.get("command"))
        args = _strings(container.get("args"))
        argv = _component_tail((*command, *args))
        if argv:
            return basename(argv[0]), argv
    return f"{path}: no container runs a Kubernetes component"


def _component_tail(argv: tuple[str, ...]) -> tuple[str, ...]:
    """The argv from the component on: the whole argv when argv[0] is the component, or,
    behind a wrapper that execs it (kops' `/go-runner --log-file=... --also-stdout
    /usr/local/bin/kube-apiserver --flags`), the tail that the container's process runs.
    A flag never counts (`--log-file=/var/log/kube-apiserver.log` is not the binary)."""
    for index, arg in enumerate(argv):
        if not arg.startswith("-") and basename(arg) in KINDS:
            return argv[index:]
    return ()


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value[:MAX_ARGS] if isinstance(v, str | int | float | bool))


def _static_pods(records: Records, notes: list[str]) -> tuple[list[str], list[Component]]:
    """The manifest files read, and the component each one runs (pid None)."""
    manifests: list[str] = []
    pods: list[Component] = []
    for record in records.files:
        if record.tag != "manifest" or basename(record.path).startswith("."):
            continue  # the kubelet skips hidden files in its static pod directory
        manifests.append(record.path)
        if record.truncated:
            notes.append(f"{record.path}: larger than {MANIFEST_CAP} bytes; not read")
            continue
        found = manifest_argv(record.data, record.path)
        if isinstance(found, str):
            notes.append(found)
            continue
        kind, argv = found
        embedded = "rke2" if "/rancher/rke2/" in record.path else None
        pods.append(Component(kind, None, argv, parse_flags(argv), record.path, embedded))
    return manifests, pods


def _kubelet_believed(processes: Iterable[Process]) -> bool:
    """A kubelet nodeward believes runs (alone, or inside k3s / rke2): only then can a
    static pod manifest explain a component running in a container."""
    for process in processes:
        kind = kind_of(process)[0]
        posing_as = KUBELET if kind == KUBELET else embedder_of(process) if kind is None else None
        if posing_as is not None and distrust(posing_as, process.who) is None:
            return True
    return False


def ambiguous(components: Iterable[Component]) -> tuple[str, ...]:
    """Kinds that more than one believed process runs with different command lines: which
    one a check should judge is unknown, and the first found is not an answer (review of
    issue 12, finding 2). kube-proxy is left to its one consumer (kubelet.proxy_metrics)."""
    argvs: dict[str, dict[tuple[str, ...], int]] = {}
    for c in components:
        if c.pid is not None and c.kind != PROXY:
            argvs.setdefault(c.kind, {}).setdefault(c.argv, c.pid)
    return tuple(
        f"{len(seen)} {kind} processes run with different command lines"
        f" (pids {', '.join(str(pid) for pid in sorted(seen.values()))})"
        for kind, seen in sorted(argvs.items())
        if len(seen) > 1
    )


def assemble(records: Records) -> K8sComponents:
    components: list[Component] = []
    embedders: dict[str, int] = {}
    impostors: list[Impostor] = []
    notes = list(records.warnings)
    manifests, pods = _static_pods(records, notes)
    # A container's argv equal to a manifest's command + args is that static pod.
    pod_argvs = {(p.kind, p.argv) for p in pods} if _kubelet_believed(records.processes) else set()
    for process in records.processes:
        kind, start = kind_of(process)
        posing_as = kind or embedder_of(process)
        if posing_as is None:
            continue
        why = distrust(posing_as, process.who, static_pod=(kind, process.argv) in pod_argvs)
        if why is not None:
            impostors.append(Impostor(posing_as, process.pid, process.exe, why))
            continue
        if kind is not None:
            embedded = "rke2" if rke2_child(process) else None
            components.append(
                Component(
                    kind=kind,
                    pid=process.pid,
                    argv=process.argv,
                    flags=parse_flags(process.argv, start=start),
                    source=f"/proc/{process.pid}/cmdline",
                    embedded_in=embedded,
                    in_container=process.who.host_ns is not True,
                )
            )
            continue
        if posing_as != "k3s":
            continue  # rke2's own supervisor: its children are real processes (above)
        embedders.setdefault(posing_as, process.pid)
        components.extend(_k3s_components(process, records.journal.get(process.pid, ()), notes))
    running = {c.kind for c in components}
    # The running process is the truth; its manifest may be pending a restart.
    components.extend(p for p in pods if p.kind not in running)
    undecided = _unmatched_static_pods(impostors, pods, manifests, records, running)
    return K8sComponents(
        tuple(components), tuple(manifests), tuple(notes), embedders, tuple(impostors), undecided
    )


def _unmatched_static_pods(
    impostors: Sequence[Impostor],
    pods: Sequence[Component],
    manifests: Sequence[str],
    records: Records,
    running: set[str],
) -> tuple[str, ...]:
    """A component in a container that is not exactly its manifest's static pod, on a
    node whose manifests name that kind (or that has a manifest nodeward could not read):
    it may well be the node's real control plane behind a wrapper nodeward does not know
    (old kops: `sh -c "... exec kube-apiserver ..."`). Dropping it would quietly take the
    control-plane role away and every API server check with it; the role is unknown."""
    in_containers = {
        i.kind
        for i in impostors
        if i.kind in CONTROL_PLANE_KINDS | {ETCD}
        and any(p.pid == i.pid and p.who.host_ns is False for p in records.processes)
    }
    declared = {p.kind for p in pods}
    unread = len(manifests) > len(pods)
    reasons: list[str] = []
    for kind in sorted(in_containers - running):
        if kind not in declared and not unread:
            continue
        pids = ", ".join(str(i.pid) for i in impostors if i.kind == kind)
        which = "its manifest describes" if kind in declared else "of a manifest nodeward could read"
        reasons.append(f"a {kind} in a container (pid {pids}) is not exactly the static pod {which}")
    return tuple(reasons)


def _k3s_components(process: Process, journal: Sequence[str], notes: list[str]) -> Iterator[Component]:
    """The components a k3s process embeds, each with the argv k3s logged for it."""
    latest: dict[str, tuple[str, ...]] = {}
    for line in journal:
        parsed = journal_argv(line)
        if parsed is not None:
            latest[parsed[0]] = parsed[1]  # the last "Running" line of this process wins
    role = process.argv[1] if len(process.argv) > 1 else ""
    if not latest:
        notes.append(
            f"k3s (pid {process.pid}) logged no 'Running kubelet' line in this boot's journal; "
            "its embedded components' flags are unknown"
        )
        kinds: Iterable[str] = (
            (KUBELET,) if role != "server" else (KUBELET, APISERVER, CONTROLLER_MANAGER, SCHEDULER)
        )
        for kind in kinds:
            source = f"/proc/{process.pid}/cmdline (k3s {role})"
            yield Component(
                kind, process.pid, (kind,), Flags(origin="in k3s' arguments"), source, "k3s", False
            )
        return
    for kind, argv in latest.items():
        source = f"k3s journal of pid {process.pid}: 'Running {kind}'"
        yield Component(kind, process.pid, argv, parse_flags(argv, origin="in k3s' arguments"), source, "k3s")
    if role == "server" and _k3s_embeds_etcd(process, latest):
        source = f"k3s journal of pid {process.pid}: --etcd-servers=https://127.0.0.1:2379"
        yield Component(ETCD, process.pid, (ETCD,), Flags(origin="(embedded etcd)"), source, "k3s")


def _k3s_embeds_etcd(process: Process, latest: Mapping[str, tuple[str, ...]]) -> bool:
    """k3s server runs its embedded etcd when the apiserver talks to https://127.0.0.1:2379
    (the kine/sqlite datastore is unix://kine.sock)."""
    apiserver = latest.get(APISERVER)
    if apiserver is None:
        return False
    servers = parse_flags(apiserver).get("etcd-servers") or ""
    return "127.0.0.1:2379" in servers


def records_after(header: str, text: str) -> str | None:
    """The record lines after `header`, which must be the first line that is not a
    `#` comment (comments only ever appear in hand-written fixtures)."""
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    if first >= len(lines) or lines[first] != header:
        return None
    return "\n".join(lines[first + 1 :])


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    body = records_after("@nodeward-k8s 1", section.text)
    if body is None:
        return Unavailable(f"the {FACT} section printed no discovery records")
    try:
        records = read_records(body)
        found = assemble(records)
    except FactParseError as exc:
        return Unavailable(str(exc))
    if records.incomplete:
        return Unavailable(f"Kubernetes discovery is incomplete: {'; '.join(records.incomplete)}")
    unsure = ambiguous(found.components) + found.undecided
    if unsure:
        return Unavailable(f"{'; '.join(unsure)}: nodeward will not pick one to judge")
    if not found.components and not found.impostors:
        why = "no kubelet, kube-apiserver, etcd, controller-manager, scheduler or kube-proxy process"
        if found.manifests:
            why += " and no static pod manifest that runs one"
        return Absent(f"Kubernetes is not running on this node ({why})")
    return found
