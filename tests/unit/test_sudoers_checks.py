"""The sudo predicates beyond their catalogue fixtures: inventory allow-lists, the scan
account's own rule, and never a PASS when part of the policy is out of sight."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from agent.facts.model import FactValue, RawSection
from agent.facts.sudoers import fact as sudoers
from agent.facts.sudoers.parse_file import parse_text
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.verdict import Verdict
from tests.checkrun import run_check

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts" / "sudoers"


def fact(name: str) -> sudoers.SudoersFact:
    data = (FIXTURES / name).read_bytes()
    parsed = sudoers.parse(RawSection("sudoers", data, b"", 0, False), {"user": "scanner"})
    assert isinstance(parsed, sudoers.SudoersFact)
    return parsed


def judge(check: str, value: FactValue, **variables: object) -> Verdict:
    return run_check(check, {"sudoers": value}, Node(name="n", vars=variables))


def test_nopasswd_names_the_scan_account_and_how_to_allow_list_it() -> None:
    verdict = judge("sudo_nopasswd_not_used", fact("debian12_weak.out"))
    assert verdict.status is Status.FAIL
    assert (
        "deploy may run ALL as (ALL) without a password (/etc/sudoers.d/90-cloud-init-users:4)"
        in verdict.reason
    )
    assert "scan account scanner" in verdict.reason and "sudo_nopasswd_allowed" in verdict.reason
    assert {e.source for e in verdict.evidence} == {
        "/etc/sudoers.d/90-cloud-init-users:4",
        "/etc/sudoers.d/scanner:2",
    }


def test_nopasswd_allow_list_covers_users_and_groups() -> None:
    weak = fact("debian12_weak.out")
    partly = judge("sudo_nopasswd_not_used", weak, sudo_nopasswd_allowed=["scanner"])
    assert (
        partly.status is Status.FAIL
        and "scanner" not in partly.reason.split(";")[0]
        and "deploy" in partly.reason
    )
    allowed = judge("sudo_nopasswd_not_used", weak, sudo_nopasswd_allowed=["scanner", "DEPLOY"])
    assert allowed.status is Status.PASS and "only allow-listed accounts" in allowed.reason
    assert {e.source for e in allowed.evidence} == {
        "/etc/sudoers.d/90-cloud-init-users:4",
        "/etc/sudoers.d/scanner:2",
    }
    assert judge("sudo_nopasswd_not_used", weak, sudo_nopasswd_allowed=[1, 2]).status is Status.ERROR


def test_group_scoped_authenticate_can_be_allow_listed() -> None:
    weak = fact("debian12_weak.out")
    failing = judge("sudo_authentication_not_disabled", weak)
    assert failing.status is Status.FAIL and "%ops (members: alice, bob)" in failing.reason
    assert (
        judge("sudo_authentication_not_disabled", weak, sudo_nopasswd_allowed=["%ops"]).status is Status.PASS
    )


def test_root_grants_approved_by_inventory() -> None:
    weak = fact("debian12_weak.out")
    verdict = judge("sudo_root_grants_approved", weak)
    assert verdict.status is Status.FAIL and "Root-capable: root" in verdict.reason
    approved = judge("sudo_root_grants_approved", weak, sudo_root_allowed=["alice", "bob", "deploy"])
    assert (
        approved.status is Status.PASS
        and "scanner: any command as (ALL) without a password" in approved.reason
    )


def test_rules_out_of_sight_never_pass() -> None:
    clean = fact("debian12_clean.out")
    assert judge("sudo_nopasswd_not_used", clean).status is Status.PASS
    sss = dataclasses.replace(clean, nsswitch=("files", "sss"))
    verdict = judge("sudo_nopasswd_not_used", sss)
    assert verdict.status is Status.ERROR and "sss" in verdict.reason
    missing = dataclasses.replace(
        clean, policy=dataclasses.replace(clean.policy, uncollected=("/etc/sudoers.d/",))
    )
    assert judge("sudo_root_grants_approved", missing).status is Status.ERROR
    # a violation in the files is still a violation
    assert (
        judge(
            "sudo_nopasswd_not_used", dataclasses.replace(fact("debian12_weak.out"), nsswitch=("sss",))
        ).status
        is Status.FAIL
    )


def test_a_later_global_default_undoes_a_scoped_one() -> None:
    clean = fact("debian12_clean.out")

    def with_defaults(text: str) -> sudoers.SudoersFact:
        parsed = parse_text(text, "/etc/sudoers.d/50-x")
        policy = dataclasses.replace(clean.policy, entries=clean.policy.entries + parsed.entries)
        return dataclasses.replace(clean, policy=policy)

    scoped = with_defaults("Defaults:alice !use_pty\n")
    verdict = judge("sudo_use_pty_enabled", scoped)
    assert verdict.status is Status.FAIL and "users alice (/etc/sudoers.d/50-x:1)" in verdict.reason
    assert (
        judge("sudo_use_pty_enabled", with_defaults("Defaults:alice !use_pty\nDefaults use_pty\n")).status
        is Status.PASS
    )
    command = with_defaults("Defaults!/usr/bin/vi timestamp_timeout=60\nDefaults timestamp_timeout=5\n")
    assert (
        judge("sudo_timestamp_timeout_limited", command).status is Status.FAIL
    )  # command Defaults come last


def test_sudo_missing_makes_policy_checks_not_applicable() -> None:
    absent = fact("debian12_absent.out")
    assert judge("sudo_installed", absent).status is Status.FAIL
    assert judge("sudo_use_pty_enabled", absent).status is Status.NOT_APPLICABLE
