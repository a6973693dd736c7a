"""The MAC fact (AppArmor, SELinux, kernel command line) and its predicates."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from agent.facts import bootargs, mac
from agent.facts.mac import MacState
from agent.facts.model import FactValue, RawSection, Unavailable
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.predicates_mac import mac_framework_enforcing
from agent.rules.verdict import Verdict
from tests.checkrun import run_check

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts" / "mac"


def mac_not_disabled_at_boot(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """The catalogue's check, with its own list of switches."""
    return run_check("mac_not_disabled_at_boot", facts, node)


NODE = Node(name="n1", roles=("worker",))


def load(name: str) -> MacState:
    fact = mac.parse(RawSection("mac", (FIXTURES / name).read_bytes(), b"", 0, False), {})
    assert isinstance(fact, MacState), fact
    return fact


def value(state: MacState, key: str) -> object:
    found = state.lookup(key)
    assert found is not None, key
    return found.value


def test_fleet_node_on_a_kernel_without_any_lsm() -> None:
    state = load("debian12_fleet_no_lsm.out")
    assert not state.apparmor.enabled and state.apparmor.profiles == ()
    assert state.selinux.mode == "disabled" and state.selinux.configured is None
    assert "--firecracker-init" not in state.boot.args  # after `--`: init's, not the kernel's
    assert state.boot_configured is None
    verdict = mac_framework_enforcing({"mac": state}, NODE)
    assert verdict.status is Status.FAIL
    assert (
        verdict.reason
        == "no mandatory access control is enforcing: SELinux is disabled, AppArmor is not enabled"
    )
    assert mac_not_disabled_at_boot({"mac": state}, NODE).status is Status.PASS


def test_ubuntu_apparmor_profiles_modes_and_grub_dropin() -> None:
    state = load("ubuntu2404_apparmor.out")
    assert value(state, "apparmor.enabled") is True
    assert value(state, "apparmor.profiles.count") == 14
    assert value(state, "apparmor.profiles.enforce") == 11
    assert value(state, "apparmor.complain") == ("ubuntu_pro_apt_news", "ubuntu_pro_esm_cache")
    assert value(state, "apparmor.parser_installed") is True
    assert state.boot_configured is not None
    # The cloud image drop-in replaces GRUB_CMDLINE_LINUX_DEFAULT="quiet splash".
    assert state.boot_configured.args == ("console=tty1", "console=ttyS0")
    assert state.boot_configured.source == "/etc/default/grub.d/50-cloudimg-settings.cfg:11"
    verdict = mac_framework_enforcing({"mac": state}, NODE)
    assert verdict.status is Status.PASS and "11 profiles enforcing" in verdict.reason


def test_apparmor_switched_off_by_a_grub_dropin_expanding_the_default() -> None:
    state = load("debian12_apparmor_off_in_grub_dropin.out")
    assert not state.apparmor.enabled and state.apparmor.parser_installed
    assert state.boot_configured is not None and state.boot_configured.args == ("quiet", "apparmor=0")
    verdict = mac_not_disabled_at_boot({"mac": state}, NODE)
    assert verdict.status is Status.FAIL
    assert "apparmor=0 (running, /proc/cmdline)" in verdict.reason
    assert "apparmor=0 (configured, /etc/default/grub.d/90-debug.cfg:1)" in verdict.reason
    assert {e.source for e in verdict.evidence} == {"/proc/cmdline", "/etc/default/grub.d/90-debug.cfg:1"}


def test_rhel_selinux_enforcing_with_config_lines() -> None:
    state = load("rhel9_selinux_enforcing.out")
    mode = state.lookup("selinux.mode")
    assert mode is not None and mode.value == "enforcing" and mode.source == "/sys/fs/selinux/enforce"
    configured = state.lookup("selinux.configured")
    assert configured is not None and configured.value == "enforcing"
    assert configured.source == "/etc/selinux/config:22"
    policy = state.lookup("selinux.policy")
    assert policy is not None and policy.value == "targeted" and policy.source == "/etc/selinux/config:27"
    assert mac_framework_enforcing({"mac": state}, NODE).status is Status.PASS
    assert mac_not_disabled_at_boot({"mac": state}, NODE).status is Status.PASS


def test_selinux_config_read_like_libselinux() -> None:
    # " SELINUX=enforcing" (leading blank) is not a SELINUX= line for libselinux; the first
    # real one wins; SELINUXTYPE= skips blanks and the last one wins.
    state = load("rhel9_selinux_permissive_disabled_config.out")
    assert state.selinux.mode == "permissive"
    assert (state.selinux.configured, state.selinux.configured_source) == (
        "disabled",
        "/etc/selinux/config:3",
    )
    assert (state.selinux.policy, state.selinux.policy_source) == ("minimum", "/etc/selinux/config:6")
    assert mac_not_disabled_at_boot({"mac": state}, NODE).status is Status.FAIL


def test_selinux_off_on_the_command_line_is_disabled_whatever_the_config_says() -> None:
    state = load("rhel9_selinux_disabled_by_kernel.out")
    assert state.selinux.mode == "disabled" and state.selinux.mode_source == "getenforce"
    assert state.selinux.configured == "enforcing"
    verdict = mac_not_disabled_at_boot({"mac": state}, NODE)
    assert verdict.status is Status.FAIL and "selinux=0 (running" in verdict.reason


def test_aa_status_json_when_securityfs_is_not_mounted() -> None:
    text = (
        "@begin aa_enabled\n|Y\n@end aa_enabled 0\n@begin aa_profiles\n@end aa_profiles missing\n"
        '@begin aa_status\n|{"version": "2", "profiles": {"/usr/sbin/chronyd": "enforce", "x": "complain"}}\n'
        "@end aa_status 0\n@begin cmdline\n|ro quiet\n@end cmdline 0\n"
    )
    state = mac.parse(RawSection("mac", text.encode(), b"", 0, False), {})
    assert isinstance(state, MacState)
    assert state.apparmor.profiles == (("/usr/sbin/chronyd", "enforce"), ("x", "complain"))
    assert "aa-status --json" in state.apparmor.source


def test_bootargs_evaluation() -> None:
    files = [
        ("/etc/default/grub", "GRUB_CMDLINE_LINUX=\"a=1 b\"\nGRUB_CMDLINE_LINUX_DEFAULT='$X literal'\n"),
        ("/etc/default/grub.d/x.cfg", 'GRUB_CMDLINE_LINUX="${GRUB_CMDLINE_LINUX} selinux=0" # comment\n'),
    ]
    args = bootargs.configured(files)
    assert args is not None and args.args == ("a=1", "b", "selinux=0", "$X", "literal")
    assert args.value("selinux") == "0" and args.value("b") == "" and args.value("c") is None
    assert bootargs.configured([("/etc/default/grub", "GRUB_TIMEOUT=5\n")]) is None
    assert bootargs.running("a=1 a=2 -- a=3").value("a") == "2"


@pytest.mark.parametrize("text", ["", "@begin cmdline\n@end cmdline missing\n"])
def test_unreadable_cmdline_is_unavailable(text: str) -> None:
    assert isinstance(mac.parse(RawSection("mac", text.encode(), b"", 0, False), {}), Unavailable)


def test_hostile_profiles_never_raise() -> None:
    body = "|" + "A" * 100_000 + " (enforce)\n|no mode here\n|( )\n|x (\x1b[2J)\n"
    text = f"@begin aa_enabled\n|Y\n@end aa_enabled 0\n@begin aa_profiles\n{body}@end aa_profiles 0\n"
    text += "@begin cmdline\n|ro\n@end cmdline 0\n"
    state = mac.parse(RawSection("mac", text.encode(), b"", 0, False), {})
    assert isinstance(state, MacState)
    # The 100 kB line is cut at 4096 characters, so its "(enforce)" never arrives: dropped.
    assert state.apparmor.profiles == (("x", "\x1b[2j"),)
