"""One reporters registry: every format for a scan, `scan --remediate` and `plan`, and an
unknown format refused (exit 2) before any node is contacted, in every command."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from tests.fleet.harness import Fleet
from tests.fleet.test_remediate import Site, make_site, node_doc, state_of
from tests.unit.test_reports import assert_exposition_format, parse_xml

NODEWARD = Path(sys.executable).parent / "nodeward"
SCHEMA = json.loads((Path(__file__).parents[2] / "agent" / "schemas" / "report-v1.schema.json").read_text())
CHECK = "sshd_permit_root_login_disabled"
SSHD = ("/etc/ssh/sshd_config",)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port standing in for a node: any contact shows up as a connection."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    sock.settimeout(0.5)
    yield sock
    sock.close()


def contacted(sock: socket.socket) -> bool:
    try:
        connection, _ = sock.accept()
    except TimeoutError:
        return False
    connection.close()
    return True


@pytest.mark.parametrize(
    "command",
    [
        ("scan",),
        ("scan", "--remediate", "--dry-run"),
        ("scan", "--remediate", "--yes"),
        ("plan",),
    ],
)
def test_an_unknown_format_is_a_usage_error_before_any_node_is_contacted(
    command: tuple[str, ...], listener: socket.socket, tmp_path: Path
) -> None:
    port = listener.getsockname()[1]
    result = subprocess.run(
        [
            str(NODEWARD),
            *command,
            "--hosts",
            f"ssh://scanner@127.0.0.1:{port}",
            "--connect-timeout",
            "2",
            "--format",
            "bogus",
            *(("--state-dir", str(tmp_path / "state")) if "--yes" in command else ()),
        ],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 2, (result.stdout, result.stderr[-2000:])
    assert "bogus" in result.stderr and "json" in result.stderr  # names the formats it knows
    assert not contacted(listener)


@pytest.fixture
def site(fleet: Fleet, tmp_path: Path) -> Site:
    return make_site(fleet, [fleet.start("weak")], tmp_path / "bastion")


def test_remediate_writes_junit_of_the_fleet_as_it_left_it(site: Site, tmp_path: Path) -> None:
    """`scan --remediate --format junit -o r.xml` exited 1 and wrote nothing: only JSON
    was handled there. Now the JUnit shows the node after the run: the fixed check passes."""
    node = site.nodes[0]
    out = tmp_path / "r.xml"
    code, stdout, err = site.nodeward(
        "scan", "--remediate", "--yes", "--state-dir", str(site.state), "--quiet",
        "--format", "junit", "-o", str(out), checks=(CHECK,),
    )  # fmt: skip
    assert code == 0, err[-3000:]
    assert stdout == ""  # the report went to the file
    (suite,) = parse_xml(out.read_text()).findall("testsuite")
    assert suite.get("name") == node.name
    (case,) = suite.findall("testcase")
    assert (case.get("name") or "").startswith(CHECK)
    assert case.find("failure") is None and case.find("error") is None  # fixed: passes after the run
    assert out.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("fmt", ["table", "json", "junit", "html", "prometheus"])
def test_plan_renders_every_format_and_changes_nothing(site: Site, tmp_path: Path, fmt: str) -> None:
    node = site.nodes[0]
    original = state_of(node, SSHD)
    out = tmp_path / f"plan.{fmt}"
    code, _stdout, err = site.nodeward("plan", "--format", fmt, "-o", str(out), checks=(CHECK,))
    assert code == 1, err[-3000:]  # a dry run fixes nothing: the check still fails
    text = out.read_text()
    if fmt == "table":
        assert f"node {node.name}: planned" in text and "+PermitRootLogin no" in text
        assert "plan: 1 node(s): 1 planned" in text
    elif fmt == "json":
        document = json.loads(text)
        jsonschema.validate(document, SCHEMA)
        assert node_doc(document, node)["remediation"]["status"] == "planned"
    elif fmt == "junit":
        (suite,) = parse_xml(text).findall("testsuite")
        (case,) = suite.findall("testcase")
        assert (case.get("name") or "").startswith(CHECK) and case.find("failure") is not None
    elif fmt == "html":
        assert text.lstrip().lower().startswith("<!doctype html") and CHECK in text
    else:
        samples = assert_exposition_format(text)
        assert [v for k, v in samples.items() if k.startswith("nodeward_node_up{")] == [1]
    assert state_of(node, SSHD) == original
