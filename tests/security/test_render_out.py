"""`nodeward render --out DIR` writes scripts that are later run as root on a node
(issue #12 item 4): nobody but their owner may write into DIR or DIR/<node>/, whatever
the umask, or anyone could swap a script between the render and that root run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fleet.harness import Fleet
from tests.fleet.test_remediate import make_site

pytestmark = pytest.mark.fleet

CHECKS = ("sshd_permit_root_login_disabled",)


@contextmanager
def umask(value: int) -> Iterator[None]:
    """The console script inherits the umask of this process."""
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return os.lstat(path).st_mode & 0o7777


def test_under_umask_000_render_creates_every_directory_0700(fleet: Fleet, tmp_path: Path) -> None:
    node = fleet.start("weak", name="render-node")
    site = make_site(fleet, [node], tmp_path / "bastion")
    out = tmp_path / "fresh" / "scripts"  # two levels that do not exist yet
    with umask(0):
        code, stdout, err = site.nodeward("render", "--out", str(out), checks=CHECKS)
    assert code == 0, err[-2000:]
    assert "render-node.sh" in stdout
    for directory in (tmp_path / "fresh", out, out / "render-node"):
        assert mode(directory) == 0o700, (directory, oct(mode(directory)))
    scripts = [out / "render-node.sh", *(out / "render-node").glob("*.sh")]
    assert len(scripts) >= 2 and all(mode(p) == 0o700 for p in scripts)


def test_an_existing_out_directory_others_can_write_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    node = fleet.start("weak", name="render-node")
    site = make_site(fleet, [node], tmp_path / "bastion")
    out = tmp_path / "shared"
    out.mkdir()
    out.chmod(0o777)
    code, _stdout, err = site.nodeward("render", "--out", str(out), checks=CHECKS)
    assert code == 2, err[-2000:]
    assert "writable by group or others (mode 0777)" in err
    assert list(out.iterdir()) == []  # nothing written into it
    assert mode(out) == 0o777  # and never "fixed" behind the operator's back


def test_a_node_folder_that_is_a_symlink_or_open_to_others_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    node = fleet.start("weak", name="render-node")
    site = make_site(fleet, [node], tmp_path / "bastion")
    out = tmp_path / "scripts"
    out.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "render-node").symlink_to(elsewhere)
    code, _stdout, err = site.nodeward("render", "--out", str(out), checks=CHECKS)
    assert code == 2, err[-2000:]
    assert "is a symbolic link" in err
    assert list(elsewhere.iterdir()) == [] and not (out / "render-node.sh").exists()

    (out / "render-node").unlink()
    (out / "render-node").mkdir()
    (out / "render-node").chmod(0o757)
    code, _stdout, err = site.nodeward("render", "--out", str(out), checks=CHECKS)
    assert code == 2 and "writable by group or others (mode 0757)" in err, err[-2000:]
    assert list((out / "render-node").iterdir()) == [] and not (out / "render-node.sh").exists()
