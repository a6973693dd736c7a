"""The `tls_cipher_suites` family: a component's TLS suites are set, and only allowed ones.

CIS Kubernetes 4.2.12 (kubelet) and 1.2.29 (API server) list the suites a component may
offer; kube-bench keeps them as `valid_elements`. Here the list is the check's YAML:

    assert:
      predicate: tls_cipher_suites
      args: {component: kubelet, allowed: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...]}

Unset is a FAIL: Go's default list includes CBC suites and RSA key exchange.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import StrictStr

from agent.facts import controlplane as cp
from agent.facts.k8s_components import APISERVER, Component
from agent.facts.kubelet import KubeletConfig
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.families import Facts, Family, FamilyArgs
from agent.rules.family_component_flag import on_component, setting_of, shown
from agent.rules.verdict import Verdict
from agent.textsafe import printable, render_value


class TlsCipherSuites(FamilyArgs):
    component: Literal["kubelet", "kube-apiserver"]
    allowed: tuple[StrictStr, ...]
    basis: StrictStr = ""  # "CIS 4.2.12", quoted in the expectation


def _judge(args: TlsCipherSuites, suites: Sequence[str], name: str, observed: str, source: str) -> Verdict:
    expected = f"a subset of {', '.join(args.allowed)}" + (f" ({args.basis})" if args.basis else "")
    evidence = (Evidence(observed, expected, printable(source, 600)),)
    if not suites:
        reason = f"{name} is not set: Go's default list, which includes CBC suites, applies"
        return Verdict(Status.FAIL, reason, evidence)
    weak = [s for s in suites if s not in args.allowed]
    if weak:
        return Verdict(Status.FAIL, f"{name} allows {', '.join(weak[:6])}", evidence)
    return Verdict(Status.PASS, f"{name} is {', '.join(suites)}", evidence)


def _kubelet(args: TlsCipherSuites, facts: Facts) -> Verdict:
    config = facts.get("kubelet")
    if not isinstance(config, KubeletConfig):
        return Verdict(Status.ERROR, "the kubelet fact is not available")
    setting = config.setting("tlsCipherSuites")
    value = setting.value if setting is not None else None
    suites = tuple(str(s) for s in value) if isinstance(value, tuple) else ()
    observed = render_value(value, 300) if setting is not None else "(not set)"
    source = setting.source if setting is not None else "tlsCipherSuites: no source sets it"
    return _judge(args, suites, "tlsCipherSuites", observed or "(empty)", source)


def _apiserver(args: TlsCipherSuites, component: Component, facts: Facts) -> Verdict:
    setting = setting_of(component, "tls-cipher-suites", facts)
    return _judge(args, cp.split_list(setting.value), "--tls-cipher-suites", shown(setting), setting.source)


def judge_tls_cipher_suites(args: TlsCipherSuites, facts: Facts, node: Node) -> Verdict:
    if args.component == "kubelet":
        return _kubelet(args, facts)
    return on_component(APISERVER, lambda component, f: _apiserver(args, component, f), facts, node)


TLS_CIPHER_SUITES = Family(
    name="tls_cipher_suites",
    args=TlsCipherSuites,
    judge=judge_tls_cipher_suites,
    summary="a component's TLS cipher suites are set and all in an allowed list",
)
