"""Firewall test hosts: a private network namespace with its own /etc, /run and /var.

Real nft and iptables rulesets are loaded here and never in this machine's own network
namespace. A host is `unshare --net --mount` around a small bash "anchor" (its PID 1
equivalent): the anchor mounts overlayfs over /etc, /run and /var (so a test can put
/etc/nftables.conf or /etc/iptables/rules.v4 there without touching the host's), brings
up `lo`, reports its pid and waits for its stdin to close. When it exits, the network
namespace (and every rule in it) and the mounts go with it.

`scan()` runs the real `nodeward scan` inside the namespace with the local transport (an
Ansible inventory with `ansible_connection: local` and the node's roles), so the whole
pipeline runs: gather script, sections, parsers, checks, JSON report.

`net_file()` bind-mounts the namespace's network handle onto a file, so a fleet node
(started afterwards: its mount namespace is copied at start) can run a real tool inside
this network namespace through a stub: `nsenter --net=<file> /usr/sbin/nft "$@"`. That
is how a scan over real SSH sees this namespace's ruleset.

Only addresses inside namespaces made here are used (lo; a test may add a veth pair with
192.0.2.0/24 addresses inside its own namespaces).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import psutil
import yaml

OVERLAID = ("/etc", "/run", "/var")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REPO = Path(__file__).resolve().parents[2]
_TIMEOUT = 60


class NetnsError(RuntimeError):
    pass


class NetnsHost:
    """One namespace host. Use as a context manager; `stop()` is idempotent."""

    def __init__(
        self, workdir: Path, files: Mapping[str, str] | None = None, remove: Iterable[str] = ()
    ) -> None:
        if "," in str(workdir) or ":" in str(workdir):
            raise NetnsError(f"{workdir}: overlayfs options cannot hold ',' or ':'")
        self.workdir = workdir
        self.files = dict(files or {})
        self.remove = list(remove)
        self.pid = 0
        self._anchor: subprocess.Popen[bytes] | None = None
        self._net_files: list[Path] = []

    def __enter__(self) -> NetnsHost:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _upper(self, tree: str) -> Path:
        return self.workdir / "upper" / tree.strip("/")

    def start(self) -> None:
        for tree in OVERLAID:
            self._upper(tree).mkdir(parents=True, exist_ok=True)
            (self.workdir / "work" / tree.strip("/")).mkdir(parents=True, exist_ok=True)
        for path, text in self.files.items():
            found = next((t for t in OVERLAID if path.startswith(t + "/")), None)
            if found is None:
                raise NetnsError(f"{path} is outside {OVERLAID}")
            target = self._upper(found) / path[len(found) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        q = shlex.quote
        lines = ["set -eu"]
        for tree in OVERLAID:
            work = self.workdir / "work" / tree.strip("/")
            options = f"lowerdir={tree},upperdir={self._upper(tree)},workdir={work}"
            lines.append(f"mount -t overlay overlay -o {q(options)} {q(tree)}")
        lines += [f"rm -rf -- {q(p)}" for p in self.remove]
        lines += ["ip link set lo up", 'echo "ready"', "read -r _ || :"]
        script = self.workdir / "anchor.sh"
        script.write_text("\n".join(lines) + "\n")
        log = (self.workdir / "anchor.log").open("wb")
        self._anchor = subprocess.Popen(
            # A PID namespace too: a local scan in here must see only this host's processes,
            # never another test's kubelet stand-in (that would make it a "worker").
            [
                "unshare",
                "--net",
                "--mount",
                "--pid",
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
                "--",
                "/bin/bash",
                str(script),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env={"PATH": PATH, "LC_ALL": "C"},
            start_new_session=True,
        )
        log.close()
        assert self._anchor.stdout is not None
        ready, _, _ = select.select([self._anchor.stdout], [], [], _TIMEOUT)
        line = self._anchor.stdout.readline() if ready else b""
        children = psutil.Process(self._anchor.pid).children() if line.startswith(b"ready") else []
        if not children:
            self.stop()
            raise NetnsError(f"namespace setup failed: {(self.workdir / 'anchor.log').read_text()}")
        self.pid = children[0].pid  # the anchor bash, PID 1 inside, as this machine sees it

    def exec(
        self,
        argv: list[str],
        *,
        input: bytes | None = None,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        if not self.pid:
            raise NetnsError("the namespace host is not running")
        proc = subprocess.run(
            ["nsenter", "-t", str(self.pid), "-n", "-m", "-p", "--", *argv],
            input=input,
            capture_output=True,
            check=False,
            cwd="/",
            env={"PATH": PATH, "LC_ALL": "C", "HOME": "/root", **(env or {})},
            timeout=_TIMEOUT * 3,
        )
        if check and proc.returncode != 0:
            raise NetnsError(
                f"{shlex.join(argv)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
            )
        return proc

    def nft(self, ruleset: str) -> None:
        self.exec(["nft", "-f", "-"], input=ruleset.encode())

    def iptables_restore(self, rules: str, *, variant: str = "legacy", family: int = 4) -> None:
        tool = f"{'ip6tables' if family == 6 else 'iptables'}-{variant}-restore"
        self.exec([tool], input=rules.encode())

    def net_file(self, path: Path) -> Path:
        """Bind-mount this namespace's network handle on `path` (host side)."""
        path.touch()
        subprocess.run(["mount", "--bind", f"/proc/{self.pid}/ns/net", str(path)], check=True, timeout=30)
        self._net_files.append(path)
        return path

    def scan(self, roles: Iterable[str], checks: str = "firewall_*", name: str = "nshost") -> dict[str, Any]:
        """`nodeward scan --format json` inside the namespace with the local transport."""
        inventory = self.workdir / "inventory.yaml"
        host = {"ansible_connection": "local", "nodeward_roles": list(roles)}
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {name: host}}}))
        argv = [sys.executable, "-m", "agent", "scan", "--inventory", str(inventory), "--format", "json",
                "--quiet", "--check", checks]  # fmt: skip
        proc = self.exec(argv, check=False, env={"PYTHONPATH": str(REPO), "HOME": str(self.workdir)})
        try:
            document: dict[str, Any] = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise NetnsError(
                f"no JSON from nodeward (exit {proc.returncode}): {proc.stderr.decode()[-2000:]}"
            ) from exc
        return document

    def stop(self) -> None:
        for path in self._net_files:
            subprocess.run(["umount", str(path)], check=False, timeout=30)
        self._net_files.clear()
        anchor, self._anchor = self._anchor, None
        if anchor is None:
            return
        if anchor.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                anchor.stdin.close()
        try:
            anchor.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(anchor.pid, signal.SIGKILL)
            anchor.wait(timeout=10)
        if anchor.stdout is not None:
            anchor.stdout.close()
        self.pid = 0


def findings(document: Mapping[str, Any], node: str = "nshost") -> dict[str, dict[str, Any]]:
    """check id -> finding, for one node of a JSON report."""
    for entry in document["nodes"]:
        if entry["name"] == node:
            assert entry.get("error") is None, entry.get("error")
            return {f["check_id"]: f for f in entry["findings"]}
    raise KeyError(node)
