"""Apply fixes to one node over the scan's own SSH connection (reliability.md L1-L13).

Per node, in this order, never in parallel (kubelet restarts go one node at a time):

1. connect and scan: ONE gather exec; nodes whose scan did not complete are not touched
   (L13);
2. plan: failing findings -> fixes (bind.py), bastion-side refusals (lockout.py);
3. on a terminal: the node's own dry-run diff, then a yes/no per node (--yes for cron);
4. apply: the composed script runs as root on the SAME connection with NW_MODE=hold:
   it stages, validates, backs up, installs, arms the node-side rollback timer, reloads
   and verifies what it can, then stops with the timer still armed;
5. prove a NEW SSH connection authenticates and `sudo -n true` works (L7); only then
   `control.sh commit` disarms the timer; otherwise `control.sh restore` puts every
   file back and reloads, over the still-open first connection (and if that is gone,
   the timer does it);
6. re-gather the facts of the touched checks and re-evaluate them: before and after.

Every step lands in the journal. Reboot-needing fixes are reported, never rebooted.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.errors import ErrorKind, NodeError
from agent.findings import Finding, NodeResult, Status
from agent.inspection import CountingTransport, failed_result, inspect, node_result
from agent.inventory.model import Node
from agent.remediate import events
from agent.remediate.journal import Journal
from agent.remediate.manifest import Remediations
from agent.remediate.outcome import FixResult, NodeOutcome, NodeStatus
from agent.remediate.plan import NodePlan, dry_run, plan_node, run_remote
from agent.rules.schema import Check
from agent.secret import Secret
from agent.transport.base import Transport
from agent.transport.opening import open_transport
from agent.transport.options import SshOptions
from agent.transport.session import Become, run_script

log = logging.getLogger(__name__)

BACKUPS = "/var/lib/nodeward/backups"
# No fault hook lives here. The crash test (reliability.md section 7: the bastion dies
# right after the node reported its reload) runs a test-only entry point,
# tests/fleet/crash_after_reload.py, that wraps verify_new_connection, the first step
# after the reload, with a SIGKILL. The installed `nodeward` has no variable, file or
# flag that could trigger it.
_RETRYABLE = (ErrorKind.CONNECT, ErrorKind.TIMEOUT, ErrorKind.BANNER)

Confirm = Callable[[NodePlan, events.Report], bool]
Connect = Callable[[Node, SshOptions], Transport]


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    ssh: SshOptions
    become_password: Secret | None = None
    timeout: float = 300.0  # one exec on the node (the apply script waits for the kubelet)
    rollback_seconds: int = 120
    force: bool = False  # --i-have-console-access
    dry_run: bool = False
    plan_only: bool = False  # render --out: scan and plan, no further exec on the node
    confirm: Confirm | None = None  # None: --yes


def remediate_node(
    node: Node,
    checks: Sequence[Check],
    remediations: Remediations,
    options: ApplyOptions,
    journal: Journal | None,
    run_id: str,
    *,
    connect: Connect = open_transport,
) -> NodeOutcome:
    """Scan, plan and (unless dry run or declined) apply on one node. Never raises
    NodeError: an unreachable node becomes an `unscanned` outcome."""
    began = time.monotonic()
    transport: CountingTransport | None = None
    try:
        transport = CountingTransport(connect(node, options.ssh))
        inspection = inspect(
            transport, node, checks, become_password=options.become_password, timeout=options.timeout
        )
        before = node_result(node, transport, inspection, began)
        if not inspection.complete:
            return NodeOutcome(
                node, before, NodeStatus.UNSCANNED, "the scan did not complete: no change (L13)"
            )
        plan = plan_node(
            node,
            inspection,
            transport.login_user,
            remediations,
            run_id=run_id,
            rollback_seconds=options.rollback_seconds,
            force=options.force,
        )
        return apply_plan(transport, plan, before, checks, options, journal, connect)
    except NodeError as exc:
        failed = failed_result(node, transport, exc.kind, exc.message, began)
        return NodeOutcome(node, failed, NodeStatus.UNSCANNED, exc.message)
    except Exception as exc:  # a bug stays with its node; the node's own timer covers it
        log.debug("internal error on %s", node.name, exc_info=True)
        why = f"{type(exc).__name__}: {exc}"
        failed = failed_result(node, transport, ErrorKind.INTERNAL, why, began)
        return NodeOutcome(node, failed, NodeStatus.FAILED, f"internal error: {why}")
    finally:
        if transport is not None:
            transport.close()


def apply_plan(
    transport: Transport,
    plan: NodePlan,
    before: NodeResult,
    checks: Sequence[Check],
    options: ApplyOptions,
    journal: Journal | None,
    connect: Connect = open_transport,
) -> NodeOutcome:
    """The L1-L13 state machine for one planned node, over its open first connection.

    Steps, each journalled: refusals -> (dry run / confirm) -> the script with
    NW_MODE=hold -> busy, unchanged, failed or rolled back on the node; or held -> a NEW
    connection proves login and root -> commit (else restore over the first connection,
    else the node's own timer) -> re-inspect the touched checks.
    """
    step = _Step(transport, plan, before, checks, options, journal)
    if journal is not None and not options.dry_run:
        journal.node(plan.run_id, plan.node.name, plan.node.target)
    for refusal in plan.refused:
        step.record(
            "refused", fix=refusal.remediation, detail=f"{', '.join(refusal.checks)}: {refusal.reason}"
        )
    if not plan.fixes:
        return step.outcome(NodeStatus.NOTHING_TO_DO, "no failing check has a fix to apply")
    if options.plan_only:
        return step.outcome(NodeStatus.PLANNED)
    if options.dry_run:
        report = dry_run(transport, plan, become_password=options.become_password, timeout=options.timeout)
        return step.outcome(NodeStatus.PLANNED, report=report, fixes=_fix_results(plan, report, "planned"))
    if options.confirm is not None:
        preview = dry_run(transport, plan, become_password=options.become_password, timeout=options.timeout)
        if not options.confirm(plan, preview):
            for fix in plan.fixes:
                step.record("refused", fix=fix.manifest.id, detail="declined at the prompt")
            results = tuple(FixResult(f, "declined", "declined at the prompt") for f in plan.fixes)
            return step.outcome(NodeStatus.DECLINED, "declined at the prompt", report=preview, fixes=results)
    return _hold(step, connect)


class _Step:
    """One node's apply in progress: what every state of the machine needs at hand."""

    def __init__(
        self,
        transport: Transport,
        plan: NodePlan,
        before: NodeResult,
        checks: Sequence[Check],
        options: ApplyOptions,
        journal: Journal | None,
    ) -> None:
        self.transport, self.plan, self.before = transport, plan, before
        self.checks, self.options, self.journal = checks, options, journal
        self.node = plan.node
        self.backup = f"{BACKUPS}/{plan.run_id}"

    def record(self, step: str, **kw: str) -> None:
        if self.journal is not None:
            self.journal.record(self.plan.run_id, self.node.name, step, **kw)

    def outcome(
        self,
        status: NodeStatus,
        message: str = "",
        *,
        report: events.Report | None = None,
        fixes: tuple[FixResult, ...] = (),
        after: tuple[Finding, ...] = (),
        backup: bool = False,
    ) -> NodeOutcome:
        return NodeOutcome(
            self.node,
            self.before,
            status,
            message,
            self.plan,
            report,
            fixes,
            after,
            self.backup if backup else "",
            self.plan.needs_reboot if status is NodeStatus.APPLIED else (),
        )

    def after(self) -> tuple[Finding, ...]:
        return _after(self.transport, self.node, self.checks, self.plan, self.options)


def _hold(step: _Step, connect: Connect) -> NodeOutcome:
    """Run the script with NW_MODE=hold and judge what the node reported."""
    plan, options = step.plan, step.options
    for fix in plan.fixes:
        step.record("planned", fix=fix.manifest.id, detail=fix.label)
    if step.journal is not None:  # before anything changes: `nodeward rollback` needs it even after a crash
        step.journal.node(plan.run_id, step.node.name, step.node.target, step.backup)
    try:
        report, _ = run_remote(
            step.transport,
            step.node,
            plan.script("hold"),
            plan.marker,
            become_password=options.become_password,
            timeout=options.timeout,
        )
    except NodeError as exc:
        step.record("failed", detail=f"the apply script did not finish: {exc.message}")
        why = (
            f"the connection failed while applying ({exc.message}); if the node had reloaded, its "
            f"rollback timer restores within {options.rollback_seconds} s"
        )
        return step.outcome(NodeStatus.FAILED, why, backup=True)
    _journal_events(step.record, report)
    busy = report.of("busy")
    if busy:  # the node's lock (another bastion's run): nothing was changed there
        why = busy[-1].field(0)
        step.record("refused", detail=why)
        results = tuple(FixResult(fix, "refused", why) for fix in plan.fixes)
        return step.outcome(NodeStatus.BUSY, why, report=report, fixes=results)
    if report.result == "unchanged":
        step.record("unchanged", detail="every file already as wanted")
        return step.outcome(
            NodeStatus.UNCHANGED, report=report, fixes=_fix_results(plan, report, "unchanged")
        )
    if report.result != "held":
        why = report.failure or f"the script ended without a result (exit {report.result})"
        if report.rolled_back:  # the node's own script restored (validate, reload, health failed)
            step.record("rolled_back", detail=why)
            results = _fix_results(plan, report, "rolled_back", why)
            return step.outcome(
                NodeStatus.ROLLED_BACK, why, report=report, fixes=results, after=step.after(), backup=True
            )
        step.record("failed", detail=why)
        results = _fix_results(plan, report, "failed", why)
        return step.outcome(NodeStatus.FAILED, why, report=report, fixes=results, backup=True)
    return _prove_and_commit(step, report, connect)


def _prove_and_commit(step: _Step, report: events.Report, connect: Connect) -> NodeOutcome:
    """The change is live and the node's timer armed: commit only after a NEW connection
    logs in and becomes root (L7); otherwise restore over the first connection."""
    plan, options = step.plan, step.options
    ok, why = verify_new_connection(step.node, options, connect)
    if ok:
        step.record("verified", detail=why)
        committed, detail = control(step.transport, step.node, step.backup, "commit", options)
        if committed:
            step.record("committed", detail="rollback timer disarmed")
            results = _fix_results(plan, report, "applied")
            return step.outcome(
                NodeStatus.APPLIED, why, report=report, fixes=results, after=step.after(), backup=True
            )
        why = f"the commit failed ({detail}): the node's rollback timer had already restored the files"
        step.record("rolled_back", detail=why)
    else:
        step.record("failed", detail=f"new connection test: {why}")
        code, lines = control_status(step.transport, step.node, step.backup, "restore verify-failed", options)
        detail = " ".join(" ".join(lines).split())[:300] or f"exit {code}"
        if code == 0:
            step.record("rolled_back", detail=f"restored over the first connection after: {why}")
        elif code == CONTROL_REFUSED:
            # Nothing was restored and no timer will: the node waits for an operator.
            why += (
                f"; the restore was refused ({detail}): the change is still in place and not verified; "
                f"nodeward rollback {plan.run_id} says which file, --keep-current keeps it"
            )
            step.record("refused", detail=why)
            results = _fix_results(plan, report, "failed", why)
            return step.outcome(NodeStatus.FAILED, why, report=report, fixes=results, backup=True)
        else:
            why += (
                f"; the restore over the first connection failed too ({detail}): the node's timer restores it"
            )
    results = _fix_results(plan, report, "rolled_back", why)
    return step.outcome(
        NodeStatus.ROLLED_BACK, why, report=report, fixes=results, after=step.after(), backup=True
    )


def _fix_results(plan: NodePlan, report: events.Report, changed: str, why: str = "") -> tuple[FixResult, ...]:
    by_number = {outcome.number: outcome for outcome in report.fixes}
    results = []
    for number, fix in enumerate(plan.fixes, start=1):
        outcome = by_number.get(number)
        if outcome is None:
            results.append(
                FixResult(fix, "failed" if changed != "planned" else "planned", why or "not reported")
            )
        elif outcome.status in ("refused", "error"):
            results.append(
                FixResult(fix, "refused" if outcome.status == "refused" else "failed", outcome.reason)
            )
        elif outcome.status == "unchanged":
            results.append(FixResult(fix, "unchanged"))
        else:
            results.append(FixResult(fix, changed, why))
    return tuple(results)


_JOURNAL_STEPS = {
    "backup": "backed_up",
    "installed": "applied",
    "installed-as": "installed",
    "validated": "validated",
    "armed": "armed",
    "reloaded": "reloaded",
    "verified": "verified",
    "failed": "failed",
    "rolled-back": "rolled_back",
    "rollback-failed": "failed",
}


def _journal_events(record: Callable[..., None], report: events.Report) -> None:
    for event in report.events:
        if event.kind == "fix" and event.field(2) in ("refused", "error"):
            record(
                "refused" if event.field(2) == "refused" else "failed",
                fix=event.field(1),
                detail=event.field(3),
            )
            continue
        step = _JOURNAL_STEPS.get(event.kind)
        if step is None:
            continue
        if event.kind == "backup":
            checksum = event.field(1) if len(event.field(1)) == 64 else ""
            record(step, path=event.field(0), checksum=checksum, detail=" ".join(event.fields[1:]))
        elif event.kind == "installed":
            record(step, path=event.field(0))
        elif event.kind == "installed-as":  # path, sha256, mode, uid:gid after the install
            checksum = event.field(1) if len(event.field(1)) == 64 else ""
            record(step, path=event.field(0), checksum=checksum, detail=" ".join(event.fields[2:]))
        else:
            record(step, detail=" ".join(event.fields))


def verify_new_connection(node: Node, options: ApplyOptions, connect: Connect) -> tuple[bool, str]:
    """L7: a NEW connection with the same credentials, `id` and (through sudo) root."""
    last = ""
    for attempt in range(3):
        try:
            second = connect(node, options.ssh)
        except NodeError as exc:
            last = f"{exc.kind.value}: {exc.message}"
            # sshd re-execs on SIGHUP; a connection in that instant is refused. Retry
            # only that, never an authentication failure (MaxAuthTries, fail2ban).
            if exc.kind in _RETRYABLE and attempt < 2:
                time.sleep(1.0)
                continue
            return False, f"a new SSH connection failed: {last}"
        try:
            output = run_script(
                second,
                b"id -un\n",
                become=Become(enabled=node.become, password=node.become_password or options.become_password),
                timeout=60,
            )
            who = output.stdout.decode("utf-8", "replace").strip()[:64]
            if output.exit_code != 0 or (who != "root" and node.become):
                return (
                    False,
                    f"the new connection could not become root (exit {output.exit_code}, user {who!r})",
                )
            how = "sudo -n" if node.become and second.login_user != "root" else "root login"
            return True, f"new SSH connection as {second.login_user} works, {how} gives root"
        except NodeError as exc:
            return (
                False,
                f"the new connection could not run a command as root: {exc.kind.value}: {exc.message}",
            )
        finally:
            second.close()
    return False, f"a new SSH connection failed: {last}"


_ACTIONS = ("commit", "restore verify-failed", "restore manual", "keep")
# control.sh's exit codes that mean something to the bastion (see control.sh).
CONTROL_REFUSED = 5  # restore: a file no longer holds what the run installed (state restore-refused)
CONTROL_NOT_WAITING = 6  # keep: the run is not waiting for a decision (no refused restore)
CONTROL_BUSY = 75  # restore: another run holds the node lock


def control(
    transport: Transport, node: Node, backup: str, action: str, options: ApplyOptions
) -> tuple[bool, str]:
    """Run the node's control.sh (commit or restore) over an open connection."""
    code, lines = control_status(transport, node, backup, action, options)
    detail = " ".join(" ".join(lines).split())[:300]
    return code == 0, detail or f"exit {code}"


def control_status(
    transport: Transport, node: Node, backup: str, action: str, options: ApplyOptions
) -> tuple[int | None, list[str]]:
    """control.sh's exit code (None: the connection failed) and its stderr lines."""
    if action not in _ACTIONS:
        raise ValueError(f"unknown control action {action!r}")
    path = shlex.quote(backup + "/control.sh")
    script = f"exec /bin/sh {path} {action}\n".encode()
    if action == "restore manual":
        # A run that changed nothing on this node left no backups: nothing to restore there.
        missing = "echo 'no backups of this run on this node: nothing to restore' >&2; exit 0"
        script = f"if [ -f {path} ]; then exec /bin/sh {path} {action}; fi\n{missing}\n".encode()
    try:
        output = run_script(
            transport,
            script,
            become=Become(enabled=node.become, password=node.become_password or options.become_password),
            timeout=max(120.0, options.timeout),
        )
    except NodeError as exc:
        return None, [exc.message]
    lines = output.stderr.decode("utf-8", "replace").splitlines()[:50]
    return output.exit_code, [line.strip() for line in lines if line.strip()]


def _after(
    transport: Transport, node: Node, checks: Sequence[Check], plan: NodePlan, options: ApplyOptions
) -> tuple[Finding, ...]:
    """Re-gather the facts the fixed checks read (one more exec) and judge them again."""
    touched = {c for fix in plan.fixes for c in fix.checks}
    by_id = {c.id: c for c in checks}
    facts = {by_id[c].fact for c in touched if c in by_id}
    again = [c for c in checks if c.fact in facts]
    if not again:
        return ()
    try:
        inspection = inspect(
            transport, node, again, become_password=options.become_password, timeout=options.timeout
        )
    except NodeError as exc:
        return tuple(
            Finding(
                c.id, c.title, c.severity, Status.ERROR, f"re-scan after remediation failed: {exc.message}"
            )
            for c in again
        )
    return inspection.findings
