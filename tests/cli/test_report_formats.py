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


def _unwritable(kind: str, tmp_path: Path) -> tuple[list[str], str]:
    """`-o` arguments that cannot all be written, and the path the message must name."""
    good = str(tmp_path / "fine.json")
    if kind == "missing-directory":
        return ["-o", good, "-o", "/nonexistent/dir/x.json"], "/nonexistent/dir/x.json"
    if kind == "a-directory":
        (tmp_path / "d.xml").mkdir()
        return ["-o", good, "-o", str(tmp_path / "d.xml")], str(tmp_path / "d.xml")
    if kind == "symlink-in-shared-dir":
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o1777)  # /tmp-like: another user could have planted the link
        (shared / "r.prom").symlink_to("/etc/shadow")
        return ["-o", good, "-o", str(shared / "r.prom")], str(shared / "r.prom")
    # A second file whose format nothing says: refused, not guessed.
    return ["-o", good, "-o", str(tmp_path / "r.weird")], str(tmp_path / "r.weird")


@pytest.mark.parametrize("command", [("scan",), ("scan", "--remediate", "--dry-run"), ("plan",)])
@pytest.mark.parametrize(
    "kind", ["missing-directory", "a-directory", "symlink-in-shared-dir", "unknown-extension"]
)
def test_an_unusable_output_path_exits_2_naming_it_before_any_node_is_contacted(
    command: tuple[str, ...], kind: str, listener: socket.socket, tmp_path: Path
) -> None:
    """Issue 9: `-o /nonexistent/dir/x.json` scanned the whole fleet, then exited 70 with
    a Python exception name. Every destination is now checked first."""
    port = listener.getsockname()[1]
    outputs, named = _unwritable(kind, tmp_path)
    result = subprocess.run(
        [str(NODEWARD), *command, "--hosts", f"ssh://scanner@127.0.0.1:{port}", "--connect-timeout", "2",
         *outputs],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 2, (result.stdout, result.stderr[-2000:])
    assert named in result.stderr and "Error" not in result.stderr  # the path, not an exception name
    assert len(result.stderr.splitlines()) == 1
    assert not contacted(listener)
    assert not (tmp_path / "fine.json").exists()


def test_one_scan_writes_every_output_file_in_its_format(site: Site, tmp_path: Path) -> None:
    """Issue 9: a cron job wanting JSON, a .prom and JUnit scanned the fleet three times.
    One scan now writes them all, each format from its extension, each with its mode."""
    node = site.nodes[0]
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, err = site.nodeward(
        "scan", "-q", "-o", str(out / "a.json"), "-o", str(out / "b.prom"), "-o", str(out / "c.xml"),
        "-o", str(out / "d.html"), "-o", str(out / "e.txt"), "--output", f"junit={out / 'f.junit'}",
        checks=(CHECK,),
    )  # fmt: skip
    assert code == 1, err[-3000:]  # the weak node fails the check
    assert stdout == ""
    document = json.loads((out / "a.json").read_text())
    jsonschema.validate(document, SCHEMA)
    assert node_doc(document, node)["execs"] == 1  # one scan, one exec
    samples = assert_exposition_format((out / "b.prom").read_text())
    assert [v for k, v in samples.items() if k.startswith("nodeward_node_up{")] == [1]
    for junit_file in ("c.xml", "f.junit"):
        (suite,) = parse_xml((out / junit_file).read_text()).findall("testsuite")
        (case,) = suite.findall("testcase")
        assert case.get("name") == CHECK and case.find("failure") is not None
    assert (out / "d.html").read_text().lstrip().lower().startswith("<!doctype html")
    text = (out / "e.txt").read_text()
    assert CHECK in text and "\x1b" not in text
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert modes == {"a.json": 0o640, "b.prom": 0o644, "c.xml": 0o640, "d.html": 0o640, "e.txt": 0o640,
                     "f.junit": 0o640}  # fmt: skip
