"""The bundled catalogue: every check loads, and has a passing and a failing fixture.

Fixtures live in tests/fixtures/checks/<check id>/pass_*.yaml and fail_*.yaml; each
holds minimal facts (per fact name) that must make the check PASS, resp. FAIL.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from agent.catalog import load_catalog
from agent.errors import CatalogError
from agent.facts.model import FactValue, RawSection
from agent.facts.registry import FACTS
from agent.facts.spec import read_section
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.evaluate import evaluate

FIXTURES = Path(__file__).parent.parent / "fixtures" / "checks"
CATALOG = load_catalog()
FIXTURE_CONTEXT = {
    "user": "scanner",
    "client_addr": "192.0.2.10",
    "server_addr": "192.0.2.20",
    "server_port": "22",
}


def build_facts(raw: Mapping[str, object]) -> dict[str, FactValue]:
    """Run each fact's real parser over the raw section text the fixture gives, through
    read_section as a scan does (declared tools, accepted exit codes).

    A fixture value is either the section's stdout, or a mapping with `stdout`,
    `exit_code`, `stderr` and `missing_tool` (the index of a declared tool the node
    lacks), so a fixture can also describe a failed command or a missing tool.
    """
    facts: dict[str, FactValue] = {}
    for name, value in raw.items():
        spec = FACTS[name]
        if isinstance(value, Mapping):
            stdout, rc, stderr = (
                str(value.get("stdout", "")),
                value.get("exit_code", 0),
                str(value.get("stderr", "")),
            )
            missing = value.get("missing_tool")
        else:
            stdout, rc, stderr, missing = str(value), 0, "", None
        section = RawSection(
            name,
            stdout.encode(),
            stderr.encode(),
            rc if isinstance(rc, int) else 0,
            False,
            missing if isinstance(missing, int) else None,
        )
        facts[name] = read_section(spec, section, FIXTURE_CONTEXT)
    return facts


def fixture_cases() -> list[tuple[str, Path]]:
    return [
        (check.id, path) for check in CATALOG.checks for path in sorted((FIXTURES / check.id).glob("*.yaml"))
    ]


def test_catalogue_is_not_empty_and_ids_are_unique() -> None:
    ids = [c.id for c in CATALOG.checks]
    assert len(ids) >= 5 and len(ids) == len(set(ids))


@pytest.mark.parametrize("check_id", [c.id for c in CATALOG.checks])
def test_every_check_has_pass_and_fail_fixtures(check_id: str) -> None:
    names = [p.name for p in (FIXTURES / check_id).glob("*.yaml")]
    assert any(n.startswith("pass") for n in names), f"{check_id}: no pass fixture"
    assert any(n.startswith("fail") for n in names), f"{check_id}: no fail fixture"


@pytest.mark.parametrize(
    ("check_id", "path"), fixture_cases(), ids=lambda v: v.name if isinstance(v, Path) else v
)
def test_fixture_verdict(check_id: str, path: Path) -> None:
    check = next(c for c in CATALOG.checks if c.id == check_id)
    facts = build_facts(yaml.safe_load(path.read_text()))
    finding = evaluate(check, facts, Node(name="fixture", roles=("worker",)))
    # CIS's "Manual" label never softens a verdict computed from the effective value.
    failing = Status.FAIL
    expected = Status.PASS if path.name.startswith("pass") else failing
    assert finding.status is expected, finding.reason
    if expected is failing:
        assert finding.evidence and all(e.observed and e.expected and e.source for e in finding.evidence)


def test_every_check_has_references_and_rationale() -> None:
    for check in CATALOG.checks:
        assert check.references, check.id
        assert len(check.rationale) > 20, check.id


def write(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / "checks" / "sshd").mkdir(parents=True, exist_ok=True)
    (tmp_path / "checks" / "sshd" / name).write_text(text)


def test_bad_check_files_report_every_problem_with_lines(tmp_path: Path) -> None:
    write(
        tmp_path,
        "sshd_bad.yaml",
        "id: sshd_other\ntitle: x\nseverity: huge\nfact: sshd\nassert:\n  key: a\n  op: frobnicate\n"
        "  value: 1\nrationale: r\nreferences: []\n",
    )
    with pytest.raises(CatalogError) as caught:
        load_catalog(str(tmp_path))
    text = str(caught.value)
    assert "sshd_bad.yaml:1: id: must equal the file name" in text
    assert "sshd_bad.yaml:3: severity" in text
    assert "sshd_bad.yaml:7: assert.op: unknown operator" in text


def test_unknown_fact_and_duplicate_key(tmp_path: Path) -> None:
    write(tmp_path, "sshd_x.yaml", "id: sshd_x\nid: sshd_x\ntitle: t\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog(str(tmp_path))
    assert "sshd_x.yaml:2" in str(caught.value)
