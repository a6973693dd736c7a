"""sudo on real nodes: the policy parser and privilege inventory against sudo itself.

Two halves:

* Differential tests (issue 3, acceptance 2). Hypothesis generates whole policies
  (tests/unit/test_sudoers_properties.py: aliases of all four kinds, continuations,
  Defaults in every scope, negation, includes, files sudo must skip). Each one is written
  into a fleet node's private /etc, the real gather script collects it, and our verdicts
  are held against the real programs: the syntax verdict against `visudo -c`, and for
  every (user, runas user, command) probe whether it is allowed against `sudo -l -U`,
  and whether it needs a password against `sudo -n` run as that user.
* Scans of purpose-built nodes (acceptance 3-5): aliases with continuations, a
  `Defaults:%group !authenticate`, a sudoers.d file with a dot in its name, a world-writable
  sudoers.d file, a hardened node, and a node where the scan account has no sudo.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agent.facts.model import RawSection
from agent.facts.sudoers import fact as sudoers
from tests.fleet.harness import Fleet, FleetKeys, FleetNode, load_spec
from tests.fleet.scanutil import Target, ansible_inventory, nodes_by_name, scan_json, statuses
from tests.unit.test_sudoers_properties import Generated, World, policies

pytestmark = pytest.mark.fleet

_WRITE = r"""
set -eu
rm -rf /etc/sudoers.d /etc/sudoers.local /etc/sudoers."$(uname -n)"
mkdir -m 0750 /etc/sudoers.d
while IFS=' ' read -r path data; do
  printf '%s' "$data" | base64 -d > "$path"
  chown root:root "$path"
  chmod 0440 "$path"
done
"""

# For every "user target command..." line on stdin: what root's `sudo -l -U` says, and what
# `sudo -n` run by that user does (runs it, wants a password, or refuses), one user per
# background job (each result is one short write, so lines never interleave). Then
# whether -l lists anything for each user.
_PROBE = r"""
set -f
all=$(cat)
for u in "$@"; do
  printf '%s\n' "$all" | grep "^$u " | while read -r u t c; do
    if sudo -l -U "$u" -u "$t" $c >/dev/null 2>&1; then l=allow; else l=deny; fi
    if err=$(runuser -u "$u" -- sudo -n -u "$t" $c 2>&1 >/dev/null </dev/null); then r=ok
    else
      case "$err" in
        *"password is required"*) r=passwd ;;
        *"not allowed to execute"*|*"not allowed to run"*|*"not in the sudoers file"*) r=denied ;;
        *) r="error:$(printf '%s' "$err" | tr '\n ' '__')" ;;
      esac
    fi
    echo "R $u $t $l $r $c"
  done &
done
wait
for u in "$@"; do
  if sudo -l -U "$u" 2>/dev/null | grep -q 'is not allowed to run sudo'; then echo "L $u no"
  else echo "L $u yes"; fi
done
"""


Probe = tuple[str, str, str]  # user, runas user, command line


@dataclass
class Oracle:
    node: FleetNode
    world: World

    def gather(self) -> sudoers.SudoersFact:
        proc = self.node.exec(["env", "NW_USER=scanner", "NW_TMP=", "/bin/sh", "-c", sudoers.SCRIPT])
        section = RawSection("sudoers", proc.stdout, proc.stderr, proc.returncode, False)
        fact = sudoers.parse(section, {"user": "scanner"})
        assert isinstance(fact, sudoers.SudoersFact), fact
        return fact

    def install(self, generated: Generated) -> sudoers.SudoersFact:
        lines = "".join(f"{p} {base64.b64encode(t.encode()).decode()}\n" for p, t in generated.files.items())
        self.node.exec(["/bin/sh", "-c", _WRITE], input=lines.encode())
        return self.gather()

    def probe(self, probes: list[Probe]) -> tuple[dict[Probe, tuple[str, str]], dict[str, bool]]:
        """For each probe: (root's sudo -l -U verdict, the user's own sudo -n outcome)."""
        stdin = "".join(f"{u} {t} {c}\n" for u, t, c in probes).encode()
        proc = self.node.exec(["/bin/sh", "-c", _PROBE, "probe", *self.world.users], input=stdin)
        results: dict[Probe, tuple[str, str]] = {}
        listed: dict[str, bool] = {}
        for line in proc.stdout.decode().splitlines():
            if line.startswith("R "):
                _, user, target, listing, outcome, command = line.split(" ", 5)
                assert not outcome.startswith("error"), line
                results[(user, target, command)] = (listing, outcome)
            elif line.startswith("L "):
                _, user, answer = line.split()
                listed[user] = answer == "yes"
        return results, listed


def _world(node: FleetNode) -> World:
    def ids(database: str, names: list[str]) -> dict[str, int]:
        out = node.exec(["getent", database, *names]).stdout.decode()
        return {row.split(":")[0]: int(row.split(":")[2]) for row in out.splitlines()}

    addresses = (
        node.exec(["sh", "-c", "ip -o -4 addr show scope global | awk '{print $4}'"]).stdout.decode().split()
    )
    address = network = None
    if addresses:
        import ipaddress

        interface = ipaddress.ip_interface(addresses[0])
        address, network = str(interface.ip), str(interface.network)
    return World(
        users=("alice", "bob", "carol"),
        uids=ids("passwd", ["alice", "bob", "carol"]),
        groups={"devs": ("alice", "bob"), "ops": ("carol",), "admins": ("alice",)},
        gids=ids("group", ["devs", "ops", "admins"]),
        hostname=node.hostname,
        address=address,
        network=network,
    )


@pytest.fixture(scope="module")
def oracle(fleet_keys: FleetKeys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    """One node for every generated policy: sudo is the oracle, the node's /etc its sandbox."""
    with Fleet(tmp_path_factory.mktemp("sudo-oracle"), fleet_keys) as fleet:
        node = fleet.start(load_spec("sudo_oracle"), name="oracle")
        yield Oracle(node, _world(node))


_PROBE_COMMANDS = ("/usr/bin/id", "/usr/bin/true", "/usr/bin/whoami", "/usr/bin/id -u", "/usr/bin/true x")

# The same world for drawing: the real one only exists once the node is up, so the test
# draws with st.data() from a strategy built inside it.


_HYPOTHESIS = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
}


@settings(max_examples=40, **_HYPOTHESIS)  # type: ignore[arg-type]
@given(data=st.data())
def test_syntax_verdict_agrees_with_visudo(oracle: Oracle, data: st.DataObject) -> None:
    generated = data.draw(policies(oracle.world))
    fact = oracle.install(generated)
    shown = generated.render()
    assert fact.visudo is not None
    visudo_ok = fact.visudo.exit_code == 0
    assert (not fact.policy.errors) == visudo_ok, (fact.policy.errors, fact.visudo, shown)
    assert visudo_ok == (generated.broken is None), (generated.broken, fact.visudo, shown)
    ignored = {i.path for i in fact.policy.ignored}
    assert {"/etc/sudoers.d/x.conf", "/etc/sudoers.d/30-gen~"} <= ignored
    event(f"visudo {'accepts' if visudo_ok else 'rejects: ' + str(generated.broken)}")


@settings(max_examples=40, **_HYPOTHESIS)  # type: ignore[arg-type]
@given(data=st.data())
def test_privileges_agree_with_sudo(oracle: Oracle, data: st.DataObject) -> None:
    generated = data.draw(policies(oracle.world, allow_broken=False))
    fact = oracle.install(generated)
    shown = generated.render()
    assert fact.visudo is not None and fact.visudo.exit_code == 0, (fact.visudo, shown)
    evaluator = fact.evaluator()
    probes = [(u, t, c) for u in oracle.world.users for t in ("root", "daemon") for c in _PROBE_COMMANDS]
    results, listed = oracle.probe(probes)
    root = fact.person("root")
    for user, target, command in probes:
        path, _, args = command.partition(" ")
        who, runas, probe = fact.person(user), fact.person(target), sudoers.Probe(path, args)
        listing, outcome = results[(user, target, command)]
        as_listed = evaluator.decide(who, runas, probe, invoker=root)
        assert as_listed.allowed == (listing == "allow"), (user, target, command, as_listed.why, shown)
        real = evaluator.decide(who, runas, probe)
        if real.allowed:
            assert outcome == ("passwd" if real.needs_password else "ok"), (
                user,
                target,
                command,
                real.why,
                shown,
            )
        else:
            # sudo authenticates before it refuses, so a refusal may look like a password prompt
            assert outcome in ("passwd", "denied"), (user, target, command, real.why, shown)
        event(f"probe {outcome}")
    for user in oracle.world.users:
        assert evaluator.may_list(fact.person(user)) == listed[user], (user, shown)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_global_defaults_agree_with_sudo_v(oracle: Oracle, data: st.DataObject) -> None:
    """`sudo -V` run by root prints the Defaults in force for root running a command as
    the runas_default user: the values the checks judge must be the same."""
    generated = data.draw(policies(oracle.world, allow_broken=False))
    fact = oracle.install(generated)
    version = oracle.node.exec(["sudo", "-V"]).stdout.decode()
    evaluator = fact.evaluator()
    root = fact.person("root")
    target = fact.person(str(evaluator.setting("runas_default", root).value))
    shown = generated.render()

    def ours(name: str) -> object:
        return evaluator.setting(name, root, target).value

    assert ours("use_pty") == ("Always run commands in a pseudo-tty" in version), shown
    assert ours("authenticate") == ("Require users to authenticate by default" in version), shown
    found = re.search(r"^Authentication timestamp timeout: (-?[0-9.]+) minutes", version, re.M)
    assert found is not None and float(found.group(1)) == ours("timestamp_timeout"), shown
    logfile = re.search(r"^Path to log file: (.*)$", version, re.M)
    assert ours("logfile") == (logfile.group(1) if logfile else None), shown


def test_collected_paths_follow_relative_and_host_includes(oracle: Oracle) -> None:
    generated = Generated(
        {
            "/etc/sudoers": "root ALL=(ALL:ALL) ALL\n@include sudoers.local\n@include /etc/sudoers.%h\n"
            "#includedir /etc/sudoers.d\n",
            "/etc/sudoers.local": "alice ALL = (root) NOPASSWD: /usr/bin/id\n",
            f"/etc/sudoers.{oracle.world.hostname}": "bob ALL = (root) /usr/bin/true\n",
            "/etc/sudoers.d/10-x": "carol ALL = (daemon) NOPASSWD: ALL\n",
            "/etc/sudoers.d/x.conf": "carol ALL = (ALL) NOPASSWD: ALL\n",
        },
        None,
    )
    fact = oracle.install(generated)
    assert fact.policy.read == (
        "/etc/sudoers",
        "/etc/sudoers.local",
        f"/etc/sudoers.{oracle.world.hostname}",
        "/etc/sudoers.d/10-x",
    )
    assert [(i.path, i.rules) for i in fact.policy.ignored] == [("/etc/sudoers.d/x.conf", 1)]
    assert fact.visudo is not None and fact.visudo.exit_code == 0
    assert fact.visudo.parsed_ok == fact.policy.read


# --------------------------------------------------------------------------- scans of real nodes

_MINE = ("--check", "sudo_*", "--check", "accounts_*")


def _scan(
    fleet: Fleet, keys: FleetKeys, tmp_path: Path, *nodes: tuple[FleetNode, dict[str, object]]
) -> dict[str, Any]:
    targets = [Target(node.name, node.address, node.port, extra) for node, extra in nodes]
    inventory = ansible_inventory(tmp_path / "inv.yaml", targets, keys.bastion)
    known = fleet.known_hosts([node for node, _ in nodes], tmp_path / "known_hosts")
    _, document, stderr = scan_json(inventory, tmp_path / "home", known, *_MINE)
    return {name: result for name, result in nodes_by_name(document).items()} | {"_stderr": stderr}


def _finding(node: dict[str, Any], check: str) -> dict[str, Any]:
    found = next(f for f in node["findings"] if f["check_id"] == check)
    assert isinstance(found, dict)
    return found


def test_weak_sudo_node_findings_name_the_rules_sudo_applies(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    node = fleet.start("sudo_weak", name="sudoweak")
    result = _scan(fleet, fleet_keys, tmp_path, (node, {}))["sudoweak"]
    assert result["error"] is None, result["error"]
    status = statuses(result)

    # the alias defined over a continuation line resolves to both of its members
    grants = _finding(result, "sudo_root_grants_approved")
    assert status["sudo_root_grants_approved"] == "fail"
    assert "alice can run any command as root (/etc/sudoers.d/10-ops:5)" in grants["reason"]
    assert "bob can run any command as root (/etc/sudoers.d/10-ops:5)" in grants["reason"]
    # Defaults:%ops !authenticate: passwordless without any NOPASSWD tag, named with its line
    auth = _finding(result, "sudo_authentication_not_disabled")
    assert (
        auth["status"] == "fail" and "%ops (members: alice, bob) (/etc/sudoers.d/10-ops:4)" in auth["reason"]
    )
    # ...which the node's own sudo confirms
    assert (
        node.exec(["runuser", "-u", "alice", "--", "sudo", "-n", "/usr/bin/true"], check=False).returncode
        == 0
    )
    # the dotted drop-in and the world-writable one grant carol nothing, and are reported
    ignored = _finding(result, "sudo_no_ignored_include_files")
    assert ignored["status"] == "fail"
    assert "50-admins.conf: sudo skips names that contain '.'" in ignored["reason"]
    assert "60-open: world writable" in ignored["reason"]
    listing = node.exec(["sudo", "-l", "-U", "carol"], check=False).stdout.decode()
    assert "is not allowed to run sudo" in listing
    assert "carol" not in _finding(result, "sudo_nopasswd_not_used")["reason"]
    modes = _finding(result, "sudo_include_permissions")
    assert modes["status"] == "fail" and "/etc/sudoers.d/60-open: mode 0666" in modes["reason"]
    # the scan account's own rule is reported, with the way to allow-list it
    nopasswd = _finding(result, "sudo_nopasswd_not_used")
    assert nopasswd["status"] == "fail" and "sudo_nopasswd_allowed" in nopasswd["reason"]
    # every FAIL carries evidence; rule findings point at file:line
    for finding in result["findings"]:
        if finding["status"] != "fail":
            continue
        assert finding["evidence"], finding["check_id"]
        for item in finding["evidence"]:
            assert item["observed"] and item["expected"] and item["source"], finding["check_id"]
    for check in ("sudo_root_grants_approved", "sudo_authentication_not_disabled", "sudo_nopasswd_not_used"):
        assert all(
            re.search(r"^/etc/sudoers\S*:\d+$", e["source"]) for e in _finding(result, check)["evidence"]
        )


def test_hardened_node_passes_every_sudo_and_accounts_check(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    node = fleet.start("sudo_hardened", name="sudohard")
    allow: dict[str, object] = {"sudo_nopasswd_allowed": ["scanner"]}
    result = _scan(fleet, fleet_keys, tmp_path, (node, allow))["sudohard"]
    assert result["error"] is None, result["error"]
    status = statuses(result)
    assert len(status) == 26  # sudo_include_permissions and sudo_include_modes_strict (issue 10)
    bad = {check: _finding(result, check)["reason"] for check, verdict in status.items() if verdict != "pass"}
    assert bad == {}
    assert "only allow-listed accounts" in _finding(result, "sudo_nopasswd_not_used")["reason"]


def test_without_sudo_for_the_scan_account_nothing_passes(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    node = fleet.start("nosudo", name="nosudo")
    result = _scan(fleet, fleet_keys, tmp_path, (node, {}))["nosudo"]
    # The whole node is an error of kind sudo: no finding at all, so certainly no PASS
    # for a check that needs root (sudoers is 0440, /etc/shadow 0640).
    assert result["error"]["kind"] == "sudo", result["error"]
    assert result["findings"] == []
    assert "pass" not in statuses(result).values()
