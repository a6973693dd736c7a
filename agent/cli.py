"""The `nodeward` command line. Thin: flags -> options -> one call -> print -> exit code.

Heavy modules (paramiko, jinja2) are imported only inside the commands that need
them, so `nodeward --help` stays fast (a test asserts it imports neither).
"""

from __future__ import annotations

import enum
import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from agent import __version__
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
    terminal_width,
)
from agent.errors import InputError, Problem
from agent.exit_codes import ExitCode
from agent.findings import Severity
from agent.report import ReportFormat, Style
from agent.report.outputs import write_all as write_reports
from agent.runlock import RunLocked
from agent.secret import Secret

app = typer.Typer(
    name="nodeward",
    help="Hardening scanner for the Linux nodes under a Kubernetes cluster.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # tracebacks can hold secrets in locals: only with --debug
    pretty_exceptions_show_locals=False,
)


def _print_version(given: bool) -> None:
    if given:  # eager: answers before any command is parsed, as `--version` does everywhere
        typer.echo(f"nodeward {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    pass


class InventoryFormat(enum.StrEnum):
    AUTO = "auto"
    NODEWARD = "nodeward"
    ANSIBLE = "ansible"


class CheckFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


@app.command()
def scan(
    inventory: Annotated[
        Path | None,
        typer.Option("--inventory", "-i", help="Inventory file (nodeward YAML, Ansible YAML or INI)."),
    ] = None,
    inventory_format: Annotated[
        InventoryFormat, typer.Option(help="Inventory format; auto detects it.")
    ] = InventoryFormat.AUTO,
    hosts: Annotated[
        str | None,
        typer.Option(help="Ad-hoc targets instead of an inventory: ssh://user@host:port,host2,local://"),
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Scan this machine (local transport, no SSH).")
    ] = False,
    limit: Annotated[
        str | None,
        typer.Option("--limit", "-l", help="Hosts or groups to scan: globs, comma-separated, !exclude."),
    ] = None,
    checks: Annotated[
        list[str] | None,
        typer.Option("--check", "-c", help="Only checks whose id matches this glob (repeatable)."),
    ] = None,
    catalog_dir: Annotated[
        Path | None, typer.Option(help="Use this catalogue instead of the bundled one.")
    ] = None,
    overlay: Overlays = None,
    ssh_config: Annotated[
        Path | None, typer.Option("--ssh-config", "-F", help="ssh_config file to use.")
    ] = None,
    known_hosts: Annotated[
        list[Path] | None, typer.Option("--known-hosts", help="Extra known_hosts file (repeatable).")
    ] = None,
    accept_new_host_keys: Annotated[
        bool,
        typer.Option(
            help="Trust and record keys of hosts never seen before (TOFU). A changed key always fails."
        ),
    ] = False,
    identity: Annotated[
        list[Path] | None, typer.Option("--identity", "-k", help="Private key to log in with (repeatable).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Login user for every node.")] = None,
    no_agent: Annotated[bool, typer.Option("--no-agent", help="Do not use ssh-agent keys.")] = False,
    key_passphrase_file: Annotated[Path | None, typer.Option(help="File holding the key passphrase.")] = None,
    ask_become_pass: Annotated[
        bool, typer.Option("--ask-become-pass", "-K", help="Prompt for the sudo password (terminal only).")
    ] = False,
    become_password_file: Annotated[Path | None, typer.Option(help="File holding the sudo password.")] = None,
    parallel: Annotated[
        int, typer.Option("--parallel", "-p", min=1, max=256, help="Nodes scanned at once.")
    ] = 10,
    connect_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds for TCP connect + SSH banner + key exchange, per hop.")
    ] = 10.0,
    command_timeout: Annotated[float, typer.Option(min=1, help="Seconds for the gather script.")] = 120.0,
    node_deadline: Annotated[float, typer.Option(min=1, help="Seconds for everything on one node.")] = 300.0,
    output_format: Annotated[
        ReportFormat | None, typer.Option("--format", "-f", help="Report format (default table).")
    ] = None,
    output: Outputs = None,
    fail_on: Annotated[
        str,
        typer.Option(
            help="Exit 1 when a check of at least this severity fails: info|low|medium|high|critical."
        ),
    ] = "low",
    show_passed: Annotated[bool, typer.Option(help="List passed and not-applicable checks too.")] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours (also when NO_COLOR is set).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output (for cron).")] = False,
    debug: Annotated[bool, typer.Option(help="Debug logging and tracebacks on stderr.")] = False,
    remediate: Annotated[
        bool,
        typer.Option(help="Apply the fixes of failing checks, node by node, lockout-safe (asks per node)."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="With --remediate: show the plan and diffs, change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="With --remediate: do not ask (cron).")] = False,
    state_dir: Annotated[Path | None, typer.Option(help="Remediation journal directory.")] = None,
    rollback_seconds: Annotated[
        int, typer.Option(min=5, max=3600, help="Node-side automatic restore unless verified in time.")
    ] = 120,
    i_have_console_access: Annotated[
        bool,
        typer.Option("--i-have-console-access", help="Skip the lockout refusals; never the rollback timer."),
    ] = False,
) -> None:
    """Scan nodes and report their hardening state (and, with --remediate, fix them)."""
    from agent import scan as scanning
    from agent.catalog import load_catalog
    from agent.exit_codes import for_run
    from agent.transport.options import SshOptions, Timeouts

    setup_logging(debug)
    from agent.cli_remediate import refuse_without_terminal

    refuse_without_terminal(remediate, dry_run, yes)
    try:
        severity = Severity.parse(fail_on)
    except ValueError as exc:
        raise fail_usage(f"--fail-on: {exc}") from None
    found = checked_destinations(output, output_format)  # before any node is contacted
    targets = [
        flag for flag, given in (("--inventory", inventory), ("--hosts", hosts), ("--local", local)) if given
    ]
    if len(targets) != 1:
        raise fail_usage("give exactly one of --inventory, --hosts or --local")
    if ask_become_pass and become_password_file:
        raise fail_usage("--ask-become-pass and --become-password-file exclude each other")
    catalog = load_catalog(str(catalog_dir) if catalog_dir else None, overlays=overlay or ())
    selected = catalog.select(split_patterns(checks))
    if not selected:
        raise fail_usage(f"no check matches {', '.join(checks or [])}")
    fleet = load_targets(inventory, inventory_format.value, hosts, local, limit)
    become_password = None
    if become_password_file:
        become_password = read_secret_file(become_password_file, "become password")
    elif ask_become_pass:
        if not sys.stdin.isatty():
            raise fail_usage("--ask-become-pass needs a terminal; use --become-password-file under cron")
        become_password = Secret(getpass.getpass("sudo password: "))
    timeouts = Timeouts(
        connect=connect_timeout, banner=connect_timeout, auth=max(connect_timeout, 15.0),
        command=command_timeout, node_deadline=node_deadline,
    )  # fmt: skip
    options = scanning.ScanOptions(
        parallel=parallel,
        ssh=SshOptions(
            ssh_config_file=str(ssh_config) if ssh_config else None,
            known_hosts_files=tuple(str(p) for p in known_hosts or ()),
            accept_new_host_keys=accept_new_host_keys,
            identity_files=tuple(str(p) for p in identity or ()),
            user=user,
            use_agent=not no_agent,
            passphrase=passphrase_source(key_passphrase_file),
            timeouts=timeouts,
        ),
        become_password=become_password,
    )
    from agent.cli_progress import progress_for

    color = not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    style = Style(color=color, width=terminal_width(), show_passed=show_passed, fail_on=severity)
    if remediate:
        from agent.cli_remediate import run_remediation

        raise typer.Exit(
            run_remediation(
                fleet,
                selected,
                options,
                dry_run=dry_run,
                yes=yes,
                state_dir=state_dir,
                rollback_seconds=rollback_seconds,
                force=i_have_console_access,
                outputs=found,
                fail_on=severity,
                catalog_dir=catalog_dir,
                quiet=quiet,
                style=style,
            )
        )
    from agent.interrupts import stop_signals

    with stop_signals() as signals:
        run = scanning.scan(fleet, selected, options, progress_for(quiet=quiet))
        signals.hold()  # the scan is over: from here a signal cannot cut the report
        write_reports(found, run, style)
    code = for_run(run, severity)
    if quiet and code != ExitCode.OK:  # quiet is for success only: a failure says why
        from agent.report.summary import one_line

        typer.echo(one_line(run, severity), err=True)
    raise typer.Exit(code)


@app.command("checks")
def list_checks(
    catalog_dir: Annotated[
        Path | None, typer.Option(help="Use this catalogue instead of the bundled one.")
    ] = None,
    checks: Annotated[list[str] | None, typer.Option("--check", "-c", help="Glob on check ids.")] = None,
    overlay: Overlays = None,
    show: Annotated[
        str | None,
        typer.Option(
            "--show", metavar="ID", help="One check in full: args, rationale, fix, remediation, overlays."
        ),
    ] = None,
    output_format: Annotated[
        CheckFormat, typer.Option("--format", "-f", help="text for people, json for tools.")
    ] = CheckFormat.TEXT,
) -> None:
    """List the checks in the catalogue, or show one in full (--show ID)."""
    import json

    from agent.catalog import load_catalog
    from agent.check_details import closest_ids, details, render_text
    from agent.remediate.manifest import load_remediations

    if show is not None and checks:
        raise fail_usage("--show names one check; --check filters the listing: give one of them")
    catalog = load_catalog(str(catalog_dir) if catalog_dir else None, overlays=overlay or ())
    if show is None and output_format is CheckFormat.TEXT:
        for check in catalog.select(split_patterns(checks)):
            typer.echo(f"{check.id:50} {check.severity.label:8} {check.title}")
        return
    manifests = load_remediations(str(catalog_dir) if catalog_dir else None).manifests
    if show is None:
        selected = catalog.select(split_patterns(checks))
        listing = [details(check, manifests.get(check.remediation or "")) for check in selected]
        typer.echo(json.dumps(listing, indent=2, ensure_ascii=True))
        return
    by_id = {check.id: check for check in catalog.checks}
    if show not in by_id:
        close = closest_ids(show, by_id)
        hint = f" (did you mean {', '.join(close)}?)" if close else " (`nodeward checks` lists them)"
        raise fail_usage(f"--show: no check has the id {show!r}{hint}")
    document = details(by_id[show], manifests.get(by_id[show].remediation or ""))
    if output_format is CheckFormat.JSON:
        typer.echo(json.dumps(document, indent=2, ensure_ascii=True))
    else:
        sys.stdout.write(render_text(document))


@app.command("show-script")
def show_script(
    checks: Annotated[list[str] | None, typer.Option("--check", "-c", help="Glob on check ids.")] = None,
    user: Annotated[str, typer.Option(help="Login user the script is written for.")] = "root",
) -> None:
    """Print the exact read-only script a scan runs on each node (for review)."""
    from agent import gather
    from agent.catalog import load_catalog

    catalog = load_catalog()
    selected = catalog.select(split_patterns(checks))
    sys.stdout.write(gather.plan(catalog.facts_needed(selected), user).script().decode())


@app.command("inventory")
def show_inventory(
    inventory: Annotated[Path, typer.Argument(help="Inventory file to validate.")],
    inventory_format: Annotated[
        InventoryFormat, typer.Option(help="Inventory format.")
    ] = InventoryFormat.AUTO,
    limit: Annotated[str | None, typer.Option("--limit", "-l", help="Hosts or groups.")] = None,
) -> None:
    """Validate an inventory and show the nodes it resolves to. Contacts nothing."""
    from agent.inventory.loader import load_inventory

    inv = load_inventory(str(inventory), fmt=inventory_format.value, limit=limit)
    for node in inv.nodes:
        where = f"{node.user or '-'}@{node.target}:{node.port or '-'}"
        extra = f" via {node.proxy_jump}" if node.proxy_jump else ""
        roles = ",".join(node.roles) or "-"
        typer.echo(f"{node.name:30} {node.connection.value:5} {where}{extra}  roles={roles}")
    for name, reason in inv.skipped:
        typer.echo(f"{name:30} skipped: {reason}")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"nodeward {__version__}")


def _print_problems(problems: tuple[Problem, ...]) -> None:
    for problem in problems:
        typer.echo(f"nodeward: error: {problem}", err=True)


from agent.cli_remediate import register as _register_remediation  # noqa: E402 - needs `app`

_register_remediation(app)  # plan, render, rollback


def main() -> None:
    """Console-script entry point: the one place outcomes become exit codes."""
    debug = "--debug" in sys.argv
    try:
        returned = app(standalone_mode=False)
    except InputError as exc:
        _print_problems(exc.problems)
        sys.exit(ExitCode.USAGE)
    except RunLocked as exc:
        typer.echo(f"nodeward: {exc}", err=True)
        sys.exit(ExitCode.LOCKED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:  # outside the scan loop, which reports what it has
        from agent.exit_codes import for_signal
        from agent.interrupts import signal_of

        typer.echo("nodeward: interrupted", err=True)
        sys.exit(for_signal(signal_of(exc)))
    except SystemExit:
        raise
    except typer.Abort:  # click turns Ctrl-C outside the scan loop into Abort
        typer.echo("nodeward: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:
        show = getattr(exc, "show", None)
        if isinstance(exc, typer.TyperException) and callable(show):  # usage errors: bad flags
            show()
            sys.exit(ExitCode.USAGE)
        if debug:
            raise
        typer.echo(
            f"nodeward: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True
        )
        sys.exit(ExitCode.INTERNAL)
    # Without standalone mode click returns the code of typer.Exit instead of raising it.
    sys.exit(returned if isinstance(returned, int) else ExitCode.OK)
