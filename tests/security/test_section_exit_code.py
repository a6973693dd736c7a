"""Review finding 7: a section must not be able to choose its own exit code.

The exit code of each section travels to nw_run through fd 3; a section that inherits
fd 3 and writes `0` there first is reported as exit 0 whatever it really returned (the
end marker's regex takes the first number). Run with the real /bin/sh through the local
transport, as tests/unit/test_gather.py does.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent import gather
from agent.facts.model import FactValue, RawSection
from agent.facts.registry import FactSpec
from agent.transport.local import LocalTransport
from agent.transport.session import Become, run_script


class _Kept:
    def __init__(self, section: RawSection) -> None:
        self.section = section

    def lookup(self, path: str) -> None:
        return None


def _keep(section: RawSection, context: Mapping[str, str]) -> FactValue:
    return _Kept(section)


def _sections(*specs: FactSpec) -> dict[str, RawSection]:
    plan = gather.GatherPlan(facts=specs, marker="nodeward-test-marker-fd3", login_user="root")
    output = run_script(LocalTransport(), plan.script(), become=Become(enabled=False), timeout=60)
    return gather.split(output.stdout, plan.marker)


def test_a_section_writing_to_fd_3_cannot_forge_its_exit_code() -> None:
    sections = _sections(
        FactSpec("forger", "printf '0\\n' >&3 2>/dev/null; echo real; exit 7", _keep),
        FactSpec("after", "echo ok", _keep),
    )
    assert sections["forger"].exit_code == 7, sections["forger"]
    assert sections["forger"].stdout == b"real\n"
    assert sections["after"].exit_code == 0 and sections["after"].stdout == b"ok\n"


def test_fd_4_is_still_inherited_by_sections() -> None:
    """Guard: the stream cap test (test_incomplete_gather.py) floods fd 4; keep it open."""
    sections = _sections(FactSpec("four", "[ -e /proc/self/fd/4 ] && echo open", _keep))
    assert sections["four"].exit_code == 0 and sections["four"].stdout == b"open\n"
