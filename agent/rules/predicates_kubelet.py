"""Named predicates for the kubelet (catalogue section 6): what one comparison cannot say.

Durations need Go's duration syntax ("0s" and "0" are both zero), the serving
certificate is satisfied by either files or serverTLSBootstrap, cipher suites are a
subset test, static pods depend on the node's role, source consistency looks across
layers, and kube-proxy's metrics address is judged only where kube-proxy runs.
predicates.py merges KUBELET_PREDICATES into the one registry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from pydantic import PositiveFloat, StrictStr

from agent.facts.k8s_components import K8sComponents
from agent.facts.kubelet import KubeletConfig, Setting
from agent.facts.kubelet_defaults import duration_seconds
from agent.facts.model import FactValue
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.families import Family, FamilyArgs
from agent.rules.verdict import Predicate, Verdict
from agent.textsafe import printable, render_value


def _verdict(status: Status, reason: str, evidence: Iterable[Evidence] = ()) -> Verdict:
    return Verdict(status, reason, tuple(evidence))


def _evidence(setting: Setting | None, expected: str, path: str) -> Evidence:
    if setting is None:
        return Evidence("(not set)", expected, f"{path}: no source sets it")
    return Evidence(render_value(setting.value, 300) or "(empty)", expected, printable(setting.source, 600))


def _kubelet(facts: Mapping[str, FactValue]) -> KubeletConfig | None:
    found = facts.get("kubelet")
    return found if isinstance(found, KubeletConfig) else None


def _unusable() -> Verdict:
    # The evaluator turns Unavailable/Absent into ERROR/NOT_APPLICABLE before calling us.
    return _verdict(Status.ERROR, "the kubelet fact is not available")


class DurationAtLeast(FamilyArgs):
    """A kubelet duration setting (Go syntax: 5m, 4h0m0s) is at least `min_seconds`; 0
    disables what it limits (KUBE-05: streamingConnectionIdleTimeout 0 keeps idle
    exec/port-forward streams forever)."""

    setting: StrictStr  # the KubeletConfiguration field, e.g. streamingConnectionIdleTimeout
    min_seconds: PositiveFloat


def duration_at_least(args: DurationAtLeast, facts: Mapping[str, FactValue], node: Node) -> Verdict:
    config = _kubelet(facts)
    if config is None:
        return _unusable()
    path = args.setting
    setting = config.setting(path)
    seconds = duration_seconds(setting.value if setting else None)
    expected = f"a duration of at least {args.min_seconds:g}s (e.g. 5m)"
    evidence = [_evidence(setting, expected, path)]
    if seconds is None:
        return _verdict(Status.FAIL, f"{path} is not a duration the kubelet accepts", evidence)
    if seconds <= 0:
        return _verdict(Status.FAIL, f"{path} is 0: what it limits never times out", evidence)
    shown = render_value(setting.value if setting else None)
    if seconds < args.min_seconds:
        return _verdict(Status.FAIL, f"{path} is {shown}, shorter than {args.min_seconds:g}s", evidence)
    return _verdict(Status.PASS, f"{path} is {shown}", evidence)


DURATION_AT_LEAST = Family(
    name="kubelet_duration_at_least",
    args=DurationAtLeast,
    judge=duration_at_least,
    summary="a kubelet duration setting is at least N seconds (0 disables the limit)",
)


def tls_serving_cert(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """KUBE-09: the kubelet serves with a certificate the cluster trusts: tlsCertFile and
    tlsPrivateKeyFile, or serverTLSBootstrap (certificate from the cluster CA). Without
    either the kubelet makes a self-signed certificate nobody can verify."""
    config = _kubelet(facts)
    if config is None:
        return _unusable()
    cert, key, boot = (config.setting(p) for p in ("tlsCertFile", "tlsPrivateKeyFile", "serverTLSBootstrap"))
    evidence = [
        _evidence(cert, "a certificate file", "tlsCertFile"),
        _evidence(key, "its private key file", "tlsPrivateKeyFile"),
        _evidence(boot, "true (alternative to the files)", "serverTLSBootstrap"),
    ]
    if boot is not None and boot.value is True:
        return _verdict(
            Status.PASS,
            "serverTLSBootstrap is true: the serving certificate comes from the cluster CA",
            evidence,
        )
    if cert is not None and key is not None and cert.value and key.value:
        return _verdict(
            Status.PASS, f"tlsCertFile is {cert.value} and tlsPrivateKeyFile is {key.value}", evidence
        )
    return _verdict(
        Status.FAIL,
        "neither tlsCertFile/tlsPrivateKeyFile nor serverTLSBootstrap is set: "
        "the kubelet serves a self-signed certificate",
        evidence,
    )


def static_pods_off_on_workers(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """KUBE-16 (EKS STIG V-242397): a worker that is not a control-plane node needs no
    static pods; a control-plane node's static pods ARE its control plane."""
    config = _kubelet(facts)
    if config is None:
        return _unusable()
    found = facts.get("k8s_components")
    roles = node.roles or (found.roles if isinstance(found, K8sComponents) else ())
    if "control-plane" in roles:
        return _verdict(Status.NOT_APPLICABLE, "a control-plane node runs its control plane as static pods")
    setting = config.setting("staticPodPath")
    evidence = [_evidence(setting, "unset (no static pods on a worker)", "staticPodPath")]
    if setting is not None and setting.value:
        return _verdict(
            Status.FAIL,
            f"staticPodPath is {setting.value}: files there start pods without the API server",
            evidence,
        )
    return _verdict(Status.PASS, "staticPodPath is not set", evidence)


def sources_consistent(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """KUBE-17: the layers agree. A flag silently overriding a file's value, drop-ins the
    kubelet ignores (not *.conf), a missing --config-dir or unparseable values are how
    an operator's edit "does nothing" (kube-bench #195, #948, #1242)."""
    config = _kubelet(facts)
    if config is None:
        return _unusable()
    problems: list[Evidence] = []
    for conflict in config.conflicts:
        problems.append(Evidence(printable(conflict, 300), "flags and files agree", config.component.source))
    for ignored in config.ignored:
        problems.append(
            Evidence(
                f"{printable(ignored, 200)} is skipped",
                "drop-ins named *.conf",
                f"--config-dir {config.config_dir}",
            )
        )
    for note in config.notes:
        problems.append(
            Evidence(printable(note, 300), "every source readable and valid", config.component.source)
        )
    if problems:
        return _verdict(
            Status.FAIL,
            f"{len(problems)} inconsistency(ies) between the kubelet's configuration sources",
            problems,
        )
    layers = [f"--config {config.config_file}" if config.config_file else "no --config file"]
    layers += [f"{len(config.dropins)} drop-in(s)"] if config.config_dir else []
    return _verdict(Status.PASS, "flags, config file and drop-ins agree (" + ", ".join(layers) + ")")


def proxy_metrics_localhost(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """KUBE-18 (CIS 4.3.1): kube-proxy's metrics endpoint only on loopback."""
    config = _kubelet(facts)
    if config is None:
        return _unusable()
    setting = config.proxy
    if setting is None:
        return _verdict(Status.NOT_APPLICABLE, "kube-proxy does not run on this node")
    expected = "127.0.0.1:10249 (a loopback address)"
    evidence = [_evidence(setting, expected, "metricsBindAddress")]
    if not isinstance(setting.value, str):
        return _verdict(Status.ERROR, printable(setting.source, 300), evidence)
    host = setting.value.rpartition(":")[0].strip("[]") if ":" in setting.value else setting.value
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        return _verdict(Status.FAIL, f"kube-proxy serves metrics on {setting.value}", evidence)
    return _verdict(Status.PASS, f"kube-proxy serves metrics on {setting.value}", evidence)


KUBELET_PREDICATES: Mapping[str, Predicate] = {
    "kubelet_tls_serving_cert": tls_serving_cert,
    "kubelet_static_pods_off_on_workers": static_pods_off_on_workers,
    "kubelet_sources_consistent": sources_consistent,
    "kubelet_proxy_metrics_localhost": proxy_metrics_localhost,
}
