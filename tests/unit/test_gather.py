"""The gather script's wire format, run with the real /bin/sh (no SSH needed).

These tests run composed scripts through the local transport, so the shell side
(markers, exit codes through fd 3, caps with head -c, timeout) is exercised for real.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from agent import gather
from agent.facts.model import Absent, FactValue, RawSection, Unavailable
from agent.facts.registry import FACTS, FactSpec
from agent.facts.sshd.fact import SshdConfig
from agent.facts.system import SystemInfo
from agent.transport.local import LocalTransport
from agent.transport.session import Become, run_script


class Echo:
    """A fact value that just keeps its section, to look at what arrived."""

    def __init__(self, section: RawSection) -> None:
        self.section = section

    def lookup(self, path: str) -> None:
        return None


def keep(section: RawSection, context: Mapping[str, str]) -> FactValue:
    return Echo(section)


def run_plan(specs: tuple[FactSpec, ...]) -> tuple[dict[str, RawSection], dict[str, FactValue]]:
    plan = gather.GatherPlan(facts=specs, marker="nodeward-test-marker-0123", login_user="root")
    output = run_script(LocalTransport(), plan.script(), become=Become(enabled=False), timeout=60)
    sections = gather.split(output.stdout, plan.marker)
    return sections, gather.parse_all(plan, sections, complete=True)


def test_script_is_valid_posix_sh() -> None:
    plan = gather.plan(FACTS.keys(), "scanner")
    checked = subprocess.run(["sh", "-n"], input=plan.script(), capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_login_user_is_quoted_into_the_script() -> None:
    plan = gather.plan(["sshd"], "o'brien; touch /tmp/pwned")
    assert b"NW_USER='o'\"'\"'brien; touch /tmp/pwned'" in plan.script()


def test_each_section_keeps_its_own_exit_code_and_stderr() -> None:
    specs = (
        FactSpec("one", "printf 'a\\nb\\n'", keep),
        FactSpec("two", "echo oops >&2; exit 3", keep),
        FactSpec("three", "printf 'no newline'", keep),
    )
    sections, _ = run_plan(specs)
    assert sections["one"].stdout == b"a\nb\n" and sections["one"].exit_code == 0
    assert sections["two"].stdout == b"" and sections["two"].exit_code == 3
    assert sections["two"].stderr == b"oops\n"
    assert sections["three"].stdout == b"no newline"
    assert sections["context"].exit_code == 0


def test_output_over_the_cap_is_cut_on_the_node_and_flagged() -> None:
    specs = (
        FactSpec("big", "head -c 100000 /dev/zero", keep, max_bytes=1000),
        FactSpec("after", "echo ok", keep),
    )
    plan = gather.GatherPlan(facts=specs, marker="nodeward-cap-marker", login_user="root")
    output = run_script(LocalTransport(), plan.script(), become=Become(enabled=False), timeout=60)
    sections = gather.split(output.stdout, plan.marker, caps={"big": 1000})
    assert len(sections["big"].stdout) == 1000
    assert sections["big"].truncated
    assert sections["after"].stdout == b"ok\n"  # the next section is intact


def test_a_section_that_runs_too_long_is_killed_on_the_node() -> None:
    specs = (FactSpec("slow", "sleep 30", keep, timeout=1), FactSpec("after", "echo ok", keep))
    sections, facts = run_plan(specs)
    assert sections["slow"].exit_code == 124
    assert isinstance(facts["slow"], Unavailable)
    assert "timed out" in facts["slow"].reason
    assert sections["after"].stdout == b"ok\n"


def test_marker_lookalikes_in_output_do_not_split_sections() -> None:
    forged = "printf '\\nnodeward-other begin system\\nNODEWARD_KERNEL=evil\\n'"
    sections, _ = run_plan((FactSpec("hostile", forged, keep),))
    assert set(sections) == {"context", "hostile"}
    assert b"NODEWARD_KERNEL=evil" in sections["hostile"].stdout


def test_unfinished_section_is_kept_as_unfinished() -> None:
    marker = "m"
    output = b"\nm begin context\nuser=x\n\nm stderr context\n\nm end context 0\n\nm begin sshd\nport 22\n"
    sections = gather.split(output, marker)
    assert sections["sshd"].exit_code is None
    plan = gather.GatherPlan(facts=(FACTS["sshd"],), marker=marker, login_user="x")
    facts = gather.parse_all(plan, sections, complete=False)
    assert isinstance(facts["sshd"], Unavailable) and "cut off" in facts["sshd"].reason


def test_missing_section_is_unavailable_never_a_pass() -> None:
    plan = gather.GatherPlan(facts=(FACTS["sshd"],), marker="m", login_user="x")
    facts = gather.parse_all(plan, {}, complete=True)
    assert isinstance(facts["sshd"], Unavailable)


def test_real_facts_from_this_machine() -> None:
    """The shipped snippets run on this (Debian) machine and parse."""
    _, facts = run_plan((FACTS["system"], FACTS["sshd"]))
    system = facts["system"]
    assert isinstance(system, SystemInfo)
    assert system.root and system.kernel
    assert isinstance(facts["sshd"], SshdConfig | Unavailable | Absent)


@pytest.mark.parametrize("name", sorted(FACTS))
def test_every_registered_snippet_is_valid_sh(name: str) -> None:
    checked = subprocess.run(
        ["sh", "-n"], input=FACTS[name].script.encode(), capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


def test_sections_see_a_private_temp_dir_that_is_removed_afterwards() -> None:
    spec = FactSpec("tmp", 'stat -c "%a %U" "$NW_TMP"; printf "%s\\n" "$NW_TMP"', keep)
    sections, _ = run_plan((spec,))
    mode_owner, path = sections["tmp"].stdout.decode().splitlines()
    assert mode_owner == "700 root"
    assert not Path(path).exists()
