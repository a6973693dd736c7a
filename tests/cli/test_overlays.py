"""`nodeward checks --show ID` and `--overlay` through the installed console script
(issue 11 item 2): one check in full, as a scan judges it after the site's overlays; a
bad overlay is a usage error (exit 2) naming file, line and field, raised before any
node is contacted by scan, scan --remediate, plan or render."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import nodeward

MAXAGE = "apiserver_audit_log_maxage_sufficient"
READ_ONLY_PORT = "kubelet_read_only_port_disabled"
ACME = f"""\
overlay: acme-prod
checks:
  {MAXAGE}:
    args: {{value: 90}}
    reason: ACME keeps 90 days of audit logs (SEC-1234)
  {READ_ONLY_PORT}:
    severity: high
"""
BAD = f"""\
checks:
  {MAXAGE}:
    args:
      value: ninety
"""


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    path = tmp_path / "acme.yaml"
    path.write_text(ACME)
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def test_show_prints_one_check_in_full() -> None:
    shown = nodeward("checks", "--show", MAXAGE)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    for expected in (
        f"id:          {MAXAGE}",
        "severity:    medium\n",
        "fact:        k8s_components",
        "assert:      family component_flag",
        "    flag: audit-log-maxage\n    op: ge\n    value: 30\n",
        "rationale:   Incidents are found weeks after the fact",
        "fix hint:    Set --audit-log-maxage=30 or more.",
        "references:  cis-kubernetes-1.12 1.2.17",
        "remediation: none (no automatic fix",
        f"checks/apiserver/{MAXAGE}.yaml",
    ):
        assert expected in text, (expected, text)
    assert "overrides:" not in text


def test_show_names_the_remediation_and_the_conditions() -> None:
    shown = nodeward("checks", "--show", READ_ONLY_PORT)
    assert shown.returncode == 0, shown.stderr
    assert "assert:      every condition holds:\n  readOnlyPort eq 0\n" in shown.stdout
    assert "remediation: kubelet_config_field: " in shown.stdout and "lockout risk low" in shown.stdout
    assert "CIS Manual:  yes: CIS could not automate it" in shown.stdout
    assert "roles:       worker, control-plane" in shown.stdout


def test_show_with_the_overlay_gives_the_site_values_and_where_they_come_from(acme: Path) -> None:
    maxage = nodeward("checks", "--show", MAXAGE, "--overlay", str(acme))
    assert maxage.returncode == 0, maxage.stderr
    assert "    value: 90\n" in maxage.stdout
    assert (
        f"  args.value: 30 -> 90 (overlay acme-prod, {acme}:4) -- ACME keeps 90 days of audit logs (SEC-1234)"
        in maxage.stdout
    )
    port = nodeward("checks", "--show", READ_ONLY_PORT, "--overlay", str(acme))
    assert "severity:    high (overlay acme-prod)\n" in port.stdout
    assert f"  severity: medium -> high (overlay acme-prod, {acme}:7)" in port.stdout


def test_show_as_json(acme: Path) -> None:
    shown = nodeward("checks", "--show", MAXAGE, "--overlay", str(acme), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["id"] == MAXAGE and document["severity"] == "medium"
    assert document["assert"] == {
        "kind": "family",
        "predicate": "component_flag",
        "summary": document["assert"]["summary"],
        "args": {"component": "kube-apiserver", "flag": "audit-log-maxage", "op": "ge", "value": 90},
    }
    assert document["overrides"] == [
        {"overlay": "acme-prod", "source": f"{acme}:4", "field": "args.value", "old": "30", "new": "90",
         "reason": "ACME keeps 90 days of audit logs (SEC-1234)"}
    ]  # fmt: skip
    assert document["remediation"] is None and document["references"][0]["id"] == "1.2.17"
    port = json.loads(
        nodeward("checks", "--show", READ_ONLY_PORT, "-f", "json", "--overlay", str(acme)).stdout
    )
    assert port["severity"] == "high" and port["remediation"]["id"] == "kubelet_config_field"
    assert port["assert"] == {"kind": "conditions", "all": [{"key": "readOnlyPort", "op": "eq", "value": 0}]}


def test_the_listing_stays_and_shows_the_overlaid_severity(acme: Path) -> None:
    listed = nodeward("checks", "--check", "kubelet_read_only_*", "--overlay", str(acme))
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert line.split(maxsplit=2) == [
        READ_ONLY_PORT,
        "high",
        "The kubelet's unauthenticated read-only port is off",
    ]


def test_an_unknown_id_is_a_usage_error_with_the_closest_ids() -> None:
    shown = nodeward("checks", "--show", "apiserver_audit_log_max_age")
    assert shown.returncode == 2 and shown.stdout == ""
    assert "no check has the id 'apiserver_audit_log_max_age'" in shown.stderr
    assert "did you mean " in shown.stderr and MAXAGE in shown.stderr


def test_a_bad_overlay_is_a_usage_error_naming_file_line_and_field(bad: Path) -> None:
    shown = nodeward("checks", "--show", MAXAGE, "--overlay", str(bad))
    assert shown.returncode == 2 and shown.stdout == ""
    assert (
        f"{bad}:4: checks.{MAXAGE}.args.value: component_flag: Input should be a valid integer"
        in shown.stderr
    )


def test_args_for_a_yaml_comparison_are_refused(tmp_path: Path) -> None:
    overlay = tmp_path / "port.yaml"
    overlay.write_text(f"checks:\n  {READ_ONLY_PORT}:\n    args: {{value: 10255}}\n")
    listed = nodeward("checks", "--overlay", str(overlay))
    assert listed.returncode == 2
    assert f"{overlay}:3: checks.{READ_ONLY_PORT}.args: {READ_ONLY_PORT} is judged by a YAML comparison" in (
        listed.stderr
    )


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP port on loopback that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            accepted.append(peer)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(5)
    server.close()


@pytest.mark.parametrize(
    "command",
    [
        ("scan",),
        ("scan", "--remediate", "--yes"),
        ("plan",),
        ("render", "--out", "{tmp}/fixes"),
    ],
    ids=["scan", "scan-remediate", "plan", "render"],
)
def test_a_bad_overlay_stops_every_command_before_any_node_is_contacted(
    command: tuple[str, ...], bad: Path, tmp_path: Path, listener: tuple[int, list[object]]
) -> None:
    port, accepted = listener
    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    done = nodeward(
        *args, "--hosts", f"ssh://scanner@127.0.0.1:{port}", "--overlay", str(bad), "--connect-timeout", "2",
        env={"HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"{bad}:4: checks.{MAXAGE}.args.value" in done.stderr
    assert accepted == [], "a node was contacted despite the bad overlay"
    assert not (tmp_path / "fixes").exists()
