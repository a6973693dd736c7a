"""The kernel fact: installed versus running kernels and reboot signals."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.facts import kernel
from agent.facts.kernel import KernelState
from agent.facts.model import RawSection, Unavailable

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts" / "kernel"


def load(name: str) -> KernelState:
    fact = kernel.parse(RawSection("kernel", (FIXTURES / name).read_bytes(), b"", 0, False), {})
    assert isinstance(fact, KernelState), fact
    return fact


def test_fleet_node_with_a_newer_kernel_package_installed() -> None:
    state = load("debian12_fleet_newer_installed.out")
    assert state.running == "6.18.44-fc-v669" and state.scheme == "dpkg"
    assert [k.release for k in state.installed] == ["99.1.0-1-amd64"]
    behind = state.newer_than_running()
    assert (
        behind is not None and behind[1] == "kernel 99.1.0-1-amd64 is installed, 6.18.44-fc-v669 is running"
    )
    assert state.signals == ()


def test_fleet_node_without_kernel_packages_has_nothing_installed() -> None:
    state = load("debian12_fleet_no_kernel_package.out")
    assert state.installed == () and state.newest is None and state.newer_than_running() is None


def test_debian_current_ignores_meta_and_removed_packages_and_orders_numerically() -> None:
    state = load("debian12_current.out")
    assert [k.release for k in state.installed] == ["6.1.0-18-amd64", "6.1.0-21-amd64"]
    assert (
        state.newest is not None and state.newest.release == "6.1.0-21-amd64"
    )  # not "6.1.0-18" by string order
    assert state.running_build == "6.1.90-1"
    assert state.newer_than_running() is None


def test_debian_same_release_newer_build_needs_a_reboot() -> None:
    state = load("debian12_same_abi_newer_build.out")
    behind = state.newer_than_running()
    assert behind is not None
    assert behind[1] == "6.1.0-21-amd64 build 6.1.94-1 is installed, build 6.1.90-1 is running"


def test_ubuntu_reboot_flag_and_pkgs() -> None:
    state = load("ubuntu2404_reboot_required.out")
    assert [k.release for k in state.installed] == ["6.8.0-48-generic", "6.8.0-49-generic", "6.8.0-9-generic"]
    assert state.newest is not None and state.newest.release == "6.8.0-49-generic"
    (flag,) = state.signals
    assert flag.required is True and flag.source == "/var/run/reboot-required"
    assert flag.detail == "linux-base, linux-image-6.8.0-49-generic"


def test_rhel_rpm_kernels_and_needs_restarting() -> None:
    state = load("rhel9_needs_restarting.out")
    assert state.scheme == "rpm"
    assert [k.release for k in state.installed] == [
        "5.14.0-362.8.1.el9_3.x86_64",
        "5.14.0-362.18.1.el9_3.x86_64",
    ]
    behind = state.newer_than_running()
    assert behind is not None and behind[0].release == "5.14.0-362.18.1.el9_3.x86_64"
    (signal,) = state.signals
    assert signal.required is True and signal.detail == "kernel, openssl-libs"
    current = load("rhel9_current.out")
    assert current.newer_than_running() is None
    assert [s.required for s in current.signals] == [False]


def test_needs_restarting_exit_1_without_its_message_is_unknown_not_reboot() -> None:
    # dnf exits 1 for "No such command" too: only the documented sentences count.
    state = load("rhel9_needs_restarting_missing.out")
    (signal,) = state.signals
    assert signal.required is None and "No such command" in signal.detail


def test_suse_kernels_from_boot_and_both_reboot_signals() -> None:
    state = load("sles15_boot.out")
    assert [k.release for k in state.installed] == [
        "5.14.21-150500.55.39-default",
        "5.14.21-150500.55.44-default",
    ]
    assert state.installed[0].source == "ls /boot"
    assert {s.source: s.required for s in state.signals} == {
        "/run/reboot-needed": True,
        "zypper needs-rebooting": True,
    }


def test_lookup() -> None:
    state = load("debian12_current.out")
    running = state.lookup("running")
    assert running is not None and running.value == "6.1.0-21-amd64" and running.source == "uname -r"
    count = state.lookup("installed.count")
    assert count is not None and count.value == 2 and "dpkg-query" in count.source
    assert state.lookup("nope") is None


@pytest.mark.parametrize(
    ("text", "rc"),
    [("", 0), ("@begin running\n|not a release!\n@end running 0\n", 0), ("", 1)],
)
def test_unreadable_uname_or_failed_snippet_is_unavailable(text: str, rc: int) -> None:
    assert isinstance(kernel.parse(RawSection("kernel", text.encode(), b"", rc, False), {}), Unavailable)
