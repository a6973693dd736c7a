"""Command-line flags of Kubernetes components, parsed the way their flag libraries do.

kubelet, kube-apiserver, kube-controller-manager, kube-scheduler and kube-proxy parse
their argv with spf13/pflag; etcd with Go's `flag` package. What both agree on, and
what this parser reproduces (issue 4, reference/reliability.md §6.3):

* `--flag=value` and `--flag value`; a single dash (`-flag value`) works too (Go's
  `flag` treats one and two dashes alike; etcd manifests in the wild use both);
* a boolean flag given bare (`--anonymous-auth`) means true, and the token after it is
  NOT its value: `--anonymous-auth false` is "true" plus a stray positional argument
  (pflag's NoOptDefVal for bools). We therefore keep the set of known boolean flags;
  for any other flag a following token that does not start with `-` is its value;
* a repeated flag: the last occurrence wins (pflag calls Set once per occurrence; for
  scalar flags the last Set is what remains). `all()` keeps every occurrence so a
  finding can say "2nd of 2";
* `--` ends the flags; names are normalised like Kubernetes' WordSepNormalizeFunc
  (`--anonymous_auth` is `--anonymous-auth`).

kube-bench instead greps `ps` output for the first `--flag=value` substring (anchors.md,
user ask 3): it misses `--flag value`, judges the first of two repeated flags, and
matches flags of unrelated processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.textsafe import printable

_MAX_SHOWN = 160  # characters of a value quoted in a source string

# Boolean flags (bare means true; the next token is never consumed). Sources: `kubelet
# --help`, `kube-apiserver --help`, `kube-controller-manager --help`,
# `kube-scheduler --help`, `kube-proxy --help` (Kubernetes 1.30-1.34) and `etcd --help`
# (3.5/3.6). A flag missing from this set still parses: only `--flag value` with a value
# that does not start with `-` would be misread, and every flag below is one where that
# would hide a security-relevant setting.
BOOLEAN_FLAGS: frozenset[str] = frozenset(
    {
        # kubelet
        "anonymous-auth", "authentication-token-webhook", "rotate-certificates",
        "rotate-server-certificates", "make-iptables-util-chains", "protect-kernel-defaults",
        "seccomp-default", "fail-swap-on", "enable-server", "enable-debugging-handlers",
        "kernel-memcg-notification", "serialize-image-pulls", "register-node",
        "register-schedulable", "exit-on-lock-contention", "cgroups-per-qos", "cpu-cfs-quota",
        "enable-controller-attach-detach", "keep-terminated-pod-volumes",
        "allow-privileged", "containerized", "require-kubeconfig", "enable-cadvisor-json-endpoints",
        # logging (component-base) and klog
        "logtostderr", "alsologtostderr", "add-dir-header", "skip-headers", "skip-log-headers",
        "one-output", "log-flush-frequency-enabled", "version-short",
        # kube-apiserver
        "profiling", "contention-profiling", "enable-aggregator-routing",
        "enable-bootstrap-token-auth", "enable-garbage-collector", "enable-priority-and-fairness",
        "enable-logs-handler", "service-account-lookup", "audit-log-compress",
        "audit-log-truncate-enabled", "audit-webhook-truncate-enabled", "watch-cache",
        "enable-swagger-ui", "permit-port-sharing", "permit-address-sharing",
        "kubelet-https", "insecure-skip-tls-verify", "service-account-extend-token-expiration",
        "strict-transport-security-directives-enabled",
        "authentication-skip-lookup",
        "disable-http2-serving",
        # kube-controller-manager / kube-scheduler / cloud-controller-manager
        "use-service-account-credentials", "allocate-node-cidrs", "configure-cloud-routes",
        "leader-elect", "enable-hostpath-provisioner", "enable-dynamic-provisioning",
        "enable-taint-manager",
        # kube-proxy
        "masquerade-all", "cleanup", "bind-address-hard-fail", "ipvs-strict-arp",
        "iptables-localhost-nodeports", "init-only",
        # etcd
        "client-cert-auth", "peer-client-cert-auth", "auto-tls", "peer-auto-tls", "enable-v2",
        "debug", "strict-reconfig-check", "enable-pprof", "force-new-cluster",
        "experimental-initial-corrupt-check", "experimental-enable-distributed-tracing",
        "enable-grpc-gateway", "pre-vote", "socket-reuse-port", "socket-reuse-address",
        "experimental-peer-skip-client-san-verification", "unsafe-no-fsync",
        "experimental-memory-mlock", "enable-log-rotation", "experimental-compact-hash-check-enabled",
        "experimental-enable-lease-checkpoint", "experimental-enable-lease-checkpoint-persist",
        "experimental-stop-grpc-service-on-defrag",
        "experimental-txn-mode-write-with-shared-buffer",
        # k3s / rke2 (their own flags; --kubelet-arg etc. carry values)
        "cluster-init", "cluster-reset", "disable-network-policy", "secrets-encryption",
        "selinux", "rootless", "disable-cloud-controller", "disable-kube-proxy",
        "disable-scheduler", "disable-etcd", "disable-apiserver", "disable-controller-manager",
        "disable-agent", "embedded-registry", "prefer-bundled-bin", "docker",
        "disable-helm-controller", "flannel-ipv6-masq",
        "flannel-external-ip", "supervisor-metrics",
        "etcd-expose-metrics", "etcd-disable-snapshots", "etcd-snapshot-compress",
        "etcd-s3", "etcd-s3-insecure", "etcd-s3-skip-ssl-verify", "disable-default-registry-endpoint",
        "with-node-id",
        "no-flannel",
        # shared help flags
        "help",
    }
)  # fmt: skip

_SUFFIXES = {1: "st", 2: "nd", 3: "rd"}


def normalise(name: str) -> str:
    """A flag name as pflag sees it: no leading dashes, `_` read as `-`."""
    return name.lstrip("-").replace("_", "-")


def parse_bool(text: str | None) -> bool | None:
    """Go's strconv.ParseBool, which pflag uses for bool flags; None if not a boolean.

    A bare boolean flag (value None) is true.
    """
    if text is None:
        return True
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def ordinal(number: int) -> str:
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{_SUFFIXES.get(number % 10, 'th')}"


@dataclass(frozen=True, slots=True)
class Flag:
    name: str  # normalised, without dashes
    value: str | None  # None: given bare (a boolean meaning true)
    position: int  # index in argv (argv[0] is the executable)


@dataclass(frozen=True, slots=True)
class Flags:
    """Every flag of one argv in order, plus the positional arguments."""

    items: tuple[Flag, ...] = ()
    positional: tuple[str, ...] = ()
    origin: str = "on the command line"  # how source() describes where the flags came from

    def all(self, name: str) -> tuple[str | None, ...]:
        key = normalise(name)
        return tuple(flag.value for flag in self.items if flag.name == key)

    def has(self, name: str) -> bool:
        key = normalise(name)
        return any(flag.name == key for flag in self.items)

    def get(self, name: str) -> str | None:
        """The value that takes effect: the last occurrence; a bare flag is "true"."""
        key = normalise(name)
        for flag in reversed(self.items):
            if flag.name == key:
                return "true" if flag.value is None else flag.value
        return None

    def last(self, name: str) -> Flag | None:
        key = normalise(name)
        for flag in reversed(self.items):
            if flag.name == key:
                return flag
        return None

    def names(self) -> tuple[str, ...]:
        """Distinct flag names in order of first appearance."""
        return tuple(dict.fromkeys(flag.name for flag in self.items))

    def source(self, name: str) -> str:
        """Where the effective value came from, e.g.
        "--read-only-port=10255 on the command line (2nd of 2)"."""
        key = normalise(name)
        hits = [flag for flag in self.items if flag.name == key]
        if not hits:
            return f"--{key} is not set {self.origin}"
        shown = render(hits[-1])
        if len(hits) == 1:
            return f"{shown} {self.origin}"
        return f"{shown} {self.origin} ({ordinal(len(hits))} of {len(hits)}; the last one wins)"


def render(flag: Flag) -> str:
    if flag.value is None:
        return f"--{flag.name} (no value: true)" if flag.name in BOOLEAN_FLAGS else f"--{flag.name}"
    return f"--{flag.name}={printable(flag.value, _MAX_SHOWN)}"


def parse_flags(argv: Sequence[str], *, origin: str = "on the command line", start: int = 1) -> Flags:
    """Parse argv[start:] (argv[0] is the executable). Never raises."""
    items: list[Flag] = []
    positional: list[str] = []
    index = start
    count = len(argv)
    while index < count:
        arg = argv[index]
        if arg == "--":
            positional.extend(argv[index + 1 :])
            break
        if not arg.startswith("-") or arg == "-" or arg.strip("-") == "":
            positional.append(arg)
            index += 1
            continue
        body = arg[2:] if arg.startswith("--") else arg[1:]
        name, equals, value = body.partition("=")
        key = normalise(name)
        if not key:
            positional.append(arg)
            index += 1
            continue
        if equals:
            items.append(Flag(key, value, index))
        elif key in BOOLEAN_FLAGS:
            items.append(Flag(key, None, index))
        elif index + 1 < count and not argv[index + 1].startswith("-"):
            items.append(Flag(key, argv[index + 1], index))
            index += 1
        else:
            items.append(Flag(key, None, index))
        index += 1
    return Flags(tuple(items), tuple(positional), origin)
