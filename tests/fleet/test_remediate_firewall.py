"""Firewall and sysctl fixes applied for real, inside a private network namespace.

Fleet nodes share this machine's network namespace and kernel, so these two fixes run
in a namespace host of tests/fleet/netns.py instead (own network namespace, own /etc,
/run and /var; local transport). net.ipv4.ip_forward is per network namespace, so the
sysctl fix changes the namespace's value, never the machine's.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fleet.netns import REPO, NetnsHost

pytestmark = pytest.mark.fleet

CHECKS = ("firewall_input_default_deny_ipv4", "firewall_ip_forwarding_per_role")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[NetnsHost]:
    # nft loads nothing at boot here: an empty ruleset, forwarding off (a fresh netns).
    with NetnsHost(
        tmp_path / "ns", files={"/etc/nftables.conf": "#!/usr/sbin/nft -f\nflush ruleset\n"}
    ) as ns:
        yield ns


def remediate(
    host: NetnsHost, variables: dict[str, object] | None = None, checks: tuple[str, ...] = CHECKS
) -> dict[str, Any]:
    """`scan --remediate --yes` inside the namespace (local transport), one node's JSON."""
    inventory = host.workdir / "inventory.yaml"
    entry: dict[str, object] = {
        "ansible_connection": "local",
        "nodeward_roles": ["worker"],
        "nodeward_remediate_opt_in": ["firewall_baseline"],
        **(variables or {}),
    }
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"nshost": entry}}}))
    selection = [arg for check in checks for arg in ("--check", check)]
    argv = [
        sys.executable,
        "-m",
        "agent",
        "scan",
        "--inventory",
        str(inventory),
        "--format",
        "json",
        "--quiet",
        "--remediate",
        "--yes",
        "--state-dir",
        str(host.workdir / "state"),
        *selection,
    ]
    proc = host.exec(argv, check=False, env={"PYTHONPATH": str(REPO), "HOME": str(host.workdir)})
    try:
        document: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"no JSON (exit {proc.returncode}): {proc.stderr.decode()[-3000:]}") from exc
    node: dict[str, Any] = document["nodes"][0]
    return node


def test_default_deny_and_forwarding_are_applied_verified_and_idempotent(host: NetnsHost) -> None:
    node = remediate(host)
    remediation = node["remediation"]
    assert remediation["status"] == "applied", remediation
    results = {f["check_id"]: f["remediation_result"] for f in node["findings"]}
    for check in CHECKS:
        assert (results[check]["before"], results[check]["after"]) == ("fail", "pass"), results[check]
    ruleset = host.exec(["nft", "list", "table", "inet", "nodeward"]).stdout.decode()
    assert "policy drop;" in ruleset and "ip saddr 127.0.0.1 tcp dport 22 accept" in ruleset
    assert "tcp dport 10250 accept" in ruleset  # the worker role's kubelet port
    assert host.exec(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == b"1"
    conf = host.exec(["cat", "/etc/nftables.conf"]).stdout.decode()
    assert conf.endswith('include "/etc/nodeward/firewall.nft"\n')
    assert host.exec(["nft", "-c", "-f", "/etc/nftables.conf"], check=False).returncode == 0
    files = ["/etc/nftables.conf", "/etc/nodeward/firewall.nft", "/etc/sysctl.d/60-nodeward.conf"]
    before = host.exec(["sha256sum", *files]).stdout

    again = remediate(host)["remediation"]
    assert again["status"] == "nothing-to-do", again
    assert host.exec(["sha256sum", *files]).stdout == before


def test_a_firewall_that_would_drop_the_bastion_is_refused_here_too(host: NetnsHost) -> None:
    params = {"firewall_input_default_deny_ipv4": {"ssh_sources": ["192.0.2.99/32"]}}
    node = remediate(host, {"nodeward_remediation_params": params}, checks=CHECKS[:1])
    refused = [r for r in node["remediation"]["refused"] if r["remediation"] == "firewall_baseline"]
    assert refused and "192.0.2.99/32, not from the bastion's address 127.0.0.1" in refused[0]["reason"]
    assert host.exec(["nft", "list", "table", "inet", "nodeward"], check=False).returncode != 0
