"""Reporters: JSON validates against the published schema; hostile text stays inert."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from agent.errors import ErrorKind
from agent.findings import Evidence, Finding, NodeFailure, NodeResult, Reference, RunResult, Severity, Status
from agent.report import json_report, table
from agent.transport.base import ConnectionInfo

SCHEMA = json.loads((Path(__file__).parents[2] / "agent" / "schemas" / "report-v1.schema.json").read_text())

HOSTILE = "\x1b[2J\x1b[31mpwned\x00<script>alert(1)</script>"


def sample_run() -> RunResult:
    failing = Finding(
        check_id="sshd_permit_root_login_disabled",
        title="SSH does not accept root logins",
        severity=Severity.HIGH,
        status=Status.FAIL,
        reason="permitrootlogin is yes, expected one of: no",
        evidence=(Evidence(observed=HOSTILE, expected="one of: no", source="sshd -T -C user=scanner"),),
        references=(Reference("cis-ubuntu-24.04", "5.1.20"),),
    )
    passing = Finding(
        "sshd_x11_forwarding_disabled", "X11", Severity.MEDIUM, Status.PASS, "x11forwarding is no"
    )
    good = NodeResult(
        name="node01",
        address="127.0.0.1",
        connection=ConnectionInfo(
            "ssh", "127.0.0.1", 2201, "scanner", "SSH-2.0-OpenSSH_9.2p1", "ssh-ed25519 SHA256:x", True
        ),
        error=None,
        findings=(failing, passing),
        facts_summary={"os": HOSTILE},
        duration_seconds=0.4,
        execs=1,
    )
    bad = NodeResult(
        name="node02",
        address="node02.invalid",
        connection=None,
        error=NodeFailure(ErrorKind.DNS, "no such host " + HOSTILE),
    )
    return RunResult(
        "run-1",
        "2026-11-23T17:00:00Z",
        "2026-11-23T17:00:01Z",
        "0.1.0",
        "inv.yaml",
        (good, bad),
        checks_selected=2,
    )


def test_json_validates_against_schema() -> None:
    document = json.loads(json_report.render(sample_run()))
    jsonschema.validate(document, SCHEMA)
    assert document["summary"]["statuses"]["fail"] == 1
    assert document["summary"]["unscanned"] == 1
    assert document["nodes"][1]["error"] == {"kind": "dns", "message": "no such host " + HOSTILE}


def test_json_is_ascii_so_control_characters_are_escaped() -> None:
    text = json_report.render(sample_run())
    assert "\x1b" not in text and "\x00" not in text
    assert text.isascii()


def test_schema_rejects_an_unknown_error_kind() -> None:
    document = json.loads(json_report.render(sample_run()))
    document["nodes"][1]["error"]["kind"] = "mystery"
    try:
        jsonschema.validate(document, SCHEMA)
    except jsonschema.ValidationError:
        return
    raise AssertionError("schema accepted an unknown error kind")


def test_table_groups_by_node_and_never_emits_escape_sequences() -> None:
    text = table.render(sample_run(), color=False, width=120)
    assert "\x1b" not in text and "\x00" not in text
    assert "node01" in text and "node02" in text
    assert "FAIL" in text and "sshd_permit_root_login_disabled" in text
    assert "NOT SCANNED" in text and "[dns]" in text
    assert "1/2 nodes scanned" in text
    assert "sshd_x11_forwarding_disabled" not in text  # passes are counted, not listed
    assert "sshd_x11_forwarding_disabled" in table.render(sample_run(), show_passed=True)


def test_table_with_colour_only_styles_our_own_text() -> None:
    text = table.render(sample_run(), color=True, width=120)
    assert "\x1b[2J" not in text  # the node's escape sequence was neutralised
    assert "\\x1b[2J" in text
