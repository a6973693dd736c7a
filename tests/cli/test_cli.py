"""The installed console script: start-up cost, exit codes, formats, bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).parents[2]
SCHEMA = json.loads((REPO / "agent" / "schemas" / "report-v1.schema.json").read_text())
NODEWARD = Path(sys.executable).parent / "nodeward"


def nodeward(
    *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert NODEWARD.exists(), (
        f"console script missing at {NODEWARD}: install the project (sh bootstrap.sh test)"
    )
    return subprocess.run(
        [str(NODEWARD), *args], capture_output=True, text=True, input=input, timeout=300, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_help_imports_neither_paramiko_nor_jinja2() -> None:
    probe = (
        "import sys\n"
        "sys.argv = ['nodeward', '--help']\n"
        "from agent.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print('MODULES', 'paramiko' in sys.modules, 'jinja2' in sys.modules, code)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert "Usage" in result.stdout
    assert "MODULES False False 0" in result.stdout, result.stdout[-500:]


def test_help_and_version() -> None:
    assert nodeward("--help").returncode == 0
    version = nodeward("version")
    assert version.returncode == 0 and version.stdout.startswith("nodeward ")


def test_version_flag_prints_the_package_version() -> None:
    """Issue 9: `nodeward --version` is what packagers and bug reports reach for first."""
    from agent import __version__

    result = nodeward("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"nodeward {__version__}\n", "")


def test_local_scan_json_validates_and_runs_one_exec() -> None:
    result = nodeward("scan", "--local", "--format", "json", "--quiet")
    assert result.returncode in (0, 1), result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    (node,) = document["nodes"]
    assert node["scanned"] and node["error"] is None
    assert node["execs"] == 1
    assert node["connection"]["transport"] == "local"
    assert node["facts"]["root"] == ("yes" if os.geteuid() == 0 else "no")
    statuses = {f["status"] for f in node["findings"]}
    assert statuses <= {"pass", "fail", "warn", "error", "not_applicable"}
    assert len(node["findings"]) == document["run"]["checks_selected"]


def test_local_scan_table_report() -> None:
    result = nodeward("scan", "--local", "--show-passed", "--check", "sshd_*")
    assert result.returncode in (0, 1), result.stderr
    assert "nodes scanned" in result.stdout
    assert "sshd_permit_root_login_disabled" in result.stdout


def test_output_file_is_written(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = nodeward("scan", "--local", "--format", "json", "--output", str(out), "--quiet")
    assert result.returncode in (0, 1), result.stderr
    assert result.stdout == ""
    jsonschema.validate(json.loads(out.read_text()), SCHEMA)
    assert out.stat().st_mode & 0o777 == 0o640  # reports can name weak spots: not world-readable


def test_prometheus_textfile_is_readable_by_node_exporter(tmp_path: Path) -> None:
    out = tmp_path / "nodeward.prom"
    result = nodeward("scan", "--local", "--format", "prometheus", "--output", str(out), "--quiet")
    assert result.returncode in (0, 1), result.stderr
    assert out.stat().st_mode & 0o777 == 0o644  # node_exporter runs as its own user
    assert "nodeward_node_up" in out.read_text()


def test_local_scan_junit_and_prometheus_formats() -> None:
    from tests.unit.test_reports import assert_exposition_format, parse_xml

    junit = nodeward("scan", "--local", "--format", "junit", "-q")
    assert junit.returncode in (0, 1), junit.stderr
    root = parse_xml(junit.stdout)
    (suite,) = root.findall("testsuite")
    assert int(suite.get("tests") or 0) == len(suite.findall("testcase")) > 0
    metrics = nodeward("scan", "--local", "--format", "prometheus", "-q")
    assert metrics.returncode in (0, 1), metrics.stderr
    samples = assert_exposition_format(metrics.stdout)
    assert [v for k, v in samples.items() if k.startswith("nodeward_node_up{")] == [1]


@pytest.mark.parametrize("fail_on", ["critical", "info"])
def test_junit_is_red_exactly_when_the_exit_code_is(fail_on: str) -> None:
    """Issue 9: with `--fail-on critical` a scan of this machine exits 0, yet the JUnit
    held a <failure> per failing high check and CI went red. `--fail-on info` keeps them."""
    from tests.unit.test_reports import parse_xml

    result = nodeward("scan", "--local", "--format", "junit", "-q", "--fail-on", fail_on)
    assert result.returncode in (0, 1), result.stderr
    root = parse_xml(result.stdout)
    red = any(
        case.find("failure") is not None or case.find("error") is not None for case in root.iter("testcase")
    )
    assert red == (result.returncode == 1)
    # The totals CI shows agree with the elements.
    assert int(root.get("failures") or 0) == sum(1 for _ in root.iter("failure"))


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: a node that refuses every connection."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def cron_env(**extra: str) -> dict[str, str]:
    """What cron gives a job: no TERM, no terminal (capture_output), a minimal PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("TERM", "COLUMNS", "NO_COLOR", "FORCE_COLOR")}
    return {**env, **extra}


def test_quiet_run_that_exits_non_zero_says_why_in_exactly_one_stderr_line(
    closed_port: int, tmp_path: Path
) -> None:
    """Issue 9: `-q -o report.json` with a node down exited 3 and printed nothing, and
    the documented unit's SuccessExitStatus hid the rest. One line now names the node."""
    result = subprocess.run(
        [str(NODEWARD), "scan", "-q", "--hosts", f"ssh://scanner@127.0.0.1:{closed_port},local://",
         "--connect-timeout", "2", "-o", str(tmp_path / "report.json")],
        capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL, env=cron_env(),
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("nodeward: 2 nodes, 1 not scanned (127.0.0.1: connect), "), line
    assert line.endswith(" error") and " fail, " in line


@pytest.mark.parametrize("quiet", [(), ("-q",)], ids=["default", "quiet"])
def test_a_cron_run_prints_no_escape_sequence_and_no_carriage_return(
    quiet: tuple[str, ...], closed_port: int
) -> None:
    """From cron (no TTY, TERM unset) the output is mailed: a progress bar's \r or a
    colour code would arrive as garbage. Every line, stdout and stderr, is plain."""
    result = subprocess.run(
        [str(NODEWARD), "scan", *quiet, "--hosts", f"ssh://scanner@127.0.0.1:{closed_port},local://",
         "--connect-timeout", "2"],
        capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL, env=cron_env(),
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    both = result.stdout + result.stderr
    assert "\x1b" not in both and "\r" not in both
    assert result.stderr.strip()  # and not silent, quiet or not


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "exactly one of --inventory, --hosts or --local"),
        (("--local", "--hosts", "a"), "exactly one of"),
        (("--local", "--fail-on", "urgent"), "unknown severity"),
        (("--local", "--check", "no_such_check_*"), "no check matches"),
        (("--inventory", "/nonexistent/inventory.yaml"), "/nonexistent/inventory.yaml"),
        (("--local", "--parallel", "0"), "parallel"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    result = nodeward("scan", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr


def test_bad_inventory_reports_file_line_field_and_exits_2(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "all:\n  hosts:\n    node1:\n      port: 99999\n    node2:\n      adress: 10.0.0.1\n"
    )
    result = nodeward("scan", "--inventory", str(inventory))
    assert result.returncode == 2
    assert f"{inventory}:4" in result.stderr and "port" in result.stderr
    assert f"{inventory}:6" in result.stderr and "adress" in result.stderr


def test_checks_and_show_script() -> None:
    listed = nodeward("checks")
    assert listed.returncode == 0 and "sshd_password_authentication_disabled" in listed.stdout
    script = nodeward("show-script", "--user", "scanner")
    assert script.returncode == 0
    checked = subprocess.run(["sh", "-n"], input=script.stdout, text=True, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "sshd -T -C" in script.stdout
