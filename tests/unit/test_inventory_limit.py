"""--limit selection, and the ad-hoc --hosts list (the other way to pick nodes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import InventoryError
from agent.inventory.limit import Pattern, apply_limit, parse_limit, select
from agent.inventory.loader import inventory_from_hosts, load_inventory
from agent.inventory.model import Connection, Inventory, Node

HOSTS = ("cp1", "cp2", "w01", "w02", "w03", "db1")
GROUPS = {
    "all": HOSTS,
    "control-plane": ("cp1", "cp2"),
    "workers": ("w01", "w02", "w03"),
    "etcd": ("cp1", "db1"),
    "empty": (),
}
ANSIBLE_YAML = Path(__file__).resolve().parents[1] / "fixtures" / "inventory" / "ansible_yaml" / "hosts.yml"


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("workers", ("w01", "w02", "w03")),
        ("w02", ("w02",)),
        ("w02,cp1", ("cp1", "w02")),  # inventory order, not limit order
        ("w02:cp1", ("cp1", "w02")),
        ("w0*", ("w01", "w02", "w03")),
        ("w0[12]", ("w01", "w02")),
        ("c?1", ("cp1",)),
        ("control-*", ("cp1", "cp2")),
        ("all:!workers", ("cp1", "cp2", "db1")),
        ("!workers", ("cp1", "cp2", "db1")),  # only exclusions: start from every host
        ("workers,!w02", ("w01", "w03")),
        ("!w02,workers", ("w01", "w03")),  # exclusions apply last, whatever the order
        ("control-plane:&etcd", ("cp1",)),
        ("&etcd", ("cp1", "db1")),
        ("workers,control-plane,&etcd,!cp2", ("cp1",)),
        (" workers , ,cp1 ", ("cp1", "w01", "w02", "w03")),
    ],
)
def test_select(limit: str, expected: tuple[str, ...]) -> None:
    assert select(limit, HOSTS, GROUPS) == expected


def test_parse_limit() -> None:
    assert parse_limit("a,!b,&c") == [Pattern("", "a"), Pattern("!", "b"), Pattern("&", "c")]
    assert parse_limit("fe80::1") == [Pattern("", "fe80::1")]  # one IPv6 host, not 3 patterns


@pytest.mark.parametrize(
    ("limit", "named"),
    [
        ("wokers", "'wokers' matches no host or group; did you mean 'workers'?"),
        ("workers,!w2", "'w2' matches no host or group"),
        ("workers,&nope*", "'nope*' matches no host or group"),
        ("~w0.*", "regular expressions"),
        ("workers:!workers", "selects no host"),
        ("empty", "selects no host"),
        (" , ", "contains no pattern"),
    ],
)
def test_a_limit_that_selects_nothing_is_an_error_naming_the_pattern(limit: str, named: str) -> None:
    with pytest.raises(InventoryError) as caught:
        select(limit, HOSTS, GROUPS)
    problem = caught.value.problems[0]
    assert (problem.file, problem.field) == ("--limit", "limit")
    assert named in problem.message


def test_every_unmatched_pattern_is_reported() -> None:
    with pytest.raises(InventoryError) as caught:
        select("wokers,cpx,!db9", HOSTS, GROUPS)
    assert len(caught.value.problems) == 3


def test_apply_limit_filters_nodes_groups_and_skipped() -> None:
    inventory = Inventory(
        nodes=(Node("a", groups=("all", "g")), Node("b", groups=("all",))),
        groups={"all": ("a", "b"), "g": ("a",)},
        source="x",
        skipped=(("win", "winrm"),),
    )
    limited = apply_limit(inventory, "g")
    assert [n.name for n in limited.nodes] == ["a"]
    assert limited.groups == {"all": ("a",), "g": ("a",)}
    assert limited.skipped == ()
    assert apply_limit(inventory, "win").skipped == (("win", "winrm"),)


def test_load_inventory_applies_the_limit_with_full_membership() -> None:
    limited = load_inventory(str(ANSIBLE_YAML), limit="workers:&node0*:!node07")
    assert [n.name for n in limited.nodes] == [f"node0{i}" for i in (1, 2, 3, 4, 5, 6, 8, 9)]
    windows = load_inventory(str(ANSIBLE_YAML), limit="windows")  # only a skipped host in it
    assert windows.nodes == ()
    assert [name for name, _ in windows.skipped] == ["win1"]
    with pytest.raises(InventoryError, match="'nodes'"):
        load_inventory(str(ANSIBLE_YAML), limit="nodes")


# --- --hosts -------------------------------------------------------------------------


def test_hosts_urls() -> None:
    inventory = inventory_from_hosts(
        "ssh://ops@node1:2222, node2 ,local://,paramiko://root@[2001:db8::9]:2200"
    )
    nodes = {n.name: n for n in inventory.nodes}
    assert list(nodes) == ["node1", "node2", "localhost", "2001:db8::9"]
    assert (nodes["node1"].user, nodes["node1"].port) == ("ops", 2222)
    assert (nodes["node2"].user, nodes["node2"].port, nodes["node2"].connection) == (
        None,
        None,
        Connection.SSH,
    )
    assert nodes["localhost"].connection is Connection.LOCAL
    assert (nodes["2001:db8::9"].user, nodes["2001:db8::9"].port) == ("root", 2200)
    assert inventory.groups == {"all": ("node1", "node2", "localhost", "2001:db8::9")}
    assert inventory.source == "--hosts"
    assert all(n.groups == ("all",) for n in inventory.nodes)


def test_hosts_are_percent_decoded() -> None:
    (n,) = inventory_from_hosts("ssh://svc%2Eadm@node%2D1.example.com:22").nodes
    assert (n.user, n.name, n.port) == ("svc.adm", "node-1.example.com", 22)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ssh://ops:hunter2@node1", "passwords"),
        ("docker://web", "unsupported scheme"),
        ("ssh://node1/path", "paths"),
        ("ssh://node1?x=1", "paths"),
        ("local://node1", "takes no host"),
        ("ssh://node1:0", "outside 1..65535"),
        ("ssh://node%3Brm", "not a valid host name"),
        ("ssh://-oProxyCommand=x", "not a valid host name"),
        ("ssh://%2Dl@node1", "not a valid user name"),
        ("node1,node1", "listed twice"),
        (" , ", "no host given"),
    ],
)
def test_bad_hosts(spec: str, message: str) -> None:
    with pytest.raises(InventoryError) as caught:
        inventory_from_hosts(spec)
    problem = caught.value.problems[0]
    assert problem.file == "--hosts"
    assert message in problem.message
    assert "hunter2" not in str(caught.value)


def test_every_bad_host_is_reported_with_its_position() -> None:
    with pytest.raises(InventoryError) as caught:
        inventory_from_hosts("good,bad;one,also good,ssh://x:99999")
    assert [p.field for p in caught.value.problems] == ["hosts[1]", "hosts[2]", "hosts[3]"]
