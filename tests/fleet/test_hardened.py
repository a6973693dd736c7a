"""Issue 3, acceptance 4: a fully hardened node, scanned over SSH with the whole catalogue.

The node is tests/fleet/nodes/sudo_hardened.yaml (hardened sshd, sudo, su and account
settings) and its firewall is a real default-deny nftables ruleset loaded in a private
network namespace, which the node's nft, iptables-*-save and ss stubs look into (fleet
nodes otherwise share this machine's network namespace). The scan account's own NOPASSWD
rule is allow-listed in the inventory, as an operator would.

What this machine cannot give a node is listed in KERNEL_OR_HOST_BOUND, each with the
reason: fleet nodes share this machine's kernel (no AppArmor or SELinux; the kernel
refuses audit requests from a node's PID namespace) and its /usr (auditd and
unattended-upgrades are not installed). Those checks must FAIL or WARN here for exactly
that reason, and every other check must PASS or be not applicable. No check may ERROR.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fleet.harness import FileSpec, Fleet, FleetKeys, load_spec
from tests.fleet.netns import NetnsHost
from tests.fleet.scanutil import Target, ansible_inventory, nodes_by_name, scan_json

pytestmark = pytest.mark.fleet

RULESET = """#!/usr/sbin/nft -f
flush ruleset
table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept
\t\tiif lo accept
\t\tip saddr 127.0.0.0/8 drop
\t\tip6 saddr ::1 drop
\t\tmeta l4proto { icmp, ipv6-icmp } accept
\t\tip saddr 127.0.0.1 tcp dport 22 accept
\t\tlimit rate 5/minute log prefix "nft drop: "
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy drop;
\t}
}
"""
TOOLS = ("nft", "iptables-legacy-save", "ip6tables-legacy-save", "iptables-nft-save", "ip6tables-nft-save")

# Checks whose subject this test machine cannot provide to a fleet node, and why.
KERNEL_OR_HOST_BOUND = {
    "mac_framework_enforcing": "the shared kernel has neither AppArmor nor SELinux",
    "mac_apparmor_enabled": "the shared kernel has no AppArmor",
    "audit_auditd_installed": "auditd is not installed in this machine's /usr",
    "packages_unattended_upgrades_enabled": "unattended-upgrades is not installed in this machine's /usr",
    "packages_security_updates_applied": "fleet nodes have no downloaded package lists (WARN, never PASS)",
}


def stub(tool: str, net: Path) -> str:
    real = "/usr/bin/ss" if tool == "ss" else f"/usr/sbin/{tool}"
    return f'#!/bin/sh\nexec nsenter --net={net} {real} "$@"\n'


def test_fully_hardened_node_has_no_fail_and_no_error(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    host = NetnsHost(tmp_path / "ns", files={"/etc/nftables.conf": RULESET})
    host.start()
    try:
        host.exec(["nft", "-f", "/etc/nftables.conf"])
        net = host.net_file(tmp_path / "hardened.net")
        spec = load_spec(
            "sudo_hardened",
            stubs={tool: stub(tool, net) for tool in (*TOOLS, "ss")},
        )
        spec.files["/etc/nftables.conf"] = FileSpec(content=RULESET)  # persisted == live
        node = fleet.start(spec, name="hardened-full")
        inventory = ansible_inventory(
            tmp_path / "inv.yaml",
            [Target(node.name, node.address, node.port, {"sudo_nopasswd_allowed": ["scanner"]})],
            fleet_keys.bastion,
        )
        known = fleet.known_hosts([node], tmp_path / "known_hosts")
        _, document, stderr = scan_json(inventory, tmp_path / "home", known)
    finally:
        host.stop()
    result = nodes_by_name(document)[node.name]
    assert result["error"] is None, stderr
    assert result["execs"] == 1
    findings = {f["check_id"]: f for f in result["findings"]}
    assert len(findings) == document["run"]["checks_selected"] > 150
    errors = {k: f["reason"] for k, f in findings.items() if f["status"] == "error"}
    assert errors == {}
    bad = {
        k: f["reason"]
        for k, f in findings.items()
        if f["status"] in ("fail", "warn") and k not in KERNEL_OR_HOST_BOUND
    }
    assert bad == {}
    for check_id, why in KERNEL_OR_HOST_BOUND.items():
        assert findings[check_id]["status"] in ("fail", "warn"), (check_id, why)
