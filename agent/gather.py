"""Compose ONE script for every fact a scan needs, run it once, split it, parse it.

One exec per node keeps a fleet scan fast (no per-command round trips: testinfra's
cost, pyinfra's unshipped pipelining) and makes "what ran on my node" auditable: it
is exactly this script, which `nodeward gather --show-script` prints.

Wire format, all produced by the preamble's `nw_run` function:

    \\n<MARK> begin <fact>\\n<stdout, at most max_bytes+1>
    \\n<MARK> stderr <fact>\\n<first 4 KiB of stderr>
    \\n<MARK> end <fact> <exit code>\\n

or, when a tool the fact declares is not on the node (the snippet then never runs),
`end <fact> 127 missing <index of that tool>`: one report for every fact, which no
snippet can print because it never learns <MARK>.

<MARK> is random per run, so output that happens to contain marker-like lines
cannot be confused with them. Each section runs in its own `/bin/sh -c` under
`timeout` (when the node has it) with stdin from /dev/null; its exit code travels
through fd 3 so that capping the output with `head -c` does not lose it.
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.facts.model import FactValue, RawSection, Unavailable
from agent.facts.registry import ALWAYS, FACTS, FactSpec
from agent.facts.spec import read_section
from agent.secret import Secret
from agent.transport.base import Transport
from agent.transport.session import Become, ScriptOutput, run_script

# What one gather may return in all. The per-section caps add up to more, so a node
# whose sections all print near their cap is cut here, and reported as incomplete.
MAX_OUTPUT = 64 << 20

_PREAMBLE = r"""
LC_ALL=C; LANG=C; export LC_ALL LANG
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
umask 077
NW_CONNECTION=${1-}
set -f
set -- $NW_CONNECTION
set +f
NW_CLIENT_ADDR=${1:-127.0.0.1}
NW_SERVER_ADDR=${3:-127.0.0.1}
NW_SERVER_PORT=${4:-22}
export NW_CLIENT_ADDR NW_SERVER_ADDR NW_SERVER_PORT NW_USER
NW_TMP=$(mktemp -d 2>/dev/null) || NW_TMP=
export NW_TMP
trap 'if [ -n "$NW_TMP" ]; then rm -rf "$NW_TMP"; fi' EXIT
if command -v timeout >/dev/null 2>&1; then
  nw_limit() { nw_t=$1; shift; timeout -k 5 "$nw_t" "$@"; }
else
  nw_limit() { shift; "$@"; }
fi
exec 4>&1
# The index of the first required tool ("cmd cmd ...": any one will do) that is not
# installed; nothing when every one is.
nw_lacking() {
  nw_i=0
  for nw_need in "$@"; do
    nw_have=
    for nw_cmd in $nw_need; do
      if command -v "$nw_cmd" >/dev/null 2>&1; then nw_have=1; break; fi
    done
    if [ -z "$nw_have" ]; then echo "$nw_i"; return 0; fi
    nw_i=$((nw_i + 1))
  done
}
nw_run() {
  printf '\n%s begin %s\n' "$NW_MARK" "$1"
  nw_lack=$(shift 4; nw_lacking "$@")
  if [ -n "$nw_lack" ]; then
    printf '\n%s stderr %s\n' "$NW_MARK" "$1"
    printf '\n%s end %s 127 missing %s\n' "$NW_MARK" "$1" "$nw_lack"
    return 0
  fi
  nw_err=/dev/null
  if [ -n "$NW_TMP" ]; then nw_err="$NW_TMP/stderr"; fi
  # 3>&-: the section must not inherit the exit-code channel, or a line it writes there
  # would be read as its exit code. fd 4 stays inherited on purpose (a flood into it must
  # still reach the stream cap, tests/security/test_incomplete_gather.py).
  nw_rc=$( { { nw_limit "$3" /bin/sh -c "$4" 2>"$nw_err" </dev/null 3>&-; echo $? >&3; } \
    | head -c "$2" >&4; } 3>&1 )
  printf '\n%s stderr %s\n' "$NW_MARK" "$1"
  if [ -n "$NW_TMP" ]; then head -c 4096 "$nw_err"; fi
  printf '\n%s end %s %s\n' "$NW_MARK" "$1" "${nw_rc:-255}"
}
nw_run context 4096 5 'printf "user=%s\nclient_addr=%s\nserver_addr=%s\nserver_port=%s\n" \
  "$NW_USER" "$NW_CLIENT_ADDR" "$NW_SERVER_ADDR" "$NW_SERVER_PORT"'
"""


@dataclass(frozen=True, slots=True)
class GatherPlan:
    facts: tuple[FactSpec, ...]
    marker: str
    login_user: str

    def script(self) -> bytes:
        lines = [
            "#!/bin/sh",
            "# nodeward gather script: read-only, one run per scan",
            f"NW_MARK={shlex.quote(self.marker)}",
            f"NW_USER={shlex.quote(self.login_user)}",
            _PREAMBLE.strip(),
        ]
        for spec in self.facts:
            lines.append(
                "nw_run "
                + " ".join(
                    shlex.quote(word)
                    for word in (
                        spec.name,
                        str(spec.max_bytes + 1),
                        str(spec.timeout),
                        spec.script.strip(),
                        *(tool.shell_word for tool in spec.tools),
                    )
                )
            )
        lines.append("exit 0")
        return ("\n".join(lines) + "\n").encode()


def plan(fact_names: Iterable[str], login_user: str) -> GatherPlan:
    """A plan for the facts named (plus ALWAYS), in a stable order."""
    wanted = set(fact_names) | set(ALWAYS)
    unknown = wanted - FACTS.keys()
    if unknown:
        raise KeyError(f"unknown facts: {', '.join(sorted(unknown))}")
    ordered = tuple(spec for name, spec in FACTS.items() if name in wanted)
    return GatherPlan(facts=ordered, marker=f"nodeward-{secrets.token_hex(16)}", login_user=login_user)


def split(output: bytes, marker: str, *, caps: Mapping[str, int] | None = None) -> dict[str, RawSection]:
    """Cut the script's stdout into sections. Sections that never ended are kept,
    with exit_code None, so their facts become Unavailable rather than disappearing."""
    pattern = re.compile(
        rb"\n"
        + re.escape(marker.encode())
        + rb" (begin|stderr|end) ([a-z0-9_]+)(?: (\d{1,3}))?(?: missing (\d{1,2}))?\n"
    )
    sections: dict[str, RawSection] = {}
    current: str | None = None
    stdout = b""
    stderr = b""
    in_stderr = False
    last = 0
    for match in pattern.finditer(output):
        chunk = output[last : match.start()]
        last = match.end()
        kind, name = match.group(1).decode(), match.group(2).decode()
        if kind == "begin":
            current, stdout, stderr, in_stderr = name, b"", b"", False
        elif current == name and kind == "stderr":
            stdout, in_stderr = chunk, True
        elif current == name and kind == "end":
            if in_stderr:
                stderr = chunk
            else:
                stdout = chunk
            missing = None if match.group(4) is None else int(match.group(4))
            sections[name] = _section(name, stdout, stderr, int(match.group(3) or 255), caps, missing)
            current = None
    if current is not None:  # cut off mid-section: keep what arrived, mark it unfinished
        tail = output[last:]
        sections[current] = _section(
            current, stdout if in_stderr else tail, tail if in_stderr else b"", None, caps
        )
    return sections


def _section(
    name: str,
    stdout: bytes,
    stderr: bytes,
    exit_code: int | None,
    caps: Mapping[str, int] | None,
    missing_tool: int | None = None,
) -> RawSection:
    cap = (caps or {}).get(name)
    if cap is None and name in FACTS:
        cap = FACTS[name].max_bytes
    truncated = cap is not None and len(stdout) > cap
    if truncated and cap is not None:
        stdout = stdout[:cap]
    return RawSection(name, stdout, stderr, exit_code, truncated, missing_tool)


def parse_context(section: RawSection | None) -> dict[str, str]:
    if section is None:
        return {}
    pairs = (line.partition("=") for line in section.text.splitlines())
    return {key: value[:256] for key, sep, value in pairs if sep}


def parse_all(
    gather_plan: GatherPlan, sections: Mapping[str, RawSection], *, complete: bool
) -> dict[str, FactValue]:
    """Parse every planned fact; a section that is missing, failed, was cut off or lacks
    a tool becomes Unavailable (or Absent, as the fact declares: agent/facts/spec.py)."""
    context = parse_context(sections.get("context"))
    facts: dict[str, FactValue] = {}
    for spec in gather_plan.facts:
        section = sections.get(spec.name)
        if section is None:
            why = "was not reached" if not complete else "is missing from the output"
            facts[spec.name] = Unavailable(f"the {spec.name} section {why}")
        else:
            facts[spec.name] = read_section(spec, section, context)
    return facts


@dataclass(frozen=True, slots=True)
class Gathered:
    facts: dict[str, FactValue]
    context: dict[str, str]  # the connection as the node saw it (user, client address, port)
    incomplete: str | None  # why the gather is not whole; None when nothing was lost

    @property
    def complete(self) -> bool:
        """The script ran to its end and no section was cut off or over its cap."""
        return self.incomplete is None


def why_incomplete(
    gather_plan: GatherPlan, sections: Mapping[str, RawSection], output: ScriptOutput
) -> str | None:
    """Why this gather cannot be taken as the whole picture of the node, or None.

    Missing output must never read as a clean node: a fact that did not arrive makes its
    checks ERROR, and a node whose output is partial is reported as incomplete (exit 3)
    rather than scanned. Only our own fact names go into the text, never remote output.
    """
    problems: list[str] = []
    if output.truncated:
        problems.append(f"the output passed the {MAX_OUTPUT >> 20} MiB limit of one gather")
    if output.exit_code is None:
        problems.append("the connection or the remote shell ended before the script did")
    elif output.exit_code != 0:
        problems.append(f"the script exited with status {output.exit_code} before its end")
    planned = [spec.name for spec in gather_plan.facts]
    missing = [name for name in planned if name not in sections]
    cut = [name for name in planned if name in sections and sections[name].exit_code is None]
    over = [name for name in planned if name in sections and sections[name].truncated]
    for label, names in (
        ("sections never reached", missing),
        ("sections cut off", cut),
        ("sections over their size limit", over),
    ):
        if names:
            problems.append(f"{label}: {', '.join(names)}")
    return "; ".join(problems) or None


def collect(
    transport: Transport,
    fact_names: Iterable[str],
    *,
    become: bool,
    become_password: Secret | None,
    timeout: float,
) -> Gathered:
    """Compose, run once, split and parse: the one round trip of a scan."""
    gather_plan = plan(fact_names, transport.login_user)
    output = run_script(
        transport,
        gather_plan.script(),
        become=Become(enabled=become, password=become_password),
        timeout=timeout,
        max_output=MAX_OUTPUT,
    )
    sections = split(output.stdout, gather_plan.marker)
    incomplete = why_incomplete(gather_plan, sections, output)
    return Gathered(
        facts=parse_all(gather_plan, sections, complete=incomplete is None),
        context=parse_context(sections.get("context")),
        incomplete=incomplete,
    )
