"""What a FactSpec declares (tools, accepted exit codes) and how one place applies it.

The gather script checks each fact's declared tools itself and reports a missing one in
its own marker line; read_section (agent/facts/spec.py) turns that, a failed, cut-off or
oversized section into Absent / Unavailable the same way for every fact, before any
parser runs. The script side runs with the real /bin/sh through the local transport, as
tests/unit/test_gather.py does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from agent import gather
from agent.catalog import load_catalog
from agent.facts.model import Absent, FactValue, RawSection, Unavailable
from agent.facts.registry import FACTS
from agent.facts.spec import FactSpec, IfMissing, Tool, read_section
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.evaluate import evaluate
from agent.transport.local import LocalTransport
from agent.transport.session import Become, run_script

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts"
NO_SUCH = "nodeward-no-such-tool"


class _Kept:
    def __init__(self, section: RawSection) -> None:
        self.section = section

    def lookup(self, path: str) -> None:
        return None


def _keep(section: RawSection, context: Mapping[str, str]) -> FactValue:
    return _Kept(section)


def _gather(*specs: FactSpec) -> tuple[dict[str, RawSection], dict[str, FactValue]]:
    plan = gather.GatherPlan(facts=specs, marker="nodeward-test-marker-tools", login_user="root")
    output = run_script(LocalTransport(), plan.script(), become=Become(enabled=False), timeout=60)
    sections = gather.split(output.stdout, plan.marker)
    return sections, gather.parse_all(plan, sections, complete=True)


def _parse_all(spec: FactSpec, section: RawSection) -> FactValue:
    plan = gather.GatherPlan(facts=(spec,), marker="m", login_user="scanner")
    return gather.parse_all(plan, {spec.name: section}, complete=True)[spec.name]


def test_the_script_reports_a_missing_tool_and_never_runs_the_snippet() -> None:
    # The snippet would leave a trace in stdout; the marker it must never see is checked
    # in the section that does run.
    snippet = 'printf "ran mark=%s\\n" "${NW_MARK-unset}"'
    sections, facts = _gather(
        FactSpec("present", snippet, _keep, tools=(Tool(("sh",), IfMissing.ABSENT),)),
        FactSpec(
            "absent",
            snippet,
            _keep,
            tools=(Tool(("sh",), IfMissing.UNAVAILABLE), Tool((NO_SUCH,), IfMissing.ABSENT)),
        ),
        FactSpec("needed", snippet, _keep, tools=(Tool((NO_SUCH, f"{NO_SUCH}-2"), IfMissing.UNAVAILABLE),)),
        FactSpec("either", snippet, _keep, tools=(Tool((NO_SUCH, "sh"), IfMissing.ABSENT),)),
    )
    assert sections["present"].stdout == b"ran mark=unset\n" and sections["present"].missing_tool is None
    assert sections["either"].stdout == b"ran mark=unset\n"  # any one of the alternatives will do
    assert sections["absent"].stdout == b"" and sections["absent"].missing_tool == 1
    assert facts["absent"] == Absent(f"{NO_SUCH} is not installed")
    assert sections["needed"].stdout == b"" and sections["needed"].missing_tool == 0
    assert facts["needed"] == Unavailable(
        f"none of {NO_SUCH}, {NO_SUCH}-2 is installed: the needed fact cannot be gathered without it"
    )


@pytest.mark.parametrize("name", sorted(FACTS))
def test_a_section_failing_with_127_itself_is_an_error_never_not_installed(name: str) -> None:
    """Only the script's own report means "not installed". A snippet that exits 127
    because some command inside it was not found used to read as sshd / auditd / a
    package manager being absent: NOT_APPLICABLE where the truth is ERROR."""
    failed = RawSection(name, b"", b"sh: 1: awk: not found", 127, False)
    fact = _parse_all(FACTS[name], failed)
    assert isinstance(fact, Unavailable), fact
    assert fact.reason == f"the {name} section failed (exit 127): sh: 1: awk: not found"


@pytest.mark.parametrize("name", sorted(n for n, spec in FACTS.items() if not spec.reads_partial))
def test_a_section_over_its_size_limit_is_unavailable_in_one_wording(name: str) -> None:
    fact = _parse_all(FACTS[name], RawSection(name, b"", b"", 0, True))
    limit = FACTS[name].max_bytes
    assert fact == Unavailable(f"the {name} section was cut off at its size limit ({limit} bytes)")


def test_a_kernel_section_cut_at_its_limit_is_not_judged() -> None:
    """Whole-looking output that was cut is still partial: the kernel parser used to
    judge it (installed kernels missing past the cut read as "running the newest")."""
    data = (FIXTURES / "kernel" / "debian12_current.out").read_bytes()
    assert not isinstance(_parse_all(FACTS["kernel"], RawSection("kernel", data, b"", 0, False)), Unavailable)
    assert isinstance(_parse_all(FACTS["kernel"], RawSection("kernel", data, b"", 0, True)), Unavailable)


def test_declared_tools_are_plain_command_names() -> None:
    # They are spliced into the script and split on spaces there.
    for bad in ("", "two words", "$(reboot)", "a;b", "*", "-n", "x" * 65):
        with pytest.raises(ValueError, match="plain command names"):
            Tool((bad,), IfMissing.ABSENT)
    with pytest.raises(ValueError, match="plain command names"):
        Tool((), IfMissing.ABSENT)
    with pytest.raises(ValueError, match="exit codes"):
        FactSpec("x", "true", _keep, exit_codes=frozenset({256}))


def test_an_undeclared_missing_tool_index_is_an_error() -> None:
    fact = read_section(FACTS["sshd"], RawSection("sshd", b"", b"", 127, False, missing_tool=5), {})
    assert isinstance(fact, Unavailable) and "undeclared" in fact.reason


CATALOG = load_catalog()
_DECLARED = [
    (check.id, index) for check in CATALOG.checks for index, _tool in enumerate(FACTS[check.fact].tools)
]


@pytest.mark.parametrize(("check_id", "index"), _DECLARED)
def test_every_check_on_a_node_without_its_tool_is_not_applicable_or_error(check_id: str, index: int) -> None:
    check = next(c for c in CATALOG.checks if c.id == check_id)
    spec = FACTS[check.fact]
    fact = read_section(spec, RawSection(check.fact, b"", b"", 127, False, missing_tool=index), {})
    finding = evaluate(check, {check.fact: fact}, Node(name="n", roles=("worker", "control-plane")))
    tool = spec.tools[index]
    expected = Status.NOT_APPLICABLE if tool.if_missing is IfMissing.ABSENT else Status.ERROR
    assert finding.status is expected, finding
    assert tool.missing_text in finding.reason
