"""What remediating one node came to: its status, each fix's outcome, before and after.

Plain data, shared by the apply state machine (apply.py), the run loop (run.py) and
the reports (report/remediation.py), so none of them has to import another's logic.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from agent.findings import Finding, NodeResult
from agent.inventory.model import Node
from agent.remediate import events
from agent.remediate.plan import NodePlan
from agent.remediate.render import FixScript


class NodeStatus(enum.StrEnum):
    """Where a node's remediation ended. The values are the report's words (JSON)."""

    NOTHING_TO_DO = "nothing-to-do"  # no failing check has a fix to apply
    PLANNED = "planned"  # dry run or render: nothing was changed
    APPLIED = "applied"  # installed, a new connection proved, committed
    UNCHANGED = "unchanged"  # every file already as wanted
    ROLLED_BACK = "rolled-back"  # installed, then restored (by us or the node's timer)
    FAILED = "failed"  # the node's script failed, or the connection died mid-apply
    DECLINED = "declined"  # the operator said no at the prompt
    UNSCANNED = "unscanned"  # could not be scanned, or the scan did not complete (L13)
    BUSY = "busy"  # another remediation holds the node's lock: nothing changed

    @property
    def failed(self) -> bool:
        """A fix failed or was rolled back: the run exits REMEDIATION_FAILED."""
        return self in (NodeStatus.FAILED, NodeStatus.ROLLED_BACK)


@dataclass(frozen=True, slots=True)
class FixResult:
    fix: FixScript
    outcome: str  # planned | applied | unchanged | refused | failed | rolled_back | declined
    reason: str = ""


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    node: Node
    before: NodeResult
    status: NodeStatus
    message: str = ""
    plan: NodePlan | None = None
    report: events.Report | None = None
    fixes: tuple[FixResult, ...] = ()
    after: tuple[Finding, ...] = ()  # re-evaluated touched checks (apply only)
    backup_dir: str = ""
    needs_reboot: tuple[str, ...] = ()

    def after_result(self) -> NodeResult:
        """The node's result with re-evaluated findings in place of the scanned ones."""
        if not self.after:
            return self.before
        from dataclasses import replace

        again = {f.check_id: f for f in self.after}
        return replace(self.before, findings=tuple(again.get(f.check_id, f) for f in self.before.findings))
