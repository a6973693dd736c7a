"""CLI for remediation: `nodeward plan`, `nodeward render`, `nodeward rollback`, and the
`--remediate/--dry-run/--yes` behaviour of `nodeward scan`.

Kept out of cli.py so that file stays thin; registered on the same Typer app by
`register(app)`. Like cli.py it imports nothing heavy at module level (jinja2 and
paramiko only inside the commands), so `nodeward --help` stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli_support import (
    Overlays,
    emit,
    fail_usage,
    load_targets,
    passphrase_source,
    read_secret_file,
    setup_logging,
    split_patterns,
)
from agent.exit_codes import ExitCode
from agent.runlock import run_lock

if TYPE_CHECKING:
    from agent.findings import NodeResult, RunResult, Severity
    from agent.inventory.model import Inventory
    from agent.remediate.apply import ApplyOptions, NodeOutcome
    from agent.remediate.bind import Refusal
    from agent.remediate.events import Report
    from agent.remediate.manifest import Remediations
    from agent.remediate.plan import NodePlan
    from agent.remediate.render import FixScript
    from agent.rules.schema import Check
    from agent.scan import ScanOptions

REMEDIATION_FAILED = ExitCode.REMEDIATION_FAILED

NO_TERMINAL = (
    "--remediate changes nodes and asks for confirmation per node; there is no terminal to ask on. "
    "Pass --yes to apply without asking (cron), or --dry-run to only show the plan. Nothing was contacted."
)

Inventory_ = Annotated[
    Path | None,
    typer.Option("--inventory", "-i", help="Inventory file (nodeward YAML, Ansible YAML or INI)."),
]
Hosts = Annotated[str | None, typer.Option(help="Ad-hoc targets: ssh://user@host:port,host2")]
Limit = Annotated[
    str | None, typer.Option("--limit", "-l", help="Hosts or groups: globs, comma-separated, !exclude.")
]
Checks = Annotated[
    list[str] | None, typer.Option("--check", "-c", help="Only checks whose id matches (repeatable).")
]
CatalogDir = Annotated[Path | None, typer.Option(help="Use this catalogue instead of the bundled one.")]
SshConfig = Annotated[Path | None, typer.Option("--ssh-config", "-F", help="ssh_config file to use.")]
KnownHosts = Annotated[
    list[Path] | None, typer.Option("--known-hosts", help="Extra known_hosts file (repeatable).")
]
Identity = Annotated[list[Path] | None, typer.Option("--identity", "-k", help="Private key (repeatable).")]
User = Annotated[str | None, typer.Option("--user", "-u", help="Login user for every node.")]
BecomeFile = Annotated[Path | None, typer.Option(help="File holding the sudo password.")]
ConnectTimeout = Annotated[
    float, typer.Option(min=0.1, help="Seconds for TCP connect + SSH banner + key exchange, per hop.")
]
CommandTimeout = Annotated[float, typer.Option(min=1, help="Seconds for one script on a node.")]
StateDir = Annotated[
    Path | None,
    typer.Option(
        help="Journal directory (default /var/lib/nodeward as root, else $XDG_STATE_HOME/nodeward)."
    ),
]
Rollback = Annotated[
    int,
    typer.Option(
        "--rollback-seconds", min=5, max=3600, help="Node-side automatic restore unless verified in time."
    ),
]
Console = Annotated[
    bool,
    typer.Option(
        "--i-have-console-access",
        help="Skip the lockout refusals (L3-L5, L11); the new-connection test and rollback timer stay.",
    ),
]
Format = Annotated[str, typer.Option("--format", "-f", help="table or json.")]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here (atomically).")]


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)
    app.command("render")(render_command)
    app.command("rollback")(rollback_command)


# --------------------------------------------------------------------------- shared


def refuse_without_terminal(remediate: bool, dry_run: bool, yes: bool) -> None:
    """L13 and acceptance 5: no silent changes from a job that cannot be asked."""
    if remediate and not dry_run and not yes and not sys.stdin.isatty():
        typer.echo(f"nodeward: {NO_TERMINAL}", err=True)
        raise typer.Exit(2)


def _scan_options(
    ssh_config: Path | None,
    known_hosts: list[Path] | None,
    identity: list[Path] | None,
    user: str | None,
    become_password_file: Path | None,
    connect_timeout: float,
    command_timeout: float,
) -> ScanOptions:
    from agent.scan import ScanOptions
    from agent.transport.options import SshOptions, Timeouts

    password = read_secret_file(become_password_file, "become password") if become_password_file else None
    timeouts = Timeouts(
        connect=connect_timeout,
        banner=connect_timeout,
        auth=max(connect_timeout, 15.0),
        command=command_timeout,
        node_deadline=max(command_timeout * 4, 300.0),
    )
    return ScanOptions(
        parallel=1,
        ssh=SshOptions(
            ssh_config_file=str(ssh_config) if ssh_config else None,
            known_hosts_files=tuple(str(p) for p in known_hosts or ()),
            identity_files=tuple(str(p) for p in identity or ()),
            user=user,
            passphrase=passphrase_source(None),
            timeouts=timeouts,
        ),
        become_password=password,
    )


def _targets(inventory: Path | None, hosts: str | None, limit: str | None) -> Inventory:

    if (inventory is None) == (hosts is None):
        raise fail_usage("give exactly one of --inventory or --hosts")
    return load_targets(inventory, "auto", hosts, False, limit)


def _checks(
    catalog_dir: Path | None, patterns: list[str] | None, overlays: list[Path] | None = None
) -> tuple[Sequence[Check], Remediations]:
    from agent.catalog import load_catalog
    from agent.remediate.manifest import load_remediations

    catalog = load_catalog(str(catalog_dir) if catalog_dir else None, overlays=overlays or ())
    selected = catalog.select(split_patterns(patterns))
    if not selected:
        raise fail_usage(f"no check matches {', '.join(patterns or [])}")
    return selected, load_remediations(str(catalog_dir) if catalog_dir else None)


def _state_dir(state_dir: Path | None) -> Path:
    from agent.remediate.journal import default_state_dir

    return state_dir or default_state_dir()


# --------------------------------------------------------------------------- scan --remediate


def run_remediation(
    fleet: Inventory,
    checks: Sequence[Check],
    scan_options: ScanOptions,
    *,
    dry_run: bool,
    yes: bool,
    state_dir: Path | None,
    rollback_seconds: int,
    force: bool,
    output_format: str,
    output: Path | None,
    fail_on: Severity,
    catalog_dir: Path | None,
    quiet: bool,
) -> int:
    """`nodeward scan --remediate`: node by node, scan -> plan -> (confirm) -> apply."""
    from agent import __version__
    from agent.exit_codes import for_run
    from agent.findings import RunResult
    from agent.remediate.apply import ApplyOptions, new_run_id, remediate_node
    from agent.remediate.journal import Journal
    from agent.remediate.manifest import load_remediations
    from agent.scan import now_rfc3339

    remediations = load_remediations(str(catalog_dir) if catalog_dir else None)
    run_id = new_run_id()
    interactive = not yes and not dry_run
    options = ApplyOptions(
        ssh=scan_options.ssh,
        become_password=scan_options.become_password,
        timeout=max(scan_options.ssh.timeouts.command, 300.0),
        rollback_seconds=rollback_seconds,
        force=force,
        dry_run=dry_run,
        confirm=_ask if interactive else None,
    )
    locked = contextlib.ExitStack()
    if not dry_run:  # a dry run changes nothing and may overlap with anything
        locked.enter_context(run_lock(_state_dir(state_dir)))
    journal = None if dry_run else Journal(_state_dir(state_dir))
    started = now_rfc3339()
    outcomes: list[NodeOutcome] = []
    try:
        if journal is not None:
            journal.start_run(run_id, shlex.join(sys.argv[1:])[:2000], fleet.source, __version__)
        for node in fleet.nodes:
            outcome = remediate_node(node, checks, remediations, options, journal, run_id)
            outcomes.append(outcome)
            if not quiet and output_format != "json":
                _print_outcome(outcome, run_id, show_diff=dry_run)
    except KeyboardInterrupt:
        typer.echo(
            f"nodeward: interrupted; a node that was mid-change restores itself within {rollback_seconds} s "
            "(its rollback timer)",
            err=True,
        )
        raise typer.Exit(130) from None
    finally:
        if journal is not None:
            journal.close()
        locked.close()
    run = RunResult(
        run_id=run_id,
        started_at=started,
        finished_at=now_rfc3339(),
        tool_version=__version__,
        inventory=fleet.source,
        nodes=tuple(o.before for o in outcomes),
        checks_selected=len(checks),
    )
    if output_format == "json":
        _emit(json.dumps(_document(run, outcomes, run_id), indent=2, ensure_ascii=True) + "\n", output)
    elif not quiet:
        typer.echo(_summary(outcomes, run_id, dry_run))
    for outcome in outcomes:
        if outcome.status == "busy":  # told on stderr even with --quiet or JSON
            typer.echo(f"nodeward: node {outcome.node.name}: {_safe(outcome.message)}", err=True)
    if any(o.status in ("failed", "rolled-back") for o in outcomes):
        return REMEDIATION_FAILED
    if any(o.status == "busy" for o in outcomes):
        return int(ExitCode.LOCKED)
    after = RunResult(
        run_id=run_id,
        started_at=started,
        finished_at=run.finished_at,
        tool_version=__version__,
        inventory=fleet.source,
        nodes=tuple(_after_result(o) for o in outcomes),
        checks_selected=len(checks),
    )
    return int(for_run(after, fail_on))


def _after_result(outcome: NodeOutcome) -> NodeResult:
    """The node's result with re-evaluated findings in place of the scanned ones."""
    from dataclasses import replace

    if not outcome.after:
        return outcome.before
    again = {f.check_id: f for f in outcome.after}
    return replace(outcome.before, findings=tuple(again.get(f.check_id, f) for f in outcome.before.findings))


def _ask(plan: NodePlan, preview: Report) -> bool:
    _print_plan(plan, preview)
    return typer.confirm(f"Apply these {len(plan.fixes)} fix(es) to {plan.node.name}?", default=False)


# --------------------------------------------------------------------------- output


def _safe(text: str, limit: int = 600) -> str:
    from agent.textsafe import printable

    return printable(text, limit)


def _refusal(refusal: Refusal) -> str:
    return f"{refusal.remediation} ({', '.join(refusal.checks) or 'inventory'}): {_safe(refusal.reason)}"


def _params(fix: FixScript) -> str:
    shown = []
    for name, value in fix.params.items():
        spec = fix.manifest.params.get(name)
        if spec is not None and spec.has_default and spec.coerce(spec.default) == value:
            continue
        rendered = " ".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
        shown.append(f"{name}={rendered}")
    return _safe(" ".join(shown), 200)


def _print_plan(plan: NodePlan, report: Report | None) -> None:
    typer.echo(f"node {plan.node.name}: {len(plan.fixes)} fix(es), in this order")
    outcomes = {o.number: o for o in report.fixes} if report is not None else {}
    for number, fix in enumerate(plan.fixes, start=1):
        verdict = outcomes.get(number)
        state = (
            f"  [{verdict.status}{': ' + _safe(verdict.reason, 300) if verdict.reason else ''}]"
            if verdict
            else ""
        )
        typer.echo(f"  {number}. {fix.manifest.id} {_params(fix)}  for {fix.label}{state}")
    for refusal in plan.refused:
        typer.echo(f"  refused: {_refusal(refusal)}")
    if report is not None:
        for path, what in report.changes.items():
            typer.echo(f"  change {_safe(path, 300)}: {_safe(what, 200)}")
            diff = report.diffs.get(path)
            if diff:
                for line in diff.splitlines():
                    typer.echo(f"    {_safe(line, 400)}")
        if report.result not in ("planned", "unchanged") and report.failure:
            typer.echo(f"  the dry run failed: {_safe(report.failure)}")


def _print_outcome(outcome: NodeOutcome, run_id: str, *, show_diff: bool) -> None:
    message = f" - {_safe(outcome.message)}" if outcome.message else ""
    typer.echo(f"node {outcome.node.name}: {outcome.status}{message}")
    if outcome.plan is None:
        return
    if show_diff:
        _print_plan(outcome.plan, outcome.report)
    else:
        before = {f.check_id: f.status.value for f in outcome.before.findings}
        after = {f.check_id: f.status.value for f in outcome.after}
        for number, result in enumerate(outcome.fixes, start=1):
            checks = ", ".join(
                f"{c} {before.get(c, '?')} -> {after.get(c, before.get(c, '?'))}" for c in result.fix.checks
            )
            reason = f": {_safe(result.reason, 300)}" if result.reason else ""
            typer.echo(
                f"  {number}. {result.fix.manifest.id} {_params(result.fix)}  {result.outcome}{reason}"
            )
            if checks:
                typer.echo(f"     {checks}")
        for refusal in outcome.plan.refused:
            typer.echo(f"  refused: {_refusal(refusal)}")
    for check_id, why in outcome.plan.unfixable:
        typer.echo(f"  not fixable automatically: {check_id} ({why})")
    if outcome.needs_reboot:
        typer.echo(f"  needs a reboot (not done by nodeward): {', '.join(outcome.needs_reboot)}")
    if outcome.backup_dir and outcome.status in ("applied", "rolled-back", "failed"):
        typer.echo(
            f"  backups on the node: {outcome.backup_dir}  "
            f"(undo: nodeward rollback {run_id} --node {outcome.node.name})"
        )


def _summary(outcomes: Sequence[NodeOutcome], run_id: str, dry_run: bool) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    kind = "plan" if dry_run else f"remediation run {run_id}"
    return f"{kind}: {len(outcomes)} node(s): {parts or 'none'}"


def _document(run: RunResult, outcomes: Sequence[NodeOutcome], run_id: str) -> dict[str, Any]:
    """The scan report (report-v1 schema) plus an optional `remediation_result` per
    finding a fix touched: which fix, its outcome and the status before and after."""
    from agent.report.json_report import to_document

    document: dict[str, Any] = to_document(run)
    by_node = {o.node.name: o for o in outcomes}
    for node_doc in document["nodes"]:
        outcome = by_node.get(node_doc["name"])
        if outcome is None:
            continue
        node_doc["remediation"] = {
            "run_id": run_id,
            "status": outcome.status,
            "message": _safe(outcome.message),
            "backup_dir": outcome.backup_dir or None,
            "fixes": [
                {
                    "remediation": r.fix.manifest.id,
                    "params": _params(r.fix),
                    "checks": list(r.fix.checks),
                    "outcome": r.outcome,
                    "reason": _safe(r.reason),
                }
                for r in outcome.fixes
            ],
            "refused": [
                {"remediation": r.remediation, "checks": list(r.checks), "reason": _safe(r.reason)}
                for r in (outcome.plan.refused if outcome.plan is not None else ())
            ],
            "needs_reboot": list(outcome.needs_reboot),
        }
        if outcome.plan is None:
            continue
        after = {f.check_id: f for f in outcome.after}
        results: dict[str, dict[str, Any]] = {}
        for result in outcome.fixes:
            for check_id in result.fix.checks:
                entry = results.setdefault(check_id, {"run_id": run_id, "fixes": []})
                entry["fixes"].append(
                    {
                        "remediation": result.fix.manifest.id,
                        "params": _params(result.fix),
                        "outcome": result.outcome,
                        "reason": _safe(result.reason),
                    }
                )
        for refusal in outcome.plan.refused:
            for check_id in refusal.checks:
                entry = results.setdefault(check_id, {"run_id": run_id, "fixes": []})
                entry["fixes"].append(
                    {
                        "remediation": refusal.remediation,
                        "params": "",
                        "outcome": "refused",
                        "reason": _safe(refusal.reason),
                    }
                )
        for finding in node_doc["findings"]:
            touched = results.get(finding["check_id"])
            if touched is None:
                continue
            again = after.get(finding["check_id"])
            touched["before"] = finding["status"]
            touched["after"] = again.status.value if again is not None else None
            touched["after_reason"] = again.reason if again is not None else None
            touched["backup_dir"] = outcome.backup_dir or None
            finding["remediation_result"] = touched
    return document


def _emit(text: str, output: Path | None) -> None:

    emit(text, output)


# --------------------------------------------------------------------------- plan


def plan_command(
    inventory: Inventory_ = None,
    hosts: Hosts = None,
    limit: Limit = None,
    checks: Checks = None,
    catalog_dir: CatalogDir = None,
    overlay: Overlays = None,
    ssh_config: SshConfig = None,
    known_hosts: KnownHosts = None,
    identity: Identity = None,
    user: User = None,
    become_password_file: BecomeFile = None,
    connect_timeout: ConnectTimeout = 10.0,
    command_timeout: CommandTimeout = 120.0,
    i_have_console_access: Console = False,
    output_format: Format = "table",
    output: Output = None,
) -> None:
    """Per node: the ordered fixes for the failing checks, each file's unified diff. Changes nothing."""
    from agent.findings import Severity

    setup_logging(False)
    selected, _ = _checks(catalog_dir, checks, overlay)
    fleet = _targets(inventory, hosts, limit)
    options = _scan_options(
        ssh_config, known_hosts, identity, user, become_password_file, connect_timeout, command_timeout
    )
    code = run_remediation(
        fleet,
        selected,
        options,
        dry_run=True,
        yes=True,
        state_dir=None,
        rollback_seconds=120,
        force=i_have_console_access,
        output_format=output_format,
        output=output,
        fail_on=Severity.LOW,
        catalog_dir=catalog_dir,
        quiet=False,
    )
    raise typer.Exit(code)


# --------------------------------------------------------------------------- render


def render_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Directory for the scripts (created 0700; an existing one: ours, not group/other-writable).",
        ),
    ],
    inventory: Inventory_ = None,
    hosts: Hosts = None,
    limit: Limit = None,
    checks: Checks = None,
    catalog_dir: CatalogDir = None,
    overlay: Overlays = None,
    ssh_config: SshConfig = None,
    known_hosts: KnownHosts = None,
    identity: Identity = None,
    user: User = None,
    become_password_file: BecomeFile = None,
    connect_timeout: ConnectTimeout = 10.0,
    command_timeout: CommandTimeout = 120.0,
    rollback_seconds: Rollback = 120,
    i_have_console_access: Console = False,
) -> None:
    """Scan, then write one standalone POSIX sh script per node (<node>.sh) and one per
    fix (<node>/NN-<fix>.sh) to review, commit and run by hand. Changes no node."""
    from agent.private_dir import UnsafeDirectory, ensure_private_dir
    from agent.remediate.apply import ApplyOptions, new_run_id, remediate_node
    from agent.remediate.manifest import ParamError

    setup_logging(False)
    selected, remediations = _checks(catalog_dir, checks, overlay)
    fleet = _targets(inventory, hosts, limit)
    scan_options = _scan_options(
        ssh_config, known_hosts, identity, user, become_password_file, connect_timeout, command_timeout
    )
    try:
        ensure_private_dir(out)  # the scripts run as root later: nobody else may write here
    except (UnsafeDirectory, OSError) as exc:
        raise fail_usage(f"--out: {_safe(str(exc))}") from None
    options = ApplyOptions(
        ssh=scan_options.ssh,
        become_password=scan_options.become_password,
        rollback_seconds=rollback_seconds,
        force=i_have_console_access,
        dry_run=True,
    )
    code = 0
    for node in fleet.nodes:
        outcome = remediate_node(node, selected, remediations, _render_only(options), None, new_run_id())
        if outcome.status == "unscanned" or outcome.plan is None:
            typer.echo(f"node {node.name}: not scanned: {_safe(outcome.message)}", err=True)
            code = 3
            continue
        plan = outcome.plan
        try:
            written = _write_scripts(out, plan)
        except (ParamError, UnsafeDirectory, OSError) as exc:
            typer.echo(f"node {node.name}: {_safe(str(exc))}", err=True)
            code = 2
            continue
        typer.echo(f"node {node.name}: {len(plan.fixes)} fix(es) -> {', '.join(written) or 'nothing to fix'}")
        for refusal in plan.refused:
            typer.echo(f"  refused: {_refusal(refusal)}")
        for check_id, why in plan.unfixable:
            typer.echo(f"  not fixable automatically: {check_id} ({why})")
    raise typer.Exit(code)


def _render_only(options: ApplyOptions) -> ApplyOptions:
    """Plan without the node-side dry run: render needs only the scan."""
    from dataclasses import replace

    return replace(options, dry_run=False, plan_only=True)


def _write_scripts(out: Path, plan: NodePlan) -> list[str]:
    from agent.fileio import write_atomic
    from agent.private_dir import ensure_private_dir

    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in plan.node.name).lstrip(".") or "node"
    if not plan.fixes:
        return []
    folder = out / safe
    ensure_private_dir(folder)  # before anything is written: a refused folder leaves no script
    write_atomic(out / f"{safe}.sh", plan.script("default"), mode=0o700)
    written = [f"{safe}.sh"]
    for index, fix in enumerate(plan.fixes):
        name = f"{index + 1:02d}-{fix.manifest.id}.sh"
        write_atomic(folder / name, plan.fix_script(index), mode=0o700)
        written.append(f"{safe}/{name}")
    return written


# --------------------------------------------------------------------------- rollback


def rollback_command(
    run_id: Annotated[str, typer.Argument(help="Run id printed by `scan --remediate` (and in the journal).")],
    node_name: Annotated[str | None, typer.Option("--node", help="Only this node.")] = None,
    inventory: Inventory_ = None,
    hosts: Hosts = None,
    ssh_config: SshConfig = None,
    known_hosts: KnownHosts = None,
    identity: Identity = None,
    user: User = None,
    become_password_file: BecomeFile = None,
    connect_timeout: ConnectTimeout = 10.0,
    command_timeout: CommandTimeout = 120.0,
    state_dir: StateDir = None,
) -> None:
    """Restore the files a remediation run changed, from the node-side backups, and reload."""
    import re

    from agent.remediate.apply import (
        CONTROL_BUSY,
        CONTROL_REFUSED,
        ApplyOptions,
        control_status,
        verify_new_connection,
    )
    from agent.remediate.journal import Journal
    from agent.scan import open_transport

    setup_logging(False)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", run_id) or run_id.startswith("."):
        raise fail_usage(f"{run_id!r} is not a run id")
    fleet = _targets(inventory, hosts, None)
    options = _scan_options(
        ssh_config, known_hosts, identity, user, become_password_file, connect_timeout, command_timeout
    )
    apply_options = ApplyOptions(ssh=options.ssh, become_password=options.become_password)
    code = 0
    with run_lock(_state_dir(state_dir)), Journal(_state_dir(state_dir)) as journal:
        touched = {name for name, _, backup in journal.nodes(run_id) if backup}
        if not touched:
            raise fail_usage(f"the journal in {journal.path} has no nodes for run {run_id}")
        wanted = [n for n in fleet.nodes if n.name in touched and (node_name is None or n.name == node_name)]
        if not wanted:
            raise fail_usage(f"none of the run's nodes ({', '.join(sorted(touched))}) is in the inventory")
        for node in wanted:
            try:
                transport = open_transport(node, options.ssh)
            except Exception as exc:  # NodeError or a bug: this node only
                typer.echo(f"node {node.name}: cannot connect: {_safe(str(exc))}", err=True)
                code = 3
                continue
            try:
                status, lines = control_status(
                    transport, node, f"/var/lib/nodeward/backups/{run_id}", "restore manual", apply_options
                )
            finally:
                transport.close()
            detail = " ".join(" ".join(lines).split())[:2000] or f"exit {status}"
            if status == CONTROL_REFUSED:
                # A later run (maybe from another bastion, with its own journal) changed
                # files of this run: nothing was restored, the node is as it was.
                journal.record(run_id, node.name, "refused", detail=f"rollback: {detail}")
                typer.echo(f"node {node.name}: rollback of {run_id} refused, nothing was restored:", err=True)
                for line in lines:
                    typer.echo(f"  {_safe(line.removeprefix('nodeward-control: '), 600)}", err=True)
                code = REMEDIATION_FAILED
                continue
            if status == CONTROL_BUSY:
                typer.echo(f"node {node.name}: {_safe(detail.removeprefix('nodeward-control: '))}", err=True)
                code = code or int(ExitCode.LOCKED)
                continue
            if status != 0:
                journal.record(run_id, node.name, "failed", detail=f"rollback: {detail}")
                typer.echo(f"node {node.name}: restore failed: {_safe(detail)}", err=True)
                code = REMEDIATION_FAILED
                continue
            journal.record(run_id, node.name, "restored", detail=f"nodeward rollback {run_id}")
            verified, why = verify_new_connection(node, apply_options, lambda n, o: open_transport(n, o))
            journal.record(
                run_id, node.name, "verified" if verified else "failed", detail=f"after rollback: {why}"
            )
            typer.echo(f"node {node.name}: restored from the run's backups; {_safe(why)}")
            if not verified:
                code = REMEDIATION_FAILED
    raise typer.Exit(code)
