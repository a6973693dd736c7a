"""The kubelet's effective configuration, with the source of every value.

The kubelet builds its configuration in layers (kubernetes/kubernetes
cmd/kubelet/app/server.go; "Set Kubelet Parameters Via A Configuration File";
"Kubelet Configuration Directory Merging", KEP-3983):

    built-in defaults  <  the --config file  <  --config-dir drop-ins  <  command-line flags

and so does this fact, for the running kubelet found by exact executable name and
believed by k8s_trust.py (root, a root-owned executable, the node's own mount namespace:
a root pod named kubelet is not the node's kubelet; several believed kubelets that
disagree make the fact Unavailable, never the first one): the config file is the one
ITS --config names, read through /proc/<pid>/root; drop-ins are the
`*.conf` files of ITS --config-dir in lexical order (later wins, lists replace, maps
merge); flags come from ITS argv (both `--flag=value` and `--flag value`, repeated
flags: last wins, `--tls-cipher-suites` given twice appends like pflag's StringSlice,
`--feature-gates` merge key by key over the file's gates). kube-bench reads the first
file of a fixed list instead (issues #948, #1242, #1256) and knows no drop-ins.

Every value keeps where it came from and what it overrode, so a finding reads
"--anonymous-auth=true on the command line (/proc/812/cmdline) overrides
authentication.anonymous.enabled: false in /var/lib/kubelet/config.yaml:5".

The YAML is parsed here, never on the node, with size and alias limits (yamlsafe).
Kubernetes 1.28-1.29 honour --config-dir only with KUBELET_CONFIG_DROPIN_DIR_ALPHA set
in the kubelet's environment, which we do not read (it may hold secrets); drop-ins are
applied as 1.30+ does.

kube-proxy's metricsBindAddress (KUBE-18) is here too: kube-proxy IGNORES its flags when
--config is given (kubernetes/kubernetes#107157, #98302), so the config file decides.
It is read only for a kube-proxy of the node's own mount namespace: in a pod (kubeadm's
DaemonSet) the file lives inside the container, and reading it through /proc/<pid>/root
would follow the pod's absolute symbolic links on the HOST (any root pod may call itself
kube-proxy; issue 12), so the value is unknown and the check ERRORs with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.errors import InputError
from agent.facts import k8s_components as kc
from agent.facts.k8s_flags import Flags, parse_bool
from agent.facts.kubelet_defaults import (
    BOOL,
    BY_FLAG,
    DURATION,
    FEATURE_GATE_DEFAULTS,
    FIELDS,
    FLAG_ONLY,
    INT,
    LIST,
    MAP,
    PROXY_METRICS_DEFAULT,
    STR,
    Field,
    duration_seconds,
)
from agent.facts.model import Absent, FactParseError, FactValue, Observation, RawSection, Unavailable
from agent.textsafe import printable, render_value
from agent.yamlsafe import PositionMap, load_yaml

FACT = "kubelet"
CONFIG_CAP = 1 << 20  # a kubelet config is a few KiB; 1 MiB is generous
MAX_NODES = 50_000  # YAML values after alias expansion

_FLAG_VALUE = r"""
nw_flagval() {
  awk -v want="$1" '
    $0 == "--" { exit }
    take { take = 0; if (substr($0, 1, 1) != "-") { v = $0; next } }
    /^--?[A-Za-z]/ {
      a = $0; sub(/^--?/, "", a); n = a; eq = index(a, "=")
      if (eq) n = substr(a, 1, eq - 1)
      gsub(/_/, "-", n)
      if (n == want) { if (eq) v = substr(a, eq + 1); else take = 1 }
    }
    END { print v }'
}
nw_read() {
  case $3 in
    /*) nw_r="/proc/$1/root$3" ;;
    *) nw_r="/proc/$1/cwd/$3" ;;
  esac
  if [ -d "$nw_r" ]; then
    printf 'X dir.%s %s\n' "$1" "$(nw_shex "$3")"
    nw_k=0
    for nw_g in "$nw_r"/*; do
      [ -f "$nw_g" ] || continue
      nw_k=$((nw_k + 1))
      [ "$nw_k" -le 64 ] || break
      nw_file "$2.$1" "$3/${nw_g##*/}" "$nw_g" 1048577
    done
  elif [ -f "$nw_r" ]; then
    nw_file "$2.$1" "$3" "$nw_r" 1048577
  else
    printf 'X missing.%s %s\n' "$1" "$(nw_shex "$3")"
  fi
}
"""

SCRIPT = (
    kc.SHELL_HELPERS
    + _FLAG_VALUE
    + r"""
printf '@nodeward-kubelet 1\n'
nw_procs
for nw_d in /proc/[0-9]*; do
  nw_c=
  read -r nw_c 2>/dev/null <"$nw_d/comm" || continue
  nw_pid=${nw_d#/proc/}
  case $nw_c in kubelet|hyperkube|kube-proxy|k3s*) ;; *) continue ;; esac
  # Only a root process running a root-owned executable names files root reads here: a
  # user's ~/x/kubelet --config=/etc/shadow must not make us read /etc/shadow. And only
  # a process of the node's own mount namespace: any root pod passes the first test, and
  # a pod's file read through /proc/<pid>/root follows its absolute links on the host.
  nw_rootproc "$nw_pid" || continue
  [ "$(nw_ns "$nw_pid")" = host ] || continue
  case $nw_c in
    kubelet|hyperkube|kube-proxy) nw_args=$(tr '\0' '\n' <"$nw_d/cmdline" 2>/dev/null) ;;
    k3s*)
      command -v journalctl >/dev/null 2>&1 || continue
      nw_args=$(journalctl -b "_PID=$nw_pid" -o cat --no-pager 2>/dev/null \
        | sed -n 's/.*msg="Running kubelet \(.*\)"[[:space:]]*$/\1/p' | tail -n 1 | tr ' ' '\n') ;;
    *) continue ;;
  esac
  nw_cfg=$(printf '%s\n' "$nw_args" | nw_flagval config)
  if [ "$nw_c" = kube-proxy ]; then
    [ -n "$nw_cfg" ] && nw_read "$nw_pid" proxyconfig "$nw_cfg"
    continue
  fi
  [ -n "$nw_cfg" ] && nw_read "$nw_pid" config "$nw_cfg"
  nw_dir=$(printf '%s\n' "$nw_args" | nw_flagval config-dir)
  [ -n "$nw_dir" ] && nw_read "$nw_pid" dropin "$nw_dir"
done
exit 0
"""
)


# --- the model -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    value: object  # bool, int, str, tuple[str, ...] or None (unset)
    layer: str  # "default", "config", "drop-in" or "flag"
    where: str  # e.g. "readOnlyPort: 0 in /var/lib/kubelet/config.yaml:7"
    overrides: tuple[str, ...] = ()  # `where` of every value this one replaced, oldest first

    @property
    def source(self) -> str:
        """Where the value came from and, if it replaced one from another layer, which."""
        if not self.overrides:
            return self.where
        return f"{self.where} overrides {self.overrides[-1]}"


@dataclass(frozen=True, slots=True)
class KubeletConfig:
    component: kc.Component
    settings: Mapping[str, Setting]
    config_file: str | None  # the --config path the kubelet names
    config_dir: str | None
    dropins: tuple[str, ...] = ()  # drop-ins applied, in order
    ignored: tuple[str, ...] = ()  # files in --config-dir the kubelet skips (not *.conf)
    conflicts: tuple[str, ...] = ()  # a flag overriding a different value from a file
    notes: tuple[str, ...] = ()
    proxy: Setting | None = None  # kube-proxy metricsBindAddress, when kube-proxy runs

    def setting(self, path: str) -> Setting | None:
        found = self.settings.get(path)
        if found is None and path.startswith("featureGates."):
            gate = path.partition(".")[2]
            if gate in FEATURE_GATE_DEFAULTS:
                return Setting(FEATURE_GATE_DEFAULTS[gate], "default", f"feature gate {gate} default")
        return found

    def lookup(self, path: str) -> Observation | None:
        if path == "kube-proxy.metricsBindAddress":
            return None if self.proxy is None else Observation(self.proxy.value, self.proxy.source)
        if path == "embedded_in":
            return Observation(self.component.embedded_in, self.component.source)
        found = self.setting(path)
        if found is None:
            return None
        return Observation(found.value, printable(found.source, 600))


# --- reading values -------------------------------------------------------------------


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if value == "":
        return '""'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _is_zero(value: object) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        return value == 0
    return isinstance(value, str) and duration_seconds(value) == 0


def _from_yaml(spec: Field, raw: object) -> tuple[object, bool]:
    """(value, ok) of a config-file value for a field of `spec.kind`."""
    if spec.kind == BOOL:
        return raw, isinstance(raw, bool)
    if spec.kind == INT:
        return raw, isinstance(raw, int) and not isinstance(raw, bool)
    if spec.kind == DURATION:
        return (str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else raw), isinstance(
            raw, str | int
        ) and not isinstance(raw, bool)
    if spec.kind == STR:
        return (raw if raw != "" else None), isinstance(raw, str)
    if spec.kind == LIST:
        ok = isinstance(raw, list) and all(isinstance(v, str) for v in raw)
        return (tuple(str(v) for v in raw) if isinstance(raw, list) else raw), ok
    return raw, False


def _from_flag(spec: Field, raw: str | None) -> tuple[object, bool]:
    if spec.kind == BOOL:
        parsed = parse_bool(raw)
        return (parsed if parsed is not None else raw), parsed is not None
    text = "" if raw is None else raw
    if spec.kind == INT:
        try:
            return int(text, 10), True
        except ValueError:
            return text, False
    if spec.kind == LIST:
        return tuple(part.strip() for part in text.split(",") if part.strip()), True
    if spec.kind == STR:
        return (text or None), True
    return text, True


def _dig(doc: Mapping[str, object], path: str) -> tuple[bool, object]:
    node: object = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


class _Layers:
    """Applies defaults, files and flags in order, remembering every replaced value."""

    def __init__(self, component: kc.Component, *, with_config: bool) -> None:
        self.component = component
        self.settings: dict[str, Setting] = {}
        self.notes: list[str] = []
        self.from_files: dict[str, Setting] = {}
        for spec in FIELDS:
            if spec.kind == MAP:
                continue
            legacy = not with_config and spec.has_legacy
            value = spec.legacy_default if legacy else spec.default
            why = (
                "built-in default of the command-line API (the kubelet runs without --config)"
                if legacy
                else "built-in default (KubeletConfiguration v1beta1)"
            )
            shown = "unset" if value is None else _show(value)
            self.settings[spec.path] = Setting(value, "default", f"{spec.path} is {shown}: {why}")

    def put(self, path: str, setting: Setting) -> None:
        before = self.settings.get(path)
        chain: tuple[str, ...] = ()
        if before is not None and before.layer != "default":
            chain = (*before.overrides, before.where)
        if before is not None and before.layer in ("config", "drop-in"):
            self.from_files[path] = before  # the last value a file gave, for conflicts()
        self.settings[path] = Setting(setting.value, setting.layer, setting.where, chain)

    def conflicts(self) -> tuple[str, ...]:
        """Flags whose final value differs from what the files say (KUBE-17)."""
        found = []
        for path, final in self.settings.items():
            filed = self.from_files.get(path)
            if final.layer == "flag" and filed is not None and filed.value != final.value:
                found.append(f"{final.where} overrides {filed.where}")
        return tuple(found)

    def file(self, doc: Mapping[str, object], positions: PositionMap, path: str, layer: str) -> None:
        for spec in FIELDS:
            present, raw = _dig(doc, spec.path)
            if not present:
                continue
            line = positions.line(tuple(spec.path.split(".")))
            where_file = f"{path}:{line}" if line else path
            if spec.kind == MAP:
                self._gates(raw, where_file, layer)
                continue
            value, ok = _from_yaml(spec, raw)
            if not ok:
                self.notes.append(f"{where_file}: {spec.path} is {render_value(raw, 60)}, not a {spec.kind}")
                continue
            tag = " (--config-dir drop-in)" if layer == "drop-in" else ""
            kept = layer
            if layer == "config" and spec.zero_is_default and _is_zero(value) and spec.default is not None:
                # v1beta1 defaulting runs on the decoded file: a zero means "unset", so it
                # counts as a default (a flag replacing it is no conflict).
                tag = f" (a zero the v1beta1 defaulting replaces with {_show(spec.default)})"
                value, kept = spec.default, "default"
            self.put(spec.path, Setting(value, kept, f"{spec.path}: {_show(raw)} in {where_file}{tag}"))

    def _gates(self, raw: object, where_file: str, layer: str) -> None:
        if not isinstance(raw, Mapping):
            self.notes.append(f"{where_file}: featureGates is not a mapping")
            return
        for gate, value in raw.items():
            if isinstance(value, bool):
                where = f"featureGates.{gate}: {_show(value)} in {where_file}"
                self.put(f"featureGates.{gate}", Setting(value, layer, where))

    def flags(self, flags: Flags) -> None:
        origin = f"({self.component.source})"
        for name in flags.names():
            spec = BY_FLAG.get(name)
            if name in FLAG_ONLY:
                only = flags.get(name)
                self.put(FLAG_ONLY[name], Setting(only, "flag", f"{flags.source(name)} {origin}"))
            if spec is None:
                continue
            if spec.kind == MAP:
                self._flag_gates(flags, name, origin)
                continue
            occurrences = flags.all(name)
            value: object
            if spec.kind == LIST:
                # pflag StringSlice: the first occurrence replaces the default, later ones append.
                value = tuple(
                    part.strip() for raw in occurrences for part in (raw or "").split(",") if part.strip()
                )
                ok = True
            else:
                value, ok = _from_flag(spec, occurrences[-1])
            if not ok:
                self.notes.append(
                    f"{flags.source(name)}: not a valid {spec.kind}; the kubelet would refuse it"
                )
                continue
            where = f"{flags.source(name)} {origin}"
            if spec.kind == LIST and len(occurrences) > 1:
                where = f"--{name} given {len(occurrences)} times {origin}: pflag appends every occurrence"
            self.put(spec.path, Setting(value, "flag", where))

    def _flag_gates(self, flags: Flags, name: str, origin: str) -> None:
        for raw in flags.all(name):
            for pair in (raw or "").split(","):
                gate, equals, text = pair.strip().partition("=")
                parsed = parse_bool(text.strip()) if equals else None
                if not gate or parsed is None:
                    continue
                where = f"--{name}={gate.strip()}={text.strip()} on the command line {origin}"
                self.put(f"featureGates.{gate.strip()}", Setting(parsed, "flag", where))


# --- assembling -----------------------------------------------------------------------


def _load(record: kc.FileRecord) -> tuple[Mapping[str, object], PositionMap]:
    if record.truncated:
        raise FactParseError(FACT, None, f"{record.path} is larger than {CONFIG_CAP} bytes; refusing it")
    try:
        doc, positions = load_yaml(
            kc.decode(record.data), record.path, strict=False, max_bytes=CONFIG_CAP, max_nodes=MAX_NODES
        )
    except InputError as exc:
        raise FactParseError(FACT, None, printable(str(exc), 300)) from None
    if doc is None:
        return {}, positions
    if not isinstance(doc, Mapping):
        raise FactParseError(FACT, None, f"{record.path} is not a KubeletConfiguration mapping")
    kind = doc.get("kind")
    if kind is not None and kind != "KubeletConfiguration":
        raise FactParseError(
            FACT, None, f"{record.path} is a {printable(str(kind), 60)}, not a KubeletConfiguration"
        )
    return {str(k): v for k, v in doc.items()}, positions


def _files(records: kc.Records, tag: str, pid: int | None) -> list[kc.FileRecord]:
    return [r for r in records.files if r.tag == f"{tag}.{pid}"]


def _marked(records: kc.Records, mark: str, pid: int | None, path: str) -> bool:
    return (f"{mark}.{pid}", path) in records.marks


def build(component: kc.Component, records: kc.Records) -> KubeletConfig:
    flags = component.flags
    config_file = flags.get("config") or None
    config_dir = flags.get("config-dir") or None
    layers = _Layers(component, with_config=config_file is not None)
    if config_file is not None:
        found = [r for r in _files(records, "config", component.pid) if r.path == config_file]
        if not found:
            missing = _marked(records, "missing", component.pid, config_file)
            why = "does not exist" if missing else "was not read"
            raise FactParseError(
                FACT, None, f"the kubelet's --config file {config_file} {why}; its settings cannot be judged"
            )
        doc, positions = _load(found[0])
        layers.file(doc, positions, config_file, "config")
    dropins: list[str] = []
    ignored: list[str] = []
    if config_dir is not None:
        if _marked(records, "missing", component.pid, config_dir):
            layers.notes.append(f"--config-dir {config_dir} does not exist")
        entries = sorted(_files(records, "dropin", component.pid), key=lambda r: r.path.rpartition("/")[2])
        for record in entries:
            if not record.path.endswith(".conf"):
                ignored.append(record.path)  # the kubelet reads only *.conf drop-ins
                continue
            doc, positions = _load(record)
            layers.file(doc, positions, record.path, "drop-in")
            dropins.append(record.path)
    layers.flags(flags)
    return KubeletConfig(
        component=component,
        settings=dict(layers.settings),
        config_file=config_file,
        config_dir=config_dir,
        dropins=tuple(dropins),
        ignored=tuple(ignored),
        conflicts=layers.conflicts(),
        notes=tuple(layers.notes),
    )


def proxy_metrics(found: kc.K8sComponents, records: kc.Records) -> Setting | None:
    """metricsBindAddress of the kube-proxy that runs; when several believed kube-proxies
    (pods, so any root pod can add one) disagree, neither is picked: value None."""
    settings = [
        (proxy.pid, _proxy_metrics(proxy, records))
        for proxy in found.all(kc.PROXY)
        if proxy.pid is not None and proxy.argv_known
    ]
    if len({setting.value for _, setting in settings}) > 1:
        each = "; ".join(f"pid {pid}: {render_value(setting.value, 60)}" for pid, setting in settings[:8])
        why = f"{len(settings)} kube-proxy processes disagree on metricsBindAddress ({each}); none is picked"
        return Setting(None, "config", why)
    return settings[0][1] if settings else None


def _proxy_metrics(proxy: kc.Component, records: kc.Records) -> Setting:
    config = proxy.flags.get("config") or None
    if config is None:
        value = proxy.flags.get("metrics-bind-address")
        if value is None:
            return Setting(
                PROXY_METRICS_DEFAULT, "default", "kube-proxy built-in default (no flag, no --config)"
            )
        return Setting(value, "flag", f"{proxy.flags.source('metrics-bind-address')} ({proxy.source})")
    if proxy.in_container:
        return Setting(
            None,
            "config",
            f"kube-proxy (pid {proxy.pid}) runs in a container and its --config {config} lives inside it:"
            " not read (a pod's file is never read through /proc/<pid>/root)",
        )
    found_file = [r for r in _files(records, "proxyconfig", proxy.pid) if r.path == config]
    if not found_file:
        return Setting(
            None, "config", f"kube-proxy's --config {config} could not be read inside pid {proxy.pid}"
        )
    try:
        doc, positions = load_yaml(
            kc.decode(found_file[0].data), config, strict=False, max_bytes=CONFIG_CAP, max_nodes=MAX_NODES
        )
    except InputError as exc:
        return Setting(None, "config", printable(str(exc), 300))
    raw = doc.get("metricsBindAddress") if isinstance(doc, Mapping) else None
    line = positions.line(("metricsBindAddress",))
    where = (
        f"{config}:{line} in kube-proxy's root (/proc/{proxy.pid}/root)"
        if line
        else f"{config} (pid {proxy.pid})"
    )
    ignored = " (kube-proxy ignores its --metrics-bind-address flag when --config is set)"
    if not isinstance(raw, str) or not raw:
        where = f"metricsBindAddress unset in {where}: default {PROXY_METRICS_DEFAULT}{ignored}"
        return Setting(PROXY_METRICS_DEFAULT, "default", where)
    return Setting(raw, "config", f"metricsBindAddress: {raw} in {where}{ignored}")


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    body = kc.records_after("@nodeward-kubelet 1", section.text)
    if body is None:
        return Unavailable("the kubelet section printed no records")
    try:
        records = kc.read_records(
            body, caps={"config": CONFIG_CAP, "dropin": CONFIG_CAP, "proxyconfig": CONFIG_CAP}
        )
        if records.incomplete:
            return Unavailable(f"kubelet discovery is incomplete: {'; '.join(records.incomplete)}")
        found = kc.assemble(records)
        kubelets = [c for c in found.all(kc.KUBELET) if c.pid is not None]
        if not kubelets:
            return Absent("no kubelet process runs on this node")
        unsure = kc.ambiguous(kubelets)
        if unsure:
            return Unavailable(f"{'; '.join(unsure)}: nodeward will not pick one kubelet to judge")
        kubelet = kubelets[0]
        if not kubelet.argv_known:
            return Unavailable(
                f"the kubelet is embedded in {kubelet.embedded_in} (pid {kubelet.pid}) and this boot's "
                "journal holds no 'Running kubelet' line with its arguments"
            )
        config = build(kubelet, records)
    except FactParseError as exc:
        return Unavailable(str(exc))
    notes = config.notes
    if len(kubelets) > 1:
        notes = (
            *notes,
            f"{len(kubelets)} kubelet processes run with one command line; judged pid {kubelet.pid}",
        )
    return KubeletConfig(
        component=config.component,
        settings=config.settings,
        config_file=config.config_file,
        config_dir=config.config_dir,
        dropins=config.dropins,
        ignored=config.ignored,
        conflicts=config.conflicts,
        notes=notes,
        proxy=proxy_metrics(found, records),
    )
