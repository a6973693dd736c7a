"""Predicate families: typed arguments validated with file and line, unique names.

The catalogue-wide guarantees (issue 11): a family's numbers live in the check's YAML
and are validated when the catalogue loads; no name is registered twice; no
table-driven check names a predicate equal to its own id.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.catalog import load_catalog
from agent.errors import Problem
from agent.facts.model import RawSection
from agent.facts.registry import FACTS
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.families import DuplicateName, Family, FamilyArgs, unique_families, unique_registry
from agent.rules.family_component_flag import ComponentFlag
from agent.rules.family_file_permissions import FilePermissions
from agent.rules.predicates import FAMILIES, PREDICATES
from agent.rules.schema import Check, validate_check
from agent.rules.verdict import Verdict
from agent.yamlsafe import load_yaml
from tests.checkrun import run_check

CHECK_HEAD = """\
id: demo_check
title: demo
severity: medium
fact: k8s_files
rationale: because
"""


def validate(assertion: str) -> Check | list[Problem]:
    text = CHECK_HEAD + assertion
    data, positions = load_yaml(text, "demo_check.yaml", strict=True)
    return validate_check(
        data,
        file="demo_check.yaml",
        stem="demo_check",
        line_of=positions.line,
        facts=frozenset(FACTS),
        predicates=frozenset(PREDICATES),
        families={name: family.args for name, family in FAMILIES.items()},
    )


def problems_of(assertion: str) -> list[Problem]:
    result = validate(assertion)
    assert isinstance(result, list), f"expected problems, got a check: {result}"
    return result


def test_a_family_check_carries_typed_args() -> None:
    check = validate(
        "assert:\n  predicate: file_permissions\n"
        '  args: {files: kubelet_config, what: kubelet config, mode: "0600", owner: "root:root"}\n'
    )
    assert isinstance(check, Check)
    assert isinstance(check.args, FilePermissions)
    assert check.args.mode == 0o600
    assert check.args.owner == "root:root"


@pytest.mark.parametrize("written", ["600", "0o600", "0800", "06000"])
def test_a_mode_that_is_not_octal_text_is_refused_with_its_line(written: str) -> None:
    # 600 is six hundred to YAML and 0o600 an integer: both are refused rather than guessed.
    [problem] = problems_of(
        "assert:\n  predicate: file_permissions\n  args:\n    files: kubelet_config\n    what: x\n"
        f"    mode: {written}\n"
    )
    assert problem.line == 11
    assert problem.field == "assert.args.mode"


def test_an_unquoted_leading_zero_mode_stays_octal_text() -> None:
    # agent/yamlsafe.py keeps 0600 a string, so it is read as octal, never as 600 or 384.
    check = validate("assert: {predicate: file_permissions, args: {files: cni, what: x, mode: 0640}}\n")
    assert isinstance(check, Check) and isinstance(check.args, FilePermissions)
    assert check.args.mode == 0o640


def test_an_unknown_file_role_and_an_unknown_key_are_both_reported() -> None:
    problems = problems_of(
        "assert:\n  predicate: file_permissions\n  args:\n    files: kubelet_cfg\n    what: x\n"
        '    mode: "0600"\n    colour: red\n'
    )
    fields = {p.field: p for p in problems}
    assert "assert.args.files" in fields and "kubelet_cfg" in fields["assert.args.files"].message
    assert "assert.args.colour" in fields and fields["assert.args.colour"].line == 12


def test_a_family_check_must_judge_something() -> None:
    [problem] = problems_of("assert: {predicate: file_permissions, args: {files: cni, what: x}}\n")
    assert "at least one of mode, owner, dir_mode" in problem.message


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ("{component: kube-apiserver, flag: audit-log-maxage, op: ge}", "needs an integer value"),
        ("{component: kube-apiserver, flag: profiling, op: 'false', value: 3}", "takes no value"),
        ("{component: kube-apiserver, flag: [a, b], op: ge, value: 3}", "only with op `set`"),
        ("{component: kubelet, flag: profiling, op: 'false'}", "component"),
        ("{component: etcd, flag: auto-tls, op: maybe}", "op"),
    ],
)
def test_component_flag_args_are_checked(args: str, needle: str) -> None:
    problems = problems_of(f"assert: {{predicate: component_flag, args: {args}}}\n")
    assert any(needle in f"{p.field} {p.message}" for p in problems), problems


def test_a_family_without_args_and_a_named_predicate_with_args_are_refused() -> None:
    [missing] = problems_of("assert: {predicate: component_flag}\n")
    assert "needs `args`" in missing.message
    named = next(iter(PREDICATES))
    [extra] = problems_of(f"assert: {{predicate: {named}, args: {{x: 1}}}}\n")
    assert "takes no args" in extra.message


def test_a_name_registered_twice_is_refused() -> None:
    def judge(facts: object, node: object) -> Verdict:
        raise AssertionError("never called")

    with pytest.raises(DuplicateName, match="'twice'"):
        unique_registry(({"twice": judge}, {"twice": judge}))
    family = Family("fam", FamilyArgs, lambda args, facts, node: judge(facts, node), "demo")
    with pytest.raises(DuplicateName, match="'fam'"):
        unique_families((family, family))
    with pytest.raises(DuplicateName, match="'fam'"):
        unique_families((family,), taken=("fam",))


def test_the_registries_hold_no_shared_name() -> None:
    assert not set(PREDICATES) & set(FAMILIES)


def test_table_driven_checks_name_a_family_not_their_own_id() -> None:
    """The Kubernetes file and control-plane flag checks were one function filled in from
    a Python table; their data is now the checks' YAML."""
    catalog = load_catalog()
    table_driven = [
        c for c in catalog.checks if Path(c.source).parent.name in ("k8s_files", "apiserver", "etcd")
    ]
    assert len(table_driven) >= 50
    assert [c.id for c in table_driven if c.predicate == c.id] == []
    by_family = [c for c in table_driven if c.args is not None]
    assert len(by_family) >= 53  # the 53 checks that were filled in from FILE_RULES and _JUDGES
    maxage = next(c for c in catalog.checks if c.id == "apiserver_audit_log_maxage_sufficient")
    assert maxage.args == ComponentFlag(
        component="kube-apiserver", flag="audit-log-maxage", op="ge", value=30
    )


@pytest.mark.parametrize(
    ("assertion", "needle"),
    [
        ("{predicate: sshd_keyword_off, args: {keyword: 'x11 forwarding'}}", "not an sshd keyword"),
        ("{predicate: sshd_algorithms, args: {keyword: ciphers}}", "forbidden"),
        ("{predicate: sshd_algorithms, args: {keyword: banner, forbidden: [x]}}", "keyword"),
        ("{predicate: sshd_match_keeps_off, args: {keywords: [x11forwarding], what: x}}", "judged for"),
        (
            "{predicate: port_exposure, args: {service: s, proto: tcp, ports: '2380-2379', fail_when: [open],"
            " expected: e}}",
            "not a port range",
        ),
        (
            "{predicate: port_exposure, args: {service: s, proto: sctp, ports: '1', fail_when: [open],"
            " expected: e}}",
            "proto",
        ),
    ],
)
def test_sshd_and_port_family_args_are_checked(assertion: str, needle: str) -> None:
    problems = problems_of(f"assert: {assertion}\n")
    assert any(needle in f"{p.field} {p.message}" for p in problems), problems


def test_sshd_keywords_are_read_as_sshd_prints_them() -> None:
    # `sshd -T` prints keywords in lower case: a check written as in sshd_config still matches.
    check = validate("assert: {predicate: sshd_keyword_off, args: {keyword: X11Forwarding}}\n")
    assert isinstance(check, Check) and check.args is not None
    assert check.args.model_dump()["keyword"] == "x11forwarding"


@pytest.mark.parametrize(
    ("flags", "status"),
    [
        ("--authentication-config=/etc/kubernetes/authn.yaml", Status.ERROR),
        ("--authentication-config=/etc/kubernetes/authn.yaml --anonymous-auth=false", Status.PASS),
        ("--anonymous-auth=false", Status.PASS),
        ("", Status.FAIL),  # unset: the API server's default is true
    ],
)
def test_a_flag_moved_into_an_unread_file_is_error_never_pass(flags: str, status: Status) -> None:
    """--authentication-config can switch anonymous access on; nodeward does not read that
    file yet, so without the flag itself the verdict is unknown."""
    raw = f"@nodeward-k8s 1\np 1190 /usr/local/bin/kube-apiserver kube-apiserver {flags}\n"
    section = RawSection("k8s_components", raw.encode(), b"", 0, False)
    facts = {"k8s_components": FACTS["k8s_components"].parse(section, {})}
    verdict = run_check("apiserver_anonymous_auth_disabled", facts, Node(name="cp", roles=("control-plane",)))
    assert verdict.status is status, verdict.reason
    if status is Status.ERROR:
        assert "--authentication-config" in verdict.reason
