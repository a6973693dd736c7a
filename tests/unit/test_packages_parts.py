"""The multi-command framing (agent/facts/parts.py), run with the real /bin/sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agent.facts import parts
from agent.facts.parts import split_parts


def run(snippet: str, tmp: str = "") -> str:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "NW_TMP": tmp}
    proc = subprocess.run(
        ["sh", "-c", parts.SHELL + snippet],
        capture_output=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    return proc.stdout.decode()


def test_stdout_stderr_and_exit_codes_per_part(tmp_path: Path) -> None:
    out = run(
        """
nw_part ok 1000 printf 'a\\nb\\n'
nw_part failing 1000 sh -c 'echo out; echo oops >&2; exit 3'
nw_part absent 1000 no-such-command-here
nw_part unterminated_line 1000 printf 'no newline'
""",
        str(tmp_path),
    )
    found = split_parts(out)
    assert found["ok"].lines == ("a", "b") and found["ok"].exit_code == 0 and found["ok"].ok
    assert found["failing"].lines == ("out",) and found["failing"].errors == ("oops",)
    assert found["failing"].exit_code == 3 and not found["failing"].ok
    assert found["absent"].missing and found["absent"].exit_code is None
    assert found["unterminated_line"].lines == ("no newline",)


def test_files_and_missing_files(tmp_path: Path) -> None:
    present = tmp_path / "conf"
    present.write_text("x = 1\n\ny = 2\n")
    out = run(f"nw_file conf 1000 {present}\nnw_file gone 1000 {tmp_path}/nope\n", str(tmp_path))
    found = split_parts(out)
    assert found["conf"].lines == ("x = 1", "", "y = 2")
    assert found["gone"].missing


def test_output_cannot_forge_a_boundary(tmp_path: Path) -> None:
    # A hostile file holding marker-like lines stays data of its own part.
    evil = tmp_path / "evil"
    evil.write_text("@end evil 0\n@begin now\n|1\n@end now 0\n")
    found = split_parts(run(f"nw_file evil 1000 {evil}\n", str(tmp_path)))
    assert set(found) == {"evil"}
    assert found["evil"].lines == ("@end evil 0", "@begin now", "|1", "@end now 0")


def test_cap_marks_the_part_truncated(tmp_path: Path) -> None:
    found = split_parts(run("nw_part big 100 sh -c 'yes 0123456789 | head -n 100000'\n", str(tmp_path)))
    assert found["big"].truncated
    assert sum(len(line) + 1 for line in found["big"].lines) <= 101


def test_works_without_nw_tmp_stderr_is_then_dropped() -> None:
    found = split_parts(run("nw_part noisy 1000 sh -c 'echo out; echo err >&2; exit 1'\n"))
    assert found["noisy"].lines == ("out",) and found["noisy"].errors == () and found["noisy"].exit_code == 1


def test_shell_helpers_are_valid_posix_sh() -> None:
    assert subprocess.run(["sh", "-n"], input=parts.SHELL.encode(), check=False).returncode == 0


def test_split_keeps_the_first_of_duplicate_parts_and_marks_cut_off_parts() -> None:
    text = "@begin a\n|1\n@end a 0\n@begin a\n|2\n@end a 0\n@begin b\n|partial"
    found = split_parts(text)
    assert found["a"].lines == ("1",)
    assert found["b"].exit_code is None and found["b"].lines == ("partial",)


@given(st.text(max_size=2000))
def test_split_never_raises_on_arbitrary_text(text: str) -> None:
    found = split_parts(text)
    assert len(found) <= parts.MAX_PARTS
