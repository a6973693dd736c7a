"""The packages fact against captured Debian 12 output and documented RHEL, SUSE, Alpine,
Ubuntu formats (tests/fixtures/facts/packages/README.md says which is which)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.facts.model import Absent, RawSection, Unavailable
from agent.facts.packages import fact as packages
from agent.facts.packages.model import DAY, PackageState
from agent.facts.registry import FACTS
from agent.facts.spec import read_section

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts" / "packages"


def parse_text(text: str, rc: int | None = 0, stderr: bytes = b"", missing_tool: int | None = None) -> object:
    section = RawSection("packages", text.encode(), stderr, rc, truncated=False, missing_tool=missing_tool)
    return read_section(FACTS["packages"], section, {})


def load(name: str) -> PackageState:
    fact = parse_text((FIXTURES / name).read_text())
    assert isinstance(fact, PackageState), fact
    return fact


def test_debian12_fleet_archive_security_update_and_held_plain_update() -> None:
    state = load("debian12_fleet_archive.out")
    assert state.manager == "apt"
    assert [(u.name, u.installed, u.candidate, u.security, u.held) for u in state.updates] == [
        ("nw-demo-plain", "1.0", "1.1", False, True),
        ("nw-demo-sec", "1.0", "1.1", True, False),
    ]
    assert state.updates[1].origins == ("Debian-Security:stable-security",)
    assert [u.name for u in state.security_updates] == ["nw-demo-sec"]
    assert state.held == ("nw-demo-plain",)
    assert {s.suite: s.security for s in state.sources} == {"stable-security": True, "stable": False}
    age, chosen = state.metadata_age()
    assert age == 1 and chosen is not None
    assert chosen.path == "/var/lib/apt/lists/_opt_nodeward-archive_dists_bookworm-security_Release"
    assert state.sources_never_fetched == ()
    assert state.auto is not None and not state.auto.installed and not state.auto.enabled


def test_debian12_host_real_simulation() -> None:
    state = load("debian12_host.out")
    assert len(state.updates) == 135
    assert len(state.security_updates) == 81
    libssl = next(u for u in state.updates if u.name == "libssl3")
    assert libssl.security and libssl.installed == "3.0.19-1~deb12u2"
    assert libssl.origins[-1].startswith("Debian-Security:12/oldstable-security")
    base = next(u for u in state.updates if u.name == "base-files")
    assert not base.security and base.origins == ("Debian:12.15/oldstable",)
    # The stalest security archive dates the metadata (bookworm's own InRelease is months
    # old by design: it only changes at point releases).
    age, chosen = state.metadata_age()
    assert chosen is not None and chosen.suite == "oldstable-security"
    assert age is not None and age < DAY
    assert state.installed == (("kubectl", "1:528.0.0-0"),)


def test_ubuntu_new_kernel_abi_held_kubelet_unattended_upgrades_and_never_fetched_backports() -> None:
    state = load("ubuntu2404_apt.out")
    new_kernel = next(u for u in state.updates if u.name == "linux-image-6.8.0-49-generic")
    assert (
        new_kernel.new_package and new_kernel.security and new_kernel.describe().endswith("new 6.8.0-49.49")
    )
    assert not next(u for u in state.updates if u.name == "tzdata").security
    kubelet = next(u for u in state.updates if u.name == "kubelet")
    assert kubelet.held and not kubelet.security
    assert len(state.security_updates) == 5
    assert state.auto is not None
    assert (
        state.auto.installed,
        state.auto.enabled,
        state.auto.lists_refresh,
        state.auto.security_origin,
    ) == (
        True,
        True,
        True,
        True,
    )
    assert state.sources_never_fetched == ("http://archive.ubuntu.com/ubuntu/dists/noble-backports/",)
    k8s = next(s for s in state.sources if "pkgs.k8s.io" in s.name)
    assert k8s.path.endswith("pkgs.k8s.io_core:_stable:_v1.30_deb_InRelease") and not k8s.security
    assert state.installed == (
        ("kubeadm", "1.30.5-1.1"),
        ("kubectl", "1.30.5-1.1"),
        ("kubelet", "1.30.5-1.1"),
    )
    assert state.held == ("kubectl", "kubelet")


def test_rhel9_exit_100_is_updates_with_advisories_and_obsoletes_ignored() -> None:
    state = load("rhel9_dnf_security.out")
    assert state.manager == "dnf"
    assert [u.name for u in state.updates] == [
        "kernel",
        "openssl",
        "openssl-libs",
        "python3-perf-very-long-package-name-for-wrapping",
    ]
    kernel = state.updates[0]
    assert (kernel.candidate, kernel.advisory, kernel.severity) == (
        "5.14.0-362.18.1.el9_3",
        "RHSA-2024:0897",
        "Important",
    )
    assert state.updates[1].advisory == "RHSA-2024:0310"
    assert all(u.security for u in state.updates)
    assert "grub2-tools" not in {u.name for u in state.updates}
    assert state.metadata_age()[0] == 6 * 3600


def test_rhel9_no_updates_and_missing_cache() -> None:
    current = load("rhel9_dnf_current.out")
    assert current.updates == () and len(current.sources) == 2
    no_cache = load("rhel9_dnf_no_cache.out")
    assert no_cache.updates == () and no_cache.sources_never_fetched == ("dnf metadata cache",)


def test_rhel_exit_100_without_readable_lines_is_unavailable_never_a_pass() -> None:
    text = "@begin manager\n|dnf\n@end manager 0\n@begin rpm_check\n|\x1b[31mgarbage\n@end rpm_check 100\n"
    fact = parse_text(text)
    assert isinstance(fact, Unavailable) and "exit 100" in fact.reason
    broken = parse_text(
        "@begin manager\n|dnf\n@end manager 0\n"
        "@begin rpm_check\n!Error: Failed to download\n@end rpm_check 1\n"
    )
    assert isinstance(broken, Unavailable) and "Failed to download" in broken.reason


def test_fedora_dnf5_advisory_table() -> None:
    state = load("fedora40_dnf5_security.out")
    assert [(u.name, u.advisory, u.severity) for u in state.updates] == [
        ("curl", "FEDORA-2024-1a2b3c4d5e", "Moderate")
    ]


def test_sles_security_patches_exit_101_and_stale_cache() -> None:
    state = load("sles15_zypper_security.out")
    assert [(u.name, u.severity) for u in state.updates] == [
        ("SUSE-SLE-Module-Basesystem-15-SP5-2023-4375", "important"),
        ("SUSE-SLE-Module-Basesystem-15-SP5-2024-102", "moderate"),
    ]
    assert state.updates[0].origins == ("SLE-Module-Basesystem15-SP5-Updates",)
    stale = load("sles15_zypper_current_stale.out")
    assert stale.updates == () and stale.metadata_age()[0] == 40 * DAY
    locked = parse_text(
        "@begin manager\n|zypper\n@end manager 0\n"
        "@begin zypper_patches\n!System management is locked\n@end zypper_patches 7\n"
    )
    assert isinstance(locked, Unavailable) and "exit 7" in locked.reason


def test_alpine_cannot_classify_so_every_update_counts() -> None:
    state = load("alpine319_apk.out")
    assert not state.classified
    assert [(u.name, u.installed, u.candidate) for u in state.updates] == [
        ("busybox", "1.36.1-r15", "1.36.1-r19"),
        ("libcrypto3", "3.1.4-r5", "3.1.7-r1"),
        ("py3-setuptools", "68.2.2-r0", "70.3.0-r0"),
    ]
    assert len(state.security_updates) == 3


def test_lookup_values_and_sources() -> None:
    state = load("debian12_fleet_archive.out")
    count = state.lookup("updates.security.count")
    assert count is not None and count.value == 1 and "apt-get -s" in count.source
    listed = state.lookup("updates.security")
    assert listed is not None and listed.value == ("nw-demo-sec 1.0 -> 1.1",)
    auto = state.lookup("auto.enabled")
    assert auto is not None and auto.value is False and "apt-config dump" in auto.source
    assert state.lookup("no.such.key") is None


def test_credentials_in_source_uris_are_cut() -> None:
    text = (
        (FIXTURES / "debian12_fleet_archive.out")
        .read_text()
        .replace(
            "|file:/opt/nodeward-archive/dists/bookworm/|",
            "|https://deploy:s3cret@apt.example.com/dists/bookworm/|",
            1,
        )
    )
    state = parse_text(text)
    assert isinstance(state, PackageState)
    assert all("s3cret" not in s.name for s in state.sources)
    assert any(s.name == "https://apt.example.com/dists/bookworm/" for s in state.sources)


def test_not_installed_failed_and_cut_off_sections() -> None:
    assert parse_text("", rc=127, missing_tool=0) == Absent(
        "none of apt-get, dnf, yum, zypper, apk is installed"
    )
    assert isinstance(parse_text("", rc=2), Unavailable)
    cut = (FIXTURES / "debian12_fleet_archive.out").read_text().split("@end apt_simulate")[0]
    fact = parse_text(cut)
    assert isinstance(fact, Unavailable) and "cut off" in fact.reason


def test_hostile_simulation_output_is_bounded_and_never_raises() -> None:
    hostile = "\n".join(
        [
            "@begin manager", "|apt", "@end manager 0", "@begin apt_simulate",
            "|Inst " + "x" * 100_000 + " [1] (2 Debian-Security:12/stable-security [amd64])",
            "|Inst \x1b[2Jevil [1] (2 a-security [amd64])",
            "|Inst broken (",
            "@end apt_simulate 0",
        ]
    )  # fmt: skip
    state = parse_text(hostile)
    assert isinstance(state, PackageState)
    assert [u.name for u in state.updates] == ["\x1b[2Jevil"]  # the 100 kB name does not match


def test_every_snippet_is_read_only() -> None:
    # Never refresh metadata or change packages during a scan (issue 3, DESIGN rule):
    # every package-manager call goes through a wrapper, with read-only subcommands only.
    script = packages.SCRIPT
    assert set(re.findall(r"\bnw_apt\s+(\S+)", script)) == {"-s", "indextargets"}
    assert set(re.findall(r"\bnw_dnf\s+(\S+)", script)) == {"check-update", "updateinfo"}
    assert set(re.findall(r"\bnw_zypper\s+(\S+)", script)) == {"list-patches"}
    assert re.findall(r"\bapk\s+(--.*)", script) == ["--no-network version -l '<'"]
    # The raw tools appear only inside the wrappers, with their no-write options.
    assert {m.split()[1] for m in re.findall(r"apt-get\s+[^>\s]\S*", script)} == {"-o"}
    assert "Debug::NoLocking=1" in script and 'Dir::Cache::pkgcache="$NW_TMP/apt/pkgcache.bin"' in script
    assert re.findall(r'(?:then|else) "\$nw_pm"\s+(\S+ \S+)', script) == ["-q -C", "-q -C"]  # cache only
    assert "-q -C" in script and 'zypper --non-interactive --no-refresh "$@"' in script


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.out")))
def test_every_golden_parses(name: str) -> None:
    assert isinstance(load(name), PackageState)
