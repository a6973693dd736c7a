"""Stand-in processes for Kubernetes components on fleet nodes (issue 4).

A scan discovers kubelet, etcd and kube-apiserver from `/proc/<pid>/cmdline` and
`/proc/<pid>/exe`, so a test node needs a process whose executable is really named
`kubelet` (or `etcd`, ...) and whose argv is exactly the flags under test. Real binaries
are out of reach, and the obvious substitutes fail: a copy of /bin/sleep exits on
`--anonymous-auth=true` ("unrecognized option"); a shell script runs as `/bin/sh
/usr/local/bin/kubelet ...` (argv[0] is the shell) so exact-name discovery rightly
ignores it.

So the stand-in is a 129-byte static ELF built here, byte by byte, whose whole program
is `for (;;) pause();`: it ignores its arguments, uses no CPU, and dies on SIGTERM or
with the node (the node's PID namespace ends with its anchor). It is written into the
node's private /usr/local/bin (the host's /usr/bin is shared by every node, see
harness.OVERLAID_TREES) and started INSIDE the node with `os.execv(path, argv)`, so
argv[0] can be any string (e.g. "/usr/bin/kubelet" as a kubeadm node shows it) while
/proc/<pid>/exe names the stand-in file.

Reusable for any component: `start_standin(node, "etcd", ["etcd", "--client-cert-auth=true"])`.
"""

from __future__ import annotations

import platform
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import pytest

STANDIN_DIR = "/usr/local/bin"

# x86-64: loop: mov eax, 34 (pause); syscall; jmp loop
_X86_64_CODE = bytes.fromhex("b8220000000f05ebf7")
# aarch64: loop: mov x0..x3, #0; mov x8, #73 (ppoll: blocks until a signal); svc #0; b loop
_AARCH64_CODE = struct.pack(
    "<7I", 0xD2800000, 0xD2800001, 0xD2800002, 0xD2800003, 0xD2800928, 0xD4000001, 0x17FFFFFA
)
_MACHINES = {"x86_64": (0x3E, _X86_64_CODE), "aarch64": (0xB7, _AARCH64_CODE)}
_BASE = 0x400000
_HEADERS = 64 + 56  # one ELF header, one program header

# Runs inside the node: double fork so the stand-in is re-parented to the node's PID 1,
# never waits on us, and holds none of our pipes (node.exec returns at once).
_SPAWN = """
import os, sys
path, argv = sys.argv[1], sys.argv[2:]
read, write = os.pipe()
if os.fork() == 0:
    os.setsid()
    pid = os.fork()
    if pid:
        os.write(write, str(pid).encode())
        os._exit(0)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, 1 << 16)
    os.execv(path, argv)
os.close(write)
print(os.read(read, 32).decode())
"""


class Node(Protocol):
    def exec(
        self, argv: list[str], input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]: ...


def pause_elf(machine: str | None = None) -> bytes:
    """A static ELF executable that pauses forever, for this machine's architecture."""
    arch = machine or platform.machine()
    if arch not in _MACHINES:
        raise LookupError(f"no hand-built stand-in for {arch}")
    e_machine, code = _MACHINES[arch]
    size = _HEADERS + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little endian, SysV
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 2, e_machine, 1, _BASE + _HEADERS, 64, 0, 0, 64, 56, 1, 0, 0, 0
    )
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, _BASE, _BASE, size, size, 0x1000)  # PT_LOAD, R+X
    return header + program + code


def _compiled() -> bytes | None:
    """The same program from a C compiler, for architectures without a hand-built one."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        source, binary = Path(tmp, "p.c"), Path(tmp, "p")
        source.write_text("#include <unistd.h>\nint main(void) { for (;;) pause(); }\n")
        done = subprocess.run(
            [compiler, "-O2", "-o", str(binary), str(source)], capture_output=True, check=False
        )
        return binary.read_bytes() if done.returncode == 0 else None


def standin_binary() -> bytes:
    try:
        return pause_elf()
    except LookupError:
        built = _compiled()
        if built is None:
            pytest.skip(f"no stand-in binary for {platform.machine()} and no C compiler")
        return built


def install_standin(node: Node, name: str) -> str:
    """Write the stand-in executable as /usr/local/bin/<name> on the node; its path."""
    if not name or "/" in name:
        raise ValueError(f"bad stand-in name {name!r}")
    path = f"{STANDIN_DIR}/{name}"
    # Write beside and rename over: a stand-in still exiting from the previous test keeps
    # the old inode busy, and writing into a running executable fails with ETXTBSY.
    script = 'cat > "$1.new" && chmod 0755 "$1.new" && mv -f "$1.new" "$1"'
    node.exec(["sh", "-c", script, "sh", path], input=standin_binary())
    return path


def start_standin(node: Node, name: str, argv: Sequence[str], *, path: str | None = None) -> int:
    """Start a stand-in for component `name` inside `node` with exactly `argv`
    (argv[0] included); return its pid as the node sees it (for /proc/<pid>).

    The executable is /usr/local/bin/<name> (installed if needed) unless `path` names
    another file on the node.
    """
    exe = path or install_standin(node, name)
    done = node.exec(["python3", "-c", _SPAWN, exe, *argv])
    return int(done.stdout.decode().strip())


def stop_standin(node: Node, pid: int) -> None:
    """SIGTERM one stand-in by its pid inside the node (never by name)."""
    node.exec(["kill", "-TERM", str(pid)], check=False)
