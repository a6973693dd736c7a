"""Patch-level predicates: when a node passes, fails, or only gets a WARN."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from agent.facts import kernel, system
from agent.facts.model import FactValue, RawSection
from agent.facts.packages import fact as packages
from agent.facts.packages.model import DAY, IndexSource, PackageState
from agent.findings import Status
from agent.inventory.model import Node
from agent.rules.predicates import FAMILIES, PREDICATES
from agent.rules.predicates_packages import kernel_running_newest, reboot_not_required
from agent.rules.verdict import Verdict
from tests.checkrun import run_check

FACTS = Path(__file__).parent.parent / "fixtures" / "facts"
NODE = Node(name="n1", roles=("worker",))
NOW = 1795400000


def security_updates_applied(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    """The catalogue's check, with its own max_metadata_age_days."""
    return run_check("packages_security_updates_applied", facts, node)


def kubernetes_packages_held(facts: Mapping[str, FactValue], node: Node) -> Verdict:
    return run_check("packages_kubernetes_components_held", facts, node)


def packages_fact(name: str) -> PackageState:
    fact = packages.parse(RawSection("packages", (FACTS / "packages" / name).read_bytes(), b"", 0, False), {})
    assert isinstance(fact, PackageState)
    return fact


def kernel_facts(name: str, os_release: str = "debian12.out") -> dict[str, FactValue]:
    return {
        "kernel": kernel.parse(
            RawSection("kernel", (FACTS / "kernel" / name).read_bytes(), b"", 0, False), {}
        ),
        "system": system.parse(
            RawSection("system", (FACTS / "system" / os_release).read_bytes(), b"", 0, False), {}
        ),
    }


def test_registered_in_the_shared_registry() -> None:
    for name in ("kernel_running_newest", "reboot_not_required", "auditd_running"):
        assert name in PREDICATES
    for name in ("security_updates", "packages_held", "audit_files_protected"):
        assert name in FAMILIES


def test_pending_security_update_fails_with_names_and_both_evidence_lines() -> None:
    verdict = security_updates_applied({"packages": packages_fact("debian12_fleet_archive.out")}, NODE)
    assert verdict.status is Status.FAIL
    assert verdict.reason == "1 security update(s) pending: nw-demo-sec 1.0 -> 1.1"
    updates, metadata = verdict.evidence
    assert updates.observed == "1 pending: nw-demo-sec 1.0 -> 1.1" and updates.source.startswith("apt-get -s")
    assert metadata.observed.startswith("package metadata refreshed") and metadata.source.endswith(
        "_Release)"
    )


def test_nothing_pending_with_fresh_metadata_passes() -> None:
    state = dataclasses.replace(packages_fact("debian12_fleet_archive.out"), updates=())
    verdict = security_updates_applied({"packages": state}, NODE)
    assert verdict.status is Status.PASS and "refreshed" in verdict.reason


def test_nothing_pending_from_stale_metadata_is_a_warn_never_a_pass() -> None:
    state = packages_fact("sles15_zypper_current_stale.out")
    verdict = security_updates_applied({"packages": state}, NODE)
    assert verdict.status is Status.WARN
    assert "cannot be trusted" in verdict.reason and "40 days ago" in verdict.reason


def test_stale_security_archive_counts_even_when_another_archive_is_fresh() -> None:
    fresh = IndexSource(
        "http://deb/debian/dists/bookworm/", suite="stable", mtime=NOW - 3600, path="a_Release"
    )
    stale = IndexSource(
        "http://deb/debian-security/dists/bookworm-security/", suite="stable-security", security=True,
        mtime=NOW - 9 * DAY, path="b_InRelease",
    )  # fmt: skip
    state = PackageState("apt", (), "apt-get -s", sources=(fresh, stale), now=NOW, metadata_source="stat")
    verdict = security_updates_applied({"packages": state}, NODE)
    assert verdict.status is Status.WARN and "9 days ago" in verdict.reason
    assert verdict.evidence[1].source == "stat (b_InRelease)"


def test_apt_without_a_security_archive_or_never_fetched_sources_warns() -> None:
    plain = IndexSource(
        "http://deb/debian/dists/bookworm/", suite="stable", mtime=NOW - 3600, path="a_Release"
    )
    state = PackageState("apt", (), "apt-get -s", sources=(plain,), now=NOW, metadata_source="stat")
    verdict = security_updates_applied({"packages": state}, NODE)
    assert verdict.status is Status.WARN and "no security archive" in verdict.reason
    empty = PackageState("apt", (), "apt-get -s", now=NOW, metadata_source="stat")
    assert "no repository metadata" in security_updates_applied({"packages": empty}, NODE).reason
    never = packages_fact("rhel9_dnf_no_cache.out")
    verdict = security_updates_applied({"packages": never}, NODE)
    assert verdict.status is Status.WARN and "never downloaded" in verdict.reason


def test_apk_counts_every_update_and_says_why() -> None:
    verdict = security_updates_applied({"packages": packages_fact("alpine319_apk.out")}, NODE)
    assert verdict.status is Status.FAIL
    assert verdict.reason.startswith("3 security update(s) pending (apk cannot tell security updates apart")


def test_rhel_advisories_appear_in_the_reason() -> None:
    verdict = security_updates_applied({"packages": packages_fact("rhel9_dnf_security.out")}, NODE)
    assert (
        verdict.status is Status.FAIL and "kernel -> 5.14.0-362.18.1.el9_3 [RHSA-2024:0897]" in verdict.reason
    )


def test_kubernetes_packages_held() -> None:
    ubuntu = packages_fact("ubuntu2404_apt.out")
    verdict = kubernetes_packages_held({"packages": ubuntu}, NODE)
    assert verdict.status is Status.FAIL and verdict.reason.startswith("kubeadm not on hold")
    assert verdict.evidence[0].observed == "held: kubectl, kubelet; not held: kubeadm"
    all_held = dataclasses.replace(ubuntu, held=("kubeadm", "kubectl", "kubelet"))
    assert kubernetes_packages_held({"packages": all_held}, NODE).status is Status.PASS
    none = dataclasses.replace(ubuntu, installed=())
    assert kubernetes_packages_held({"packages": none}, NODE).status is Status.NOT_APPLICABLE
    rhel = packages_fact("rhel9_dnf_security.out")
    assert kubernetes_packages_held({"packages": rhel}, NODE).status is Status.NOT_APPLICABLE


def test_kernel_running_newest() -> None:
    newer = kernel_running_newest(kernel_facts("debian12_fleet_newer_installed.out"), NODE)
    assert newer.status is Status.FAIL and "99.1.0-1-amd64 is installed" in newer.reason
    assert newer.evidence[0].expected == "running the newest installed kernel, 99.1.0-1-amd64"
    build = kernel_running_newest(kernel_facts("debian12_same_abi_newer_build.out"), NODE)
    assert build.status is Status.FAIL and build.evidence[0].expected.endswith(
        "6.1.0-21-amd64 build 6.1.94-1"
    )
    assert kernel_running_newest(kernel_facts("debian12_current.out"), NODE).status is Status.PASS
    outside = kernel_running_newest(kernel_facts("debian12_fleet_no_kernel_package.out"), NODE)
    assert outside.status is Status.NOT_APPLICABLE and "outside the node" in outside.reason


def test_reboot_signals_per_family() -> None:
    flagged = reboot_not_required(kernel_facts("ubuntu2404_reboot_required.out", "ubuntu2404.out"), NODE)
    assert flagged.status is Status.FAIL and "linux-image-6.8.0-49-generic" in flagged.reason
    debian = reboot_not_required(kernel_facts("debian12_current.out"), NODE)
    assert debian.status is Status.PASS and "/var/run/reboot-required is absent" in debian.reason
    rhel = reboot_not_required(kernel_facts("rhel9_needs_restarting.out", "rhel9.out"), NODE)
    assert rhel.status is Status.FAIL and "kernel, openssl-libs" in rhel.reason
    assert reboot_not_required(kernel_facts("rhel9_current.out", "rhel9.out"), NODE).status is Status.PASS
    unknown = reboot_not_required(kernel_facts("rhel9_needs_restarting_missing.out", "rhel9.out"), NODE)
    assert unknown.status is Status.WARN and "cannot tell" in unknown.reason
    suse = reboot_not_required(kernel_facts("sles15_boot.out", "sles15.out"), NODE)
    assert suse.status is Status.FAIL and "/run/reboot-needed" in suse.reason


def test_wrong_fact_types_are_errors() -> None:
    assert security_updates_applied({}, NODE).status is Status.ERROR
    assert kernel_running_newest({}, NODE).status is Status.ERROR
