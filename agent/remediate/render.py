"""Render fix templates and compose them into standalone POSIX sh scripts.

The Jinja2 environment itself makes values safe for the shell (reliability.md I2,
aesthetics.md section 3 example 5):

* `finalize` shell-quotes EVERY `{{ }}` output with shlex.quote, so a template cannot
  forget to: `{{ value }}` with `'; touch /tmp/pwned #` renders as one inert word. A
  list renders as several quoted words (`for p in {{ paths }}; do`).
* `StrictUndefined`: a missing parameter is an error, never an empty string.
* autoescape is off (it is an HTML notion), and parameters are validated against the
  manifest's types before anything is rendered.
* Templates print values only as shell words (arguments to functions and printf),
  never inside heredocs, quotes or config text: tests/unit/test_render_lint.py walks
  every template's AST and fails on anything else.

A composed script is: a header (what, for which node, how to dry-run), the constant
runtime (runtime.sh) and rollback control (control.sh, carried as one quoted word and
written into the backup directory), one shell function per fix, and `nw_finish`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from agent import __version__
from agent.remediate.manifest import Manifest, ParamError, ParamValue

HERE = Path(__file__).resolve().parent
RUNTIME = HERE / "runtime.sh"
CONTROL = HERE / "control.sh"
MODES = ("default", "apply", "hold", "plan")  # default: apply unless NW_MODE says otherwise


def shell_word(value: object) -> str:
    """The `finalize` hook: every value a template prints becomes quoted shell words."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError here: a missing value is an error
    if isinstance(value, list | tuple):
        return " ".join(shlex.quote(_scalar(item)) for item in value)
    return shlex.quote(_scalar(value))


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    # None, mappings, objects: a template printing one of these is a bug, not data.
    raise TypeError(f"a template printed a {type(value).__name__}; only strings, numbers and lists are data")


def environment(directory: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        # Off on purpose: HTML escaping means nothing to sh; shell_word quotes instead.
        autoescape=False,  # noqa: S701
        finalize=shell_word,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


@cache
def _environment_for(directory: str) -> jinja2.Environment:
    return environment(Path(directory))


@dataclass(frozen=True, slots=True)
class FixScript:
    """One fix as it goes into a script: its manifest, validated parameters, and why."""

    manifest: Manifest
    params: Mapping[str, ParamValue]
    checks: tuple[str, ...]  # the check ids it should make pass ("" when the inventory asked)

    @property
    def label(self) -> str:
        return ", ".join(self.checks) if self.checks else "requested by the inventory (nodeward_fixes)"


def render_block(manifest: Manifest, raw_params: Mapping[str, object]) -> str:
    """Validate the parameters, then render the manifest's template into a fix block."""
    params = manifest.validate_params(raw_params)
    return _render(manifest, params)


def _render(manifest: Manifest, params: Mapping[str, ParamValue]) -> str:
    env = _environment_for(str(manifest.template_path.parent))
    try:
        template = env.get_template(manifest.template)
        return template.render(**params)
    except jinja2.UndefinedError as exc:
        raise ParamError(f"{manifest.id}: the template uses an undefined value: {exc}") from None


@dataclass(frozen=True, slots=True)
class ScriptOptions:
    node: str
    mode: str = "default"
    run_id: str = ""  # empty: the script makes one when it runs
    keep_users: tuple[str, ...] = ("root",)  # accounts whose SSH and sudo must survive; first = login
    rollback_seconds: int = 120
    force: bool = False  # --i-have-console-access: skip the lockout guards (never L7/L8)
    marker: str = "nodeward"


def compose(fixes: Sequence[FixScript], options: ScriptOptions) -> str:
    """One standalone POSIX sh script applying `fixes` in order, with every safety step."""
    if options.mode not in MODES:
        raise ValueError(f"unknown mode {options.mode!r}")
    env = environment(HERE)
    variables = env.get_template("header.sh.j2").render(
        node=options.node,
        version=__version__,
        mode=options.mode,
        run_id=options.run_id,
        keep_users=" ".join(options.keep_users),
        rollback_seconds=options.rollback_seconds,
        force="1" if options.force else "0",
        marker=options.marker,
    )
    # Comments are built here, not in a template: a value inside a `#` comment would be
    # code again after its first newline. _comment() keeps each on one printable line.
    lines = ["#!/bin/sh", f"# nodeward remediation script, nodeward {_comment(__version__)}"]
    lines.append(
        f"# node: {_comment(options.node)}"
        + (f"   run: {_comment(options.run_id)}" if options.run_id else "")
    )
    lines += ["#", "# Fixes, applied together as one change (all or nothing):"]
    for n, fix in enumerate(fixes, start=1):
        reboot = ", needs a reboot (never done by nodeward)" if fix.manifest.needs_reboot else ""
        lines.append(
            f"#   {n}. {fix.manifest.id}: reload {fix.manifest.reload}, lockout risk "
            f"{fix.manifest.lockout_risk}{reboot}"
        )
        lines.append(f"#      for {_comment(fix.label)}")
    header = "\n".join(lines) + "\n" + variables
    control = CONTROL.read_text(encoding="utf-8")
    if "\nNW_CONTROL_EOF\n" in f"\n{control}":
        raise ValueError("control.sh must not contain the heredoc delimiter line")
    # control.sh is constant text (no value of any kind in it): a quoted heredoc keeps it
    # readable in the script and unexpanded.
    writer = f"nw_write_control() {{\n\tcat <<'NW_CONTROL_EOF'\n{control}NW_CONTROL_EOF\n}}\n"
    parts = [header, RUNTIME.read_text(encoding="utf-8"), writer]
    calls = []
    for n, fix in enumerate(fixes, start=1):
        block = _render(fix.manifest, fix.params).rstrip("\n")
        body = "\n".join(f"\t{line}" if line else "" for line in block.splitlines())
        parts.append(
            f"# ---------------------------------------------------------------- fix {n}: {fix.manifest.id}\n"
            f"# {_comment(fix.manifest.title)}\n# for: {_comment(fix.label)}\n"
            f"nw_fix_{n}() {{\n{body}\n}}\n"
        )
        calls.append(f"nw_fix {n} {shlex.quote(fix.manifest.id)} nw_fix_{n}")
    parts.append('nw_init "$@"\n' + "\n".join(calls) + ("\n" if calls else "") + "nw_finish\n")
    return "\n".join(parts)


def _comment(text: str) -> str:
    """Text for a `#` comment line: one line, printable."""
    return "".join(ch if ch.isprintable() else "?" for ch in " ".join(text.split()))[:300]
