"""Every template prints values only as quoted shell words (reliability.md I2).

Three layers, each able to fail on its own:
1. the environment's `finalize` IS the shell-quoting function (so no `{{ }}` escapes it);
2. an AST walk over every template: no include/import/extends/macro/raw (which could
   bring unlinted text), no `|safe`, and no `{{ }}` where a shell word is not what the
   text around it expects: inside an open quote, after `#` on its line (a newline in
   the value would turn the rest into code), or in a heredoc;
3. rendering every template with a sentinel that carries shell metacharacters and
   finding it, every time, inside a single-quoted word.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
from jinja2 import nodes

from agent.remediate import render
from agent.remediate.manifest import load_remediations

REMEDIATIONS = load_remediations()
TEMPLATES = [*sorted(REMEDIATIONS.root.glob("*.sh.j2")), render.HERE / "header.sh.j2"]
SENTINEL = 'NWSENTINEL;$(touch /tmp/pwned)#"`x`'
_FORBIDDEN = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends, nodes.Macro, nodes.CallBlock)


def problems(source: str) -> list[str]:
    """What is wrong with one template's use of `{{ }}` (empty: nothing)."""
    found: list[str] = []
    if "{% raw" in source or "{%- raw" in source:
        found.append("{% raw %} would hide text from this lint")
    if "<<" in source:
        found.append("heredoc (<<): values must never be inside one")
    tree = render.environment(Path(".")).parse(source)
    for forbidden in tree.find_all(_FORBIDDEN):
        found.append(f"line {forbidden.lineno}: {type(forbidden).__name__} is not allowed in a fix template")
    for applied in tree.find_all(nodes.Filter):
        if applied.name in ("safe", "string", "tojson"):
            found.append(f"line {applied.lineno}: filter |{applied.name} would print unquoted text")
    for output in tree.find_all(nodes.Output):
        before = ""
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                before += child.data
                continue
            line = before.rsplit("\n", 1)[-1]
            if _open_quote(line):
                found.append(f"line {child.lineno}: {{{{ }}}} inside a quoted string: {line.strip()!r}")
            if "#" in _unquoted(line):
                found.append(f"line {child.lineno}: {{{{ }}}} in a comment: {line.strip()!r}")
            before += "WORD"
    return found


def _unquoted(line: str) -> str:
    return re.sub(r"'[^']*'|\"(\\.|[^\"\\])*\"", "", line)


def _open_quote(line: str) -> bool:
    single = double = False
    escaped = False
    for char in line:
        if escaped:
            escaped = False
        elif char == "\\" and not single:
            escaped = True
        elif char == "'" and not double:
            single = not single
        elif char == '"' and not single:
            double = not double
    return single or double


def test_finalize_is_the_shell_quoting_hook() -> None:
    env = render.environment(Path("."))
    assert env.finalize is render.shell_word
    assert env.undefined is jinja2.StrictUndefined
    assert env.autoescape is False
    assert (
        env.from_string("echo {{ v }}").render(v="'; touch /tmp/pwned #")
        == "echo ''\"'\"'; touch /tmp/pwned #'"
    )
    assert env.from_string("for x in {{ v }}").render(v=("a b", "$(c)")) == "for x in 'a b' '$(c)'"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_prints_values_only_as_shell_words(path: Path) -> None:
    assert problems(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        'echo "{{ value }}"',
        "echo '{{ value }}'",
        "# value: {{ value }}",
        "x=1 # {{ value }}",
        "cat <<EOF\n{{ value }}\nEOF",
        "{{ value | safe }}",
        "{% include 'other.sh.j2' %}",
        "{% raw %}{{ value }}{% endraw %}",
        "{% macro m() %}x{% endmacro %}",
    ],
)
def test_the_lint_catches_unquoted_contexts(source: str) -> None:
    """The lint must be able to fail: each of these would put a value outside a word."""
    assert problems(source) != []


def test_the_lint_accepts_words_in_commands_and_command_substitutions() -> None:
    assert problems("nw_x={{ a }}\nfor p in {{ b }}; do printf '%s\\n' {{ c }}; done\n") == []


def _sentinels(manifest_id: str) -> dict[str, object]:
    manifest = REMEDIATIONS.manifests[manifest_id]
    return {name: [SENTINEL] if spec.type == "list" else SENTINEL for name, spec in manifest.params.items()}


def _occurrences(text: str) -> Iterator[int]:
    start = 0
    while (at := text.find("NWSENTINEL", start)) >= 0:
        yield at
        start = at + 1


@pytest.mark.parametrize("manifest_id", sorted(REMEDIATIONS.manifests))
def test_a_hostile_value_only_ever_appears_quoted(manifest_id: str) -> None:
    """Rendered through the environment (no parameter validation in the way), every
    occurrence of the sentinel is exactly one single-quoted shell word."""
    manifest = REMEDIATIONS.manifests[manifest_id]
    env = render.environment(manifest.template_path.parent)
    text = env.get_template(manifest.template).render(**_sentinels(manifest_id))
    quoted = shlex.quote(SENTINEL)
    positions = list(_occurrences(text))
    for at in positions:
        assert text[at - 1 : at - 1 + len(quoted)] == quoted, text[max(0, at - 80) : at + 80]
    assert positions, f"{manifest_id}: the sentinel never reached the output (test is blind)"
