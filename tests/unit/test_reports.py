"""Reporters: JSON validates against the published schema; hostile text stays inert."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema

from agent.connection import ConnectionInfo
from agent.errors import ErrorKind
from agent.findings import Evidence, Finding, NodeFailure, NodeResult, Reference, RunResult, Severity, Status
from agent.report import html_report, json_report, junit, prometheus, table
from agent.textsafe import printable

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
    # Remote text is escaped in the parsed document too, as reasons are (issue #12 item 9).
    assert document["nodes"][1]["error"] == {"kind": "dns", "message": "no such host " + printable(HOSTILE)}


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


def parse_xml(text: str) -> ET.Element:
    # Parsing our own report, not untrusted input: the stdlib parser is what CI tools use.
    return ET.fromstring(text.encode())  # noqa: S314


def test_junit_parses_back_despite_hostile_text_and_counts_right() -> None:
    text = junit.render(sample_run())
    assert "\x1b" not in text and "\x00" not in text
    root = parse_xml(text)  # the point: raw NUL/ESC would make this raise
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    node01, _ = root.findall("testsuite")
    assert node01.get("name") == "node01"
    assert (node01.get("tests"), node01.get("failures"), node01.get("errors")) == ("2", "1", "0")
    cases = node01.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "sshd_permit_root_login_disabled",
        "sshd_x11_forwarding_disabled",
    ]
    assert all(c.get("classname") == "node01" for c in cases)
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == "permitrootlogin is yes, expected one of: no"
    assert "<script>alert(1)</script>" in (failure.text or "")  # escaped on write, intact on read
    assert "source: sshd -T -C user=scanner" in (failure.text or "")
    assert list(cases[1]) == []  # a pass has no child element


def test_junit_unscanned_node_is_one_error_testcase() -> None:
    root = parse_xml(junit.render(sample_run()))
    suite = root.findall("testsuite")[1]
    assert (suite.get("name"), suite.get("tests"), suite.get("errors")) == ("node02", "1", "1")
    (case,) = suite.findall("testcase")
    assert case.get("name") == "connection"
    error = case.find("error")
    assert error is not None and error.get("type") == "dns"
    assert (error.get("message") or "").startswith("no such host")


def test_junit_skips_and_warns() -> None:
    findings = tuple(
        Finding(f"c_{status.value}", "t", Severity.LOW, status, "why")
        for status in (Status.WARN, Status.NOT_APPLICABLE, Status.SKIP, Status.WAIVED, Status.ERROR)
    )
    node = NodeResult("n", "n", None, None, findings)
    root = parse_xml(junit.render(RunResult("r", "", "", "0", "i", (node,))))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("skipped"), suite.get("errors")) == ("5", "3", "1")
    by_name = {c.get("name"): c for c in suite.findall("testcase")}
    assert by_name["c_warn"].find("system-out") is not None
    assert by_name["c_waived"].find("skipped") is not None
    assert junit.render(RunResult("r", "", "", "0", "i", (node,))) == junit.render(
        RunResult("r", "", "", "0", "i", (node,))
    )


def test_junit_honours_fail_on_and_names_cases_by_check_id_alone() -> None:
    """Issue 9: `--fail-on high` exited 0 while the XML still held a <failure> for every low
    check, so CI went red on a run the exit code called clean. Below the threshold a fail
    or an error is now <skipped> with the reason; at or above it, unchanged."""
    findings = (
        Finding("low_fail", "Title A", Severity.LOW, Status.FAIL, "low why"),
        Finding("low_error", "Title B", Severity.MEDIUM, Status.ERROR, "could not judge"),
        Finding("high_fail", "Title C", Severity.HIGH, Status.FAIL, "high why"),
        Finding("crit_error", "Title D", Severity.CRITICAL, Status.ERROR, "could not judge"),
    )
    run = RunResult("r", "", "", "0", "i", (NodeResult("n", "n", None, None, findings),))
    suite = parse_xml(junit.render(run, Severity.HIGH)).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "4", "1", "1", "2",
    )  # fmt: skip
    by_name = {c.get("name", ""): c for c in suite.findall("testcase")}
    assert sorted(by_name) == ["crit_error", "high_fail", "low_error", "low_fail"]  # the id, no title
    for name in ("low_fail", "low_error"):
        (skipped,) = list(by_name[name])
        assert skipped.tag == "skipped" and "below --fail-on high" in (skipped.get("message") or "")
    assert by_name["low_fail"].find("skipped").get("message") == "fail low, below --fail-on high: low why"  # type: ignore[union-attr]
    assert by_name["high_fail"].find("failure") is not None
    assert by_name["crit_error"].find("error") is not None
    # The default threshold (low) keeps every low-or-above fail red, as the exit code does.
    low = parse_xml(junit.render(run)).find("testsuite")
    assert low is not None and (low.get("failures"), low.get("errors"), low.get("skipped")) == ("2", "2", "0")


# One sample line of the text exposition format: name, optional labels, value, no timestamp.
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(rf"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{{{_LABEL}(?:,{_LABEL})*\}})? (-?[0-9.e+]+)$")
_META = re.compile(r"^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* gauge)$")


def assert_exposition_format(text: str) -> dict[str, float]:
    """Every line is HELP, TYPE or a sample; returns the samples by their name+labels."""
    assert text.endswith("\n")
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert _META.match(line), line
            continue
        match = _SAMPLE.match(line)
        assert match, line
        key = match.group(1) + (match.group(2) or "")
        assert key not in samples, f"duplicate sample {key}"
        samples[key] = float(match.group(3))
    return samples


def test_prometheus_textfile_format_and_values() -> None:
    samples = assert_exposition_format(prometheus.render(sample_run()))
    labels = 'node="node01",check_id="sshd_permit_root_login_disabled",severity="high"'
    assert samples[f"nodeward_check_failing{{{labels}}}"] == 1
    labels = 'node="node01",check_id="sshd_x11_forwarding_disabled",severity="medium"'
    assert samples[f"nodeward_check_failing{{{labels}}}"] == 0
    assert samples['nodeward_node_up{node="node01"}'] == 1
    assert samples['nodeward_node_up{node="node02"}'] == 0
    assert samples['nodeward_node_findings{node="node01",status="fail"}'] == 1
    assert samples['nodeward_node_findings{node="node02",status="pass"}'] == 0
    assert samples["nodeward_run_timestamp_seconds"] == 1795453201  # 2026-11-23T17:00:01Z
    assert samples["nodeward_run_checks_selected"] == 2


def test_prometheus_escapes_label_values_and_carries_no_free_text() -> None:
    run = sample_run()
    hostile = NodeResult('we"ird\\node\nname', "x", None, None, run.nodes[0].findings)
    text = prometheus.render(RunResult("r", "", "bad-time", "0", "i", (hostile,)))
    samples = assert_exposition_format(text)
    assert 'nodeward_node_up{node="we\\"ird\\\\node\\nname"}' in samples
    assert "pwned" not in text and "script" not in text  # evidence never becomes a label
    assert "nodeward_run_timestamp_seconds" not in text  # unparseable time: no sample, no lie


def test_html_escapes_node_text_and_is_self_contained() -> None:
    text = html_report.render(sample_run())
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "\x1b" not in text and "\x00" not in text
    assert not re.search(r"""(?:src|href)\s*=\s*["']?[^"'>]*http""", text, re.IGNORECASE)
    assert "node01" in text and "node02" in text and "NOT SCANNED" in text
    assert text.index("sshd_permit_root_login_disabled") < text.index("sshd_x11_forwarding_disabled")
    assert "source:   sshd -T -C user=scanner" in text
