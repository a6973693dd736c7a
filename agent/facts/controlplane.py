"""What the control plane's flags mean: effective values, documented defaults, config files.

The etcd and API server checks (catalogue §8, §10 AUD-09) judge a component found by
k8s_components (its running process, else its static pod manifest). A flag that is not
on the command line is not "unset": it has a default, and for etcd it may come from
elsewhere. This module says where each value really comes from:

* etcd: `--config-file` replaces flags and environment entirely ("If this flag is set,
  all the other command line flags and environment variables will be ignored", etcd
  --help); otherwise a flag on the command line wins and an `ETCD_<FLAG>` environment
  variable fills in a flag that is absent (etcd's flags.SetFlagsFromEnv sets only flags
  not given on the command line; kube-bench's `env:` test items read the same
  variables). The environment comes from k8s_files, which whitelists these names.
* defaults are those of `--help` of Kubernetes 1.30-1.34 and etcd 3.5/3.6, cited where
  they are used: a check never treats "not set" as "safe" without saying which default
  applies (kube-bench passes 1.3.7/1.4.2 when --bind-address is unset; its default is
  0.0.0.0).
* the encryption provider configuration, the structured authorization configuration
  and the audit policy are parsed here from the (redacted) text k8s_files read, with
  yamlsafe's size and alias limits.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from agent.errors import InputError
from agent.facts.k8s_components import Component
from agent.facts.k8s_files import Doc, K8sFiles
from agent.textsafe import printable
from agent.yamlsafe import load_yaml

DOC_CAP = 256 * 1024
MAX_NODES = 20_000

# Defaults of the flags the checks read (`--help`, Kubernetes 1.30-1.34, etcd 3.5/3.6).
APISERVER_DEFAULTS: Mapping[str, str] = {
    "anonymous-auth": "true",
    "authorization-mode": "AlwaysAllow",  # when --authorization-config is not given either
    "profiling": "true",
    "audit-log-maxage": "0",
    "audit-log-maxbackup": "0",
    "audit-log-maxsize": "0",
}
CONTROLLER_DEFAULTS: Mapping[str, str] = {"bind-address": "0.0.0.0", "profiling": "true"}  # noqa: S104
ETCD_DEFAULTS: Mapping[str, str] = {
    "client-cert-auth": "false",
    "peer-client-cert-auth": "false",
    "auto-tls": "false",
    "peer-auto-tls": "false",
    "listen-client-urls": "http://localhost:2379",
    "listen-peer-urls": "http://localhost:2380",
}

# k3s runs etcd inside its own process and writes that etcd's configuration here, in
# etcd's --config-file format (kube-bench cfg/k3s-cis-1.x etcd checks read the same file).
K3S_ETCD_CONFIG = "/var/lib/rancher/k3s/server/db/etcd/config"

# Where a flag lives in etcd's --config-file (etcd's embed.Config YAML keys).
_ETCD_CONFIG_KEYS: Mapping[str, tuple[str, ...]] = {
    "cert-file": ("client-transport-security", "cert-file"),
    "key-file": ("client-transport-security", "key-file"),
    "client-cert-auth": ("client-transport-security", "client-cert-auth"),
    "trusted-ca-file": ("client-transport-security", "trusted-ca-file"),
    "auto-tls": ("client-transport-security", "auto-tls"),
    "peer-cert-file": ("peer-transport-security", "cert-file"),
    "peer-key-file": ("peer-transport-security", "key-file"),
    "peer-client-cert-auth": ("peer-transport-security", "client-cert-auth"),
    "peer-trusted-ca-file": ("peer-transport-security", "trusted-ca-file"),
    "peer-auto-tls": ("peer-transport-security", "auto-tls"),
    "listen-client-urls": ("listen-client-urls",),
    "listen-peer-urls": ("listen-peer-urls",),
}


@dataclass(frozen=True, slots=True)
class Setting:
    """An effective value and the sentence that says where it came from."""

    value: str | None  # None: not set anywhere and no default applies
    source: str
    defaulted: bool = False


class NeedsFiles(Exception):
    """The value depends on something only k8s_files has (etcd's environment or a config
    file), and that fact is not available: the check cannot be judged."""


def flag_setting(component: Component, name: str, defaults: Mapping[str, str]) -> Setting:
    """A flag of the component's argv, else its documented default."""
    flags = component.flags
    if flags.has(name):
        return Setting(flags.get(name), f"{flags.source(name)} ({component.source})")
    default = defaults.get(name)
    where = f"--{name} is not set ({component.source})"
    if default is None:
        return Setting(None, where)
    return Setting(default, f"{where}: default {default}", defaulted=True)


def etcd_setting(component: Component, name: str, files: K8sFiles | None) -> Setting:
    """etcd's effective value of `name`: --config-file, else flag, else ETCD_* variable,
    else default. Raises NeedsFiles when the answer is in k8s_files and it is missing."""
    flags = component.flags
    env: Mapping[str, str] = {}
    if files is not None and component.pid is not None:
        env = files.env.get(component.pid, {})
    config_file = flags.get("config-file") or env.get("ETCD_CONFIG_FILE")
    if config_file is None and component.embedded_in == "k3s":
        config_file = K3S_ETCD_CONFIG  # k3s passes no flags: its etcd reads this file
    if config_file is not None:
        return _etcd_config_setting(component, name, config_file, files)
    if flags.has(name):
        return Setting(flags.get(name), f"{flags.source(name)} ({component.source})")
    if files is None and component.pid is not None:
        raise NeedsFiles(
            f"--{name} is not on etcd's command line ({component.source}); its environment "
            "(ETCD_* variables) comes with the k8s_files fact, which is not available here"
        )
    variable = "ETCD_" + name.upper().replace("-", "_")
    if variable in env:
        value = env[variable]
        return Setting(
            value, f"{variable}={printable(value, 200)} in the environment of etcd (pid {component.pid})"
        )
    default = ETCD_DEFAULTS.get(name)
    where = f"--{name} is not set ({component.source})"
    if component.pid is not None:
        where += f" nor {variable} in its environment"
    if default is None:
        return Setting(None, where)
    return Setting(default, f"{where}: default {default}", defaulted=True)


def _etcd_config_setting(component: Component, name: str, path: str, files: K8sFiles | None) -> Setting:
    if files is None:
        raise NeedsFiles(
            f"etcd reads its settings from --config-file {printable(path, 200)}, which comes with the "
            "k8s_files fact, not available here"
        )
    doc = files.doc(component.pid, path)
    data = load_doc(doc)
    if doc is None:
        raise NeedsFiles(
            f"etcd's configuration file {printable(path, 200)} was not read on the node (missing?)"
        )
    if not isinstance(data, Mapping):
        raise NeedsFiles(f"etcd's configuration file {printable(path, 200)} is not a YAML mapping")
    keys = _ETCD_CONFIG_KEYS.get(name, (name,))
    value: object = data
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    how = "written by k3s for its embedded etcd" if path == K3S_ETCD_CONFIG else "etcd --config-file"
    where = f"{'.'.join(keys)} in {printable(path, 200)} ({how}: flags and environment ignored)"
    if value is None:
        default = ETCD_DEFAULTS.get(name)
        if default is None:
            return Setting(None, f"{where}: not set")
        return Setting(default, f"{where}: not set, default {default}", defaulted=True)
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = ",".join(str(v) for v in value)
    else:
        text = str(value)
    return Setting(text, f"{where}: {printable(text, 200)}")


def load_doc(doc: Doc | None) -> object:
    """A configuration document's data; None when missing, truncated or not YAML/JSON."""
    if doc is None or doc.truncated:
        return None
    try:
        data, _ = load_yaml(doc.text, doc.path, strict=False, max_bytes=DOC_CAP, max_nodes=MAX_NODES)
    except InputError:
        return None
    return data


def truthy(value: str | None) -> bool | None:
    """Go's strconv.ParseBool, which pflag and etcd use; None if not a boolean."""
    if value is None:
        return None
    lowered = value.strip().strip("\"'")
    if lowered in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if lowered in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def split_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(item.strip() for item in value.split(",") if item.strip())


# --- listen URLs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listener:
    url: str
    problem: str  # "" when fine


def judge_urls(value: str | None) -> tuple[Listener, ...]:
    """Each listen URL and what is wrong with it: a wildcard host listens on every
    interface; plain http on anything but loopback sends etcd traffic in clear text."""
    found: list[Listener] = []
    for url in split_list(value)[:32]:
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            found.append(Listener(url, "not a URL"))
            continue
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 - recognising the wildcard, not binding it
            found.append(Listener(url, "listens on every interface"))
        elif parts.scheme == "http" and not _loopback(host):
            found.append(Listener(url, "plain http on a non-loopback address"))
        else:
            found.append(Listener(url, ""))
    return tuple(found)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_address(value: str | None) -> bool:
    return value is not None and _loopback(value.strip("[]"))


# --- encryption at rest -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecretsEncryption:
    covered: bool  # some entry covers core "secrets"
    providers: tuple[str, ...]  # providers of the first entry covering secrets, in order
    entry: int | None  # index of that entry in `resources`


def secrets_encryption(data: object) -> SecretsEncryption | str:
    """How the API server writes Secrets under an EncryptionConfiguration: the first
    `resources` entry naming secrets (or `*.` / `*.*`) applies, and its FIRST provider
    encrypts new writes (Kubernetes "Encrypting Confidential Data at Rest")."""
    if not isinstance(data, Mapping) or data.get("kind") not in ("EncryptionConfiguration", None):
        return "not an EncryptionConfiguration"
    entries = data.get("resources")
    if not isinstance(entries, list):
        return "no `resources` list"
    for index, entry in enumerate(entries[:256]):
        if not isinstance(entry, Mapping):
            continue
        names = entry.get("resources")
        if not isinstance(names, list) or not {"secrets", "*.", "*.*"} & {str(n) for n in names}:
            continue
        providers = entry.get("providers")
        kinds: list[str] = []
        if isinstance(providers, list):
            for provider in providers[:64]:
                if isinstance(provider, Mapping) and provider:
                    kinds.append(printable(str(next(iter(provider))), 40))
        return SecretsEncryption(True, tuple(kinds), index)
    return SecretsEncryption(False, (), None)


# --- structured authorization -------------------------------------------------------------


def authorizer_types(data: object) -> tuple[str, ...] | str:
    """The authorizer chain of an AuthorizationConfiguration (--authorization-config)."""
    if not isinstance(data, Mapping):
        return "not an AuthorizationConfiguration"
    authorizers = data.get("authorizers")
    if not isinstance(authorizers, list):
        return "no `authorizers` list"
    types = [
        printable(str(a.get("type")), 40)
        for a in authorizers[:64]
        if isinstance(a, Mapping) and a.get("type")
    ]
    return tuple(types)


@dataclass(frozen=True, slots=True)
class Modes:
    modes: tuple[str, ...]
    source: str


def authorization_modes(component: Component, files: K8sFiles | None) -> Modes:
    """--authorization-mode, or the chain in --authorization-config (the two flags are
    mutually exclusive since Kubernetes 1.30), else the default AlwaysAllow."""
    flags = component.flags
    config = flags.get("authorization-config")
    if config is not None and not flags.has("authorization-mode"):
        if files is None:
            raise NeedsFiles(
                f"the authorizers are in --authorization-config {printable(config, 200)}, which comes with "
                "the k8s_files fact, not available here"
            )
        found = authorizer_types(load_doc(files.doc(component.pid, config)))
        if isinstance(found, str):
            raise NeedsFiles(f"--authorization-config {printable(config, 200)}: {found}")
        return Modes(found, f"authorizers[].type in {printable(config, 200)} (--authorization-config)")
    setting = flag_setting(component, "authorization-mode", APISERVER_DEFAULTS)
    return Modes(split_list(setting.value), setting.source)


# --- audit policy -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditPolicy:
    rules: int
    levels: tuple[str, ...]  # level of each rule, in order

    @property
    def records_anything(self) -> bool:
        return any(level != "None" for level in self.levels)


def audit_policy(data: object) -> AuditPolicy | str:
    if not isinstance(data, Mapping):
        return "not an audit Policy"
    if data.get("kind") not in ("Policy", None):
        return f"kind is {printable(str(data.get('kind')), 40)}, not Policy"
    rules = data.get("rules")
    if not isinstance(rules, list):
        return "no `rules` list"
    levels = tuple(
        printable(str(rule.get("level")), 40) for rule in rules[:4096] if isinstance(rule, Mapping)
    )
    return AuditPolicy(len(levels), levels)
