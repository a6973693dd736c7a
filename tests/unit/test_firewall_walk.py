"""The packet walk: netfilter's traversal semantics, one rule at a time."""

from __future__ import annotations

import ipaddress

from agent.facts.firewall.iptables import parse_save
from agent.facts.firewall.model import Chain, Match
from agent.facts.firewall.walk import (
    MAYBE,
    NO,
    YES,
    Packet,
    match_condition,
    quiet_port,
    source_candidates,
    walk,
)


def chains(text: str, family: str = "ip", backend: str = "iptables-legacy") -> list[Chain]:
    return list(parse_save(text, family=family, backend=backend, source="test").chains)


def table(policy: str, *rules: str, extra: str = "") -> str:
    return f"*filter\n:INPUT {policy} [0:0]\n{extra}" + "".join(f"-A INPUT {r}\n" for r in rules) + "COMMIT\n"


def new_tcp(port: int, source: str | None = None, iif: str | None = None) -> Packet:
    return Packet(4, "tcp", port, iif, ipaddress.ip_address(source) if source else None)


def test_policy_accept_with_final_unconditional_reject_is_deny() -> None:
    result = walk(chains(table("ACCEPT", "-i lo -j ACCEPT", "-j REJECT")), new_tcp(47321))
    assert not result.accepted and result.deciding is not None
    assert result.deciding.by_rule and result.deciding.verdict == "reject"


def test_accept_all_in_front_of_a_drop_policy_is_not_deny() -> None:
    assert walk(chains(table("DROP", "-j ACCEPT")), new_tcp(47321)).accepted


def test_a_drop_in_any_base_chain_is_final_across_backends() -> None:
    legacy = chains(table("DROP", "-p tcp --dport 22 -j ACCEPT"))
    nft_like = chains(table("ACCEPT"), backend="iptables-nft")
    result = walk([*nft_like, *legacy], new_tcp(80))
    assert not result.accepted and len(result.decisions) == 2
    assert walk([*nft_like, *legacy], new_tcp(22)).accepted


def test_jump_returns_goto_does_not() -> None:
    extra = ":SUB - [0:0]\n-A SUB -p tcp --dport 22 -j ACCEPT\n-A SUB -j RETURN\n"
    jumped = chains(table("DROP", "-j SUB", "-j ACCEPT", extra=extra))
    assert walk(jumped, new_tcp(80)).accepted  # RETURN came back to INPUT's accept
    went = chains(table("DROP", "-g SUB", "-j ACCEPT", extra=extra))
    assert not walk(went, new_tcp(80)).accepted  # goto: RETURN leaves INPUT, policy drop


def test_cluster_owned_chains_are_skipped_but_ufw_chains_are_followed() -> None:
    extra = (
        ":KUBE-FIREWALL - [0:0]\n:ufw-user-input - [0:0]\n-A KUBE-FIREWALL -j ACCEPT\n"
        "-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n"
    )
    found = chains(table("DROP", "-j KUBE-FIREWALL", "-j ufw-user-input", extra=extra))
    assert not walk(found, new_tcp(80)).accepted
    assert walk(found, new_tcp(22)).accepted
    assert walk(found, new_tcp(80), exclude_cluster=False).accepted


def test_sources_prefixes_negation_and_the_arbitrary_outsider() -> None:
    found = chains(
        table(
            "DROP",
            "-s 10.0.0.0/8 -p tcp --dport 10250 -j ACCEPT",
            "! -s 192.0.2.0/24 -p tcp --dport 6443 -j ACCEPT",
        )
    )
    assert not walk(found, new_tcp(10250)).accepted
    assert walk(found, new_tcp(10250, "10.1.2.3")).accepted
    assert walk(found, new_tcp(6443)).accepted  # the outsider is not in 192.0.2.0/24
    assert not walk(found, new_tcp(6443, "192.0.2.7")).accepted
    assert [str(a) for a in source_candidates(found, 4)] == ["10.0.0.1"]  # negated prefixes allow no one


def test_interfaces_loopback_and_unknown_links() -> None:
    found = chains(table("DROP", "-i lo -j ACCEPT", "-i eth+ -p tcp --dport 80 -j ACCEPT"))
    assert walk(found, new_tcp(1, "127.0.0.1", "lo")).accepted
    unknown = walk(found, new_tcp(80))  # arriving on some link we cannot name
    assert not unknown.accepted and unknown.uncertain  # the eth+ rule may match: said so
    assert walk(found, new_tcp(80, None, "eth0")).accepted


def test_families_ip6_matches_never_hit_ipv4() -> None:
    assert match_condition(Match("saddr", ("::1",), family="ip6"), new_tcp(1)) == NO
    assert match_condition(Match("saddr", ("::1",), negated=True, family="ip6"), new_tcp(1)) == NO
    assert match_condition(Match("unknown", ()), new_tcp(1)) == MAYBE
    assert match_condition(Match("ct_state", ("new", "untracked")), new_tcp(1)) == YES


def test_quiet_port_avoids_every_mentioned_port() -> None:
    found = chains(table("DROP", "-p tcp --dport 47000:48000 -j ACCEPT"))
    assert quiet_port(found) == 40977
    assert not walk(found, new_tcp(quiet_port(found))).accepted


def test_rate_limited_drop_may_not_drop() -> None:
    found = chains(table("ACCEPT", "-m limit --limit 1/s -j DROP"))
    result = walk(found, new_tcp(1))
    assert result.accepted and result.uncertain
