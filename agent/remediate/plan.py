"""Per node: bind an inspection's failing findings to fixes, and (dry run) ask the node for diffs.

The inspection is the engine's (agent/inspection.py), the very one a scan makes: ONE
gather exec on the connection, facts parsed, checks evaluated. Planning is pure
(bind.py). The diff is computed by the node itself: the very script `--remediate`
would run, with NW_MODE=plan, builds every candidate in a private temporary directory
and prints a unified diff for each file that would change, plus each fix's verdict
(changes, unchanged, refused with the reason). So the plan shows exactly what the
apply would do, guards included, and changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace

from agent.inspection import Inspection
from agent.inventory.model import Node
from agent.remediate import events
from agent.remediate.bind import Refusal, bind
from agent.remediate.context import Context, context_for
from agent.remediate.manifest import Remediations
from agent.remediate.render import FixScript, ScriptOptions, compose
from agent.secret import Secret
from agent.transport.base import Transport
from agent.transport.session import Become, run_script


@dataclass(frozen=True, slots=True)
class NodePlan:
    node: Node
    run_id: str
    fixes: tuple[FixScript, ...]
    refused: tuple[Refusal, ...]
    unfixable: tuple[tuple[str, str], ...]
    context: Context
    script_options: ScriptOptions
    marker: str = field(default_factory=lambda: f"nodeward-{secrets.token_hex(8)}")

    def script(self, mode: str) -> str:
        """The node's script: `default` for render --out, `plan`, or `hold` for --remediate."""
        marker = "nodeward" if mode == "default" else self.marker
        run_id = "" if mode == "default" else self.run_id
        return compose(self.fixes, replace(self.script_options, mode=mode, marker=marker, run_id=run_id))

    def fix_script(self, index: int) -> str:
        """A standalone script for one fix alone (render --out writes one per fix)."""
        return compose(
            (self.fixes[index],), replace(self.script_options, mode="default", marker="nodeward", run_id="")
        )

    @property
    def needs_reboot(self) -> tuple[str, ...]:
        return tuple(f.manifest.id for f in self.fixes if f.manifest.needs_reboot)


def plan_node(
    node: Node,
    inspection: Inspection,
    login_user: str,
    remediations: Remediations,
    *,
    run_id: str,
    rollback_seconds: int,
    force: bool,
) -> NodePlan:
    ctx = context_for(node, login_user, inspection.context, inspection.roles, force=force)
    binding = bind(inspection.findings, inspection.facts, node, ctx, remediations)
    return NodePlan(
        node=node,
        run_id=run_id,
        fixes=binding.fixes,
        refused=binding.refused,
        unfixable=binding.unfixable,
        context=ctx,
        script_options=ScriptOptions(
            node=node.name,
            keep_users=ctx.keep_users,
            rollback_seconds=rollback_seconds,
            force=force,
        ),
    )


def run_remote(
    transport: Transport,
    node: Node,
    script: str,
    marker: str,
    *,
    become_password: Secret | None,
    timeout: float,
) -> tuple[events.Report, int | None]:
    """Run a composed script as root over `transport`; its events and exit status."""
    output = run_script(
        transport,
        script.encode(),
        become=Become(enabled=node.become, password=node.become_password or become_password),
        timeout=timeout,
        max_output=8 << 20,
    )
    return events.parse(output.stdout, marker), output.exit_code


def dry_run(
    transport: Transport, plan: NodePlan, *, become_password: Secret | None, timeout: float
) -> events.Report:
    """The node's own diff of what the fixes would change (NW_MODE=plan)."""
    if not plan.fixes:
        return events.Report()
    report, _ = run_remote(
        transport,
        plan.node,
        plan.script("plan"),
        plan.marker,
        become_password=become_password,
        timeout=timeout,
    )
    return report
