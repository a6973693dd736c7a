"""Site overlays (issue 11 item 2): a site changes a family's args or a check's severity
without forking the catalogue; every bad overlay is refused with file, line and field,
and then nothing at all is applied.

Loaded through the real catalogue (agent/catalog.py) so the tests judge exactly what a
scan loads, including the re-validation by each family's argument class.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from agent.catalog import load_catalog
from agent.errors import CatalogError, Problem
from agent.findings import Override, Severity, Status
from agent.inventory.model import Node
from agent.rules.evaluate import evaluate
from agent.rules.family_component_flag import ComponentFlag
from agent.rules.family_file_permissions import FilePermissions
from agent.rules.predicates import FAMILIES
from agent.rules.schema import Check
from tests.unit.test_catalog import FIXTURES, build_facts

REPO = Path(__file__).parents[2]
MAXAGE = "apiserver_audit_log_maxage_sufficient"
READ_ONLY_PORT = "kubelet_read_only_port_disabled"  # a YAML comparison: {key, op, value}
# A named predicate (no args): whichever the catalogue has first, as families keep replacing them.
NAMED = next(c.id for c in load_catalog().checks if c.predicate is not None and c.args is None)
KUBELET_MODE = "kubelet_config_file_mode_restricted"  # file_permissions family

ACME = f"""\
overlay: acme-prod
checks:
  {MAXAGE}:
    args: {{value: 90}}
    reason: ACME keeps 90 days of audit logs (SEC-1234)
  {READ_ONLY_PORT}:
    severity: high
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def by_id(*overlays: Path, catalog_dir: str | None = None) -> dict[str, Check]:
    return {check.id: check for check in load_catalog(catalog_dir, overlays=overlays).checks}


def problems(*overlays: Path) -> list[Problem]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(overlays=overlays)
    return list(caught.value.problems)


def test_the_acceptance_overlay_changes_the_threshold_and_the_severity(tmp_path: Path) -> None:
    plain = by_id()
    acme = write(tmp_path, "acme.yaml", ACME)
    checks = by_id(acme)

    maxage = checks[MAXAGE]
    assert isinstance(maxage.args, ComponentFlag)
    # Merged key by key: only `value` changed, the rest is still the check's own.
    assert (maxage.args.component, maxage.args.flag, maxage.args.op, maxage.args.value) == (
        "kube-apiserver", "audit-log-maxage", "ge", 90,
    )  # fmt: skip
    assert maxage.args_yaml == {
        "component": "kube-apiserver",
        "flag": "audit-log-maxage",
        "op": "ge",
        "value": 90,
    }
    assert maxage.severity is plain[MAXAGE].severity  # not touched
    assert maxage.overridden == (
        Override(
            "acme-prod", f"{acme}:4", "args.value", "30", "90", "ACME keeps 90 days of audit logs (SEC-1234)"
        ),
    )

    port = checks[READ_ONLY_PORT]
    assert plain[READ_ONLY_PORT].severity is Severity.MEDIUM and port.severity is Severity.HIGH
    assert port.overridden == (Override("acme-prod", f"{acme}:7", "severity", "medium", "high"),)
    assert port.conditions == plain[READ_ONLY_PORT].conditions

    # Every other check is exactly the catalogue's.
    assert {k: v for k, v in checks.items() if k not in (MAXAGE, READ_ONLY_PORT)} == {
        k: v for k, v in plain.items() if k not in (MAXAGE, READ_ONLY_PORT)
    }


def test_a_finding_carries_the_overlaid_severity_and_what_changed(tmp_path: Path) -> None:
    check = by_id(write(tmp_path, "acme.yaml", ACME))[READ_ONLY_PORT]
    fixture = FIXTURES / READ_ONLY_PORT / "fail_config_file.yaml"
    finding = evaluate(check, build_facts(yaml.safe_load(fixture.read_text())), Node("n1", roles=("worker",)))
    assert finding.status is Status.FAIL  # the overlay changes severity, not the verdict
    assert finding.severity is Severity.HIGH
    assert [o.describe() for o in finding.overrides] == ["severity medium -> high (overlay acme-prod)"]


def test_a_mode_is_overridden_as_octal_text_and_shown_as_written(tmp_path: Path) -> None:
    overlay = write(tmp_path, "modes.yaml", f'checks:\n  {KUBELET_MODE}:\n    args: {{mode: "0640"}}\n')
    check = by_id(overlay)[KUBELET_MODE]
    assert isinstance(check.args, FilePermissions) and check.args.mode == 0o640
    (change,) = check.overridden
    assert (change.overlay, change.field, change.old, change.new) == ("modes", "args.mode", "0600", "0640")


def test_restating_the_catalogue_value_is_not_reported_as_a_change(tmp_path: Path) -> None:
    overlay = write(
        tmp_path, "same.yaml", f"checks:\n  {MAXAGE}:\n    args: {{value: 30}}\n    severity: medium\n"
    )
    assert by_id(overlay)[MAXAGE].overridden == ()


def test_overlays_apply_in_order_catalogue_folder_first_then_each_given_file(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(REPO / "checks", catalog / "checks")
    (catalog / "overlays").mkdir()
    write(
        catalog / "overlays",
        "10-base.yaml",
        f"overlay: base\nchecks:\n  {MAXAGE}:\n    args: {{value: 60}}\n",
    )
    write(catalog / "overlays", "20-site.yaml", f"overlay: site\nchecks:\n  {MAXAGE}:\n    severity: low\n")
    write(catalog / "overlays", "notes.txt", "not an overlay: ignored\n")
    given = write(tmp_path, "cli.yaml", f"overlay: cli\nchecks:\n  {MAXAGE}:\n    args: {{value: 120}}\n")

    check = by_id(given, catalog_dir=str(catalog))[MAXAGE]
    assert isinstance(check.args, ComponentFlag) and check.args.value == 120
    assert check.severity is Severity.LOW
    assert [(o.overlay, o.field, o.old, o.new) for o in check.overridden] == [
        ("base", "args.value", "30", "60"),
        ("site", "severity", "medium", "low"),
        ("cli", "args.value", "60", "120"),  # a later overlay sees the earlier ones' result
    ]
    # The bundled catalogue has no overlays folder: without --catalog-dir nothing extra applies.
    assert by_id()[MAXAGE].overridden == ()


def test_every_problem_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    overlay = write(
        tmp_path,
        "bad.yaml",
        "overlay: bad name!\n"  # 1
        "chekcs: {}\n"  # 2
        "checks:\n"  # 3
        "  apiserver_audit_log_maxage_sufficent:\n"  # 4: a typo
        "    severity: high\n"  # 5
        f"  {MAXAGE}:\n"  # 6
        '    args: {value: "90"}\n'  # 7: text, not an integer
        "    severity: urgent\n"  # 8
        "    colour: red\n"  # 9
        f"  {READ_ONLY_PORT}:\n"  # 10
        "    args: {value: 1}\n"  # 11: a YAML comparison has no args
        f"  {NAMED}:\n"  # 12
        "    args: {x: 1}\n"  # 13: a named predicate has no args
        f"  {KUBELET_MODE}:\n"  # 14
        "    args:\n"  # 15
        "      owner: bob\n"  # 16
        "      colour: red\n"  # 17: not an argument of the family
        "  sshd_x11_forwarding_disabled: {}\n",  # 18: changes nothing
    )
    found = {(p.line, p.field): p.message for p in problems(overlay)}
    assert all(p.file == str(overlay) for p in problems(overlay))
    assert "overlay name" in found[(1, "overlay")]
    assert "unknown key" in found[(2, "chekcs")]
    assert f"did you mean {MAXAGE}" in found[(4, "checks.apiserver_audit_log_maxage_sufficent")]
    assert "valid integer" in found[(7, f"checks.{MAXAGE}.args.value")]
    assert "unknown severity 'urgent'" in found[(8, f"checks.{MAXAGE}.severity")]
    assert "unknown key" in found[(9, f"checks.{MAXAGE}.colour")]
    assert "a YAML comparison, which takes no args" in found[(11, f"checks.{READ_ONLY_PORT}.args")]
    assert f"the named predicate '{NAMED}'" in found[(13, f"checks.{NAMED}.args")]
    assert "'root' or 'root:root'" in found[(16, f"checks.{KUBELET_MODE}.args.owner")]
    assert "Extra inputs are not permitted" in found[(17, f"checks.{KUBELET_MODE}.args.colour")]
    assert "changes nothing" in found[(18, "checks.sshd_x11_forwarding_disabled")]
    assert len(found) == 11, found


def test_a_combination_the_family_forbids_is_refused_at_the_args_line(tmp_path: Path) -> None:
    # op `true` takes no value, and the check's own args carry value: 30.
    overlay = write(tmp_path, "combo.yaml", f"checks:\n  {MAXAGE}:\n    args:\n      op: 'true'\n")
    (problem,) = problems(overlay)
    assert (problem.line, problem.field) == (3, f"checks.{MAXAGE}.args")
    assert "takes no value" in problem.message and "with the check's own args" in problem.message


def test_one_bad_overlay_means_nothing_is_applied(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", ACME)
    bad = write(tmp_path, "bad.yaml", f"checks:\n  {MAXAGE}:\n    severity: huge\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog(overlays=[good, bad])
    assert [p.file for p in caught.value.problems] == [str(bad)]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (f"checks:\n  {MAXAGE}:\n    severity: high\n  {MAXAGE}:\n    severity: low\n", 4, "duplicate key"),
        ("checks: [a, b]\n", 1, "non-empty mapping"),
        ("- checks\n", 1, "must be a mapping"),
        ("checks:\n  x: [\n", None, "invalid YAML"),
        (f"checks:\n  {MAXAGE}:\n    severity: high\n    reason: ''\n", 4, "non-empty string"),
    ],
)
def test_malformed_overlays_are_refused(tmp_path: Path, text: str, line: int | None, message: str) -> None:
    found = problems(write(tmp_path, "x.yaml", text))
    assert any(message in p.message and (line is None or p.line == line) for p in found), found


def test_an_overlay_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path / "missing.yaml")
    assert problem.file == str(tmp_path / "missing.yaml") and "cannot read" in problem.message


def test_two_overlays_may_not_share_a_name(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", f"overlay: site\nchecks:\n  {MAXAGE}:\n    severity: high\n")
    second = write(tmp_path, "b.yaml", f"overlay: site\nchecks:\n  {READ_ONLY_PORT}:\n    severity: high\n")
    (problem,) = problems(first, second)
    assert problem.file == str(second) and problem.line == 1 and "already used" in problem.message


def test_every_family_check_keeps_the_args_its_yaml_wrote() -> None:
    """What an overlay merges over is exactly what the check file says: re-validating it
    gives the same args, so an overlay that changes one key cannot disturb the others."""
    for check in load_catalog().checks:
        if check.args is None:
            assert check.args_yaml is None, check.id
            continue
        assert check.predicate is not None and check.args_yaml is not None, check.id
        assert FAMILIES[check.predicate].args.model_validate(check.args_yaml) == check.args, check.id
