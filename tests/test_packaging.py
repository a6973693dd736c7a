"""The wheel carries only the `agent` package (with the catalogue inside it), and a
fresh virtualenv with `pip install .` gives a working `nodeward`."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
    )
    (built,) = out.glob("nodeward-*.whl")
    return built


def test_wheel_contains_only_agent_at_top_level(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"agent"}, sorted(top)
    catalogue = [n for n in names if n.startswith("agent/_catalog/")]
    assert any(n.startswith("agent/_catalog/checks/sshd/") and n.endswith(".yaml") for n in names)
    assert all(n.endswith((".yaml", ".j2", ".md")) for n in catalogue), catalogue
    assert "agent/schemas/report-v1.schema.json" in names
    assert "agent/report/report.html.j2" in names  # the HTML report template ships
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv_gives_a_working_cli(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(REPO)], check=True, timeout=600)
    help_text = subprocess.run(
        [
            str(
                env_dir / "bin" / "nodeward",
            ),
            "--help",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "scan" in help_text.stdout
    listed = subprocess.run(
        [str(env_dir / "bin" / "nodeward"), "checks"], capture_output=True, text=True, check=True
    )
    assert "sshd_permit_root_login_disabled" in listed.stdout  # the bundled catalogue is found
