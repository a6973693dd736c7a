"""Helpers shared by the command modules (cli.py, cli_remediate.py): reading targets,
secrets and patterns from flags, writing output, logging. No command lives here."""

from __future__ import annotations

import getpass
import logging
import os
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.exit_codes import ExitCode
from agent.inventory.model import Connection, Inventory, Node
from agent.report import ReportFormat
from agent.secret import Secret
from agent.transport.options import PassphraseSource

if TYPE_CHECKING:
    from agent.report.outputs import Destination

# Site overlays (agent/overlay.py): the same option on scan, checks, plan and render.
Overlays = Annotated[
    list[Path] | None,
    typer.Option(
        "--overlay",
        metavar="FILE",
        help="Site overlay changing checks' args or severity (repeatable, applied in order, after "
        "the overlays/ of --catalog-dir).",
    ),
]


# Report destinations (agent/report/outputs.py): the same option on scan and plan.
Outputs = Annotated[
    list[str] | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE|FORMAT=PATH",
        help="Write a report here, atomically (repeatable). The format comes from the extension "
        "(.json .xml=JUnit .html .prom .txt), or FORMAT=PATH; a lone -o with --format uses --format.",
    ),
]


def checked_destinations(values: list[str] | None, fmt: ReportFormat | None) -> list[Destination]:
    """The run's report destinations, each path checked now: exit 2 naming the path,
    before any node is contacted, rather than an exception after the whole scan."""
    from agent.report.outputs import OutputError, check_all, destinations
    from agent.textsafe import printable

    try:
        found = destinations(values or [], fmt)
        check_all(found)
    except OutputError as exc:
        raise fail_usage(printable(str(exc), 600)) from None
    return found


def fail_usage(message: str) -> typer.Exit:
    typer.echo(f"nodeward: {message}", err=True)
    return typer.Exit(ExitCode.USAGE)


def read_secret_file(path: Path, what: str) -> Secret:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail_usage(f"cannot read the {what} file {path}: {exc.strerror}") from None
    return Secret(text.rstrip("\r\n"))


def passphrase_source(passphrase_file: Path | None) -> PassphraseSource:
    """Key passphrases: from a file, else asked once per key on a terminal, else none."""
    from_file = read_secret_file(passphrase_file, "key passphrase") if passphrase_file else None
    asked: dict[str, Secret | None] = {}
    lock = threading.Lock()  # nodes connect in parallel; ask one question at a time

    def source(key_path: str) -> Secret | None:
        if from_file is not None:
            return from_file
        if not sys.stdin.isatty():
            return None
        with lock:
            if key_path not in asked:
                asked[key_path] = Secret(getpass.getpass(f"Passphrase for {key_path}: "))
            return asked[key_path]

    return source


def split_patterns(values: list[str] | None) -> list[str]:
    return [p.strip() for v in values or [] for p in v.split(",") if p.strip()]


def terminal_width() -> int:
    try:
        return max(80, min(os.get_terminal_size().columns, 160))
    except OSError:
        return 120


def load_targets(
    inventory: Path | None, fmt: str, hosts: str | None, local: bool, limit: str | None
) -> Inventory:
    if local:
        node = Node(name=socket.gethostname(), connection=Connection.LOCAL, source="--local")
        return Inventory(nodes=(node,), groups={"all": (node.name,)}, source="--local")
    from agent.inventory.loader import inventory_from_hosts, load_inventory

    if hosts is not None:
        return inventory_from_hosts(hosts)
    if inventory is None:
        raise fail_usage("no inventory given")
    return load_inventory(str(inventory), fmt=fmt, limit=limit)


def setup_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="nodeward: %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not debug:
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # it logs tracebacks per failed node
