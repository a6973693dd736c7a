"""Kernel parameters: runtime values and sysctl.d precedence (sysctl.d(5))."""

from __future__ import annotations

from pathlib import Path

from agent.facts import sysctl
from agent.facts.model import RawSection, Unavailable
from agent.facts.sysctl import Sysctl

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts" / "sysctl"


def parse(text: str) -> Sysctl:
    found = sysctl.parse(RawSection("sysctl", text.encode(), b"", 0, False), {})
    assert isinstance(found, Sysctl), found
    return found


def test_debian12_golden_keeps_all_default_lo_and_drops_per_interface_keys() -> None:
    found = parse((FIXTURES / "debian12_kube_proxy_accept.out").read_text())
    forward = found.lookup("net.ipv4.ip_forward")
    assert forward is not None and forward.value == "0" and "/proc/sys/net/ipv4/ip_forward" in forward.source
    assert "net.ipv4.conf.all.rp_filter" in found.runtime and "net.ipv4.conf.lo.rp_filter" in found.runtime
    assert not any(k.startswith("net.ipv4.conf.eth") for k in found.runtime)
    assert found.runtime["net.ipv4.ip_local_port_range"].count(" ") == 1  # tabs collapsed


def test_sysctl_d_precedence_same_name_earlier_directory_wins_then_sysctl_conf() -> None:
    text = (
        "=\tnet.ipv4.ip_forward = 1\n"
        "/usr/lib/sysctl.d/50-default.conf\t1\tnet.ipv4.ip_forward = 0\n"
        "/usr/lib/sysctl.d/99-k8s.conf\t1\tnet.ipv4.ip_forward = 0\n"
        "/etc/sysctl.d/99-k8s.conf\t3\tnet/ipv4/ip_forward=1\n"
        "/etc/sysctl.d/10-early.conf\t2\t-kernel.kptr_restrict = 2\n"
        "/etc/sysctl.conf\t7\t# net.ipv4.ip_forward = 0\n"
        "/etc/sysctl.conf\t8\tkernel.kptr_restrict = 1\n"
    )
    found = parse(text)
    boot = found.lookup("persisted:net.ipv4.ip_forward")
    # /etc/sysctl.d/99-k8s.conf hides /usr/lib's file of the same name and sorts after 50-default
    assert boot is not None and (boot.value, boot.source) == ("1", "/etc/sysctl.d/99-k8s.conf:3")
    kptr = found.lookup("persisted:kernel.kptr_restrict")
    assert kptr is not None and (kptr.value, kptr.source) == ("1", "/etc/sysctl.conf:8")


def test_missing_tool_and_empty_output_are_unavailable() -> None:
    assert isinstance(sysctl.parse(RawSection("sysctl", b"", b"", 127, False), {}), Unavailable)
    assert isinstance(
        sysctl.parse(RawSection("sysctl", b"/etc/x.conf\t1\ta=b\n", b"", 0, False), {}), Unavailable
    )


def test_the_gather_filter_keeps_only_all_default_and_lo_interface_keys() -> None:
    import re
    import subprocess

    program = re.search(r"awk '(.*?)'\n", sysctl.SCRIPT, re.S)
    assert program is not None
    lines = "net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.veth12ab.rp_filter = 0\n"
    lines += "net.ipv6.neigh.lo.mcast_solicit = 3\n"
    lines += "net.ipv6.neigh.cali1.mcast_solicit = 3\nkernel.kptr_restrict = 1\n"
    out = subprocess.run(
        ["awk", program.group(1)], input=lines, capture_output=True, text=True, check=True
    ).stdout
    assert [line.split("\t")[1].split(" = ")[0] for line in out.splitlines()] == [
        "net.ipv4.conf.all.rp_filter",
        "net.ipv6.neigh.lo.mcast_solicit",
        "kernel.kptr_restrict",
    ]
