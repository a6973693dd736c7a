"""Firewall checks against REAL nftables and iptables rulesets, end to end.

Rules are only ever loaded inside private network namespaces made by tests/fleet/netns.py
(never in this machine's own namespace). Most cases run the real `nodeward scan` inside
such a namespace with the local transport: the gather script, the parsers, the checks and
the JSON report all run for real against the kernel's ruleset. One case goes over real
SSH to a fleet node whose nft/iptables/ss are wrappers into the test's namespace.

Issue 3 acceptance: "nftables input policy accept with no rules" (fails), "an nftables
config on disk that was never loaded" (fails, the evidence names the file), "legacy
iptables with a drop policy and an empty nft ruleset" (passes). Added: kube-proxy chains
with a host policy of accept (fails, and the chains are reported, not counted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.harness import Fleet, FleetKeys, load_spec
from tests.fleet.netns import NetnsHost, findings
from tests.fleet.scanutil import Target, ansible_inventory, nodes_by_name, scan_json

pytestmark = pytest.mark.fleet

ACCEPT_NO_RULES = """table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t}
}
"""
GOOD = """#!/usr/sbin/nft -f
flush ruleset
table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept
\t\tiif lo accept
\t\tip saddr 127.0.0.0/8 drop
\t\tip6 saddr ::1 drop
\t\tmeta l4proto { icmp, ipv6-icmp } accept
\t\ttcp dport 22 accept
\t}
}
"""
LEGACY = {
    4: "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    "-A INPUT -i lo -j ACCEPT\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
    "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
    6: "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    "-A INPUT -i lo -j ACCEPT\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
    "-A INPUT -p ipv6-icmp -j ACCEPT\nCOMMIT\n",
}
KUBE_PROXY = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
COMMIT
"""
KUBE_PROXY_NFT = """table ip kube-proxy {
\tchain filter-input {
\t\ttype filter hook input priority -110; policy accept;
\t}
}
"""

Hosts = Callable[..., NetnsHost]


@pytest.fixture
def nshost(tmp_path: Path) -> Iterator[Hosts]:
    """Factory for namespace hosts; all are stopped after the test, pass or fail."""
    made: list[NetnsHost] = []

    def make(
        files: dict[str, str] | None = None, remove: tuple[str, ...] = ("/etc/nftables.conf",)
    ) -> NetnsHost:
        host = NetnsHost(tmp_path / f"ns{len(made)}", files=files, remove=remove)
        made.append(host)
        host.start()
        return host

    yield make
    for host in made:
        host.stop()


def status(found: dict[str, dict[str, Any]], check: str) -> str:
    return str(found[check]["status"])


def evidence_text(finding: dict[str, Any]) -> str:
    return " | ".join(f"{e['observed']} / {e['expected']} / {e['source']}" for e in finding["evidence"])


def test_nftables_input_policy_accept_with_no_rules_fails(nshost: Hosts) -> None:
    host = nshost()
    host.nft(ACCEPT_NO_RULES)
    found = findings(host.scan(["worker"]))
    for check in ("firewall_input_default_deny_ipv4", "firewall_input_default_deny_ipv6"):
        assert status(found, check) == "fail", found[check]["reason"]
        text = evidence_text(found[check])
        assert "table inet filter chain input" in text and "policy accept" in text, text
    # The accepting chain is the host's own table: nftables is its (one) manager.
    assert status(found, "firewall_single_manager_active") == "fail"  # no content: accept, no rules


def test_nftables_config_on_disk_never_loaded_fails_naming_the_file(nshost: Hosts) -> None:
    host = nshost(files={"/etc/nftables.conf": GOOD}, remove=())
    assert host.exec(["nft", "list", "ruleset"]).stdout.strip() == b""  # really never loaded
    found = findings(host.scan(["worker"]))
    persistent = found["firewall_rules_persistent"]
    assert persistent["status"] == "fail"
    assert "/etc/nftables.conf was never loaded" in persistent["reason"]
    assert all("/etc/nftables.conf" in e["source"] for e in persistent["evidence"])
    assert "persisted drops" in evidence_text(persistent)
    assert status(found, "firewall_input_default_deny_ipv4") == "fail"
    # Loading the same file makes both pass: the check compares behaviour, not presence.
    host.exec(["nft", "-f", "/etc/nftables.conf"])
    found = findings(host.scan(["worker"]))
    assert status(found, "firewall_rules_persistent") == "pass", found["firewall_rules_persistent"]["reason"]
    assert status(found, "firewall_input_default_deny_ipv4") == "pass"


def test_legacy_iptables_drop_policy_with_an_empty_nft_ruleset_passes(nshost: Hosts) -> None:
    host = nshost(files={"/etc/iptables/rules.v4": LEGACY[4], "/etc/iptables/rules.v6": LEGACY[6]})
    for family, rules in LEGACY.items():
        host.iptables_restore(rules, variant="legacy", family=family)
    assert host.exec(["nft", "list", "ruleset"]).stdout.strip() == b""
    found = findings(host.scan(["worker"]))
    for check in (
        "firewall_input_default_deny_ipv4",
        "firewall_input_default_deny_ipv6",
        "firewall_single_manager_active",
        "firewall_loopback_traffic_configured",
        "firewall_established_traffic_accepted",
        "firewall_rules_persistent",
    ):
        assert status(found, check) == "pass", (check, found[check]["reason"])
    assert "iptables-legacy" in found["firewall_input_default_deny_ipv4"]["reason"]
    assert "iptables" in found["firewall_single_manager_active"]["reason"]


def test_kube_proxy_chains_with_host_policy_accept_fail_and_are_reported(nshost: Hosts) -> None:
    host = nshost()
    host.iptables_restore(KUBE_PROXY, variant="nft", family=4)
    host.nft(KUBE_PROXY_NFT)
    found = findings(host.scan(["worker"]))
    deny = found["firewall_input_default_deny_ipv4"]
    assert deny["status"] == "fail"
    assert "KUBE-FIREWALL (kube-proxy)" in deny["reason"] and "table ip kube-proxy" in deny["reason"]
    assert "not counted as the host firewall" in deny["reason"]
    for check in ("firewall_single_manager_active", "firewall_ruleset_not_empty"):
        assert status(found, check) == "fail", found[check]["reason"]
        assert "KUBE-" in found[check]["reason"]


def test_ip_forwarding_is_judged_by_role(nshost: Hosts) -> None:
    host = nshost()
    host.exec(["sysctl", "-w", "net.ipv4.ip_forward=1"])  # this namespace's own value
    worker = findings(host.scan(["worker"], checks="firewall_ip_forwarding_per_role"))
    plain = findings(host.scan([], checks="firewall_ip_forwarding_per_role"))
    assert status(worker, "firewall_ip_forwarding_per_role") == "pass"
    assert status(plain, "firewall_ip_forwarding_per_role") == "fail"
    assert "net.ipv4.ip_forward = 1" in evidence_text(plain["firewall_ip_forwarding_per_role"])


def _stub(tool: str, net: Path) -> str:
    # POSIX sh: run the real tool, found on the node's own PATH after /usr/local/sbin,
    # inside the test's network namespace.
    return (
        f'#!/bin/sh\nexec nsenter --net={net} /usr/sbin/{tool} "$@"\n'
        if tool != "ss"
        else (f'#!/bin/sh\nexec nsenter --net={net} /usr/bin/ss "$@"\n')
    )


def test_scan_over_ssh_judges_the_nodes_ruleset(
    nshost: Hosts, fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    host = nshost()
    host.nft(GOOD.replace("tcp dport 22 accept", "ip saddr 127.0.0.1 tcp dport 22 accept"))
    net = host.net_file(tmp_path / "fw.net")  # before the node starts: its mounts are copied then
    tools = [
        "nft",
        "iptables-legacy-save",
        "ip6tables-legacy-save",
        "iptables-nft-save",
        "ip6tables-nft-save",
        "ss",
    ]
    node = fleet.start(load_spec("fw_netns_tools", stubs={t: _stub(t, net) for t in tools}), name="fwnode")
    inventory = ansible_inventory(
        tmp_path / "inv.yaml",
        [Target(node.name, node.address, node.port, {"nodeward_roles": ["worker"]})],
        fleet_keys.bastion,
    )
    known = fleet.known_hosts([node], tmp_path / "known_hosts")
    _, document, stderr = scan_json(inventory, tmp_path / "home", known, "--check", "firewall_*")
    result = nodes_by_name(document)[node.name]
    assert result["error"] is None, stderr
    assert result["execs"] == 1
    listed = result["findings"]
    assert isinstance(listed, list)
    found = {f["check_id"]: f for f in listed}
    for check in ("firewall_input_default_deny_ipv4", "firewall_input_default_deny_ipv6"):
        assert found[check]["status"] == "pass", found[check]["reason"]
        assert "table inet filter chain input" in found[check]["reason"]
    # The bastion (127.0.0.1 as the node sees it) may open a new SSH connection.
    bastion = found["firewall_ssh_allowed_from_bastion"]
    assert bastion["status"] == "pass" and "127.0.0.1" in bastion["reason"], bastion["reason"]
