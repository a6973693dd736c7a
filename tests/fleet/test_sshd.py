"""sshd's effective configuration on real nodes (issue 3, acceptance 3-5).

Two nodes serve every test here, started once for the module: `sshd_layered` (a
drop-in that wins over the main file, a Match Address block that re-opens passwords, a
Match Group block, a Match block inside an included file) and `hardened`. One
`nodeward scan --check 'sshd_*'` covers both, plus the layered node a second time
without sudo, so the file walk has to stand in for `sshd -T`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from agent.facts.model import RawSection
from agent.facts.sshd import fact as sshd
from agent.facts.sshd.fact import SshdConfig
from agent.facts.sshd.walk import FUNCTIONS
from tests.fleet.harness import Fleet, FleetKeys, FleetNode
from tests.fleet.scanutil import Target, ansible_inventory, nodes_by_name, scan_json

pytestmark = pytest.mark.fleet

Finding = Mapping[str, object]
# file:line, or the command that observed the value
SOURCE = re.compile(
    r"/etc/ssh/[\w./-]+:\d+|sshd -T -C |file walk of /|^stat /|^ssh-keygen -l -f /|/etc/ssh/moduli"
)


@pytest.fixture(scope="module")
def nodes(fleet_keys: FleetKeys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, FleetNode]]:
    with Fleet(tmp_path_factory.mktemp("sshd-fleet"), fleet_keys) as fleet:
        yield {
            "layered": fleet.start("sshd_layered", name="layered"),
            "hardened": fleet.start("hardened", name="hardened"),
        }


@pytest.fixture(scope="module")
def report(
    nodes: dict[str, FleetNode], fleet_keys: FleetKeys, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Finding]]:
    """check id -> finding, per inventory name, from one scan of both nodes."""
    tmp = tmp_path_factory.mktemp("sshd-scan")
    layered, hardened = nodes["layered"], nodes["hardened"]
    targets = [
        Target("layered", layered.address, layered.port),
        Target("hardened", hardened.address, hardened.port),
        # The same node once more, as the scan account without sudo.
        Target("layered-nosudo", layered.address, layered.port, {"ansible_become": False}),
    ]
    inventory = ansible_inventory(tmp / "inv.yaml", targets, fleet_keys.bastion)
    known = tmp / "known_hosts"
    known.write_text("".join(line + "\n" for node in (layered, hardened) for line in node.host_key_lines()))
    code, document, stderr = scan_json(inventory, tmp / "home", known, "--check", "sshd_*")
    assert code in (0, 1), stderr
    result: dict[str, dict[str, Finding]] = {}
    for name, node in nodes_by_name(document).items():
        assert node["error"] is None, node["error"]
        findings = node["findings"]
        assert isinstance(findings, list)
        result[name] = {str(f["check_id"]): f for f in findings}
    return result


def evidence(finding: Finding) -> list[Mapping[str, str]]:
    items = finding["evidence"]
    assert isinstance(items, list)
    return items


def test_a_drop_in_read_first_wins_over_the_main_file(report: dict[str, dict[str, Finding]]) -> None:
    root = report["layered"]["sshd_permit_root_login_disabled"]
    assert root["status"] == "fail"
    (item,) = evidence(root)
    assert item["observed"] == "yes" and item["expected"] == "one of: no"
    source = item["source"]
    assert source.startswith("/etc/ssh/sshd_config.d/20-image-build.conf:2 (PermitRootLogin yes)"), source
    assert "read before /etc/ssh/sshd_config:3 (PermitRootLogin no), which sshd ignores" in source
    assert "sshd -T -C user=scanner,host=127.0.0.1,addr=127.0.0.1" in source


def test_match_address_block_that_re_opens_passwords_is_reported_with_its_condition(
    report: dict[str, dict[str, Finding]],
) -> None:
    findings = report["layered"]
    # The operator's own connection (from 127.0.0.1) gets the global "no" ...
    password = findings["sshd_password_authentication_disabled"]
    assert password["status"] == "pass"
    assert evidence(password)[0]["source"].startswith("/etc/ssh/sshd_config:4 (PasswordAuthentication no)")
    # ... and the Match block is still found, with its condition and line.
    match = findings["sshd_match_blocks_keep_passwords_off"]
    assert match["status"] == "fail"
    by_block = {e["observed"]: e for e in evidence(match)}
    address = by_block["passwordauthentication yes for Match Address 10.0.0.0/8"]
    assert address["source"].startswith(
        "/etc/ssh/sshd_config:13 (PasswordAuthentication yes) in Match Address 10.0.0.0/8 at "
        "/etc/ssh/sshd_config:12"
    ), address["source"]
    assert "sshd -T -C user=scanner,host=127.0.0.1,addr=10.0.0.0," in address["source"]
    # Match Group: the node found a member of the group to evaluate it for.
    group = by_block["kbdinteractiveauthentication yes for Match Group contractors"]
    assert "/etc/ssh/sshd_config:15" in group["source"] and "user=carol" in group["source"]


def test_a_match_block_in_an_included_file_ends_with_that_file(
    nodes: dict[str, FleetNode], report: dict[str, dict[str, Finding]]
) -> None:
    match = report["layered"]["sshd_match_blocks_keep_passwords_off"]
    by_block = {e["observed"]: e for e in evidence(match)}
    deploy = by_block["passwordauthentication yes for Match User deploy"]
    assert deploy["source"].startswith(
        "/etc/ssh/sshd_config.d/30-deploy.conf:3 (PasswordAuthentication yes) in Match User deploy at "
        "/etc/ssh/sshd_config.d/30-deploy.conf:2"
    ), deploy["source"]
    # Had the block run on into the main file, "UsePAM yes" (global only) would be
    # refused and line 4 would belong to deploy alone; the real daemon agrees it did not.
    assert report["layered"]["sshd_config_valid"]["status"] == "pass"
    real = nodes["layered"].exec(["sshd", "-T", "-C", "user=scanner,host=127.0.0.1,addr=127.0.0.1,lport=22"])
    assert b"\npasswordauthentication no\n" in real.stdout


def test_without_sudo_the_file_walk_stands_in_and_says_so(report: dict[str, dict[str, Finding]]) -> None:
    findings = report["layered-nosudo"]
    root = findings["sshd_permit_root_login_disabled"]
    assert root["status"] == "fail"
    source = evidence(root)[0]["source"]
    assert source.startswith("/etc/ssh/sshd_config.d/20-image-build.conf:2"), source
    assert "file walk of /etc/ssh/sshd_config (no root, so no sshd -T" in source
    match = findings["sshd_match_blocks_keep_passwords_off"]
    assert match["status"] == "fail"
    assert all("file walk" in e["source"] for e in evidence(match))
    # What needs root is an error with a reason, never a pass.
    assert findings["sshd_config_valid"]["status"] == "error"
    assert "without root" in str(findings["sshd_config_valid"]["reason"])
    # ssh-keygen reads the public halves without root, so key sizes are still judged.
    assert findings["sshd_host_keys_strong"]["status"] == "pass"


def test_every_fail_names_observed_expected_and_file_or_command(
    report: dict[str, dict[str, Finding]],
) -> None:
    failed = [(name, f) for name, node in report.items() for f in node.values() if f["status"] == "fail"]
    assert len(failed) >= 10
    for name, finding in failed:
        items = evidence(finding)
        assert items, (name, finding["check_id"])
        for item in items:
            assert item["observed"] and item["expected"], (name, finding["check_id"])
            assert SOURCE.search(item["source"]), (name, finding["check_id"], item["source"])


def test_a_hardened_node_has_no_fail_and_no_error_on_any_sshd_check(
    report: dict[str, dict[str, Finding]],
) -> None:
    hardened = report["hardened"]
    assert len(hardened) >= 35
    bad = {check: (f["status"], f["reason"]) for check, f in hardened.items() if f["status"] != "pass"}
    assert bad == {}


NODE_ENV = [
    "env",
    "NW_USER=scanner",
    "NW_CLIENT_ADDR=127.0.0.1",
    "NW_SERVER_ADDR=127.0.0.1",
    "NW_SERVER_PORT=22",
]
SNIPPET = FUNCTIONS + "\nnw_sshd_main /etc/ssh/sshd_config\n"


def test_hostile_file_names_and_lines_never_reach_a_shell(nodes: dict[str, FleetNode]) -> None:
    """Run the node-side snippet directly: a drop-in named like a command substitution,
    an Include pattern and a Match line full of shell syntax are data, never code."""
    node = nodes["layered"]
    hostile = "/etc/ssh/sshd_config.d/40-$(touch${IFS}nodeward-pwned).conf"  # would land in / (cwd)
    lines = "Include /etc/ssh/$(touch${IFS}nodeward-pwned2)\nMatch User $(id);x`id`\n    X11Forwarding yes\n"
    node.exec(["sh", "-c", 'printf "%s" "$2" > "$1"', "sh", hostile, lines])
    try:
        proc = node.exec([*NODE_ENV, "/bin/sh", "-c", SNIPPET])
        for trace in ("/nodeward-pwned", "/nodeward-pwned2"):
            assert node.exec(["test", "-e", trace], check=False).returncode != 0
        fact = sshd.parse(RawSection("sshd", proc.stdout, proc.stderr, 0, False), {})
        assert isinstance(fact, SshdConfig)
        assert fact.options["permitrootlogin"] == ("yes",)  # sshd -T still answers
        # sshd itself reads the file; the walk says it could not follow it.
        assert any("name nodeward does not pass on" in gap for gap in fact.walk_gaps), fact.walk_gaps
    finally:
        node.exec(["rm", "-f", "--", hostile])


def test_hostile_match_and_include_lines_are_reported_not_run(nodes: dict[str, FleetNode]) -> None:
    node = nodes["layered"]
    dropin = "/etc/ssh/sshd_config.d/45-hostile.conf"
    lines = "Include /etc/ssh/$(touch${IFS}nodeward-pwned3)\nMatch User $(id);x`id`\n    X11Forwarding yes\n"
    node.exec(["sh", "-c", 'printf "%s" "$2" > "$1"', "sh", dropin, lines])
    try:
        proc = node.exec([*NODE_ENV, "/bin/sh", "-c", SNIPPET])
        assert node.exec(["test", "-e", "/nodeward-pwned3"], check=False).returncode != 0
        fact = sshd.parse(RawSection("sshd", proc.stdout, proc.stderr, 0, False), {})
        assert isinstance(fact, SshdConfig) and fact.method == "sshd -T"
        assert any("Include /etc/ssh/$(touch" in gap for gap in fact.walk_gaps), fact.walk_gaps
        (view,) = [v for v in fact.match_views if v.block.condition.startswith("User $(id)")]
        assert view.spec is None and "characters nodeward does not pass on" in view.note
    finally:
        node.exec(["rm", "-f", "--", dropin])


def test_walk_output_of_a_real_node_matches_the_golden_fixture(nodes: dict[str, FleetNode]) -> None:
    """The captured fixture tests/fixtures/facts/sshd/walk_debian12_layered.out came from
    this node spec; a fresh capture must still parse to the same answers."""
    node = nodes["layered"]
    env = [*NODE_ENV[:2], "NW_CLIENT_ADDR=192.0.2.10", "NW_SERVER_ADDR=192.0.2.20", "NW_SERVER_PORT=22"]
    fresh = node.exec([*env, "/bin/sh", "-c", SNIPPET]).stdout
    golden = (
        Path(__file__).parents[1] / "fixtures" / "facts" / "sshd" / "walk_debian12_layered.out"
    ).read_bytes()
    answers = []
    for data in (fresh, golden):
        fact = sshd.parse(RawSection("sshd", data, b"", 0, False), {})
        assert isinstance(fact, SshdConfig)
        answers.append(
            (
                fact.options["permitrootlogin"],
                fact.source_of("permitrootlogin").split(" — ")[0],
                sorted((str(v.block), v.spec) for v in fact.match_views),
            )
        )
    assert answers[0] == answers[1]
