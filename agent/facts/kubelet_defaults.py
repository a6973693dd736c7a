"""The kubelet settings nodeward judges: config field, flag, type and built-in defaults.

Two sets of defaults exist and both matter (kubernetes/kubernetes
cmd/kubelet/app/options/options.go `NewKubeletConfiguration` and
`applyLegacyDefaults`; pkg/kubelet/apis/config/v1beta1/defaults.go
`SetDefaults_KubeletConfiguration`; the "Kubelet Configuration (v1beta1)" reference):

* a kubelet started WITH `--config` decodes the file through the v1beta1 scheme, so
  every field the file leaves out gets the v1beta1 default: anonymous auth off,
  webhook authentication on, authorization mode Webhook, readOnlyPort 0;
* a kubelet started WITHOUT `--config` keeps the legacy command-line defaults for four
  fields, kept "to preserve the command line API": `--anonymous-auth` true,
  `--authentication-token-webhook` false, `--authorization-mode` AlwaysAllow and
  `--read-only-port` 10255. kube-bench's "not set means OK" for 4.2.4 is therefore wrong
  for a flags-only kubelet.

Defaulting in SetDefaults_KubeletConfiguration tests non-pointer fields against their
zero value, so in the --config file a zero IS "unset": kubeadm writes
`streamingConnectionIdleTimeout: 0s`, and the kubelet runs with 4h0m0s (a check that
reads the file literally calls that "0 = no timeout"). Only a flag or a drop-in (merged
after defaulting) can make such a field really zero. `zero_is_default` marks them.

A `--config-dir` drop-in only changes the fields it names (no defaulting of the rest).
Flags are applied last (kubeletConfigFlagPrecedence), feature gates key by key.
"""

from __future__ import annotations

from dataclasses import dataclass

BOOL, INT, STR, DURATION, LIST, MAP = "bool", "int", "str", "duration", "list", "map"


@dataclass(frozen=True, slots=True)
class Field:
    path: str  # dotted KubeletConfiguration field, e.g. authentication.anonymous.enabled
    flag: str | None  # the command-line flag that sets it (None: config file only)
    kind: str
    default: object  # v1beta1 default (a kubelet with --config)
    legacy_default: object = None  # default without --config, when it differs
    has_legacy: bool = False
    zero_is_default: bool = False  # a zero value in the --config file gets the default


def _f(path: str, flag: str | None, kind: str, default: object, *legacy: object) -> Field:
    return Field(path, flag, kind, default, legacy[0] if legacy else None, bool(legacy))


def _z(path: str, flag: str | None, kind: str, default: object) -> Field:
    return Field(path, flag, kind, default, zero_is_default=True)


FIELDS: tuple[Field, ...] = (
    _f("authentication.anonymous.enabled", "anonymous-auth", BOOL, False, True),
    _f("authentication.webhook.enabled", "authentication-token-webhook", BOOL, True, False),
    _z("authentication.webhook.cacheTTL", "authentication-token-webhook-cache-ttl", DURATION, "2m0s"),
    _f("authentication.x509.clientCAFile", "client-ca-file", STR, None),
    Field("authorization.mode", "authorization-mode", STR, "Webhook", "AlwaysAllow", True, True),
    _f("readOnlyPort", "read-only-port", INT, 0, 10255),
    _z("port", "port", INT, 10250),
    _z("address", "address", STR, "0.0.0.0"),  # noqa: S104 - the documented default, not a bind
    _z("healthzBindAddress", "healthz-bind-address", STR, "127.0.0.1"),
    _f("healthzPort", "healthz-port", INT, 10248),
    _z("streamingConnectionIdleTimeout", "streaming-connection-idle-timeout", DURATION, "4h0m0s"),
    _f("makeIPTablesUtilChains", "make-iptables-util-chains", BOOL, True),
    _f("eventRecordQPS", "event-qps", INT, 50),
    _z("eventBurst", "event-burst", INT, 100),
    _f("tlsCertFile", "tls-cert-file", STR, None),
    _f("tlsPrivateKeyFile", "tls-private-key-file", STR, None),
    _f("tlsCipherSuites", "tls-cipher-suites", LIST, None),
    _f("tlsMinVersion", "tls-min-version", STR, None),
    _f("rotateCertificates", "rotate-certificates", BOOL, False),
    _f("serverTLSBootstrap", "rotate-server-certificates", BOOL, False),
    _f("featureGates", "feature-gates", MAP, None),
    _f("podPidsLimit", "pod-max-pids", INT, -1),
    _f("seccompDefault", "seccomp-default", BOOL, False),
    _f("protectKernelDefaults", "protect-kernel-defaults", BOOL, False),
    _f("staticPodPath", "pod-manifest-path", STR, None),
    _f("enableServer", "enable-server", BOOL, True),
    _f("enableDebuggingHandlers", "enable-debugging-handlers", BOOL, True),
    _f("failSwapOn", "fail-swap-on", BOOL, True),
    _z("cgroupDriver", "cgroup-driver", STR, "cgroupfs"),
    _z(
        "containerRuntimeEndpoint",
        "container-runtime-endpoint",
        STR,
        "unix:///run/containerd/containerd.sock",
    ),
)

BY_FLAG = {f.flag: f for f in FIELDS if f.flag is not None}

# Flags that are KubeletFlags, not KubeletConfiguration fields: only the command line
# sets them. Our fact exposes them under these names.
FLAG_ONLY = {
    "hostname-override": "hostnameOverride",
    "kubeconfig": "kubeconfig",
    "bootstrap-kubeconfig": "bootstrapKubeconfig",
    "config": "config",
    "config-dir": "configDir",
    "cert-dir": "certDir",
}

# Feature gates the checks read, with their default in current Kubernetes (the feature
# gate reference): RotateKubeletServerCertificate has been beta, on by default, since 1.12.
FEATURE_GATE_DEFAULTS = {"RotateKubeletServerCertificate": True}

# kube-proxy (KUBE-18): KubeProxyConfiguration v1alpha1 defaults metricsBindAddress to
# 127.0.0.1:10249 (pkg/proxy/apis/config/v1alpha1/defaults.go), as does the flag.
PROXY_METRICS_DEFAULT = "127.0.0.1:10249"

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_MAX_DURATION = 100 * 365 * 86400.0


def duration_seconds(text: object) -> float | None:
    """Go's time.ParseDuration ("4h0m0s", "5m", "0", "1.5h"); None when not a duration.
    A bare 0 is the only unit-less value Go accepts (metav1.Duration in JSON is a string;
    a YAML integer 0 arrives as 0 too)."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return 0.0 if text == 0 else None
    if not isinstance(text, str):
        return None
    rest = text.strip()
    sign = -1.0 if rest.startswith("-") else 1.0
    rest = rest.lstrip("+-")
    if rest == "0":
        return 0.0
    if not rest or len(rest) > 64:
        return None
    total = 0.0
    while rest:
        number = ""
        while rest and (rest[0].isdigit() or rest[0] == "."):
            number, rest = number + rest[0], rest[1:]
        unit = ""
        while rest and not (rest[0].isdigit() or rest[0] == "."):
            unit, rest = unit + rest[0], rest[1:]
        if not number or number == "." or unit not in _UNITS:
            return None
        try:
            total += float(number) * _UNITS[unit]
        except ValueError:
            return None
    return sign * total if total <= _MAX_DURATION else None
