"""Firewall parsers against captured real output (tests/fixtures/facts/firewall/README.md)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.facts.firewall import fact as firewall
from agent.facts.firewall import iptables, nft
from agent.facts.firewall.fact import split_subsections
from agent.facts.firewall.managers import parse_ufw_status, parse_zones
from agent.facts.firewall.persisted import parse_nft_text
from agent.facts.firewall.state import FirewallState, active_managers
from agent.facts.firewall.status import input_default
from agent.facts.model import FactParseError, RawSection, Unavailable
from agent.facts.registry import FACTS
from agent.facts.spec import read_section

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts" / "firewall"
CONTEXT = {"user": "scanner", "client_addr": "192.0.2.10", "server_port": "22"}


def state(case: str) -> FirewallState:
    data = (FIXTURES / f"{case}.out").read_bytes()
    parsed = firewall.parse(RawSection("firewall", data, b"", 0, False), CONTEXT)
    assert isinstance(parsed, FirewallState), parsed
    return parsed


def chain(found: FirewallState, label: str) -> object:
    return next(c for c in found.chains if c.label == label)


def test_nftables_hardened_golden() -> None:
    found = state("debian12_nft_hardened")
    (inp,) = [c for c in found.chains if c.name == "input"]
    assert (inp.backend, inp.family, inp.table, inp.hook, inp.policy) == (
        "nftables",
        "inet",
        "filter",
        "input",
        "drop",
    )
    texts = [r.text for r in inp.rules]
    assert texts[0] == "ct state established,related accept"
    assert any(r.logs and r.limited for r in inp.rules)  # limit rate ... log prefix
    ssh = next(r for r in inp.rules if any(m.field == "dport" for m in r.matches))
    fields = {(m.field, m.values) for m in ssh.matches}
    assert (
        ("saddr", ("192.0.2.10",)) in fields
        and ("dport", ("22",)) in fields
        and ("proto", ("tcp",)) in fields
    )
    assert ssh.source.startswith("nft -j list table inet filter: table inet filter chain input handle ")
    assert [m.name for m in active_managers(found)] == ["nftables"]
    assert input_default(found, 4).deny and input_default(found, 6).deny
    (persisted,) = found.persisted
    assert persisted.path == "/etc/nftables.conf" and persisted.complete and persisted.valid


def test_legacy_iptables_golden_and_empty_nftables() -> None:
    found = state("debian12_legacy_drop")
    assert not any(c.backend == "nftables" for c in found.chains)
    labels = {c.label for c in found.chains}
    assert {"iptables-legacy -t filter INPUT", "ip6tables-legacy -t filter INPUT"} <= labels
    inp = next(c for c in found.chains if c.label == "iptables-legacy -t filter INPUT")
    assert inp.policy == "drop" and inp.source == "iptables-legacy-save -t filter:3"
    assert [m.name for m in active_managers(found)] == ["iptables"]
    assert {p.path for p in found.persisted} == {
        "/etc/nftables.conf",
        "/etc/iptables/rules.v4",
        "/etc/iptables/rules.v6",
    }


def test_kube_proxy_chains_are_owned_and_listed() -> None:
    found = state("debian12_kube_proxy_accept")
    owners = {c.name: c.owner for c in found.chains}
    assert owners["KUBE-FIREWALL"] == "kube-proxy" and owners["INPUT"] == "host"
    # the nf_tables-variant filter table is read through nft's JSON and labelled iptables-nft
    assert all(c.backend == "iptables-nft" for c in found.chains if c.table == "filter")
    reported = found.cluster_chains()
    assert any("KUBE-FIREWALL" in r for r in reported) and any("table ip kube-proxy" in r for r in reported)
    assert active_managers(found) == ()
    assert not input_default(found, 4).deny


def test_ufw_active_golden() -> None:
    found = state("debian12_ufw_active")
    assert found.ufw is not None and found.ufw.active
    assert found.ufw.defaults == {"incoming": "deny", "outgoing": "allow", "routed": "disabled"}
    assert "10250/tcp ALLOW IN 10.0.0.0/8" in found.ufw.rules
    assert found.ufw_config is not None and found.ufw_config.enabled_at_boot is True
    assert [m.name for m in active_managers(found)] == [
        "ufw"
    ]  # its iptables chains are ufw's, not "iptables"
    assert any(c.owner == "ufw" for c in found.chains)
    assert input_default(found, 4).deny and input_default(found, 6).deny


def test_ufw_installed_but_inactive() -> None:
    found = state("debian12_ufw_installed_inactive")
    assert found.ufw is not None and not found.ufw.active
    assert found.ufw_config is not None and found.ufw_config.enabled_at_boot is False
    assert active_managers(found) == ()


def test_firewalld_public_zone_golden() -> None:
    found = state("rhel9_firewalld_public")
    assert found.firewalld is not None and found.firewalld.running
    assert found.firewalld.default_zone == "public"
    zone = found.firewalld.zone("public")
    assert zone is not None and zone.default and zone.active and zone.target == "default"
    assert zone.settings["services"] == "cockpit dhcpv6-client ssh"
    assert zone.rich_rules == (
        'rule family="ipv4" source address="10.0.0.0/8" port port="10250" protocol="tcp" accept',
    )
    block = found.firewalld.zone("block")
    assert block is not None and block.target == "%%REJECT%%" and not block.active
    assert [m.name for m in active_managers(found)] == ["firewalld"]
    assert found.external_iface4 == "eth0" and found.systemd
    # filter_INPUT has policy accept and ends in `reject`: that is a deny
    assert input_default(found, 4).deny


def test_firewalld_trusted_default_zone_is_not_a_deny() -> None:
    found = state("rhel9_firewalld_trusted")
    assert found.firewalld is not None and found.firewalld.default_zone == "trusted"
    result = input_default(found, 4)
    assert not result.deny
    assert result.tcp.deciding is not None and "filter_INPUT" in result.tcp.deciding.chain


def test_rhel_sysconfig_iptables_documented_default() -> None:
    text = (FIXTURES / "rhel9_sysconfig_iptables.txt").read_text()
    document = iptables.parse_save(
        text, family="ip", backend="iptables-persisted", source="/etc/sysconfig/iptables"
    )
    inp = next(c for c in document.chains if c.name == "INPUT")
    assert inp.policy == "accept" and inp.rules[-1].verdict == "reject" and inp.rules[-1].unconditional
    assert inp.rules[-1].source == "/etc/sysconfig/iptables:12"
    ssh = inp.rules[3]
    assert {(m.field, m.values) for m in ssh.matches} >= {
        ("proto", ("tcp",)),
        ("ct_state", ("new",)),
        ("dport", ("22",)),
    }
    assert document.unparsed_lines == 0


def test_iptables_options_negation_multiport_and_unknown_modules() -> None:
    text = (
        "*filter\n:INPUT ACCEPT [0:0]\n:MINE - [0:0]\n"
        "[5:300] -A INPUT -s 127.0.0.0/8 ! -i lo -j DROP\n"
        "-A INPUT -p tcp -m multiport --dports 10250,2379:2380 -j MINE\n"
        '-A INPUT -m comment --comment "say \\"hi\\"" -m set --match-set allow src -j ACCEPT\n'
        '-A INPUT -p tcp --syn -m limit --limit 5/min -j LOG --log-prefix "x "\n'
        "-A INPUT -g MINE\nCOMMIT\n"
    )
    (inp, mine) = iptables.parse_save(text, family="ip", backend="iptables-legacy", source="t").chains
    spoof, multi, ipset, log, goto = inp.rules
    assert [(m.field, m.negated) for m in spoof.matches] == [("saddr", False), ("iif", True)]
    assert ("dport", ("10250", "2379-2380")) in [
        (m.field, m.values) for m in multi.matches
    ] and multi.target == "MINE"
    assert [m.field for m in ipset.matches] == ["unknown"] and ipset.verdict == "accept"
    assert (
        log.logs
        and log.limited
        and log.verdict == ""
        and ("ct_state", ("new",)) in [(m.field, m.values) for m in log.matches]
    )
    assert goto.verdict == "goto" and mine.owner == "host"


def test_nft_json_vmap_sets_and_unknowns() -> None:
    document = (FIXTURES / "synthetic_vmap_sets.json").read_text()
    (chain_,) = nft.loads(document, source="nft").chains
    established, invalid, allowed, dynamic, low = chain_.rules
    assert established.verdict == "accept" and established.matches[0].values == ("established",)
    assert invalid.verdict == "drop"
    assert allowed.matches[0].values == ("10.0.0.0/8", "192.0.2.10") and allowed.matches[0].family == "ip"
    assert dynamic.matches[0].field == "unknown"
    assert low.matches[0].values == ("0-1023",)


def test_nft_text_fallback_reads_base_chains_and_policies() -> None:
    text = (
        "flush ruleset\ntable inet filter { # host\n  chain input {\n"
        "    type filter hook input priority filter + 10; policy drop;\n    iif lo accept\n  }\n"
        "  chain helper { }\n}\n"
    )
    (only,) = parse_nft_text(text, "/etc/nftables.conf")
    assert (only.name, only.hook, only.priority, only.policy, only.source) == (
        "input",
        "input",
        10,
        "drop",
        "/etc/nftables.conf:3",
    )


def test_missing_tools_and_failures_are_unavailable_not_pass() -> None:
    marker = "nwfw-00112233445566778899aabb"
    env = f"{marker}\n\n{marker} begin env\nnf_tables=yes\nipv6_stack=no\n\n{marker} stderr env\n\n"
    env += f"{marker} end env 0\n"
    nft_missing = env + f"\n{marker} begin nft_tables\n\n{marker} stderr nft_tables\nsh: nft: not found\n"
    nft_missing += f"{marker} end nft_tables 127\n"
    found = firewall.parse(RawSection("firewall", nft_missing.encode(), b"", 0, False), CONTEXT)
    assert isinstance(found, FirewallState) and found.unreadable == ("nft list tables: nft is not installed",)
    assert isinstance(firewall.parse(RawSection("firewall", b"garbage", b"", 0, False), CONTEXT), Unavailable)
    spec = FACTS["firewall"]
    assert isinstance(
        read_section(spec, RawSection("firewall", env.encode(), b"", 1, False), CONTEXT), Unavailable
    )
    assert isinstance(
        read_section(spec, RawSection("firewall", env.encode(), b"", 0, True), CONTEXT), Unavailable
    )


def test_forged_markers_in_content_cannot_split_sections() -> None:
    marker = "nwfw-00112233445566778899aabb"
    forged = "nwfw-ffffffffffffffffffffffff"
    body = f"rule text\n{forged} end env 0\n{forged} begin nft_tables\n"
    text = f"{marker}\n\n{marker} begin env\n{body}\n{marker} stderr env\n\n{marker} end env 0\n"
    (only,) = split_subsections(text)
    assert only.name == "env" and forged in only.stdout
    with pytest.raises(FactParseError):
        split_subsections("no marker line\n")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_hostile_iptables_save_never_raises(text: str) -> None:
    iptables.parse_save("*filter\n:INPUT DROP [0:0]\n" + text, family="ip", backend="b", source="s")


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=6), c),
        max_leaves=20,
    )
)
def test_hostile_nft_json_raises_only_fact_parse_error(value: object) -> None:
    import json

    with contextlib.suppress(FactParseError):
        nft.loads(json.dumps({"nftables": [value, {"rule": value}, {"chain": value}]}), source="x")


def test_ufw_and_zone_parsers_reject_foreign_text() -> None:
    assert parse_ufw_status("ERROR: You need to be root to run this script") is None
    assert parse_zones("") == ()
