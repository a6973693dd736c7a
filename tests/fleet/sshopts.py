"""SshOptions for tests that drive agent.transport.ssh directly against fleet nodes: an
ssh_config that reads no user or system known_hosts, and short timeouts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.transport.options import SshOptions, Timeouts

TIMEOUTS = Timeouts(connect=5, banner=5, auth=10, command=30, node_deadline=60)


def isolated_ssh_config(directory: Path) -> Path:
    path = directory / "ssh_config"
    path.write_text("Host *\n  UserKnownHostsFile /dev/null\n  GlobalKnownHostsFile /dev/null\n")
    return path


def ssh_options(ssh_config: Path, known_hosts: Path, key: Path, **overrides: Any) -> SshOptions:
    settings: dict[str, Any] = {
        "ssh_config_file": str(ssh_config),
        "known_hosts_files": (str(known_hosts),),
        "identity_files": (str(key),),
        "timeouts": TIMEOUTS,
    }
    settings.update(overrides)
    return SshOptions(**settings)
