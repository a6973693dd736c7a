"""`nodeward rollback RUN_ID`: restore what a run changed, node by node, from the node-side backups.

The nodes and their backup directories come from the journal; each node's control.sh
restores a file only while it still holds what the run installed (a later run, maybe
from another bastion, may have changed it: then nothing is restored and the node says
why). After a restore a NEW connection must log in and become root, as after an apply.
Every step lands in the journal. Nothing here prints: the CLI presents the results.

A refused restore leaves the run waiting for an operator (state restore-refused on the
node, and every later run there is busy until it is settled): `nodeward rollback RUN`
says which file changed and restores once it holds the run's version again;
`--keep-current` (control.sh keep) keeps the node as it is now, and a new login is
then proven, as after a restore.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.inventory.model import Node
from agent.remediate.apply import (
    BACKUPS,
    CONTROL_BUSY,
    CONTROL_NOT_WAITING,
    CONTROL_REFUSED,
    ApplyOptions,
    Connect,
    control_status,
    verify_new_connection,
)
from agent.remediate.journal import Journal
from agent.runlock import run_lock
from agent.transport.opening import open_transport


class RollbackStatus(enum.StrEnum):
    UNREACHABLE = "unreachable"  # could not connect: nothing was done there
    REFUSED = "refused"  # a file no longer holds what the run installed: nothing restored
    BUSY = "busy"  # another run holds the node's lock
    FAILED = "failed"  # control.sh failed
    RESTORED = "restored"  # restored; `verified` says whether a new login works
    KEPT = "kept"  # --keep-current: left as it is now; `verified` says whether a new login works
    NOT_WAITING = "not-waiting"  # --keep-current on a run no refused restore left waiting


@dataclass(frozen=True, slots=True)
class NodeRollback:
    node: str
    status: RollbackStatus
    detail: str  # control.sh's own words, or the connection error, or the verification
    lines: tuple[str, ...] = ()  # control.sh's stderr lines (why a restore was refused)
    verified: bool = False


class NothingToRollBack(ValueError):
    """The journal names no node of this run that the inventory has: a usage error."""


def rollback_run(
    nodes: Sequence[Node],
    run_id: str,
    options: ApplyOptions,
    state_dir: Path,
    *,
    only: str | None = None,
    keep_current: bool = False,
    connect: Connect = open_transport,
) -> tuple[NodeRollback, ...]:
    results: list[NodeRollback] = []
    with run_lock(state_dir), Journal(state_dir) as journal:
        touched = {name for name, _, backup in journal.nodes(run_id) if backup}
        if not touched:
            raise NothingToRollBack(f"the journal in {journal.path} has no nodes for run {run_id}")
        wanted = [n for n in nodes if n.name in touched and (only is None or n.name == only)]
        if not wanted:
            raise NothingToRollBack(
                f"none of the run's nodes ({', '.join(sorted(touched))}) is in the inventory"
            )
        for node in wanted:
            if keep_current:
                results.append(_keep_node(node, run_id, options, journal, connect))
            else:
                results.append(_rollback_node(node, run_id, options, journal, connect))
    return tuple(results)


def _control(
    node: Node, run_id: str, action: str, options: ApplyOptions, connect: Connect
) -> tuple[int | None, list[str], str] | NodeRollback:
    """Run one control.sh action for the run on the node: (exit status, its lines, a
    one-line detail), or the UNREACHABLE result when the node cannot be reached."""
    try:
        transport = connect(node, options.ssh)
    except Exception as exc:  # NodeError or a bug: this node only
        return NodeRollback(node.name, RollbackStatus.UNREACHABLE, str(exc))
    try:
        status, lines = control_status(transport, node, f"{BACKUPS}/{run_id}", action, options)
    finally:
        transport.close()
    detail = " ".join(" ".join(lines).split())[:2000] or f"exit {status}"
    return status, list(lines), detail


def _rollback_node(
    node: Node, run_id: str, options: ApplyOptions, journal: Journal, connect: Connect
) -> NodeRollback:
    answer = _control(node, run_id, "restore manual", options, connect)
    if isinstance(answer, NodeRollback):
        return answer
    status, lines, detail = answer
    if status == CONTROL_REFUSED:
        # A later run (maybe from another bastion, with its own journal) changed
        # files of this run: nothing was restored, the node is as it was.
        journal.record(run_id, node.name, "refused", detail=f"rollback: {detail}")
        return NodeRollback(node.name, RollbackStatus.REFUSED, detail, tuple(lines))
    if status == CONTROL_BUSY:
        return NodeRollback(node.name, RollbackStatus.BUSY, detail.removeprefix("nodeward-control: "))
    if status != 0:
        journal.record(run_id, node.name, "failed", detail=f"rollback: {detail}")
        return NodeRollback(node.name, RollbackStatus.FAILED, detail)
    journal.record(run_id, node.name, "restored", detail=f"nodeward rollback {run_id}")
    verified, why = verify_new_connection(node, options, connect)
    journal.record(run_id, node.name, "verified" if verified else "failed", detail=f"after rollback: {why}")
    return NodeRollback(node.name, RollbackStatus.RESTORED, why, verified=verified)


def _keep_node(
    node: Node, run_id: str, options: ApplyOptions, journal: Journal, connect: Connect
) -> NodeRollback:
    answer = _control(node, run_id, "keep", options, connect)
    if isinstance(answer, NodeRollback):
        return answer
    status, lines, detail = answer
    if status == CONTROL_NOT_WAITING:
        return NodeRollback(node.name, RollbackStatus.NOT_WAITING, detail.removeprefix("nodeward-control: "))
    if status == CONTROL_BUSY:
        return NodeRollback(node.name, RollbackStatus.BUSY, detail.removeprefix("nodeward-control: "))
    if status != 0:
        return NodeRollback(node.name, RollbackStatus.FAILED, detail)
    # What differs from the run's version (control.sh said it) is in the journal too.
    journal.record(run_id, node.name, "committed", detail=f"kept as it is now (--keep-current): {detail}")
    verified, why = verify_new_connection(node, options, connect)
    journal.record(run_id, node.name, "verified" if verified else "failed", detail=f"after keep: {why}")
    return NodeRollback(node.name, RollbackStatus.KEPT, why, tuple(lines), verified=verified)
