"""Every report names the site overlay that changed a check (issue 11 item 2): a site's
threshold or severity must never pass for the catalogue's own. JSON carries the full
change (schema 1.1 `overrides`), table, HTML and JUnit show one line per change."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from agent.findings import Finding, NodeResult, Override, RunResult, Severity, Status
from agent.report import html_report, json_report, junit, table
from tests.unit.test_reports import parse_xml

SCHEMA = json.loads((Path(__file__).parents[2] / "agent" / "schemas" / "report-v1.schema.json").read_text())

SEVERITY = Override("acme-prod", "/etc/nodeward/acme.yaml:7", "severity", "medium", "high", "SEC-1234")
THRESHOLD = Override("acme-prod", "/etc/nodeward/acme.yaml:4", "args.value", "30", "90", "")


def run_with_overrides() -> RunResult:
    port = Finding(
        "kubelet_read_only_port_disabled", "read-only port off", Severity.HIGH, Status.WARN,
        "readOnlyPort is 10255, expected 0", overrides=(SEVERITY,),
    )  # fmt: skip
    maxage = Finding(
        "apiserver_audit_log_maxage_sufficient", "audit logs kept", Severity.MEDIUM, Status.PASS,
        "--audit-log-maxage is 120", overrides=(THRESHOLD,),
    )  # fmt: skip
    plain = Finding(
        "sshd_x11_forwarding_disabled", "X11", Severity.MEDIUM, Status.FAIL, "x11forwarding is yes"
    )
    node = NodeResult("cp1", "127.0.0.1", None, None, (port, maxage, plain), execs=1)
    return RunResult("run-1", "2026-11-23T17:00:00Z", "2026-11-23T17:00:01Z", "0.1.0", "inv.yaml", (node,))


def test_json_names_the_overlay_field_old_and_new_and_validates() -> None:
    document = json.loads(json_report.render(run_with_overrides()))
    jsonschema.validate(document, SCHEMA)
    assert document["schema_version"] == "1.1"
    findings = {f["check_id"]: f for f in document["nodes"][0]["findings"]}
    port = findings["kubelet_read_only_port_disabled"]
    assert port["severity"] == "high"
    assert port["overrides"] == [
        {"overlay": "acme-prod", "source": "/etc/nodeward/acme.yaml:7", "field": "severity",
         "old": "medium", "new": "high", "reason": "SEC-1234"}
    ]  # fmt: skip
    assert findings["apiserver_audit_log_maxage_sufficient"]["overrides"][0]["new"] == "90"
    assert findings["sshd_x11_forwarding_disabled"]["overrides"] == []


def test_the_schema_refuses_an_override_without_its_overlay() -> None:
    document = json.loads(json_report.render(run_with_overrides()))
    del document["nodes"][0]["findings"][0]["overrides"][0]["overlay"]
    try:
        jsonschema.validate(document, SCHEMA)
    except jsonschema.ValidationError:
        return
    raise AssertionError("schema accepted an override that does not name its overlay")


def test_table_shows_each_change_with_its_overlay() -> None:
    text = table.render(run_with_overrides(), width=160, show_passed=True)
    assert "severity medium -> high (overlay acme-prod)" in text
    assert "args.value 30 -> 90 (overlay acme-prod)" in text
    assert text.count("(overlay ") == 2


def test_html_shows_each_change_with_its_overlay() -> None:
    text = html_report.render(run_with_overrides())
    assert '<span class="overlay">severity medium -&gt; high (overlay acme-prod)</span>' in text
    assert "args.value 30 -&gt; 90 (overlay acme-prod)" in text


def test_junit_marks_every_overridden_case_whatever_its_status() -> None:
    root = parse_xml(junit.render(run_with_overrides()))
    cases = {case.get("name", "").split(":")[0]: case for case in root.iter("testcase")}
    overlays = {
        check: [p.get("value") for p in case.iter("property") if p.get("name") == "nodeward.overlay"]
        for check, case in cases.items()
    }
    assert overlays == {
        "kubelet_read_only_port_disabled": ["severity medium -> high (overlay acme-prod)"],
        "apiserver_audit_log_maxage_sufficient": ["args.value 30 -> 90 (overlay acme-prod)"],  # a pass too
        "sshd_x11_forwarding_disabled": [],
    }
    out = cases["kubelet_read_only_port_disabled"].find("system-out")
    assert out is not None and "severity medium -> high (overlay acme-prod)" in (out.text or "")
