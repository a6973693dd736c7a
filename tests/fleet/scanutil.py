"""Helpers for fleet tests that drive the installed `nodeward` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.fleet.harness import LOG_CONNECTION, LOG_EXEC_REQUEST, Fleet, FleetKeys, FleetNode

NODEWARD = Path(sys.executable).parent / "nodeward"


@dataclass(frozen=True)
class Target:
    """One inventory host: a fleet node or a deliberately broken address."""

    name: str
    host: str
    port: int
    extra: dict[str, object] | None = None


def ansible_inventory(path: Path, targets: Iterable[Target], key: Path, user: str = "scanner") -> Path:
    """An Ansible YAML inventory, the way users hand them to us."""
    hosts = {}
    for target in targets:
        entry: dict[str, object] = {"ansible_host": target.host, "ansible_port": target.port}
        entry.update(target.extra or {})
        hosts[target.name] = entry
    document = {
        "all": {
            "vars": {"ansible_user": user, "ansible_ssh_private_key_file": str(key), "ansible_become": True},
            "children": {"workers": {"hosts": hosts}},
        }
    }
    path.write_text(yaml.safe_dump(document, sort_keys=True))
    return path


def run_nodeward(
    args: Sequence[str],
    home: Path,
    *,
    timeout: float = 300,
    extra_env: dict[str, str] | None = None,
    program: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the console script (or a test-only `program` standing in for it, such as
    crash_after_reload.py) with a private HOME, so no real ~/.ssh is read or written."""
    assert NODEWARD.exists(), f"console script missing at {NODEWARD}"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "NODEWARD_BECOME_PASSWORD")}
    env.update({"HOME": str(home), "NO_COLOR": "1", **(extra_env or {})})
    return subprocess.run(
        [*files_only_resolver(home), *(program or (str(NODEWARD),)), *args],
        capture_output=True, text=True, timeout=timeout, env=env, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def files_only_resolver(workdir: Path) -> list[str]:
    """A command prefix that runs the program with name lookups from /etc/hosts only.

    This machine's DNS server is not on loopback, and tests may contact nothing else:
    in a private mount namespace /etc/nsswitch.conf is replaced by `hosts: files`, so a
    name like `node.invalid` fails locally (EAI_NONAME) without a single DNS packet.
    """
    nsswitch = workdir / "nsswitch.conf"
    nsswitch.write_text("passwd: files\ngroup: files\nshadow: files\nhosts: files\n")
    script = 'mount --bind "$1" /etc/nsswitch.conf && shift && exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(nsswitch)]


def scan_json(
    inventory: Path, home: Path, known_hosts: Path, *extra: str, ssh_config: Path | None = None
) -> tuple[int, dict[str, Any], str]:
    config = ssh_config or (home / "empty_ssh_config")
    if ssh_config is None:
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("")
    result = run_nodeward(
        [
            "scan",
            "--inventory",
            str(inventory),
            "--format",
            "json",
            "--quiet",
            "--known-hosts",
            str(known_hosts),
            "--ssh-config",
            str(config),
            "--connect-timeout",
            "3",
            *extra,
        ],
        home,
    )
    try:
        document = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"no JSON (exit {result.returncode}): {result.stderr[-2000:]}") from exc
    return result.returncode, document, result.stderr


def nodes_by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """JSON report nodes by name (JSON is untyped: Any is honest here)."""
    return {str(n["name"]): n for n in document["nodes"]}


def statuses(node: dict[str, Any]) -> dict[str, str]:
    return {str(f["check_id"]): str(f["status"]) for f in node["findings"]}


@dataclass
class LongLivedNode:
    """One fleet node kept for a whole test module, scanned many times."""

    fleet: Fleet
    node: FleetNode
    keys: FleetKeys
    workdir: Path

    def scan(self, tag: str, select: Sequence[str]) -> dict[str, Any]:
        """Scan the node with `select` (CLI args); assert it cost one connection and one exec."""
        node = self.node
        before = (node.count_log(LOG_CONNECTION), node.count_log(LOG_EXEC_REQUEST))
        inventory = ansible_inventory(
            self.workdir / f"{tag}.yaml", [Target(node.name, node.address, node.port)], self.keys.bastion
        )
        known = self.fleet.known_hosts([node], self.workdir / f"{tag}_known_hosts")
        _, document, stderr = scan_json(inventory, self.workdir / f"{tag}_home", known, *select)
        after = (node.count_log(LOG_CONNECTION), node.count_log(LOG_EXEC_REQUEST))
        assert (after[0] - before[0], after[1] - before[1]) == (1, 1), stderr
        result: dict[str, Any] = nodes_by_name(document)[node.name]
        assert result["error"] is None, result["error"]
        return result
