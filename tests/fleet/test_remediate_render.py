"""Rendered scripts on real nodes (issue 5, acceptance 3 and 4).

* hostile parameter values (`'; touch /tmp/pwned #`, newlines, `$(...)`) are data: the
  rendered script runs as root inside a node and no file appears, neither on the node
  nor in the /tmp the node shares with this machine;
* `nodeward render --out` scripts, run by hand with `sh` on one node, leave it exactly
  as `scan --remediate` leaves a twin node, and running them again changes nothing.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from agent.remediate.manifest import load_remediations
from agent.remediate.render import FixScript, ScriptOptions, compose
from tests.fleet.harness import Fleet, FleetNode
from tests.fleet.test_remediate import make_site, node_doc, state_of

pytestmark = pytest.mark.fleet

REMEDIATIONS = load_remediations()
FILES = (
    "/etc/ssh/sshd_config",
    "/etc/ssh/sshd_config.d/00-nodeward.conf",
    "/etc/ssh/sshd_config.d/50-cloud-init.conf",
    "/etc/sudoers.d/zz-nodeward-defaults",
)


def run_on(node: FleetNode, script: str, *env: str) -> subprocess.CompletedProcess[bytes]:
    """Copy a script onto the node and run it by hand, as root, with sh (dash)."""
    path = f"/root/nodeward-{uuid.uuid4().hex[:8]}.sh"
    node.exec(["sh", "-c", 'cat > "$1"', "sh", path], input=script.encode())
    return node.exec(["env", *env, "sh", path], check=False)


def effective(node: FleetNode) -> list[str]:
    spec = "user=scanner,host=127.0.0.1,addr=127.0.0.1"
    lines = node.exec(["sshd", "-T", "-C", spec]).stdout.decode().splitlines()
    return [
        line
        for line in lines
        if line.split(" ", 1)[0]
        in ("permitrootlogin", "passwordauthentication", "maxauthtries", "x11forwarding")
    ]


def hostile_fix(manifest_id: str, params: dict[str, object], *, validate: bool = True) -> FixScript:
    """validate=False builds the fix from raw values, as if validation were missing: the
    environment's quoting alone must then keep them inert."""
    manifest = REMEDIATIONS.manifests[manifest_id]
    if validate:
        return FixScript(manifest, manifest.validate_params(params), ())
    defaults = {name: spec.coerce(spec.default) for name, spec in manifest.params.items() if spec.has_default}
    return FixScript(manifest, {**defaults, **params}, ())  # type: ignore[dict-item]


def test_hostile_values_are_literal_data_when_the_script_runs(fleet: Fleet) -> None:
    node = fleet.start("rem_guarded")
    tag = uuid.uuid4().hex[:8]
    bait = [f"/tmp/pwned-{tag}-{n}" for n in range(4)]
    prompt = f"'; touch {bait[0]} # $(touch {bait[1]}) `touch {bait[2]}`"
    valid = compose(
        (hostile_fix("sudoers_defaults", {"setting": "passprompt", "value": prompt}),),
        ScriptOptions(node="n", keep_users=("scanner",)),
    )
    raw = compose(
        (
            hostile_fix(
                "sudoers_defaults",
                {"setting": "passprompt", "value": f"x\n'; touch {bait[3]} #\nroot ALL=(ALL) NOPASSWD: ALL"},
                validate=False,
            ),
        ),
        ScriptOptions(node="n", keep_users=("scanner",)),
    )
    for script in (valid, raw):
        assert subprocess.run(["sh", "-n"], input=script.encode(), check=False).returncode == 0

    applied = run_on(node, valid)
    assert b"\tresult\tapplied\t" in applied.stdout, applied.stdout.decode() + applied.stderr.decode()
    dropin = node.read_file("/etc/sudoers.d/zz-nodeward-defaults").decode()
    assert "passprompt=\"'; touch" in dropin and f"$(touch {bait[1]})" in dropin  # written, never run
    refused = run_on(node, raw)
    out = refused.stdout.decode()
    # The newline made a second sudoers line: visudo -cf rejects the candidate before it
    # is installed anywhere.
    assert (
        refused.returncode != 0
        and "visudo -cf rejects the candidate" in out
        and "unexpected line break" in out
    ), out
    assert "\tinstalled\t" not in out
    assert node.read_file("/etc/sudoers.d/zz-nodeward-defaults").decode() == dropin  # restored
    assert node.exec(["visudo", "-c"], check=False).returncode == 0
    for path in bait:
        assert not Path(path).exists(), path  # the node's /tmp is this machine's
        assert node.exec(["test", "-e", path], check=False).returncode == 1
    assert fleet.ssh(node, "sudo -n true").returncode == 0


def test_render_out_scripts_run_by_hand_match_remediate_and_change_nothing_twice(
    fleet: Fleet, tmp_path: Path
) -> None:
    by_hand, automatic = fleet.start("weak", name="by-hand"), fleet.start("weak", name="automatic")
    checks = ("sshd_*",)
    out = tmp_path / "scripts"
    hand_site = make_site(fleet, [by_hand], tmp_path / "hand")
    code, _stdout, err = hand_site.nodeward("render", "--out", str(out), checks=checks)
    assert code == 0, err[-2000:]
    node_script = (out / "by-hand.sh").read_text()
    per_fix = sorted((out / "by-hand").glob("*.sh"))
    assert per_fix and all(p.stat().st_mode & 0o777 == 0o700 for p in [out / "by-hand.sh", *per_fix])
    assert "What this script CANNOT do on its own: prove that a NEW SSH login" in node_script
    assert (
        state_of(by_hand, FILES)["/etc/ssh/sshd_config.d/00-nodeward.conf"] == "absent"
    )  # render changed nothing

    auto_site = make_site(fleet, [automatic], tmp_path / "auto")
    _, document, err = auto_site.remediate(checks=checks)
    assert node_doc(document, automatic)["remediation"]["status"] == "applied", err[-2000:]

    first = run_on(by_hand, node_script)
    assert b"\tresult\tapplied\t" in first.stdout, first.stdout.decode()[-3000:] + first.stderr.decode()
    assert state_of(by_hand, FILES) == state_of(automatic, FILES)
    assert effective(by_hand) == effective(automatic)
    fixed = state_of(by_hand, FILES)
    again = run_on(by_hand, node_script)
    assert b"\tresult\tunchanged" in again.stdout, again.stdout.decode()
    for script in per_fix:
        alone = run_on(by_hand, script.read_text())
        assert b"\tresult\tunchanged" in alone.stdout, (script.name, alone.stdout.decode())
    assert state_of(by_hand, FILES) == fixed
    assert fleet.ssh(by_hand, "id -un").returncode == 0
