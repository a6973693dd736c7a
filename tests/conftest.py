"""Shared fixtures.  The fleet (real sshd nodes, tests/fleet/harness.py) lives here so
tests/cli and tests/fleet both get it; unit tests never import the harness."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fleet.harness import Fleet, FleetKeys

FLEET_DIR = Path(__file__).resolve().parent / "fleet"
_FLEET_TOOLS = ("unshare", "nsenter", "mount", "ssh", "ssh-keygen", "openssl", "sudo")


@functools.cache
def _fleet_problems() -> tuple[str, ...]:
    """What stops real nodes from running here; empty when all is well."""
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append("not running as root (namespaces and overlay mounts need root)")
    if not os.access("/usr/sbin/sshd", os.X_OK):
        problems.append("/usr/sbin/sshd is missing (apt-get install openssh-server)")
    missing = [tool for tool in _FLEET_TOOLS if shutil.which(tool) is None]
    if missing:
        problems.append(f"missing tools: {', '.join(missing)}")
    filesystems = Path("/proc/filesystems").read_text()
    if "\toverlay\n" not in filesystems:
        problems.append("the kernel has no overlay filesystem (modprobe overlay)")
    return tuple(problems)


def _require_fleet() -> None:
    # CI installs everything these tests need, so a missing piece is a broken setup:
    # fail loudly rather than skip and report green.
    problems = _fleet_problems()
    if problems:
        pytest.fail(
            "fleet tests need root, OpenSSH sshd and mount namespaces; run the README's "
            "setup as root. Problems: " + "; ".join(problems),
            pytrace=False,
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything under tests/fleet, and anything that asks for a fleet, is a fleet test,
    # so `-m "not fleet"` deselects exactly the tests that need root and sshd.
    for item in items:
        in_fleet_dir = FLEET_DIR in Path(str(item.path)).resolve().parents
        if in_fleet_dir or "fleet" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.fleet)


@pytest.fixture(autouse=True)
def _fleet_guard(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("fleet") is not None:
        _require_fleet()


@pytest.fixture(scope="session")
def fleet_keys(tmp_path_factory: pytest.TempPathFactory) -> FleetKeys:
    """Client keys for the session: bastion, other (authorized nowhere), encrypted."""
    _require_fleet()
    from tests.fleet.harness import FleetKeys

    return FleetKeys(tmp_path_factory.mktemp("fleet-keys"))


@pytest.fixture
def fleet(tmp_path: Path, fleet_keys: FleetKeys) -> Iterator[Fleet]:
    """A Fleet for this test; every node it started is stopped afterwards, pass or fail."""
    _require_fleet()
    from tests.fleet.harness import Fleet

    with Fleet(tmp_path / "fleet", fleet_keys) as fleet:
        yield fleet
