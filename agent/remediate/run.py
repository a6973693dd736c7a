"""A remediation run over a fleet: node by node, inspect -> plan -> (confirm) -> apply.

Nodes go one at a time, never in parallel: a kubelet restart or an sshd reload on
every node at once is exactly the outage remediation must not cause. A changing run
holds the state directory's run lock and writes every step to the journal; a dry run
(`plan`, `--dry-run`, `render`) changes nothing, so it takes neither and may overlap
anything.

What a run came to is a `RemediationRun`: the reports render it (report/remediation.py
and the registry in report/__init__.py) and cli.py maps it to an exit code
(exit_codes.for_remediation). Nothing here prints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent import __version__
from agent.findings import NodeResult, RunResult
from agent.inventory.model import Inventory
from agent.remediate.apply import ApplyOptions, new_run_id, remediate_node
from agent.remediate.journal import Journal
from agent.remediate.manifest import Remediations
from agent.remediate.outcome import NodeOutcome, NodeStatus
from agent.rules.schema import Check
from agent.runlock import run_lock
from agent.timestamps import now_rfc3339


@dataclass(frozen=True, slots=True)
class RemediationRun:
    run_id: str
    started_at: str
    finished_at: str
    inventory: str
    checks_selected: int
    dry_run: bool
    outcomes: tuple[NodeOutcome, ...]

    @property
    def failed(self) -> bool:
        """A fix failed or was rolled back on some node."""
        return any(o.status.failed for o in self.outcomes)

    @property
    def busy(self) -> tuple[NodeOutcome, ...]:
        """Nodes another remediation held: nothing changed on them."""
        return tuple(o for o in self.outcomes if o.status is NodeStatus.BUSY)

    def before(self) -> RunResult:
        """The fleet as scanned, before any fix."""
        return self._result(tuple(o.before for o in self.outcomes))

    def after(self) -> RunResult:
        """The fleet as left: each touched check re-evaluated after its fix."""
        return self._result(tuple(o.after_result() for o in self.outcomes))

    def _result(self, nodes: tuple[NodeResult, ...]) -> RunResult:
        return RunResult(
            run_id=self.run_id,
            started_at=self.started_at,
            finished_at=self.finished_at,
            tool_version=__version__,
            inventory=self.inventory,
            nodes=nodes,
            checks_selected=self.checks_selected,
        )


def remediate_fleet(
    fleet: Inventory,
    checks: Sequence[Check],
    remediations: Remediations,
    options: ApplyOptions,
    *,
    state_dir: Path | None,
    command: str,
    node_done: Callable[[NodeOutcome], None] | None = None,
) -> RemediationRun:
    """Every node of `fleet` in turn. `command` is what the journal records as the run's
    command line. A KeyboardInterrupt propagates after the journal and the lock are
    released: a node that was mid-change restores itself (its rollback timer)."""
    run_id = new_run_id()
    started = now_rfc3339()
    changes = not (options.dry_run or options.plan_only)
    outcomes: list[NodeOutcome] = []
    with contextlib.ExitStack() as stack:
        journal = None
        if changes:
            if state_dir is None:
                raise ValueError("a run that changes nodes needs a state directory (lock and journal)")
            stack.enter_context(run_lock(state_dir))
            journal = stack.enter_context(Journal(state_dir))
            journal.start_run(run_id, command[:2000], fleet.source, __version__)
        for node in fleet.nodes:
            outcome = remediate_node(node, checks, remediations, options, journal, run_id)
            outcomes.append(outcome)
            if node_done is not None:
                node_done(outcome)
    return RemediationRun(
        run_id=run_id,
        started_at=started,
        finished_at=now_rfc3339(),
        inventory=fleet.source,
        checks_selected=len(checks),
        dry_run=not changes,
        outcomes=tuple(outcomes),
    )
