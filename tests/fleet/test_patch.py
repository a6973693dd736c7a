"""Patch level, kernel and audit on a real node (issue 3 acceptance: "pending security
updates from a fake archive; newer kernel installed than running").

The node (nodes/patch_outdated.yaml) has no APT sources of its own. The test builds a
tiny local archive with dpkg-deb and hand-written Packages/Release files: a security
suite (Label Debian-Security, Suite stable-security) offering nw-demo-sec 1.1 and a
plain suite offering nw-demo-plain 1.1; the node gets the 1.0 packages with `dpkg -i`
and its package lists from `apt-get update` run INSIDE the node during setup (the
node's /var is a private overlay; the scan itself never runs it).

The newer kernel is a real package, not a stub: an empty .deb named
linux-image-99.1.0-1-amd64 installed into the node's own dpkg database, so the real
`dpkg-query` in the real snippet lists it and the real parser orders it against the
running `uname -r` (this machine's kernel, which no package on the node provides).

Only tools every Debian has are needed (dpkg-deb, apt-get); Python writes and hashes
the index files, so apt-utils (apt-ftparchive) is not required.
"""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import time
from pathlib import Path

from tests.fleet.harness import Fleet, FleetKeys, FleetNode
from tests.fleet.scanutil import Target, ansible_inventory, nodes_by_name, scan_json, statuses

ARCHIVE = "/opt/nodeward-archive"
SOURCES = "/etc/apt/sources.list.d/nodeward-test.list"
FAKE_KERNEL = "linux-image-99.1.0-1-amd64"
K8S = ("kubelet", "kubeadm", "kubectl")
DAY = 86_400


def build_deb(out: Path, name: str, version: str) -> Path:
    """An empty package: it installs no files, so dpkg -i touches only /var/lib/dpkg."""
    root = out / f"{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: nodeward tests <tests@example.invalid>\n"
        "Description: empty package for nodeward patch-level tests\n"
    )
    deb = out / f"{name}_{version}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True, capture_output=True
    )
    return deb


def write_suite(archive: Path, codename: str, suite: str, label: str, debs: list[Path]) -> None:
    """dists/<codename>/{Release, main/binary-amd64/Packages(.gz)} and pool/, as apt reads them."""
    (archive / "pool").mkdir(parents=True, exist_ok=True)
    stanzas = []
    for deb in debs:
        data = deb.read_bytes()
        (archive / "pool" / deb.name).write_bytes(data)
        control = subprocess.run(
            ["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True
        ).stdout
        stanzas.append(
            control.rstrip("\n")
            + f"\nFilename: pool/{deb.name}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"
        )
    dist = archive / "dists" / codename
    (dist / "main" / "binary-amd64").mkdir(parents=True)
    packages = "\n".join(stanzas).encode()
    indexes = {
        "main/binary-amd64/Packages": packages,
        "main/binary-amd64/Packages.gz": gzip.compress(packages, mtime=0),
    }
    for relative, data in indexes.items():
        (dist / relative).write_bytes(data)
    sums = "".join(f" {hashlib.sha256(d).hexdigest()} {len(d)} {r}\n" for r, d in indexes.items())
    date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime())
    (dist / "Release").write_text(
        f"Origin: Debian\nLabel: {label}\nSuite: {suite}\nCodename: {codename}\nDate: {date}\n"
        f"Architectures: amd64\nComponents: main\nSHA256:\n{sums}"
    )


def prepare_node(node: FleetNode, work: Path) -> dict[str, Path]:
    """Archive, sources, old packages, a newer kernel package and fresh lists on `node`."""
    debs_dir = work / "debs"
    debs_dir.mkdir()
    debs = {
        "sec-old": build_deb(debs_dir, "nw-demo-sec", "1.0"),
        "sec-new": build_deb(debs_dir, "nw-demo-sec", "1.1"),
        "plain-old": build_deb(debs_dir, "nw-demo-plain", "1.0"),
        "plain-new": build_deb(debs_dir, "nw-demo-plain", "1.1"),
        "kernel": build_deb(debs_dir, FAKE_KERNEL, "99.1.0-1"),
    }
    archive = work / "archive"
    write_suite(archive, "bookworm-security", "stable-security", "Debian-Security", [debs["sec-new"]])
    write_suite(archive, "bookworm", "stable", "Debian", [debs["plain-new"]])
    node.exec(["cp", "-r", "--", str(archive), ARCHIVE])
    sources = "".join(
        f"deb [trusted=yes] file:{ARCHIVE} {suite} main\n" for suite in ("bookworm-security", "bookworm")
    )
    node.exec(["sh", "-c", f"mkdir -p /etc/apt/sources.list.d && cat > {SOURCES}"], input=sources.encode())
    for name in ("nw-demo-sec", "nw-demo-plain", FAKE_KERNEL):
        # dpkg -i over a package the host has installed would delete the host's files
        # (only /var is private to the node): these names must be new to the node.
        assert node.exec(["dpkg-query", "-W", name], check=False).returncode != 0, name
    node.exec(["dpkg", "-i", str(debs["sec-old"]), str(debs["plain-old"]), str(debs["kernel"])])
    node.exec(["apt-mark", "hold", "nw-demo-plain"])
    # Setup only, inside the node: only the test's file: archive can be read (the spec
    # removed every other source, and these options name ours alone).
    only_ours = ["-o", f"Dir::Etc::SourceList={SOURCES}", "-o", "Dir::Etc::SourceParts=/nonexistent"]
    node.exec(["apt-get", "update", "-q", *only_ours, "-o", "APT::Sandbox::User=root"])
    return debs


def finding(node: dict[str, object], check_id: str) -> dict[str, object]:
    findings = node["findings"]
    assert isinstance(findings, list)
    found: dict[str, object] = next(f for f in findings if f["check_id"] == check_id)
    return found


def evidence_text(found: dict[str, object]) -> str:
    evidence = found["evidence"]
    assert isinstance(evidence, list)
    return " | ".join(f"{e['observed']} / {e['expected']} / {e['source']}" for e in evidence)


def test_outdated_worker_pending_security_update_newer_kernel_and_halting_auditd(
    fleet: Fleet, fleet_keys: FleetKeys, tmp_path: Path
) -> None:
    node = fleet.start("patch_outdated", name="outdated")
    debs = prepare_node(node, tmp_path)
    apt_state = [
        "sh",
        "-c",
        "stat -c '%Y %s %n' /var/lib/apt/lists/* /var/cache/apt /var/cache/apt/* /var/lib/dpkg/*",
    ]
    apt_before = node.exec(apt_state).stdout
    inventory = ansible_inventory(
        tmp_path / "inv.yaml",
        [Target("outdated", node.address, node.port, {"nodeward_roles": ["worker"]})],
        fleet_keys.bastion,
    )
    known = fleet.known_hosts([node], tmp_path / "known_hosts")

    code, document, stderr = scan_json(inventory, tmp_path / "home", known)
    assert code == 1, stderr
    result = nodes_by_name(document)["outdated"]
    status = statuses(result)

    # The security archive's update is pending and named; the plain archive's is not
    # counted as a security update (it is also held, which the simulation still sees).
    security = finding(result, "packages_security_updates_applied")
    assert security["status"] == "fail", security["reason"]
    assert "1 security update(s) pending" in str(security["reason"])
    assert "nw-demo-sec 1.0 -> 1.1" in str(security["reason"])
    assert "nw-demo-plain" not in str(security["reason"]) + evidence_text(security)
    assert "apt-get -s" in evidence_text(security)
    assert "refreshed" in evidence_text(security) and "_Release" in evidence_text(security)

    kernel = finding(result, "packages_kernel_newest_running")
    running = node.exec(["uname", "-r"]).stdout.decode().strip()
    assert kernel["status"] == "fail", kernel["reason"]
    assert f"kernel 99.1.0-1-amd64 is installed, {running} is running" in str(kernel["reason"])
    assert "dpkg-query" in evidence_text(kernel)

    assert status["packages_unattended_upgrades_enabled"] == "fail"
    # The node's dpkg database is this machine's: kubectl may be installed (not held).
    k8s = node.exec(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\\n", *K8S], check=False)
    installed = [line.split()[0] for line in k8s.stdout.decode().splitlines() if line.split()[1:2] == ["ii"]]
    held = finding(result, "packages_kubernetes_components_held")
    assert held["status"] == ("fail" if installed else "not_applicable"), held["reason"]
    assert all(name in str(held["reason"]) for name in installed)

    # auditd.conf says HALT and SINGLE: an availability finding with file:line evidence.
    halting = finding(result, "audit_log_full_does_not_halt_node")
    assert halting["status"] == "fail"
    sources = evidence_text(halting)
    assert "/etc/audit/auditd.conf:23" in sources and "/etc/audit/auditd.conf:24" in sources
    assert status["audit_auditd_installed"] == "pass"
    assert status["audit_auditd_running"] == "fail"  # a stub binary, no process
    assert status["audit_rules_watch_identity"] == "pass"
    assert status["audit_rules_watch_sudoers"] == "pass"
    assert status["audit_rules_watch_kubernetes"] == "fail"
    logs = finding(result, "audit_log_files_protected")
    assert logs["status"] == "fail" and "/var/log/audit/audit.log" in str(logs["reason"])
    assert "/var/log/audit/audit.log" not in str(finding(result, "audit_config_files_protected")["reason"])
    assert "error" not in {status[c] for c in status if c.startswith(("packages_", "audit_", "mac_"))}

    # The scan changed nothing: package lists, apt's cache and dpkg's database are untouched.
    assert node.exec(apt_state).stdout == apt_before

    # Second look, same node: the security fix installed, the lists a month old, a
    # reboot flagged, the fake kernel gone. "Nothing pending" from month-old lists is a
    # WARN, never a PASS.
    node.exec(["dpkg", "-i", str(debs["sec-new"])])
    node.exec(["dpkg", "--purge", FAKE_KERNEL])
    month_ago = f"@{int(time.time()) - 30 * DAY}"
    node.exec(["sh", "-c", f"touch -d {month_ago} /var/lib/apt/lists/*Release /var/lib/apt/lists/*Packages*"])
    flag = "echo '*** System restart required ***' > /run/reboot-required"
    node.exec(["sh", "-c", f"{flag}; echo nw-demo-sec > /run/reboot-required.pkgs"])

    code, document, stderr = scan_json(inventory, tmp_path / "home", known)
    assert code == 1, stderr
    result = nodes_by_name(document)["outdated"]
    stale = finding(result, "packages_security_updates_applied")
    assert stale["status"] == "warn", stale["reason"]
    assert "cannot be trusted" in str(stale["reason"]) and "30 days ago" in str(stale["reason"])
    assert finding(result, "packages_kernel_newest_running")["status"] == "not_applicable"
    reboot = finding(result, "packages_reboot_not_pending")
    assert reboot["status"] == "fail" and "nw-demo-sec" in str(reboot["reason"])
