"""The apply state machine (remediate/apply.py: apply_plan), every branch, without a node.

The fleet suite proves the protocol against real sshd and a real runtime.sh; these
tests pin what the BASTION does with each answer a node can give: which journal steps
it writes, which status the node gets, and the run's exit code. The node is a fake
transport that answers each script by its kind (the apply script with NW_MODE=hold,
control.sh commit/restore, the new connection's `id -un`, the re-gather) with event
lines in runtime.sh's own format. Pure state machine: nothing here opens a socket.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.catalog import load_catalog
from agent.errors import ErrorKind, NodeError
from agent.exit_codes import ExitCode, for_remediation
from agent.findings import Finding, NodeResult, Severity, Status
from agent.inspection import Inspection
from agent.inventory.model import Node
from agent.remediate.apply import ApplyOptions, apply_plan
from agent.remediate.journal import Journal
from agent.remediate.manifest import load_remediations
from agent.remediate.outcome import NodeOutcome, NodeStatus
from agent.remediate.plan import NodePlan, plan_node
from agent.remediate.run import RemediationRun
from agent.transport.base import ConnectionInfo, Transport
from agent.transport.options import SshOptions

RUN_ID = "20260101T000000Z-abc123"
BACKUP = f"/var/lib/nodeward/backups/{RUN_ID}"
CHECK = "sshd_permit_root_login_disabled"
SSHD = "/etc/ssh/sshd_config"
SHA = "a" * 64
REMEDIATIONS = load_remediations()


@dataclass(frozen=True)
class Reply:
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int | None = 0


Answer = Reply | NodeError


@dataclass
class FakeNode:
    """Answers each script by its kind; records the kinds in the order they ran."""

    answers: dict[str, Answer] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)

    def respond(self, script: bytes) -> Reply:
        kind = _kind(script)
        self.ran.append(kind)
        answer = self.answers.get(kind, Reply())
        if isinstance(answer, NodeError):
            raise answer
        return answer


def _kind(script: bytes) -> str:
    if b"nodeward gather script" in script:
        return "gather"
    mode = re.search(rb"^NW_MODE='?(hold|plan)'?$", script, re.MULTILINE)
    if mode is not None:  # the composed fix script (it names control.sh too: check it first)
        return mode.group(1).decode()
    if b"control.sh" in script:
        return "commit" if b"control.sh' commit" in script or b"control.sh commit" in script else "restore"
    if script.strip() == b"id -un":
        return "id"
    raise AssertionError(f"unexpected script: {script[:200]!r}")


class FakeProcess:
    """One exec: prints the session's ready marker, then the node's answer once stdin ends."""

    def __init__(self, command: str, node: FakeNode) -> None:
        ready = re.search(r"nodeward-ready-[0-9a-f]+", command)
        assert ready is not None, command
        self._out = bytearray(ready.group().encode() + b"\n")
        self._err = bytearray()
        self._script = bytearray()
        self._node = node
        self._exit: int | None = None
        self._done = False

    def write(self, data: bytes) -> None:
        self._script += data

    def close_stdin(self) -> None:
        reply = self._node.respond(bytes(self._script))
        self._out += reply.stdout
        self._err += reply.stderr
        self._exit, self._done = reply.exit_code, True

    def read(self, wait: float) -> tuple[bytes, bytes]:
        out, err = bytes(self._out), bytes(self._err)
        self._out.clear()
        self._err.clear()
        return out, err

    @property
    def finished(self) -> bool:
        return self._done and not self._out and not self._err

    @property
    def exit_code(self) -> int | None:
        return self._exit

    def kill(self) -> None:
        self._done = True


class FakeTransport:
    def __init__(self, node: FakeNode) -> None:
        self.node = node
        self.closed = False

    @property
    def info(self) -> ConnectionInfo:
        return ConnectionInfo("fake", "192.0.2.1", 22, "scanner")

    @property
    def login_user(self) -> str:
        return "scanner"

    def start(self, command: str) -> FakeProcess:
        return FakeProcess(command, self.node)

    def close(self) -> None:
        self.closed = True


def events(marker: str, *lines: Sequence[str]) -> bytes:
    """The apply script's stdout: one TAB-separated event per line after the run's marker."""
    return b"".join(("\t".join((marker, *line)) + "\n").encode() for line in lines)


def installed(marker: str) -> bytes:
    """What a node reports up to the install (runtime.sh: nw_backup, nw_install_one)."""
    return events(
        marker,
        ("start", RUN_ID, "hold", "scanner", "192.0.2.10", "22"),
        ("fix", "1", "sshd_option", "changes", ""),
        ("backup", SSHD, SHA, "0644", "0:0"),
        ("installed", SSHD),
        ("installed-as", SSHD, "b" * 64, "0644", "0:0"),
    )


def armed(marker: str) -> bytes:
    return installed(marker) + events(
        marker,
        ("validated", "sshd", "sshd -t"),
        ("armed", "sleeper 4242", "30", BACKUP),
    )


def held(marker: str) -> bytes:
    return armed(marker) + events(
        marker,
        ("reloaded", "sshd"),
        ("verified", "sshd", "answers on port 22"),
        ("result", "held", BACKUP),
    )


@dataclass
class Run:
    outcome: NodeOutcome
    steps: list[str]
    exit_code: ExitCode
    node: FakeNode
    connects: int


def fail(check_id: str, remediation: str | None) -> Finding:
    return Finding(check_id, check_id, Severity.HIGH, Status.FAIL, "bad", remediation=remediation)


def make_plan(node: Node, findings: Sequence[Finding]) -> NodePlan:
    inspection = Inspection(
        node=node,
        facts={},
        findings=tuple(findings),
        context={"client_addr": "192.0.2.10", "server_port": "22"},
        summary={},
    )
    return plan_node(
        node, inspection, "scanner", REMEDIATIONS, run_id=RUN_ID, rollback_seconds=30, force=False
    )


def run(
    tmp_path: Path,
    answers: Callable[[str], dict[str, Answer]],
    *,
    new_connection: NodeError | None = None,
    findings: Sequence[Finding] = (fail(CHECK, "sshd_option"),),
    node_vars: dict[str, object] | None = None,
    confirm: Callable[..., bool] | None = None,
) -> Run:
    """Plan the findings for one node, then run the state machine against a fake node
    whose answers are built from the plan's marker."""
    node = Node(name="n1", address="192.0.2.1", roles=("worker",), vars=node_vars or {})
    plan = make_plan(node, findings)
    fake = FakeNode(answers(plan.marker))
    connects = 0

    def connect(target: Node, options: SshOptions) -> Transport:
        nonlocal connects
        connects += 1
        if new_connection is not None:
            raise new_connection
        return FakeTransport(fake)

    before = NodeResult("n1", node.target, None, None, tuple(findings))
    checks = load_catalog().select([CHECK])
    options = ApplyOptions(ssh=SshOptions(), timeout=10, rollback_seconds=30, confirm=confirm)
    with Journal(tmp_path / "state") as journal:
        journal.start_run(RUN_ID, "test", "inventory", "0")
        outcome = apply_plan(FakeTransport(fake), plan, before, checks, options, journal, connect)
        steps = [s.step for s in journal.steps(RUN_ID, "n1")]
    remediation = RemediationRun(RUN_ID, "t0", "t1", "inventory", 1, False, (outcome,))
    return Run(outcome, steps, for_remediation(remediation, Severity.LOW), fake, connects)


# What the journal holds after the node installed the candidate (events, in order).
INSTALLED = ["planned", "backed_up", "applied", "installed"]


def test_applied_after_a_new_connection_proves_login_and_root(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        lambda marker: {"hold": Reply(held(marker)), "id": Reply(b"root\n")},
    )
    assert result.outcome.status is NodeStatus.APPLIED
    assert result.steps == [
        *INSTALLED, "validated", "armed", "reloaded", "verified", "verified", "committed",
    ]  # fmt: skip
    assert result.node.ran == ["hold", "id", "commit", "gather"]  # the re-scan comes last
    assert result.outcome.backup_dir == BACKUP
    assert [f.outcome for f in result.outcome.fixes] == ["applied"]
    # The re-gather here returns nothing: the touched check is ERROR, never PASS.
    assert [(f.check_id, f.status) for f in result.outcome.after] == [(CHECK, Status.ERROR)]
    assert result.exit_code is ExitCode.FINDINGS


def test_validate_fails_the_node_restores_itself(tmp_path: Path) -> None:
    def answers(marker: str) -> dict[str, Answer]:
        failed = events(
            marker,
            ("failed", "installed", "sshd -t rejects the candidate: Bad configuration option"),
            ("rolled-back", BACKUP),
        )
        return {"hold": Reply(installed(marker) + failed, exit_code=1)}

    result = run(tmp_path, answers)
    assert result.outcome.status is NodeStatus.ROLLED_BACK
    assert "sshd -t rejects" in result.outcome.message
    assert result.steps == [*INSTALLED, "failed", "rolled_back", "rolled_back"]
    assert result.node.ran == ["hold", "gather"]  # no new connection, no commit
    assert result.connects == 0
    assert [f.outcome for f in result.outcome.fixes] == ["rolled_back"]
    assert result.exit_code is ExitCode.REMEDIATION_FAILED


def test_reload_fails_the_node_restores_itself(tmp_path: Path) -> None:
    def answers(marker: str) -> dict[str, Answer]:
        failed = events(
            marker,
            ("failed", "reloaded", "reloading sshd failed: sshd: no hostkeys available"),
            ("rolled-back", BACKUP),
        )
        return {"hold": Reply(armed(marker) + failed, exit_code=1)}

    result = run(tmp_path, answers)
    assert result.outcome.status is NodeStatus.ROLLED_BACK
    assert result.outcome.message == "reloading sshd failed: sshd: no hostkeys available"
    assert result.steps == [*INSTALLED, "validated", "armed", "failed", "rolled_back", "rolled_back"]
    assert result.connects == 0 and "commit" not in result.node.ran
    assert result.exit_code is ExitCode.REMEDIATION_FAILED


def test_health_check_fails_after_the_reload_the_node_restores_itself(tmp_path: Path) -> None:
    """The kubelet's /healthz (control.sh reload kubelet) or sshd's banner (nw_verify_sshd)
    did not come back: the node's own script restores, the bastion never commits."""

    def answers(marker: str) -> dict[str, Answer]:
        failed = events(
            marker,
            ("reloaded", "sshd"),
            ("failed", "reloaded", "sshd does not answer on 127.0.0.1 port 22 after the reload"),
            ("rolled-back", BACKUP),
        )
        return {"hold": Reply(armed(marker) + failed, exit_code=1)}

    result = run(tmp_path, answers)
    assert result.outcome.status is NodeStatus.ROLLED_BACK
    assert "does not answer" in result.outcome.message
    assert result.steps == [
        *INSTALLED, "validated", "armed", "reloaded", "failed", "rolled_back", "rolled_back",
    ]  # fmt: skip
    assert result.node.ran == ["hold", "gather"]
    assert result.exit_code is ExitCode.REMEDIATION_FAILED


def test_the_node_failing_to_restore_itself_is_failed_not_rolled_back(tmp_path: Path) -> None:
    def answers(marker: str) -> dict[str, Answer]:
        failed = events(
            marker,
            ("failed", "reloaded", "reloading sshd failed: timeout"),
            ("rollback-failed", "cp: cannot create regular file", BACKUP),
        )
        return {"hold": Reply(armed(marker) + failed, exit_code=1)}

    result = run(tmp_path, answers)
    assert result.outcome.status is NodeStatus.FAILED
    assert result.steps == [*INSTALLED, "validated", "armed", "failed", "failed", "failed"]
    assert result.outcome.after == ()  # nothing is re-judged on a node in an unknown state
    assert result.outcome.backup_dir == BACKUP  # `nodeward rollback` still knows where
    assert result.exit_code is ExitCode.REMEDIATION_FAILED


def test_new_connection_test_fails_restore_over_the_first_connection(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        lambda marker: {"hold": Reply(held(marker)), "restore": Reply()},
        new_connection=NodeError(ErrorKind.AUTH, "Authentication failed"),
    )
    assert result.outcome.status is NodeStatus.ROLLED_BACK
    assert "a new SSH connection failed: auth: Authentication failed" in result.outcome.message
    assert result.steps == [
        *INSTALLED, "validated", "armed", "reloaded", "verified", "failed", "rolled_back",
    ]  # fmt: skip
    assert result.connects == 1  # an authentication failure is never retried (MaxAuthTries)
    assert result.node.ran == ["hold", "restore", "gather"]  # never a commit
    assert result.exit_code is ExitCode.REMEDIATION_FAILED


def test_new_connection_fails_and_the_restore_too_the_timer_is_left_to_do_it(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        lambda marker: {
            "hold": Reply(held(marker)),
            "restore": NodeError(ErrorKind.TIMEOUT, "connection reset"),
        },
        new_connection=NodeError(ErrorKind.AUTH, "Authentication failed"),
    )
    assert result.outcome.status is NodeStatus.ROLLED_BACK
    assert "the node's timer restores it" in result.outcome.message
    assert result.steps[-1] == "failed"  # no rolled_back step: nobody saw the restore happen
    assert result.exit_code is ExitCode.REMEDIATION_FAILED


def test_the_timer_fired_before_the_commit(tmp_path: Path) -> None:
    """The new connection works, but control.sh commit finds the run already restored by
    the node's timer (the proof took longer than --rollback-seconds)."""
    result = run(
        tmp_path,
        lambda marker: {
            "hold": Reply(held(marker)),
            "id": Reply(b"root\n"),
            "commit": Reply(stderr=b"nodeward-control: the rollback timer already restored\n", exit_code=3),
        },
    )
    assert result.outcome.status is NodeStatus.ROLLED_BACK
    assert "the commit failed (nodeward-control: the rollback timer already restored)" in (
        result.outcome.message
    )
    assert result.steps == [
        *INSTALLED, "validated", "armed", "reloaded", "verified", "verified", "rolled_back",
    ]  # fmt: skip
    assert "committed" not in result.steps
    assert result.node.ran == ["hold", "id", "commit", "gather"]
    assert result.exit_code is ExitCode.REMEDIATION_FAILED


def test_a_busy_node_changes_nothing_and_exits_75(tmp_path: Path) -> None:
    why = "another nodeward remediation is running on this node (run other-7); nothing was changed"

    def answers(marker: str) -> dict[str, Answer]:
        busy = events(marker, ("start", RUN_ID, "hold", "scanner", "", "22"), ("busy", why))
        return {"hold": Reply(busy, exit_code=75)}

    result = run(tmp_path, answers)
    assert result.outcome.status is NodeStatus.BUSY
    assert result.outcome.message == why
    assert result.steps == ["planned", "refused"]
    assert [f.outcome for f in result.outcome.fixes] == ["refused"]
    assert result.node.ran == ["hold"]  # no new connection, no commit, no re-scan
    assert result.outcome.backup_dir == ""  # nothing to roll back
    assert result.exit_code is ExitCode.LOCKED


def test_the_connection_dying_mid_apply_is_failed_and_leaves_it_to_the_timer(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        lambda marker: {"hold": NodeError(ErrorKind.TIMEOUT, "the channel closed")},
    )
    assert result.outcome.status is NodeStatus.FAILED
    assert "rollback timer restores within 30 s" in result.outcome.message
    assert result.steps == ["planned", "failed"]
    assert result.outcome.backup_dir == BACKUP
    assert result.exit_code is ExitCode.REMEDIATION_FAILED


def test_a_node_already_as_wanted_is_unchanged(tmp_path: Path) -> None:
    def answers(marker: str) -> dict[str, Answer]:
        return {
            "hold": Reply(
                events(marker, ("fix", "1", "sshd_option", "unchanged", ""), ("result", "unchanged"))
            )
        }

    result = run(tmp_path, answers)
    assert result.outcome.status is NodeStatus.UNCHANGED
    assert result.steps == ["planned", "unchanged"]
    assert [f.outcome for f in result.outcome.fixes] == ["unchanged"]


def test_a_bastion_side_refusal_is_journalled_and_nothing_runs(tmp_path: Path) -> None:
    """L4: the inventory logs in with a password; turning password logins off is refused
    before any script is rendered, and the finding stays failing (exit 1)."""
    result = run(
        tmp_path,
        lambda marker: {},
        findings=(fail("sshd_password_authentication_disabled", "sshd_option"),),
        node_vars={"ansible_password": "x"},
    )
    assert result.outcome.status is NodeStatus.NOTHING_TO_DO
    assert result.steps == ["refused"]
    assert result.node.ran == []
    assert result.exit_code is ExitCode.FINDINGS


def test_a_fix_the_node_refuses_is_reported_refused(tmp_path: Path) -> None:
    """A node-side guard (L3-L5, L11) refused the only fix: nothing installed, unchanged."""

    def answers(marker: str) -> dict[str, Answer]:
        refused = events(
            marker,
            ("fix", "1", "sshd_option", "refused", "scanner would lose its SSH path (L3)"),
            ("result", "unchanged"),
        )
        return {"hold": Reply(refused)}

    result = run(tmp_path, answers)
    assert result.outcome.status is NodeStatus.UNCHANGED
    assert result.steps == ["planned", "refused", "unchanged"]
    assert [(f.outcome, f.reason) for f in result.outcome.fixes] == [
        ("refused", "scanner would lose its SSH path (L3)")
    ]


def test_declined_at_the_prompt_changes_nothing(tmp_path: Path) -> None:
    result = run(tmp_path, lambda marker: {"plan": Reply()}, confirm=lambda plan, preview: False)
    assert result.outcome.status is NodeStatus.DECLINED
    assert result.steps == ["refused"]
    assert result.node.ran == ["plan"]  # the node's own dry run, for the operator to read


@pytest.mark.parametrize("status", list(NodeStatus))
def test_only_failed_and_rolled_back_fail_a_run(status: NodeStatus) -> None:
    assert status.failed is (status in (NodeStatus.FAILED, NodeStatus.ROLLED_BACK))


def test_production_code_has_no_test_fault_hook() -> None:
    """The crash-after-reload fault hook lives in the test tree only
    (tests/fleet/crash_after_reload.py): no environment variable, file or flag of the
    installed package may make a real run kill itself half-way through a change."""
    package = Path(__file__).parents[2] / "agent"
    hooks = [
        str(path.relative_to(package.parent))
        for path in package.rglob("*")
        if path.is_file()
        and path.suffix in (".py", ".sh", ".j2")
        and re.search(r"NODEWARD_TEST|os\.kill\(os\.getpid\(\)", path.read_text(errors="replace"))
    ]
    assert hooks == []
