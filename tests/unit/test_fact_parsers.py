"""Fact parsers against captured real output (tests/fixtures/facts/<fact>/<case>.out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.facts import system
from agent.facts.model import Absent, FactParseError, RawSection, Unavailable
from agent.facts.registry import FACTS
from agent.facts.spec import read_section
from agent.facts.sshd import fact as sshd
from agent.facts.sshd.fact import SshdConfig
from agent.facts.system import SystemInfo

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts"
CONTEXT = {"user": "scanner", "client_addr": "10.0.0.5", "server_port": "22"}


def section(name: str, data: bytes, rc: int | None = 0, stderr: bytes = b"") -> RawSection:
    return RawSection(name, data, stderr, rc, truncated=False)


def test_sshd_t_debian12_golden() -> None:
    data = (FIXTURES / "sshd" / "debian12_default.out").read_bytes()
    fact = sshd.parse(section("sshd", data), CONTEXT)
    assert isinstance(fact, SshdConfig)
    assert fact.options["permitrootlogin"] == ("without-password",)
    assert fact.options["passwordauthentication"] == ("yes",)
    assert fact.options["acceptenv"] == ("LANG", "LC_*")
    assert fact.options["subsystem"] == ("sftp /usr/lib/openssh/sftp-server",)
    assert len(fact.options) > 80
    root = fact.lookup("PermitRootLogin")
    assert root is not None and root.value == "without-password"
    assert "user=scanner" in root.source and "addr=10.0.0.5" in root.source
    accept = fact.lookup("acceptenv")
    assert accept is not None and accept.value == ("LANG", "LC_*")


def test_sshd_not_installed_is_absent_and_failure_is_unavailable() -> None:
    missing = RawSection("sshd", b"", b"", 127, truncated=False, missing_tool=0)
    assert isinstance(read_section(FACTS["sshd"], missing, CONTEXT), Absent)
    failed = read_section(
        FACTS["sshd"], section("sshd", b"", rc=255, stderr=b"Missing privilege separation directory"), CONTEXT
    )
    assert isinstance(failed, Unavailable)
    assert "privilege separation" in failed.reason


def test_sshd_hostile_output_is_bounded_and_never_raises() -> None:
    hostile = b"permitrootlogin no\x1b[2J\n\x00\x00garbage line!!\n" + b"banner " + b"A" * 100_000 + b"\n"
    fact = sshd.parse(section("sshd", hostile), CONTEXT)
    assert isinstance(fact, SshdConfig)
    assert fact.unknown_lines == 1
    assert len(fact.options["banner"][0]) == 4096


def test_sshd_empty_output_is_unavailable() -> None:
    assert isinstance(sshd.parse(section("sshd", b""), CONTEXT), Unavailable)
    with pytest.raises(FactParseError):
        sshd.parse_sshd_t("", source="x")


def test_system_debian12_golden() -> None:
    data = (FIXTURES / "system" / "debian12.out").read_bytes()
    fact = system.parse(section("system", data), {})
    assert isinstance(fact, SystemInfo)
    assert (fact.os_id, fact.os_version_id, fact.os_family) == ("debian", "12", "debian")
    assert fact.kernel == "6.1.0-28-amd64" and fact.root


@pytest.mark.parametrize(
    ("case", "family", "version"),
    [("ubuntu2404", "debian", "24.04"), ("rhel9", "rhel", "9.4"), ("sles15", "suse", "15.6")],
)
def test_system_other_distros(case: str, family: str, version: str) -> None:
    data = (FIXTURES / "system" / f"{case}.out").read_bytes()
    fact = system.parse(section("system", data), {})
    assert isinstance(fact, SystemInfo)
    assert fact.os_family == family and fact.os_version_id == version


def test_system_without_markers_is_unavailable() -> None:
    assert isinstance(system.parse(section("system", b"ID=debian\n"), {}), Unavailable)
    assert isinstance(read_section(FACTS["system"], section("system", b"ID=debian\n", rc=1), {}), Unavailable)
