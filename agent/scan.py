"""Scan a fleet: per node connect and inspect (inspection.py); nodes never affect each other.

This module is the fleet loop only: parallelism, per-node deadlines and interrupts.
What happens on one node (gather once, parse, roles, judge) is the engine's, shared
with plan and remediate.

Workers are daemon threads fed from a queue, at most `parallel` at a time. The main
thread only waits on the results queue, in short slices, so Ctrl-C (or SIGTERM or
SIGHUP, see interrupts.py) is handled at once: nodes not finished are reported with
error kind `interrupted`, connections in flight are closed, and the CLI exits 128 +
the signal number with the partial report.

A node whose output arrived only in part (connection lost, a section over its cap,
the whole stream over its cap) is never reported as scanned: it gets error kind
`incomplete` together with the findings of the sections that did arrive.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent import __version__
from agent.errors import ErrorKind, NodeError
from agent.findings import NodeFailure, NodeResult, RunResult
from agent.inspection import CountingTransport, failed_result, inspect, node_result
from agent.interrupts import signal_of
from agent.inventory.model import Inventory, Node
from agent.rules.schema import Check
from agent.secret import Secret
from agent.timestamps import now_rfc3339
from agent.transport.base import Transport
from agent.transport.opening import open_transport
from agent.transport.options import SshOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScanOptions:
    parallel: int = 10
    ssh: SshOptions = field(default_factory=SshOptions)
    become_password: Secret | None = None  # for become nodes without their own password


class Progress:
    """Callbacks the CLI implements (progress bar on a terminal, plain lines otherwise)."""

    def started(self, total: int) -> None:
        """Called once with the number of nodes."""

    def node_done(self, result: NodeResult) -> None:
        """Called from the main thread as each node finishes."""

    def finished(self) -> None:
        """Called once at the end, also after an interrupt."""


class _Tracker:
    """Transports currently open, so an interrupt can close them from the main thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, Transport] = {}

    def add(self, name: str, transport: Transport) -> None:
        with self._lock:
            self._open[name] = transport

    def remove(self, name: str) -> None:
        with self._lock:
            self._open.pop(name, None)

    def names(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._open)

    def close_all(self) -> None:
        with self._lock:
            transports = list(self._open.values())
            self._open.clear()
        for transport in transports:
            try:
                transport.close()
            except Exception:  # closing on the way out: nothing useful to do with it
                log.debug("closing a transport failed", exc_info=True)


def scan(
    inventory: Inventory,
    checks: Sequence[Check],
    options: ScanOptions,
    progress: Progress | None = None,
) -> RunResult:
    progress = progress or Progress()
    started_at = now_rfc3339()
    nodes = inventory.nodes
    progress.started(len(nodes))
    todo: queue.SimpleQueue[Node | None] = queue.SimpleQueue()
    done: queue.SimpleQueue[NodeResult] = queue.SimpleQueue()
    tracker = _Tracker()
    stop = threading.Event()
    for node in nodes:
        todo.put(node)
    workers = max(1, min(options.parallel, len(nodes)))
    for _ in range(workers):
        todo.put(None)
        threading.Thread(
            target=_worker, args=(todo, done, checks, options, tracker, stop), daemon=True
        ).start()
    results: dict[str, NodeResult] = {}
    stop_signal: int | None = None
    in_flight: frozenset[str] = frozenset()
    try:
        while len(results) < len(nodes):
            try:
                result = done.get(timeout=0.2)
            except queue.Empty:
                continue
            results[result.name] = result
            progress.node_done(result)
    except KeyboardInterrupt as exc:
        stop_signal = signal_of(exc)
        stop.set()
        in_flight = tracker.names()
        tracker.close_all()
    finally:
        progress.finished()
    ordered = tuple(
        results.get(n.name) or _interrupted(n, stop_signal, cut=n.name in in_flight) for n in nodes
    )
    return RunResult(
        run_id=str(uuid.uuid4()),
        started_at=started_at,
        finished_at=now_rfc3339(),
        tool_version=__version__,
        inventory=inventory.source,
        nodes=ordered,
        interrupted=stop_signal is not None,
        checks_selected=len(checks),
        stop_signal=stop_signal,
    )


def _interrupted(node: Node, stop_signal: int | None, *, cut: bool) -> NodeResult:
    by = signal.Signals(stop_signal).name if stop_signal else "an interrupt"
    # Only connected nodes are tracked: one still connecting counts as not yet scanned.
    what = "its scan was cut off and its connection closed" if cut else "it had no result yet"
    return NodeResult(
        name=node.name,
        address=node.target,
        connection=None,
        error=NodeFailure(ErrorKind.INTERRUPTED, f"not scanned: the run was interrupted by {by}; {what}"),
    )


def _worker(
    todo: queue.SimpleQueue[Node | None],
    done: queue.SimpleQueue[NodeResult],
    checks: Sequence[Check],
    options: ScanOptions,
    tracker: _Tracker,
    stop: threading.Event,
) -> None:
    while (node := todo.get()) is not None:
        if stop.is_set():
            return
        done.put(scan_node(node, checks, options, tracker))


def scan_node(
    node: Node,
    checks: Sequence[Check],
    options: ScanOptions,
    tracker: _Tracker | None = None,
    *,
    connect: Callable[[Node, SshOptions], Transport] = open_transport,
) -> NodeResult:
    """Scan one node: connect, then the engine (inspection.py) within the node's deadline.
    Every failure is captured in the result, never raised."""
    began = time.monotonic()
    transport: CountingTransport | None = None
    try:
        transport = CountingTransport(connect(node, options.ssh))
        if tracker is not None:
            tracker.add(node.name, transport)
        elapsed = time.monotonic() - began
        budget = min(options.ssh.timeouts.command, options.ssh.timeouts.node_deadline - elapsed)
        if budget <= 0:
            raise NodeError(ErrorKind.TIMEOUT, "the per-node deadline ran out while connecting")
        inspection = inspect(transport, node, checks, become_password=options.become_password, timeout=budget)
        return node_result(node, transport, inspection, began)
    except NodeError as exc:
        return failed_result(node, transport, exc.kind, exc.message, began)
    except Exception as exc:  # a bug must stay with its node and never hide the others
        log.debug("internal error on %s", node.name, exc_info=True)
        return failed_result(node, transport, ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}", began)
    finally:
        if transport is not None:
            if tracker is not None:
                tracker.remove(node.name)
            transport.close()
