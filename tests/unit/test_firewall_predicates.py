"""Firewall predicates: cross-backend verdicts, roles, and never PASS on what we cannot see."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agent.facts import sockets, sysctl
from agent.facts.firewall import fact as firewall
from agent.facts.firewall.state import FirewallState
from agent.facts.model import Absent, FactValue, RawSection, Unavailable
from agent.findings import Status
from agent.inventory.model import Node
from tests.checkrun import run_check

FACTS = Path(__file__).parent.parent / "fixtures" / "facts"
CONTEXT = {"user": "scanner", "client_addr": "192.0.2.10", "server_port": "22"}
WORKER = Node(name="w", roles=("worker",))
PLAIN = Node(name="p")
CONTROL = Node(name="c", roles=("control-plane", "etcd"))


def facts(case: str, *, ss: str | None = None, kernel: str | None = None) -> dict[str, FactValue]:
    data = (FACTS / "firewall" / f"{case}.out").read_bytes()
    out: dict[str, FactValue] = {
        "firewall": firewall.parse(RawSection("firewall", data, b"", 0, False), CONTEXT)
    }
    if ss is not None:
        out["sockets"] = sockets.parse(RawSection("sockets", ss.encode(), b"", 0, False), CONTEXT)
    if kernel is not None:
        out["sysctl"] = sysctl.parse(RawSection("sysctl", kernel.encode(), b"", 0, False), CONTEXT)
    return out


def judge(name: str, found: Mapping[str, FactValue], node: Node = WORKER) -> tuple[Status, str]:
    verdict = run_check(name, found, node)
    if verdict.status is Status.FAIL:
        assert verdict.evidence and all(e.observed and e.expected and e.source for e in verdict.evidence)
    return verdict.status, verdict.reason


def test_ip_forwarding_is_inverted_on_kubernetes_nodes() -> None:
    def kernel(text: bytes) -> dict[str, FactValue]:
        return {"sysctl": sysctl.parse(RawSection("sysctl", text, b"", 0, False), {})}

    on = kernel(b"=\tnet.ipv4.ip_forward = 1\n")
    off = kernel(b"=\tnet.ipv4.ip_forward = 0\n=\tnet.ipv6.conf.all.forwarding = 0\n")
    assert judge("firewall_ip_forwarding_per_role", on, WORKER)[0] is Status.PASS
    assert judge("firewall_ip_forwarding_per_role", on, CONTROL)[0] is Status.PASS
    status, reason = judge("firewall_ip_forwarding_per_role", on, PLAIN)
    assert status is Status.FAIL and "not a Kubernetes node" in reason
    assert judge("firewall_ip_forwarding_per_role", off, PLAIN)[0] is Status.PASS
    status, reason = judge("firewall_ip_forwarding_per_role", off, WORKER)
    assert status is Status.FAIL and "routed through" in reason


def test_ipv6_off_passes_the_ipv6_check_only() -> None:
    found = facts("debian12_nft_accept_empty")
    state = found["firewall"]
    assert isinstance(state, FirewallState)
    from dataclasses import replace

    no_v6 = {"firewall": replace(state, ipv6=False)}
    assert judge("firewall_input_default_deny_ipv6", no_v6)[0] is Status.PASS
    assert judge("firewall_input_default_deny_ipv4", no_v6)[0] is Status.FAIL


def test_unreadable_parts_give_error_unless_a_readable_drop_already_decides() -> None:
    from dataclasses import replace

    open_state = facts("debian12_nft_accept_empty")["firewall"]
    closed_state = facts("debian12_legacy_drop")["firewall"]
    assert isinstance(open_state, FirewallState) and isinstance(closed_state, FirewallState)
    why = ("ip6tables-legacy-save -t filter: exit 1: permission denied",)
    status, reason = judge(
        "firewall_input_default_deny_ipv4", {"firewall": replace(open_state, unreadable=why)}
    )
    assert status is Status.ERROR and "permission denied" in reason
    assert (
        judge("firewall_input_default_deny_ipv4", {"firewall": replace(closed_state, unreadable=why)})[0]
        is Status.PASS
    )
    assert (
        judge("firewall_single_manager_active", {"firewall": replace(open_state, unreadable=why)})[0]
        is Status.ERROR
    )


def test_missing_or_unavailable_second_fact_is_error_never_pass() -> None:
    found = facts("debian12_nft_hardened")
    assert judge("firewall_listening_ports_covered", found)[0] is Status.ERROR  # no sockets fact
    found["sockets"] = Unavailable("ss failed")
    status, reason = judge("firewall_kubelet_api_restricted", found)
    assert status is Status.ERROR and "ss failed" in reason
    found["sockets"] = Absent("nothing")
    assert judge("firewall_kubelet_api_restricted", found)[0] is Status.NOT_APPLICABLE


def test_ports_open_restricted_blocked() -> None:
    ss = "source ss\ntcp LISTEN 0 4096 *:10250 *:*\ntcp LISTEN 0 4096 0.0.0.0:2379 0.0.0.0:*\n"
    ss += "tcp LISTEN 0 4096 *:10255 *:*\n"
    ufw = facts("debian12_ufw_active", ss=ss)  # 10250 from 10.0.0.0/8 only; 2379 denied; 10255 nothing
    status, reason = judge("firewall_kubelet_api_restricted", ufw)
    assert status is Status.PASS and "reachable only from 10.0.0.1" in reason
    assert judge("firewall_etcd_ports_restricted", ufw, CONTROL)[0] is Status.PASS
    assert judge("firewall_kubelet_readonly_port_closed", ufw)[0] is Status.PASS  # blocked by default deny
    empty = facts("debian12_nft_accept_empty", ss=ss)
    status, reason = judge("firewall_etcd_ports_restricted", empty, CONTROL)
    assert status is Status.FAIL and "open to any source" in reason and "control-plane, etcd" in reason
    status, reason = judge("firewall_listening_ports_covered", empty)
    assert status is Status.FAIL and "tcp/*:10250" in reason


def test_port_opened_by_an_explicit_rule_is_a_decision_not_a_default() -> None:
    ss = "source ss\ntcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\n"
    status, reason = judge("firewall_listening_ports_covered", facts("debian12_legacy_drop", ss=ss))
    assert status is Status.PASS and "tcp/0.0.0.0:22 restricted" in reason


def test_two_managers_fail_and_ufw_is_not_also_counted_as_iptables() -> None:
    assert judge("firewall_single_manager_active", facts("debian12_ufw_active"))[0] is Status.PASS
    status, reason = judge("firewall_single_manager_active", facts("debian12_nft_accept_empty"))
    assert status is Status.FAIL and "no host firewall manager" in reason


def test_firewalld_runtime_differs_from_permanent() -> None:
    status, reason = judge("firewall_rules_persistent", facts("rhel9_firewalld_public"))
    assert status is Status.FAIL and "zone public: runtime and permanent differ in services" in reason
    assert judge("firewall_rules_persistent", facts("rhel9_firewalld_trusted"))[0] is Status.PASS


def test_firewalld_default_zone_target_shown_beside_the_live_verdict() -> None:
    status, reason = judge("firewall_input_default_deny_ipv4", facts("rhel9_firewalld_public"))
    assert status is Status.PASS and "firewalld default zone public has target default" in reason
    status, reason = judge("firewall_input_default_deny_ipv4", facts("rhel9_firewalld_trusted"))
    assert status is Status.FAIL and "target ACCEPT" in reason


def test_forward_policy_per_role() -> None:
    ufw = facts("debian12_ufw_active")  # FORWARD DROP, no kube-proxy/CNI rules
    status, reason = judge("firewall_forward_policy_per_role", ufw, WORKER)
    assert status is Status.FAIL and "no kube-proxy/CNI rule" in reason
    assert judge("firewall_forward_policy_per_role", ufw, PLAIN)[0] is Status.PASS
    kube = facts("debian12_kube_proxy_accept")
    assert judge("firewall_forward_policy_per_role", kube, WORKER)[0] is Status.PASS
    assert judge("firewall_forward_policy_per_role", kube, PLAIN)[0] is Status.FAIL


def test_nodeports_need_a_pre_dnat_rule_or_a_declaration() -> None:
    found = facts("debian12_nft_hardened")
    assert judge("firewall_nodeport_range_restricted", found, PLAIN)[0] is Status.NOT_APPLICABLE
    assert judge("firewall_nodeport_range_restricted", found, WORKER)[0] is Status.FAIL
    declared = Node(name="w", roles=("worker",), vars={"nodeward_nodeports": "public"})
    assert judge("firewall_nodeport_range_restricted", found, declared)[0] is Status.PASS


def test_bastion_over_loopback_arrives_on_lo() -> None:
    data = (FACTS / "firewall" / "debian12_nft_hardened.out").read_bytes()
    local = {
        "firewall": firewall.parse(
            RawSection("firewall", data, b"", 0, False), {"client_addr": "127.0.0.1", "server_port": "22"}
        )
    }
    status, reason = judge("firewall_ssh_allowed_from_bastion", local)
    assert status is Status.PASS and "127.0.0.1" in reason
    other = {
        "firewall": firewall.parse(
            RawSection("firewall", data, b"", 0, False), {"client_addr": "198.51.100.7", "server_port": "22"}
        )
    }
    status, reason = judge("firewall_ssh_allowed_from_bastion", other)
    assert status is Status.FAIL and "198.51.100.7" in reason
