"""The remediation journal: every step on every node, in SQLite on the bastion.

`<state dir>/journal.sqlite3`, the state directory being `--state-dir`, else
/var/lib/nodeward when running as root, else $XDG_STATE_HOME/nodeward
(~/.local/state/nodeward). One row per step and node: planned, refused, backed_up
(with the backup's sha256), applied, installed (the sha256, mode and owner a file holds
right after the install: a rollback restores a file only while it still holds that),
validated, armed, reloaded, verified, committed,
rolled_back, failed, unchanged. `nodeward rollback RUN_ID` reads the nodes and backup
directories of a run from here.

Each write is its own short transaction (autocommit): a crash of the bastion leaves
every step recorded up to that moment, which is the point of a journal.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

FILE = "journal.sqlite3"
STEPS = frozenset(
    {
        "planned",
        "refused",
        "backed_up",
        "applied",
        "installed",
        "validated",
        "armed",
        "reloaded",
        "verified",
        "committed",
        "rolled_back",
        "failed",
        "unchanged",
        "restored",
    }
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    command TEXT NOT NULL,
    inventory TEXT NOT NULL,
    tool_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    run_id TEXT NOT NULL,
    node TEXT NOT NULL,
    address TEXT NOT NULL,
    backup_dir TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, node)
);
CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    node TEXT NOT NULL,
    at TEXT NOT NULL,
    step TEXT NOT NULL,
    fix TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL DEFAULT '',
    checksum TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS steps_run ON steps (run_id, node);
"""


def default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/nodeward")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nodeward"


@dataclass(frozen=True, slots=True)
class Step:
    run_id: str
    node: str
    at: str
    step: str
    fix: str
    path: str
    checksum: str
    detail: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Journal:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = state_dir / FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # never world-readable
        os.close(fd)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(self, run_id: str, command: str, inventory: str, tool_version: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?)",
            (run_id, _now(), command, inventory, tool_version),
        )

    def node(self, run_id: str, node: str, address: str, backup_dir: str = "") -> None:
        self._db.execute(
            "INSERT INTO nodes VALUES (?, ?, ?, ?) ON CONFLICT (run_id, node) DO UPDATE SET "
            "backup_dir = CASE WHEN excluded.backup_dir != '' THEN excluded.backup_dir ELSE backup_dir END",
            (run_id, node, address, backup_dir),
        )

    def record(
        self,
        run_id: str,
        node: str,
        step: str,
        *,
        fix: str = "",
        path: str = "",
        checksum: str = "",
        detail: str = "",
    ) -> None:
        if step not in STEPS:
            raise ValueError(f"unknown journal step {step!r}")
        self._db.execute(
            "INSERT INTO steps (run_id, node, at, step, fix, path, checksum, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, node, _now(), step, fix, path, checksum, detail[:2000]),
        )

    def steps(self, run_id: str, node: str | None = None) -> list[Step]:
        query = "SELECT run_id, node, at, step, fix, path, checksum, detail FROM steps WHERE run_id = ?"
        args: tuple[str, ...] = (run_id,)
        if node is not None:
            query += " AND node = ?"
            args = (run_id, node)
        with closing(self._db.execute(query + " ORDER BY id", args)) as cursor:
            return [Step(*row) for row in cursor.fetchall()]

    def nodes(self, run_id: str) -> Iterator[tuple[str, str, str]]:
        """(node, address, backup_dir) of every node the run touched."""
        with closing(
            self._db.execute(
                "SELECT node, address, backup_dir FROM nodes WHERE run_id = ? ORDER BY node", (run_id,)
            )
        ) as cursor:
            yield from cursor.fetchall()

    def has_run(self, run_id: str) -> bool:
        with closing(self._db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,))) as cursor:
            return cursor.fetchone() is not None
