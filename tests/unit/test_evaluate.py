"""Operators and the evaluator: pure code, so plain unit tests."""

from __future__ import annotations

import dataclasses

import pytest

from agent.facts.model import Absent, Unavailable
from agent.facts.sshd.fact import SshdConfig
from agent.facts.system import SystemInfo
from agent.findings import Severity, Status
from agent.inventory.model import Node
from agent.rules.evaluate import evaluate
from agent.rules.ops import OPERATORS
from agent.rules.schema import Applicability, Check, Condition


def make_check(
    *conditions: Condition, roles: tuple[str, ...] = (), families: tuple[str, ...] = (), manual: bool = False
) -> Check:
    return Check(
        id="sshd_test_check",
        title="test",
        severity=Severity.HIGH,
        fact="sshd",
        needs=(),
        conditions=conditions,
        predicate=None,
        rationale="because",
        references=(),
        applies_to=Applicability(roles=roles, os_family=families),
        remediation=None,
        manual=manual,
        fix_hint="",
        source="test",
    )


def sshd_fact(**options: str) -> SshdConfig:
    return SshdConfig(options={k: (v,) for k, v in options.items()}, source="sshd -T -C user=scanner")


NODE = Node(name="n1")


@pytest.mark.parametrize(
    ("op", "observed", "expected", "result"),
    [
        ("eq", "no", "no", True),
        ("eq", "No", "no", True),
        ("eq", "yes", "no", False),
        ("ne", "yes", "no", True),
        ("in", "no", ("no", "prohibit-password"), True),
        ("in", "yes", ("no",), False),
        ("not_in", "yes", ("no",), True),
        ("lte", "4", 4, True),
        ("lte", "6", 4, False),
        ("lte", "abc", 4, False),  # garbage never satisfies a numeric test
        ("lte", True, 4, False),
        ("gte", "300", 300, True),
        ("lt", "3", 4, True),
        ("gt", "3", 4, False),
        ("matches", "aes256-ctr", r"aes\d+-ctr", True),
        ("matches", "3des-cbc", r"aes\d+-ctr", False),
        ("contains", ("LANG", "LC_*"), "lang", True),
        ("not_contains", ("LANG",), "LC_*", True),
    ],
)
def test_operators(op: str, observed: object, expected: object, result: bool) -> None:
    assert OPERATORS[op](observed, expected) is result


def test_pass_and_fail_carry_evidence() -> None:
    check = make_check(Condition("permitrootlogin", "in", ("no",)))
    passed = evaluate(check, {"sshd": sshd_fact(permitrootlogin="no")}, NODE)
    failed = evaluate(check, {"sshd": sshd_fact(permitrootlogin="yes")}, NODE)
    assert passed.status is Status.PASS
    assert failed.status is Status.FAIL
    (evidence,) = failed.evidence
    assert evidence.observed == "yes"
    assert evidence.expected == "one of: no"
    assert evidence.source == "sshd -T -C user=scanner"
    assert "permitrootlogin is yes" in failed.reason


def test_unavailable_fact_is_error_never_pass() -> None:
    check = make_check(Condition("permitrootlogin", "in", ("no",)))
    finding = evaluate(check, {"sshd": Unavailable("sudo refused")}, NODE)
    assert finding.status is Status.ERROR and finding.reason == "sudo refused"
    assert evaluate(check, {}, NODE).status is Status.ERROR


def test_missing_key_is_error_and_absent_component_not_applicable() -> None:
    check = make_check(Condition("permitrootlogin", "eq", "no"))
    assert evaluate(check, {"sshd": sshd_fact(port="22")}, NODE).status is Status.ERROR
    assert evaluate(check, {"sshd": Absent("no sshd")}, NODE).status is Status.NOT_APPLICABLE


def test_role_and_distro_applicability() -> None:
    check = make_check(Condition("x", "eq", "y"), roles=("control-plane",))
    finding = evaluate(check, {"sshd": sshd_fact(x="n")}, Node(name="w", roles=("worker",)))
    assert finding.status is Status.NOT_APPLICABLE and "control-plane" in finding.reason
    assert (
        evaluate(check, {"sshd": sshd_fact(x="y")}, Node(name="c", roles=("control-plane",))).status
        is Status.PASS
    )
    rhel_only = make_check(Condition("x", "eq", "y"), families=("rhel",))
    debian = SystemInfo("debian", (), "12", "Debian", "6.1", "x86_64", "n", True)
    assert (
        evaluate(rhel_only, {"sshd": sshd_fact(x="n"), "system": debian}, NODE).status
        is Status.NOT_APPLICABLE
    )


def test_a_manual_check_fails_like_any_other_when_the_effective_value_is_wrong() -> None:
    # CIS calls a check Manual when its authors could not automate it; nodeward has the
    # effective value, so the label is metadata and the verdict is FAIL (issue 10).
    check = make_check(Condition("x", "eq", "y"), manual=True)
    assert evaluate(check, {"sshd": sshd_fact(x="n")}, NODE).status is Status.FAIL


def test_all_conditions_must_hold() -> None:
    check = make_check(Condition("a", "eq", "1"), Condition("b", "eq", "2"))
    assert evaluate(check, {"sshd": sshd_fact(a="1", b="2")}, NODE).status is Status.PASS
    failed = evaluate(check, {"sshd": sshd_fact(a="1", b="3")}, NODE)
    assert failed.status is Status.FAIL and len(failed.evidence) == 2


def test_hostile_values_are_escaped_in_evidence() -> None:
    check = make_check(Condition("banner", "eq", "none"))
    finding = evaluate(check, {"sshd": sshd_fact(banner="\x1b[31mred\x00")}, NODE)
    assert "\x1b" not in finding.evidence[0].observed and "\\x1b" in finding.evidence[0].observed


def test_a_needed_second_fact_that_is_unavailable_makes_an_error() -> None:
    check = dataclasses.replace(make_check(Condition("x", "eq", "y")), needs=("system",))
    finding = evaluate(check, {"sshd": sshd_fact(x="y"), "system": Unavailable("no os-release")}, NODE)
    assert finding.status is Status.ERROR and "system" in finding.reason and "no os-release" in finding.reason
    assert evaluate(check, {"sshd": sshd_fact(x="y")}, NODE).status is Status.ERROR
