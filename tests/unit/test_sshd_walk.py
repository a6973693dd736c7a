"""The sshd section: golden captures from real Debian 12 fleet nodes, and hostile input.

tests/fixtures/facts/sshd/walk_debian12_*.out were captured by running the snippet
(agent/facts/sshd/walk.py) inside fleet nodes built from tests/fleet/nodes/*.yaml,
as root and, for `layered_nonroot`, as the scan account without sudo.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.catalog import load_catalog
from agent.facts.model import Absent, FactParseError, RawSection, Unavailable
from agent.facts.registry import FACTS
from agent.facts.spec import read_section
from agent.facts.sshd import walk as sshd_walk
from agent.facts.sshd.fact import FILE_WALK, SshdConfig
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.evaluate import evaluate

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts" / "sshd"
SSHD_CHECKS = [c for c in load_catalog().checks if c.fact == "sshd"]


def fact_of(
    data: bytes, rc: int | None = 0, truncated: bool = False, missing_tool: int | None = None
) -> object:
    return read_section(FACTS["sshd"], RawSection("sshd", data, b"", rc, truncated, missing_tool), {})


def golden(name: str) -> SshdConfig:
    fact = fact_of((FIXTURES / f"walk_debian12_{name}.out").read_bytes())
    assert isinstance(fact, SshdConfig), fact
    return fact


def verdicts(fact: SshdConfig) -> dict[str, Status]:
    node = Node(name="golden", roles=("worker",))
    return {check.id: evaluate(check, {"sshd": fact}, node).status for check in SSHD_CHECKS}


def test_layered_node_as_root() -> None:
    fact = golden("layered")
    assert fact.method == "sshd -T" and fact.config_valid is True and not fact.walk_gaps
    assert fact.source == "sshd -T -C user=scanner,host=192.0.2.10,addr=192.0.2.10,laddr=192.0.2.20,lport=22"
    root = fact.lookup("PermitRootLogin")
    assert root is not None and root.value == "yes"
    assert root.source == (
        "/etc/ssh/sshd_config.d/20-image-build.conf:2 (PermitRootLogin yes), read before "
        "/etc/ssh/sshd_config:3 (PermitRootLogin no), which sshd ignores: the first value wins — "
        + fact.source
    )
    views = {str(v.block): v for v in fact.match_views}
    assert set(views) == {"Match Address 10.0.0.0/8", "Match Group contractors", "Match User deploy"}
    assert all(v.selected and v.method.startswith("sshd -T -C ") for v in views.values())
    assert views["Match Address 10.0.0.0/8"].value("passwordauthentication") == "yes"
    assert (
        views["Match Group contractors"].spec is not None
        and "user=carol" in views["Match Group contractors"].spec
    )
    assert views["Match User deploy"].block.location.file == "/etc/ssh/sshd_config.d/30-deploy.conf"
    status = verdicts(fact)
    assert status["sshd_permit_root_login_disabled"] is Status.FAIL
    assert status["sshd_password_authentication_disabled"] is Status.PASS
    assert status["sshd_match_blocks_keep_passwords_off"] is Status.FAIL
    assert status["sshd_match_blocks_keep_root_login_off"] is Status.PASS  # root is "yes" everywhere
    assert status["sshd_config_files_protected"] is Status.FAIL  # Debian's 0644 files


def test_layered_node_without_root_falls_back_to_the_walk_and_says_so() -> None:
    fact = golden("layered_nonroot")
    assert fact.method == FILE_WALK and fact.config_valid is None
    assert fact.source.startswith(
        "file walk of /etc/ssh/sshd_config (no root, so no sshd -T: sshd -T exited 1"
    )
    assert fact.options["permitrootlogin"] == ("yes",) and fact.options["passwordauthentication"] == ("no",)
    assert fact.source_of("permitrootlogin").startswith("/etc/ssh/sshd_config.d/20-image-build.conf:2")
    assert all(v.method.startswith("file walk for user=") for v in fact.match_views)
    status = verdicts(fact)
    assert status["sshd_config_valid"] is Status.ERROR
    assert status["sshd_match_blocks_keep_passwords_off"] is Status.FAIL
    assert status["sshd_host_keys_strong"] is Status.PASS  # ssh-keygen read the .pub


def test_hardened_node_passes_every_sshd_check() -> None:
    status = verdicts(golden("hardened"))
    assert {check: s for check, s in status.items() if s is not Status.PASS} == {}


def test_stock_debian_values_come_from_compiled_in_defaults() -> None:
    fact = golden("default")
    root = fact.lookup("permitrootlogin")
    assert root is not None and root.value == "without-password"
    assert root.source.startswith("compiled-in default: no configuration line sets it — sshd -T -C")
    x11 = fact.lookup("x11forwarding")
    assert x11 is not None and x11.source.startswith("/etc/ssh/sshd_config:90 (X11Forwarding yes)")
    assert fact.config_dirs == ("/etc/ssh/sshd_config.d",)
    status = verdicts(fact)
    assert status["sshd_permit_root_login_disabled"] is Status.FAIL
    assert status["sshd_macs_strong"] is Status.FAIL  # hmac-sha1 and umac-64 by default
    assert status["sshd_match_blocks_keep_passwords_off"] is Status.PASS  # no Match blocks


def test_a_section_cut_off_after_the_operator_view_keeps_it_and_names_the_gap() -> None:
    data = (FIXTURES / "walk_debian12_layered.out").read_bytes()
    cut = data[: data.index(b"@F /etc/ssh/sshd_config.d/30-deploy.conf")]
    fact = fact_of(cut, truncated=True)
    assert isinstance(fact, SshdConfig) and fact.options["permitrootlogin"] == ("yes",)
    assert "the node's output ended before the walk finished" in fact.walk_gaps
    assert "(the file walk missed" in fact.source_of("permitrootlogin")


def test_a_section_cut_off_inside_the_operator_view_is_unavailable() -> None:
    data = (FIXTURES / "walk_debian12_layered.out").read_bytes()
    cut = data[: data.index(b"passwordauthentication")]
    fact = fact_of(cut, truncated=True)
    assert isinstance(fact, Unavailable) and "sshd -T exited early" in fact.reason


def test_not_installed_and_failed_sections() -> None:
    assert fact_of(b"", rc=127, missing_tool=0) == Absent("sshd is not installed")
    # A section that failed with 127 itself (a command inside it not found) is not a
    # missing sshd: only the gather script's own report says that.
    assert isinstance(fact_of(b"", rc=127), Unavailable)
    assert isinstance(fact_of(b"@nodeward-sshd 1\n", rc=2), Unavailable)
    with pytest.raises(FactParseError):
        sshd_walk.read("something else\n")


def test_files_over_the_cap_and_unsafe_names_are_gaps() -> None:
    data = (FIXTURES / "walk_debian12_layered.out").read_bytes()
    big = data.replace(
        b"@F /etc/ssh/sshd_config.d/20-image-build.conf ok 54",
        b"@F /etc/ssh/sshd_config.d/20-image-build.conf ok 999999",
    )
    fact = fact_of(big)
    assert isinstance(fact, SshdConfig)
    assert any("larger than" in gap for gap in fact.walk_gaps)
    unsafe = data.replace(
        b"@g /etc/ssh/sshd_config.d/30-deploy.conf\n", b"@g /etc/ssh/sshd_config.d/30-deploy.conf\n@X\n"
    )
    fact = fact_of(unsafe)
    assert isinstance(fact, SshdConfig)
    assert (
        "a file matching /etc/ssh/sshd_config.d/*.conf has a name nodeward does not pass on" in fact.walk_gaps
    )


def test_hostile_output_is_bounded_and_escaped() -> None:
    data = (FIXTURES / "walk_debian12_layered.out").read_bytes()
    # A comment full of escape sequences on the line that wins: it is quoted in the source.
    hostile = data.replace(b"|PermitRootLogin yes", b"|PermitRootLogin yes # \x1b[2J\x07" + b"A" * 100_000)
    fact = fact_of(hostile)
    assert isinstance(fact, SshdConfig)
    source = fact.source_of("permitrootlogin")
    assert source.startswith(
        "/etc/ssh/sshd_config.d/20-image-build.conf:2 (PermitRootLogin yes # \\x1b[2J\\x07AAA"
    )
    assert "\x1b" not in source and "\x07" not in source and len(source) < 1000


RECORDS = [
    "@T operator user=a", "@T match user=b", "@R 0", "@R x", "@E boom", "@F /etc/ssh/sshd_config ok 5",
    "@F /x unreadable", "|PermitRootLogin yes", "|Match User a", "|Include /etc/ssh/x/*", "@G /etc/ssh/x/*",
    "@g /etc/ssh/x/a", "@S 81a4 0 0 root root /etc/ssh/sshd_config", "@S zz", "@B /k 256 x (ED25519)",
    "@Q - 0", "@M /etc/ssh/sshd_config 2 user=a", "@M /etc/ssh/sshd_config x", "@U a b", "@P 0", "@P x",
    "@end", "permitrootlogin no", "garbage \x00\xff", "@C /etc/ssh/sshd_config",
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(RECORDS), max_size=40))
def test_any_sequence_of_records_parses_or_is_unavailable(lines: list[str]) -> None:
    data = ("@nodeward-sshd 1\n" + "\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    fact = fact_of(data)
    assert isinstance(fact, SshdConfig | Unavailable)
    if isinstance(fact, SshdConfig):
        for key in fact.options:
            fact.source_of(key)
        verdicts(fact)


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(fact_of(b"@nodeward-sshd 1\n" + data), SshdConfig | Unavailable)


def without_operator_view(data: bytes, stderr: bytes, rc: int) -> bytes:
    start = data.index(b"@T operator ")
    body = data.index(b"\n", start) + 1
    end = data.index(b"@R 0\n", body) + len(b"@R 0\n")
    return data[:body] + b"@E " + stderr + b"\n@R " + str(rc).encode() + b"\n" + data[end:]


def test_root_and_sshd_rejecting_its_files_fails_config_valid_with_sshds_words() -> None:
    data = (FIXTURES / "walk_debian12_layered.out").read_bytes()
    broken = without_operator_view(data, b'/etc/ssh/sshd_config line 4: unsupported option "maybe".', 255)
    fact = fact_of(broken)
    assert isinstance(fact, SshdConfig) and fact.method == FILE_WALK and fact.config_valid is False
    assert 'line 4: unsupported option "maybe"' in fact.config_errors[0]
    assert verdicts(fact)["sshd_config_valid"] is Status.FAIL


def test_missing_privilege_separation_directory_is_not_blamed_on_the_configuration() -> None:
    data = (FIXTURES / "walk_debian12_layered.out").read_bytes()
    fact = fact_of(without_operator_view(data, b"Missing privilege separation directory: /run/sshd", 255))
    assert isinstance(fact, SshdConfig) and fact.config_valid is None
    assert verdicts(fact)["sshd_config_valid"] is Status.ERROR
    assert fact.options["permitrootlogin"] == ("yes",)
