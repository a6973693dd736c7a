"""agent.inventory.ranges: Ansible host ranges and host:port patterns."""

from __future__ import annotations

import pytest

from agent.inventory.ranges import (
    MAX_HOSTS,
    RangeError,
    expand_host_range,
    has_range,
    split_host_port,
)


def test_zero_padding_is_kept() -> None:
    hosts = expand_host_range("node[01:20].example.com")
    assert len(hosts) == 20
    assert hosts[0] == "node01.example.com"
    assert hosts[8:10] == ["node09.example.com", "node10.example.com"]
    assert hosts[-1] == "node20.example.com"


def test_unpadded_numbers() -> None:
    assert expand_host_range("web[8:11]") == ["web8", "web9", "web10", "web11"]


def test_step() -> None:
    assert expand_host_range("n[01:09:4]") == ["n01", "n05", "n09"]


def test_letters() -> None:
    assert expand_host_range("db-[a:d]") == ["db-a", "db-b", "db-c", "db-d"]
    assert expand_host_range("db-[A:E:2]") == ["db-A", "db-C", "db-E"]


def test_several_ranges_expand_left_to_right() -> None:
    assert expand_host_range("r[1:2]-n[a:b].dc") == ["r1-na.dc", "r1-nb.dc", "r2-na.dc", "r2-nb.dc"]


def test_empty_begin_means_zero_as_in_ansible() -> None:
    assert expand_host_range("h[:2]") == ["h0", "h1", "h2"]


def test_plain_name_is_itself() -> None:
    assert expand_host_range("plain.example.com") == ["plain.example.com"]
    assert not has_range("plain.example.com")
    assert has_range("node[1:2]")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("n[5:1]", "backwards"),
        ("n[d:a]", "backwards"),
        ("n[1:5:0]", "positive whole step"),
        ("n[1:5:x]", "positive whole step"),
        ("n[01:100]", "equal length"),
        ("n[1]", "begin:end"),
        ("n[1:2:3:4]", "begin:end"),
        ("n[1:]", "no end value"),
        ("n[a:5]", "two numbers or two single letters"),
        ("n[aa:zz]", "two numbers or two single letters"),
        ("n[a:F]", "mixes upper and lower case"),
        ("n[1:3", "unbalanced"),
        ("n]1:3[", "unbalanced"),
        ("n[1:3]]", "unbalanced"),
        ("n[0:99999]", f"more than {MAX_HOSTS}"),
        ("a[0:999]b[0:999]", f"more than {MAX_HOSTS}"),
    ],
)
def test_bad_ranges_are_errors(pattern: str, message: str) -> None:
    with pytest.raises(RangeError, match=message.replace("[", r"\[")):
        expand_host_range(pattern)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("node1", ("node1", None)),
        ("node1:2222", ("node1", 2222)),
        ("10.0.0.1:22", ("10.0.0.1", 22)),
        ("node[01:20]:2222", ("node[01:20]", 2222)),
        ("node[01:20]", ("node[01:20]", None)),
        ("fe80::1", ("fe80::1", None)),
        ("[2001:db8::1]:2200", ("2001:db8::1", 2200)),
        ("[::1]", ("::1", None)),
    ],
)
def test_split_host_port(text: str, expected: tuple[str, int | None]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize("text", ["node1:0", "node1:70000", "node1:"])
def test_split_host_port_rejects_bad_ports(text: str) -> None:
    with pytest.raises(RangeError):
        split_host_port(text)
