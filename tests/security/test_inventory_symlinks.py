"""Issue #12 item 8: a vars file that cannot be read is an inventory error, never skipped.

group_vars/ and host_vars/ hold the settings that decide *how* a node is reached: the
jump host, the login user, the key. If a broken symlink there dropped out silently, the
node would be contacted directly, as someone else. Every broken entry must stop the load
(exit 2), name the file, and contact nothing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.errors import InventoryError, Problem
from agent.inventory.loader import load_inventory

NODEWARD = Path(sys.executable).parent / "nodeward"

HOSTS = "all:\n  hosts:\n    n1:\n      ansible_host: 127.0.0.1\n      ansible_port: {port}\n"


def _inventory(root: Path, port: int = 22) -> Path:
    path = root / "hosts.yml"
    path.write_text(HOSTS.format(port=port))
    (root / "group_vars").mkdir()
    (root / "host_vars").mkdir()
    return path


def _problems(path: Path) -> tuple[Problem, ...]:
    with pytest.raises(InventoryError) as caught:
        load_inventory(str(path), fmt="ansible")
    return caught.value.problems


def _dangling(root: Path) -> Path:
    link = root / "group_vars" / "all.yml"
    link.symlink_to(root / "moved-away.yml")  # held the ProxyJump of every node
    return link


def _self_loop(root: Path) -> Path:
    link = root / "host_vars" / "n1.yml"
    link.symlink_to("n1.yml")
    return link


def _loop_pair(root: Path) -> Path:
    first, second = root / "host_vars" / "n1", root / "host_vars" / "other"
    first.symlink_to("other")
    second.symlink_to("n1")
    return first


def _dangling_inside_a_vars_dir(root: Path) -> Path:
    (root / "group_vars" / "all").mkdir()
    (root / "group_vars" / "all" / "main.yml").write_text("x: 1\n")
    link = root / "group_vars" / "all" / "jump.yml"
    link.symlink_to("/nonexistent/jump.yml")
    return link


def _directory_loop(root: Path) -> Path:
    (root / "host_vars" / "n1").mkdir()
    (root / "host_vars" / "n1" / "main.yml").write_text("x: 1\n")
    link = root / "host_vars" / "n1" / "again"
    link.symlink_to("..")  # host_vars/n1/again/n1/again/...
    return link


def _dangling_vars_dir(root: Path) -> Path:
    (root / "group_vars").rmdir()
    link = root / "group_vars"
    link.symlink_to(root / "shared" / "group_vars")
    return link


def _fifo(root: Path) -> Path:
    fifo = root / "host_vars" / "n1.yml"
    os.mkfifo(fifo)  # reading it would block the load forever
    return fifo


BROKEN = {
    "dangling": (_dangling, "dangling symlink"),
    "self-loop": (_self_loop, "symlink loop"),
    "loop-pair": (_loop_pair, "symlink loop"),
    "dangling-in-dir": (_dangling_inside_a_vars_dir, "dangling symlink"),
    "directory-loop": (_directory_loop, "symlink loop"),
    "dangling-vars-dir": (_dangling_vars_dir, "dangling symlink"),
    "fifo": (_fifo, "not a regular file"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_vars_entry_is_an_inventory_error_naming_the_file(tmp_path: Path, case: str) -> None:
    make, words = BROKEN[case]
    inventory = _inventory(tmp_path)
    broken = make(tmp_path)
    found = _problems(inventory)
    assert [p for p in found if p.file == str(broken) and words in p.message], found


def test_a_symlink_to_a_real_vars_file_still_works(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path)
    real = tmp_path / "shared.yml"
    real.write_text("ansible_user: deploy\nansible_ssh_common_args: -o ProxyJump=jump@127.0.0.2\n")
    (tmp_path / "host_vars" / "n1.yml").symlink_to(real)
    (tmp_path / "group_vars" / "all").symlink_to(tmp_path / "groupdir", target_is_directory=True)
    (tmp_path / "groupdir").mkdir()
    (tmp_path / "groupdir" / "x.yml").write_text("site: lab\n")
    (tmp_path / "groupdir" / ".#x.yml").symlink_to("root@box.1234:1700000000")  # an editor lock: hidden
    (node,) = load_inventory(str(inventory), fmt="ansible").nodes
    assert node.user == "deploy"
    assert node.vars["site"] == "lab"
    assert node.proxy_jump == "jump@127.0.0.2"


# --- the installed command: exit 2, file named, nothing contacted ---------------------


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A loopback port that counts the connections it gets (the node we must not contact)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn.getpeername())
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def _nodeward(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env.update({"HOME": str(home), "NO_COLOR": "1"})
    return subprocess.run(
        [str(NODEWARD), *args], capture_output=True, text=True, timeout=120, check=False, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("case", ["dangling", "self-loop", "loop-pair"])
@pytest.mark.parametrize("command", ["inventory", "scan"])
def test_the_cli_exits_2_names_the_file_and_contacts_nothing(
    tmp_path: Path, listener: tuple[int, list[object]], case: str, command: str
) -> None:
    port, accepted = listener
    root = tmp_path / "inv"
    root.mkdir()
    inventory = _inventory(root, port)
    broken = BROKEN[case][0](root)
    args = [command, str(inventory)] if command == "inventory" else [command, "-i", str(inventory)]
    empty = tmp_path / "empty"
    empty.write_text("")
    if command == "scan":
        args += ["--ssh-config", str(empty), "--known-hosts", str(empty), "--connect-timeout", "2"]
    result = _nodeward(*args, home=tmp_path / "home")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert str(broken) in result.stderr, result.stderr
    assert accepted == []
