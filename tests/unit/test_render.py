"""Rendering: parameters validated first, every render passes `sh -n`, goldens hold,
and composed scripts carry the runtime, the rollback control and one function per fix.

Goldens: tests/fixtures/remediations/<manifest>/<n>.sh is the rendered fix block of
the manifest's n-th example. Refresh after a deliberate template change with
NODEWARD_UPDATE_GOLDENS=1 and review the diff.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.remediate.manifest import ParamError, load_remediations
from agent.remediate.render import (
    CONTROL,
    RUNTIME,
    FixScript,
    ScriptOptions,
    compose,
    render_block,
    shell_word,
)

REMEDIATIONS = load_remediations()
GOLDENS = Path(__file__).resolve().parents[1] / "fixtures" / "remediations"
SHELLS = [s for s in ("dash", "bash", "busybox") if shutil.which(s)]
EXAMPLES = [(m.id, i) for m in REMEDIATIONS.manifests.values() for i in range(len(m.examples))]
BINDINGS = [
    (m.id, check, i)
    for m in REMEDIATIONS.manifests.values()
    for check, bound in m.checks.items()
    for i in range(len(bound))
]


def syntax_ok(script: str) -> None:
    """`sh -n` with every POSIX-ish shell this machine has (dash is Debian's /bin/sh)."""
    assert SHELLS, "no shell to check syntax with"
    for shell in SHELLS:
        argv = [shell, "sh", "-n"] if shell == "busybox" else [shell, "-n"]
        done = subprocess.run(argv, input=script.encode(), capture_output=True, check=False, timeout=30)
        assert done.returncode == 0, f"{shell} -n: {done.stderr.decode()}"


def example_fix(manifest_id: str, index: int) -> FixScript:
    manifest = REMEDIATIONS.manifests[manifest_id]
    return FixScript(manifest, manifest.validate_params(manifest.examples[index]), ("example_check",))


@pytest.mark.parametrize(("manifest_id", "index"), EXAMPLES)
def test_every_example_renders_passes_sh_n_and_matches_its_golden(manifest_id: str, index: int) -> None:
    manifest = REMEDIATIONS.manifests[manifest_id]
    block = render_block(manifest, manifest.examples[index])
    golden = GOLDENS / manifest_id / f"{index + 1}.sh"
    if os.environ.get("NODEWARD_UPDATE_GOLDENS") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(block)
    assert golden.is_file(), f"missing golden {golden} (NODEWARD_UPDATE_GOLDENS=1 writes it)"
    assert block == golden.read_text()
    syntax_ok(compose((example_fix(manifest_id, index),), ScriptOptions(node="golden")))


@pytest.mark.parametrize(("manifest_id", "check_id", "index"), BINDINGS)
def test_every_catalogue_binding_composes_into_a_valid_script(
    manifest_id: str, check_id: str, index: int
) -> None:
    manifest = REMEDIATIONS.manifests[manifest_id]
    from agent.remediate.manifest import auto_samples, resolve_roles

    params = manifest.validate_params(
        {**auto_samples(manifest), **resolve_roles(manifest.checks[check_id][index], ("worker",))}
    )
    syntax_ok(
        compose(
            (FixScript(manifest, params, (check_id,)),), ScriptOptions(node="n1", mode="hold", run_id="r1")
        )
    )


def test_a_node_script_carries_every_safety_step_once() -> None:
    fixes = [
        example_fix(m, 0) for m in ("file_mode", "sudoers_defaults", "sshd_option", "kubelet_config_field")
    ]
    script = compose(fixes, ScriptOptions(node="web-1", keep_users=("scanner", "alice"), rollback_seconds=30))
    syntax_ok(script)
    assert script.startswith("#!/bin/sh\n")
    assert RUNTIME.read_text() in script
    assert "cat <<'NW_CONTROL_EOF'\n" + CONTROL.read_text() + "NW_CONTROL_EOF\n" in script
    for n in range(1, 5):
        assert f"nw_fix_{n}() {{" in script
        assert f"\nnw_fix {n} " in script
    assert script.rstrip().endswith("nw_finish")
    assert "NW_KEEP_USERS='scanner alice'" in script
    assert "NW_ROLLBACK_SECONDS=30" in script
    assert "NW_MODE=${NW_MODE:-apply}" in script  # a hand run applies; NW_MODE=plan dry-runs
    hold = compose(fixes, ScriptOptions(node="web-1", mode="hold", run_id="20260101T000000Z-abc"))
    assert "NW_MODE=hold\n" in hold and "NW_RUN_ID=20260101T000000Z-abc\n" in hold


def test_parameters_are_validated_before_rendering() -> None:
    manifest = REMEDIATIONS.manifests["sshd_option"]
    for bad in ({"keyword": "PermitRootLogin", "value": "no\nMatch all"}, {"keyword": "Port", "value": "22"}):
        with pytest.raises(ParamError):
            render_block(manifest, bad)


def test_a_hostile_but_valid_text_value_stays_one_literal_word() -> None:
    manifest = REMEDIATIONS.manifests["sudoers_defaults"]
    value = "'; touch /tmp/pwned # $(touch /tmp/pwned2) `id`"
    block = render_block(manifest, {"setting": "passprompt", "value": value})
    assert f"nw_value={shlex.quote(value)}\n" in block
    assignment = next(line for line in block.splitlines() if line.startswith("nw_value="))
    assert shlex.split(assignment) == [f"nw_value={value}"]
    syntax_ok(
        compose(
            (FixScript(manifest, manifest.validate_params({"setting": "passprompt", "value": value}), ()),),
            ScriptOptions(node="n"),
        )
    )


def test_comment_lines_cannot_be_escaped_by_names_or_titles() -> None:
    """A node name or check id reaches `#` comments only through _comment(): one line."""
    fix = example_fix("sshd_option", 0)
    script = compose(
        (FixScript(fix.manifest, fix.params, ("x\ntouch /tmp/pwned",)),), ScriptOptions(node="a\nrm -rf /")
    )
    header = script[: script.index("NW_NODE=")].splitlines()
    assert all(line.startswith("#") for line in header), header
    assert "#      for x touch /tmp/pwned" in script and "# node: a rm -rf /" in script
    assert "NW_NODE='a\nrm -rf /'" in script  # as data: one quoted word, newline and all
    syntax_ok(script)


def test_lists_become_several_words_and_odd_types_are_refused() -> None:
    assert shell_word(("/etc/a b", "$x")) == "'/etc/a b' '$x'"
    assert shell_word(True) == "true"
    assert shell_word(0o440) == "288"
    with pytest.raises(TypeError):
        shell_word(None)
    with pytest.raises(TypeError):
        shell_word({"a": 1})


def test_strict_undefined_refuses_a_template_that_uses_a_missing_value(tmp_path: Path) -> None:
    from dataclasses import replace

    manifest = REMEDIATIONS.manifests["unattended_upgrades"]
    (tmp_path / "t.sh.j2").write_text("x={{ nope }}\n")
    broken = replace(manifest, template="t.sh.j2", template_path=tmp_path / "t.sh.j2")
    with pytest.raises(ParamError, match="undefined"):
        render_block(broken, {})
