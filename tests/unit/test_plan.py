"""Planning: failing findings -> ordered fixes, bastion-side refusals, the node's event
stream, and the journal. Pure code: no node, no SSH."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.facts.model import FactValue, Observation
from agent.findings import Finding, Severity, Status
from agent.inventory.model import Node
from agent.remediate import events
from agent.remediate.bind import bind
from agent.remediate.context import Context, keep_users
from agent.remediate.journal import Journal
from agent.remediate.manifest import load_remediations

REMEDIATIONS = load_remediations()
CTX = Context(
    login_user="scanner", keep_users=("scanner",), client_addr="192.0.2.10", ssh_port=22, roles=("worker",)
)


def fail(check_id: str, remediation: str | None) -> Finding:
    return Finding(check_id, check_id, Severity.HIGH, Status.FAIL, "bad", remediation=remediation)


def node(**variables: object) -> Node:
    return Node(name="n1", roles=("worker",), vars=variables)


def test_failing_findings_become_ordered_fixes_and_passing_ones_do_not() -> None:
    findings = [
        fail("sshd_permit_root_login_disabled", "sshd_option"),
        fail("sshd_config_files_protected", "file_mode"),
        Finding(
            "sshd_x11_forwarding_disabled", "t", Severity.LOW, Status.PASS, "ok", remediation="sshd_option"
        ),
        fail("sshd_client_alive_configured", "sshd_option"),
        fail("mac_selinux_enforcing", None),
    ]
    binding = bind(findings, {}, node(), CTX, REMEDIATIONS)
    assert [(f.manifest.id, f.params.get("keyword")) for f in binding.fixes] == [
        ("file_mode", None),  # order 10 before sshd_option's 50
        ("sshd_option", "ClientAliveInterval"),  # one check, two fixes, in binding order
        ("sshd_option", "ClientAliveCountMax"),
        ("sshd_option", "PermitRootLogin"),
    ]
    assert binding.unfixable == (
        ("mac_selinux_enforcing", "no remediation template (see docs/remediation.md)"),
    )


def test_two_checks_asking_for_the_same_change_share_one_fix() -> None:
    findings = [
        fail("kubelet_config_file_mode_restricted", "file_mode"),
        fail("kubelet_config_file_mode_restricted", "file_mode"),
    ]
    binding = bind(findings, {}, node(), CTX, REMEDIATIONS)
    assert len(binding.fixes) == 1 and binding.fixes[0].checks == ("kubelet_config_file_mode_restricted",)


def test_role_decides_the_value() -> None:
    finding = [fail("firewall_ip_forwarding_per_role", "sysctl_value")]
    worker = bind(finding, {}, node(), CTX, REMEDIATIONS).fixes[0]
    plain = bind(
        finding, {}, Node(name="b"), Context("scanner", ("scanner",), "192.0.2.10", 22, ()), REMEDIATIONS
    ).fixes[0]
    assert (worker.params["value"], plain.params["value"]) == ("1", "0")


def test_inventory_adds_overrides_skips_and_opts_in() -> None:
    findings = [
        fail("sshd_max_auth_tries_limited", "sshd_option"),
        fail("sshd_x11_forwarding_disabled", "sshd_option"),
    ]
    host = node(
        nodeward_fixes=[
            {"remediation": "sshd_option", "params": {"keyword": "AllowUsers", "value": "scanner alice"}}
        ],
        nodeward_remediation_params={"sshd_max_auth_tries_limited": {"value": "3"}},
        nodeward_remediate_skip=["sshd_x11_forwarding_disabled"],
    )
    binding = bind(findings, {}, host, CTX, REMEDIATIONS)
    assert [(f.params["keyword"], f.params["value"], f.checks) for f in binding.fixes] == [
        ("MaxAuthTries", "3", ("sshd_max_auth_tries_limited",)),
        ("AllowUsers", "scanner alice", ()),
    ]
    assert binding.refused[0].reason.startswith("skipped")


def test_hostile_inventory_parameters_are_refused_not_rendered() -> None:
    host = node(
        nodeward_fixes=[
            {"remediation": "sshd_option", "params": {"keyword": "Banner", "value": "x\nMatch all"}}
        ]
    )
    binding = bind([], {}, host, CTX, REMEDIATIONS)
    assert binding.fixes == () and "control character" in binding.refused[0].reason


def test_opt_in_fixes_wait_for_the_inventory() -> None:
    finding = [fail("firewall_input_default_deny_ipv4", "firewall_baseline")]
    refused = bind(finding, {}, node(), CTX, REMEDIATIONS)
    assert refused.fixes == () and "opt-in" in refused.refused[0].reason
    allowed = bind(finding, {}, node(nodeward_remediate_opt_in=["firewall_baseline"]), CTX, REMEDIATIONS)
    fix = allowed.fixes[0]
    assert fix.params["ssh_sources"] == ("192.0.2.10/32",) and fix.params["ssh_port"] == 22
    assert "10250" in fix.params["tcp_ports"]  # type: ignore[operator]


def test_a_firewall_without_the_bastions_ssh_path_is_refused() -> None:
    """L9: the candidate must let the bastion's address (as the node sees it) reach SSH."""
    finding = [fail("firewall_input_default_deny_ipv4", "firewall_baseline")]
    host = node(
        nodeward_remediate_opt_in=["firewall_baseline"],
        nodeward_remediation_params={"firewall_input_default_deny_ipv4": {"ssh_sources": ["10.9.9.9/32"]}},
    )
    binding = bind(finding, {}, host, CTX, REMEDIATIONS)
    assert binding.fixes == ()
    assert "not from the bastion's address 192.0.2.10" in binding.refused[0].reason
    other_port = bind(
        finding,
        {},
        node(nodeward_remediate_opt_in=["firewall_baseline"]),
        Context("scanner", ("scanner",), "192.0.2.10", 2222, ("worker",)),
        REMEDIATIONS,
    )
    assert other_port.fixes[0].params["ssh_port"] == 2222  # auto: the port this connection uses


@pytest.mark.parametrize("variable", ["ansible_password", "ansible_ssh_pass"])
def test_password_logins_declared_in_the_inventory_keep_password_authentication(variable: str) -> None:
    """L4, the bastion's half: the inventory itself logs in with a password."""
    finding = [fail("sshd_password_authentication_disabled", "sshd_option")]
    binding = bind(finding, {}, node(**{variable: "secret"}), CTX, REMEDIATIONS)
    assert binding.fixes == () and "L4" in binding.refused[0].reason
    forced = Context("scanner", ("scanner",), "192.0.2.10", 22, ("worker",), force=True)
    assert len(bind(finding, {}, node(**{variable: "secret"}), forced, REMEDIATIONS).fixes) == 1


@dataclass
class _Setting:
    layer: str
    where: str


@dataclass
class _Kubelet:
    settings: dict[str, _Setting]

    def lookup(self, path: str) -> Observation | None:
        return None


def test_a_kubelet_field_set_by_a_flag_is_refused() -> None:
    finding = [fail("kubelet_anonymous_auth_disabled", "kubelet_config_field")]
    flagged: dict[str, FactValue] = {
        "kubelet": _Kubelet({"authentication.anonymous.enabled": _Setting("flag", "--anonymous-auth=true")})
    }
    binding = bind(finding, flagged, node(), CTX, REMEDIATIONS)
    assert binding.fixes == () and "--anonymous-auth=true" in binding.refused[0].reason
    in_file: dict[str, FactValue] = {
        "kubelet": _Kubelet({"authentication.anonymous.enabled": _Setting("config", "x")})
    }
    assert len(bind(finding, in_file, node(), CTX, REMEDIATIONS).fixes) == 1


def test_keep_users_are_the_login_account_then_the_inventorys() -> None:
    assert keep_users(node(nodeward_login_users=["alice", "bad name", "scanner", "bob"]), "scanner") == (
        "scanner",
        "alice",
        "bob",
    )
    assert keep_users(node(nodeward_login_users="alice, bob"), "root") == ("root", "alice", "bob")


MARK = "nodeward-0123abcd"


def test_events_only_count_behind_the_marker_and_diffs_are_kept_raw() -> None:
    out = (
        f"{MARK}\tstart\tr1\thold\tscanner\t127.0.0.1\t22\n"
        "nodeward\tfix\t9\tforged\tchanges\n"  # no marker: ignored
        f"{MARK}\tfix\t1\tsshd_option\tchanges\n"
        f"{MARK}\tfix\t2\tsshd_option\trefused\tdeploy has no authorized key\n"
        f"{MARK}\tchange\t/etc/ssh/sshd_config\tcontent\n"
        f"{MARK}\tdiff-begin\t/etc/ssh/sshd_config\n"
        "--- a/etc/ssh/sshd_config\n+++ b/etc/ssh/sshd_config\n"
        f"+{MARK}\tresult\tapplied\n"  # a diff line that looks like an event: still diff
        f"{MARK}\tdiff-end\t/etc/ssh/sshd_config\n"
        f"{MARK}\tbackup\t/etc/ssh/sshd_config\t{'a' * 64}\t0644\t0:0\n"
        f"{MARK}\tresult\theld\t/var/lib/nodeward/backups/r1\n"
    ).encode()
    report = events.parse(out, MARK)
    assert [(f.number, f.status) for f in report.fixes] == [(1, "changes"), (2, "refused")]
    assert report.fixes[1].reason == "deploy has no authorized key"
    assert report.result == "held" and report.backup_dir == "/var/lib/nodeward/backups/r1"
    assert report.diffs["/etc/ssh/sshd_config"].endswith(f"+{MARK}\tresult\tapplied")
    assert report.changes == {"/etc/ssh/sshd_config": "content"}


def test_hostile_event_text_is_made_printable_and_bounded() -> None:
    out = f"{MARK}\tfailed\tvalidate\t\x1b[31mred\x00{'x' * 5000}\n".encode() + b"\xff\xfe\n"
    report = events.parse(out, MARK)
    reason = report.failure
    assert "\x1b" not in reason and "\x00" not in reason and len(reason) < 700
    assert report.result == "failed"  # no result line at all counts as failed


def test_a_cut_off_diff_is_flagged() -> None:
    report = events.parse(f"{MARK}\tdiff-begin\t/x\n+line\n".encode(), MARK)
    assert report.truncated and report.diffs["/x"].rstrip("\n") == "+line"


def test_journal_records_steps_with_checksums_and_is_private(tmp_path: Path) -> None:
    with Journal(tmp_path / "state") as journal:
        journal.start_run("r1", "scan --remediate", "inv.yaml", "0.1.0")
        journal.node("r1", "n1", "10.0.0.1")
        journal.record("r1", "n1", "backed_up", path="/etc/ssh/sshd_config", checksum="a" * 64)
        journal.record("r1", "n1", "committed")
        journal.node("r1", "n1", "10.0.0.1", "/var/lib/nodeward/backups/r1")
        with pytest.raises(ValueError, match="unknown journal step"):
            journal.record("r1", "n1", "teleported")
        assert [s.step for s in journal.steps("r1")] == ["backed_up", "committed"]
        assert journal.steps("r1")[0].checksum == "a" * 64
        assert list(journal.nodes("r1")) == [("n1", "10.0.0.1", "/var/lib/nodeward/backups/r1")]
        assert journal.has_run("r1") and not journal.has_run("r2")
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "journal.sqlite3").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
