"""What a fact declares, and what those declarations make of its section before parsing.

A `FactSpec` names the fact's POSIX sh snippet and parser, and declares what the
gather script and this module then handle the same way for every fact:

- `tools`: commands the snippet cannot do without. The composed script checks them
  with `command -v` before running the snippet and, when one is missing, reports that
  in its own marker line (agent/gather.py), which a snippet cannot print: the run's
  marker is random and never exported to it. A missing tool means, as the tool says,
  either that the component is not on the node (`Absent`: its checks are not
  applicable) or that the fact cannot be gathered (`Unavailable`: its checks ERROR).
- `exit_codes`: the codes the parser interprets. Any other code is a failure.
- `reads_partial`: the parser itself makes sense of a section cut at its size limit
  (sshd: the operator's view, printed first, stands and the walk names its gap);
  for every other fact such a section is Unavailable.

`read_section` applies them, and the cut-off, time-out and size-limit rules, once, so a
parser sees only a section that ran to its end with an exit code it accepts, and keeps
only what is genuinely its own (sshd's Match evaluations, apt's simulation, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from agent.facts.model import Absent, FactValue, RawSection, Unavailable

Parser = Callable[[RawSection, Mapping[str, str]], FactValue]

# Plain command names only: they are spliced into the script as words and split on
# spaces there, so nothing that quotes, globs or separates may appear in one.
_COMMAND = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_TIMED_OUT = (124, 137)  # timeout(1): the limit passed; 137 after its -k kill


class IfMissing(Enum):
    """What a missing tool says about the fact."""

    ABSENT = "absent"  # the component is not on this node: its checks are NOT_APPLICABLE
    UNAVAILABLE = "unavailable"  # the fact cannot be gathered without it: its checks ERROR


@dataclass(frozen=True, slots=True)
class Tool:
    """A command a snippet needs; with several names, any one of them will do."""

    commands: tuple[str, ...]
    if_missing: IfMissing

    def __post_init__(self) -> None:
        if not self.commands or not all(_COMMAND.match(c) for c in self.commands):
            raise ValueError(f"a tool is one or more plain command names, not {self.commands!r}")

    @property
    def shell_word(self) -> str:
        """The alternatives as the gather script's nw_lacking reads them."""
        return " ".join(self.commands)

    @property
    def missing_text(self) -> str:
        """The one wording every fact uses for this tool being missing."""
        if len(self.commands) == 1:
            return f"{self.commands[0]} is not installed"
        return f"none of {', '.join(self.commands)} is installed"


@dataclass(frozen=True, slots=True)
class FactSpec:
    name: str
    script: str
    parse: Parser
    timeout: int = 60  # seconds, enforced on the node with timeout(1) where it exists
    max_bytes: int = 4 << 20  # per-section cap; the rest is cut on the node
    tools: tuple[Tool, ...] = ()  # checked in this order; the first one missing is reported
    exit_codes: frozenset[int] = frozenset({0})  # what the parser interprets; others fail
    reads_partial: bool = False  # the parser reads a section cut at its size limit itself

    def __post_init__(self) -> None:
        # The wire carries a missing tool's index in two digits (agent/gather.py).
        if len(self.tools) > 99:
            raise ValueError(f"{self.name}: at most 99 tools")
        if not self.exit_codes or not all(0 <= code <= 255 for code in self.exit_codes):
            raise ValueError(f"{self.name}: exit codes are 0..255 and at least one is accepted")


def read_section(spec: FactSpec, section: RawSection, context: Mapping[str, str]) -> FactValue:
    """The fact from one section: what the declarations say about it, else the parser's
    reading. Only our own names and numbers go into a reason, plus the section's stderr
    as `RawSection.error_text` gives it (whitespace collapsed, capped)."""
    if section.missing_tool is not None:
        return _missing(spec, section.missing_tool)
    if section.exit_code is None:
        return Unavailable(f"the {spec.name} section was cut off")
    if section.exit_code in _TIMED_OUT and spec.timeout:
        return Unavailable(f"{spec.name} timed out on the node after {spec.timeout} s")
    # Before the exit code: a snippet cut by `head -c` usually dies of SIGPIPE, and
    # "failed (exit 141)" would hide why.
    if section.truncated and not spec.reads_partial:
        return Unavailable(f"the {spec.name} section was cut off at its size limit ({spec.max_bytes} bytes)")
    if section.exit_code not in spec.exit_codes:
        return Unavailable(
            f"the {spec.name} section failed (exit {section.exit_code}): {section.error_text or 'no message'}"
        )
    return spec.parse(section, context)


def _missing(spec: FactSpec, index: int) -> FactValue:
    if not 0 <= index < len(spec.tools):  # only our own script writes the index
        return Unavailable(f"the {spec.name} section reported an undeclared missing tool ({index})")
    tool = spec.tools[index]
    if tool.if_missing is IfMissing.ABSENT:
        return Absent(tool.missing_text)
    return Unavailable(f"{tool.missing_text}: the {spec.name} fact cannot be gathered without it")
