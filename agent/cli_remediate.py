"""CLI for remediation: `nodeward plan`, `nodeward render`, `nodeward rollback`, and the
`--remediate/--dry-run/--yes` behaviour of `nodeward scan`.

Kept out of cli.py so that file stays thin; registered on the same Typer app by
`register(app)`. Like cli.py it imports nothing heavy at module level (jinja2 and
paramiko only inside the commands), so `nodeward --help` stays cheap.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli_support import (
    Outputs,
    Overlays,
    checked_destinations,
    fail_usage,
    load_targets,
    passphrase_source,
    read_secret_file,
    setup_logging,
    split_patterns,
)
from agent.exit_codes import ExitCode
from agent.report import ReportFormat, Style

if TYPE_CHECKING:
    from agent.findings import Severity
    from agent.inventory.model import Inventory
    from agent.remediate.events import Report
    from agent.remediate.manifest import Remediations
    from agent.remediate.outcome import NodeOutcome
    from agent.remediate.plan import NodePlan
    from agent.report.outputs import Destination
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
Format = Annotated[ReportFormat | None, typer.Option("--format", "-f", help="Report format (default table).")]


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
    outputs: Sequence[Destination],
    fail_on: Severity,
    catalog_dir: Path | None,
    quiet: bool,
    style: Style | None = None,
) -> int:
    """`nodeward scan --remediate` and `plan`: options in, the run (remediate/run.py),
    the report in the chosen format out, and the exit code."""
    from agent.exit_codes import for_remediation
    from agent.remediate.apply import ApplyOptions
    from agent.remediate.manifest import load_remediations
    from agent.remediate.run import remediate_fleet
    from agent.report.outputs import write_all
    from agent.report.remediation import outcome_line

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

    def progress(outcome: NodeOutcome) -> None:  # on stderr: stdout carries the report
        if not quiet:
            typer.echo(f"nodeward: {outcome_line(outcome)}", err=True)

    try:
        run = remediate_fleet(
            fleet,
            checks,
            load_remediations(str(catalog_dir) if catalog_dir else None),
            options,
            state_dir=_state_dir(state_dir),
            command=shlex.join(sys.argv[1:]),
            node_done=progress,
        )
    except KeyboardInterrupt:
        typer.echo(
            f"nodeward: interrupted; a node that was mid-change restores itself within {rollback_seconds} s "
            "(its rollback timer)",
            err=True,
        )
        raise typer.Exit(130) from None
    write_all(outputs, run, style or Style(fail_on=fail_on))
    for outcome in run.busy:  # told on stderr even with --quiet or a machine format
        typer.echo(f"nodeward: node {outcome.node.name}: {_safe(outcome.message)}", err=True)
    code = for_remediation(run, fail_on)
    if quiet and code != ExitCode.OK:  # quiet is for success only: a failure says why
        from agent.report.summary import one_line

        typer.echo(one_line(run.after(), fail_on), err=True)
    return int(code)


def _ask(plan: NodePlan, preview: Report) -> bool:
    from agent.report.remediation import plan_text

    typer.echo(plan_text(plan, preview))
    return typer.confirm(f"Apply these {len(plan.fixes)} fix(es) to {plan.node.name}?", default=False)


def _safe(text: str, limit: int = 600) -> str:
    from agent.textsafe import printable

    return printable(text, limit)


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
    output_format: Format = None,
    output: Outputs = None,
) -> None:
    """Per node: the ordered fixes for the failing checks, each file's unified diff. Changes nothing."""
    from agent.findings import Severity

    setup_logging(False)
    found = checked_destinations(output, output_format)  # before any node is contacted
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
        outputs=found,
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
    from agent.remediate.apply import ApplyOptions
    from agent.remediate.export import write_scripts
    from agent.remediate.manifest import ParamError
    from agent.remediate.outcome import NodeStatus
    from agent.remediate.run import remediate_fleet
    from agent.report.remediation import refusal_text

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
    options = ApplyOptions(  # plan without the node-side dry run: render needs only the scan
        ssh=scan_options.ssh,
        become_password=scan_options.become_password,
        rollback_seconds=rollback_seconds,
        force=i_have_console_access,
        plan_only=True,
    )
    code = 0
    run = remediate_fleet(fleet, selected, remediations, options, state_dir=None, command="render")
    for outcome in run.outcomes:
        node, plan = outcome.node, outcome.plan
        if outcome.status is NodeStatus.UNSCANNED or plan is None:
            typer.echo(f"node {node.name}: not scanned: {_safe(outcome.message)}", err=True)
            code = 3
            continue
        try:
            written = write_scripts(out, plan)
        except (ParamError, UnsafeDirectory, OSError) as exc:
            typer.echo(f"node {node.name}: {_safe(str(exc))}", err=True)
            code = 2
            continue
        typer.echo(f"node {node.name}: {len(plan.fixes)} fix(es) -> {', '.join(written) or 'nothing to fix'}")
        for refusal in plan.refused:
            typer.echo(f"  refused: {refusal_text(refusal)}")
        for check_id, why in plan.unfixable:
            typer.echo(f"  not fixable automatically: {check_id} ({why})")
    raise typer.Exit(code)


# --------------------------------------------------------------------------- rollback


def rollback_command(
    run_id: Annotated[str, typer.Argument(help="Run id printed by `scan --remediate` (and in the journal).")],
    node_name: Annotated[str | None, typer.Option("--node", help="Only this node.")] = None,
    keep_current: Annotated[
        bool,
        typer.Option(
            "--keep-current",
            help="After a refused restore (a file changed after the run): keep the node as it is now, "
            "say what differs, and let later runs go ahead. Nothing is restored.",
        ),
    ] = False,
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

    from agent.remediate.apply import ApplyOptions
    from agent.remediate.rollback import NothingToRollBack, RollbackStatus, rollback_run

    setup_logging(False)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", run_id) or run_id.startswith("."):
        raise fail_usage(f"{run_id!r} is not a run id")
    fleet = _targets(inventory, hosts, None)
    options = _scan_options(
        ssh_config, known_hosts, identity, user, become_password_file, connect_timeout, command_timeout
    )
    apply_options = ApplyOptions(ssh=options.ssh, become_password=options.become_password)
    try:
        state = _state_dir(state_dir)
        results = rollback_run(
            fleet.nodes, run_id, apply_options, state, only=node_name, keep_current=keep_current
        )
    except NothingToRollBack as exc:
        raise fail_usage(str(exc)) from None
    code = 0
    for result in results:
        name = result.node
        if result.status is RollbackStatus.UNREACHABLE:
            typer.echo(f"node {name}: cannot connect: {_safe(result.detail)}", err=True)
            code = 3
        elif result.status is RollbackStatus.REFUSED:
            typer.echo(f"node {name}: rollback of {run_id} refused, nothing was restored:", err=True)
            for line in result.lines:
                typer.echo(f"  {_safe(line.removeprefix('nodeward-control: '), 600)}", err=True)
            # The run now waits for a decision; until then every run on the node is busy.
            typer.echo(
                f"  run {run_id} stays in place, not verified, and later runs on {name} are refused until "
                f"it is settled: put the file back and run `nodeward rollback {run_id}` again, or keep the "
                f"node as it is with `nodeward rollback {run_id} --keep-current`",
                err=True,
            )
            code = REMEDIATION_FAILED
        elif result.status is RollbackStatus.NOT_WAITING:
            typer.echo(f"node {name}: {_safe(result.detail)}", err=True)
            code = REMEDIATION_FAILED
        elif result.status is RollbackStatus.KEPT:
            for line in result.lines:
                typer.echo(f"node {name}: {_safe(line.removeprefix('nodeward-control: '), 600)}")
            typer.echo(f"node {name}: {_safe(result.detail)}")
            if not result.verified:
                code = REMEDIATION_FAILED
        elif result.status is RollbackStatus.BUSY:
            typer.echo(f"node {name}: {_safe(result.detail)}", err=True)
            code = code or int(ExitCode.LOCKED)
        elif result.status is RollbackStatus.FAILED:
            typer.echo(f"node {name}: restore failed: {_safe(result.detail)}", err=True)
            code = REMEDIATION_FAILED
        else:
            typer.echo(f"node {name}: restored from the run's backups; {_safe(result.detail)}")
            if not result.verified:
                code = REMEDIATION_FAILED
    raise typer.Exit(code)
