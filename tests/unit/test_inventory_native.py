"""The native inventory format: fields, inheritance, and line-numbered problems."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from agent.errors import InventoryError, Problem
from agent.inventory.loader import detect_format, load_inventory, looks_like_ini
from agent.inventory.model import Connection, Inventory, Node
from agent.secret import Secret

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventory" / "native"
REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "inventory.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(path)


def load(path: str | Path) -> Inventory:
    return load_inventory(str(path), fmt="nodeward")


def problems(path: str | Path) -> tuple[Problem, ...]:
    with pytest.raises(InventoryError) as caught:
        load(path)
    return caught.value.problems


def where(found: tuple[Problem, ...]) -> list[tuple[int | None, str]]:
    return [(p.line, p.field) for p in found]


def node(inventory: Inventory, name: str) -> Node:
    (found,) = [n for n in inventory.nodes if n.name == name]
    return found


# --- the valid fixture -------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet() -> Inventory:
    return load(FIXTURES / "valid.yaml")


def test_hosts_in_file_order_with_groups(fleet: Inventory) -> None:
    names = [n.name for n in fleet.nodes]
    assert names == ["bastion", "cp1", "cp2", "w01", "w02", "w03", "w04", "gpu1", "localhost"]
    assert fleet.groups["workers"] == ("w01", "w02", "w03", "w04", "gpu1")
    assert fleet.groups["gpu-workers"] == ("gpu1",)
    assert fleet.groups["all"] == tuple(names)
    assert node(fleet, "gpu1").groups == ("all", "workers", "gpu-workers")
    assert fleet.skipped == ()


def test_host_fields_beat_group_fields(fleet: Inventory) -> None:
    bastion = node(fleet, "bastion")
    assert (bastion.address, bastion.port, bastion.user) == ("192.0.2.10", 2222, "ops")
    assert bastion.proxy_jump is None
    assert bastion.source.endswith("valid.yaml:12")


def test_child_group_beats_parent_and_all(fleet: Inventory) -> None:
    gpu = node(fleet, "gpu1")
    assert gpu.port == 2200  # gpu-workers < workers < all
    assert gpu.user == "kube"  # workers beats all
    assert gpu.proxy_jump == "ops@192.0.2.10:2222"
    assert node(fleet, "w01").port == 22


def test_roles_accumulate_over_levels(fleet: Inventory) -> None:
    assert node(fleet, "cp1").roles == ("control-plane", "etcd")
    assert node(fleet, "cp2").roles == ("control-plane",)
    assert node(fleet, "gpu1").roles == ("worker",)


def test_host_proxy_command_replaces_group_proxy_jump(fleet: Inventory) -> None:
    w04 = node(fleet, "w04")
    assert w04.proxy_command == "ssh -W %h:%p ops@192.0.2.10"
    assert w04.proxy_jump is None
    assert w04.become is False
    assert node(fleet, "w03").become is True  # the default: gather as root


def test_free_vars_merge_key_by_key(fleet: Inventory) -> None:
    assert dict(node(fleet, "w01").vars) == {
        "allowed_ssh_users": ["ops", "kube"],  # workers replaced this key ...
        "banner": "corporate",  # ... and inherited this one
        "PermitRootLogin": "no",  # YAML 1.2: a string, never False
    }
    assert node(fleet, "cp1").vars["allowed_ssh_users"] == ["ops"]
    with pytest.raises(TypeError):
        node(fleet, "cp1").vars["x"] = 1  # type: ignore[index]


def test_relative_paths_resolve_against_the_inventory_directory(fleet: Inventory) -> None:
    assert node(fleet, "cp1").identity_files == (str(FIXTURES / "keys" / "ops_ed25519"),)


def test_local_node(fleet: Inventory) -> None:
    local = node(fleet, "localhost")
    assert local.connection is Connection.LOCAL
    assert node(fleet, "cp1").connection is Connection.SSH


# --- problems: file, line, field, and all of them at once --------------------------


def test_every_problem_of_a_file_is_reported_with_line_and_field() -> None:
    found = problems(FIXTURES / "problems.yaml")
    assert all(p.file.endswith("problems.yaml") for p in found)
    assert where(found) == [
        (3, "all.vars.become"),
        (8, "all.hosts.node1.port"),
        (9, "all.hosts.node1.user"),
        (10, "all.hosts.bad;name"),
        (12, "all.hosts.node2.prot"),
        (17, "all.children.workers.hosts.node3.strict_host_key_checking"),
        (18, "all.children.workers.hosts.node3.roles"),
        (19, "all.children.workers.hosts.node[5:1]"),
    ]
    messages = {p.field: p.message for p in found}
    assert "true/false" in messages["all.vars.become"]
    assert "65535" in messages["all.hosts.node1.port"]
    assert "did you mean 'port'" in messages["all.hosts.node2.prot"]
    assert "--accept-new-host-keys" in messages["all.children.workers.hosts.node3.strict_host_key_checking"]
    assert "backwards" in messages["all.children.workers.hosts.node[5:1]"]


def test_duplicate_keys_are_errors() -> None:
    found = problems(FIXTURES / "duplicate.yaml")
    assert where(found) == [(6, "all.hosts.node1.port"), (8, "all.hosts.node2")]
    assert "duplicate key 'port'" in found[0].message


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("become: yes", "true/false"),
        ("become: no", "true/false"),
        ("become: on", "true/false"),
        ("port: 0022", "whole number"),  # a string in strict YAML, not octal 18
        ("port: 22:22", "whole number"),  # a string, not sexagesimal 1342
        ("port: '22'", "whole number"),
        ("port: true", "whole number"),
        ("roles: worker", "list of role names"),
    ],
)
def test_yaml_pitfalls_are_caught(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, f"all:\n  hosts:\n    node1:\n      {line}\n")
    (problem,) = problems(path)
    assert (problem.line, problem.field) == (4, f"all.hosts.node1.{line.split(':')[0]}")
    assert message in problem.message


def test_yes_is_a_fine_string_where_a_string_is_meant(tmp_path: Path) -> None:
    path = write(tmp_path, "all:\n  hosts:\n    node1:\n      strict_host_key_checking: yes\n")
    assert load(path).nodes[0].strict_host_key_checking == "yes"


def test_templated_values_are_refused_with_the_way_out(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        all:
          vars:
            vars:
              motd: "{% if x %}y{% endif %}"
          hosts:
            node1:
              user: "{{ lookup('env', 'USER') }}"
        """,
    )
    found = problems(path)
    assert where(found) == [(4, "all.vars.vars.motd"), (7, "all.hosts.node1.user")]
    assert all("ansible-inventory" in p.message for p in found)


def test_ansible_spellings_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        all:
          hosts:
            node1:
              ansible_host: 10.0.0.5
              ansible_ssh_port: 2201
              ansible_user: admin
              ansible_private_key_file: /keys/admin
              ansible_become: true
              ansible_become_pass: hunter2
              ansible_ssh_common_args: -o ProxyJump=jump@192.0.2.1 -o StrictHostKeyChecking=accept-new
        """,
    )
    n = load(path).nodes[0]
    assert (n.address, n.port, n.user, n.identity_files) == ("10.0.0.5", 2201, "admin", ("/keys/admin",))
    assert (n.proxy_jump, n.strict_host_key_checking) == ("jump@192.0.2.1", "accept-new")
    assert n.become_password == Secret("hunter2")
    assert "hunter2" not in repr(n)


def test_one_field_under_two_spellings_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "all:\n  hosts:\n    node1:\n      port: 22\n      ansible_port: 2222\n")
    (problem,) = problems(path)
    assert (problem.line, problem.field) == (5, "all.hosts.node1.ansible_port")


def test_explicit_fields_beat_ssh_args_and_keys_accumulate(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        all:
          vars:
            port: 2200
            identity_file: /keys/a
          hosts:
            node1:
              ansible_ssh_common_args: -p 2300 -i /keys/b -o User=ops
        """,
    )
    n = load(path).nodes[0]
    assert (n.port, n.user, n.identity_files) == (2200, "ops", ("/keys/a", "/keys/b"))


def test_a_host_may_repeat_but_not_contradict_its_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        all:
          children:
            a:
              hosts:
                node1: {port: 2222, user: ops}
            b:
              hosts:
                node1: {port: 2222}
            c:
              hosts:
                node1: {port: 2223}
        """,
    )
    (problem,) = problems(path)
    assert (problem.line, problem.field) == (11, "all.children.c.hosts.node1.port")
    assert "inventory.yaml:5;" in problem.message  # where the first value was set


def test_structure_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        all:
          host:
            node1:
          vars:
            address: 10.0.0.1
          children:
            workers:
              hosts: [node2]
        workers:
          hosts:
        """,
    )
    found = problems(path)
    assert where(found) == [
        (2, "all.host"),
        (5, "all.vars.address"),
        (8, "all.children.workers.hosts"),
        (9, "workers"),
    ]
    assert "did you mean 'hosts'" in found[0].message
    assert "under 'all:'" in found[3].message


def test_group_cycle_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        all:
          children:
            a:
              children:
                b:
                  hosts:
                    node1:
            b:
              children:
                a:
        """,
    )
    (problem,) = problems(path)
    assert "own ancestor" in problem.message


@pytest.mark.parametrize(
    "name",
    [
        "node;touch /tmp/x",
        "-oProxyCommand=x",
        "node 1",
        "$(id)",
        "node`id`",
        "a..b",
        "x" * 64 + ".example.com",
    ],
)
def test_hostile_host_names_are_refused(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f"all:\n  hosts:\n    '{name}':\n")
    (problem,) = problems(path)
    assert (problem.line, problem.field) == (3, f"all.hosts.{name}")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("address", "'10.0.0.1; id'", "not a valid host name"),
        ("address", "'-oProxyCommand=x'", "not a valid host name"),
        ("user", "'root;id'", "not a valid user name"),
        ("user", "'-l'", "not a valid user name"),
        ("identity_file", '"/keys/a\\nb"', "control character"),
        ("identity_file", "''", "file path"),
        ("proxy_jump", "'evil user@jump'", "not a valid user name"),
        ("proxy_jump", "'jump:99999'", "outside 1..65535"),
        ("proxy_command", '"nc %h %p\\nrm -rf /"', "control character"),
        ("known_hosts_file", "/dev/null", "refused"),
        ("connection", "winrm", "not supported"),
        ("become_password", "''", "non-empty"),
        ("ssh_config_file", "[a, b]", "file path"),
    ],
)
def test_field_validation(tmp_path: Path, field: str, value: str, message: str) -> None:
    path = write(tmp_path, f"all:\n  hosts:\n    node1:\n      {field}: {value}\n")
    (problem,) = problems(path)
    assert (problem.line, problem.field) == (4, f"all.hosts.node1.{field}")
    assert message in problem.message


def test_valid_addresses(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        all:
          hosts:
            a: {address: 10.0.0.1}
            b: {address: "2001:db8::7"}
            c: {address: "fe80::1%eth0"}
            d: {address: node-4.dc_1.example.com}
            e: {address: Node5}
        """,
    )
    assert [n.address for n in load(path).nodes] == [
        "10.0.0.1",
        "2001:db8::7",
        "fe80::1%eth0",
        "node-4.dc_1.example.com",
        "Node5",
    ]


def test_home_paths_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/ops")
    path = write(tmp_path, "all:\n  hosts:\n    node1:\n      identity_file: [~/.ssh/a, /abs/b, rel/c]\n")
    assert load(path).nodes[0].identity_files == (
        "/home/ops/.ssh/a",
        "/abs/b",
        os.path.join(str(tmp_path), "rel", "c"),
    )


def test_proxies(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        all:
          vars:
            proxy_jump: ops@bastion:2222
          hosts:
            bastion:
              proxy_jump: none
            node1:
            node2:
              proxy_jump: ops@[2001:db8::1]:22,ops@inner
        """,
    )
    inventory = load(path)
    assert [n.proxy_jump for n in inventory.nodes] == [
        None,
        "ops@bastion:2222",
        "ops@[2001:db8::1]:22,ops@inner",
    ]


def test_jumping_through_oneself_and_two_proxies_at_once_are_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        all:
          vars:
            proxy_jump: ops@bastion
          hosts:
            bastion:
            node1:
              proxy_jump: jump
              proxy_command: nc %h %p
        """,
    )
    found = problems(path)
    messages = " | ".join(p.message for p in found)
    assert "bastion would jump through itself" in messages
    assert "either proxy_jump or proxy_command" in messages


def test_bad_become_password_is_never_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, 'all:\n  hosts:\n    node1:\n      become_password: "pa\\nss-s3cret"\n')
    (problem,) = problems(path)
    assert "s3cret" not in str(problem)


def test_empty_and_hostless_inventories(tmp_path: Path) -> None:
    (empty,) = problems(write(tmp_path, "# nothing\n", "empty.yaml"))
    assert "'all:'" in empty.message
    (hostless,) = problems(write(tmp_path, "all:\n  vars:\n    user: ops\n", "hostless.yaml"))
    assert "defines no hosts" in hostless.message


def test_syntax_error_is_an_inventory_error_with_line(tmp_path: Path) -> None:
    (problem,) = problems(write(tmp_path, "all:\n  hosts:\n    node1: [\n"))
    assert problem.line is not None and problem.line >= 3
    assert "invalid YAML" in problem.message


# --- loader: files and format detection --------------------------------------------


def test_example_inventory_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/ops")
    inventory = load_inventory(str(REPO / "inventory.example.yaml"))
    assert len(inventory.nodes) == 10
    assert set(inventory.groups) == {"all", "k8s", "control-plane", "workers"}
    bastion = node(inventory, "bastion")
    assert bastion.roles == ("bastion",)
    assert bastion.identity_files == ("/home/ops/.ssh/bastion_ed25519", "/home/ops/.ssh/nodeward_ed25519")
    worker5 = node(inventory, "worker05.k8s.example.internal")
    assert (worker5.address, worker5.port, worker5.proxy_jump) == ("10.0.2.15", 2200, "ops@203.0.113.10:2222")
    assert worker5.vars["allowed_ssh_users"] == ["ops"]
    assert node(inventory, "cp2.k8s.example.internal").roles == ("control-plane", "etcd")
    assert node(inventory, "localhost").connection is Connection.LOCAL


def test_auto_detection(tmp_path: Path) -> None:
    native = write(tmp_path, "all:\n  hosts:\n    n1: {address: 10.0.0.1, ansible_port: 22}\n", "a.yaml")
    ansible = write(tmp_path, "all:\n  hosts:\n    n1: {ansible_host: 10.0.0.1}\n", "b.yaml")
    plain = write(tmp_path, "all:\n  hosts:\n    n1:\n", "c.yaml")
    for path, expected in ((native, "nodeward"), (ansible, "ansible"), (plain, "nodeward")):
        text = Path(path).read_text()
        assert detect_format(text, path, ini=looks_like_ini(text)) == expected
    (tmp_path / "group_vars").mkdir()
    assert detect_format("all:\n", plain, ini=False) == "ansible"


@pytest.mark.parametrize(
    ("text", "ini"),
    [
        ("[web]\nnode1\n", True),
        ("# comment\nnode1 ansible_host=10.0.0.1\n", True),
        ("node1:2222\n", True),
        ("fe80::1\n", True),
        ("all:\n  hosts:\n", False),
        ("---\nall:\n", False),
        ('{"all": {}}\n', False),
        ("'all':\n", False),
    ],
)
def test_ini_detection(text: str, ini: bool) -> None:
    assert looks_like_ini(text) is ini


def test_unreadable_files_and_bad_format_names(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read"):
        load_inventory(str(tmp_path / "missing.yaml"))
    with pytest.raises(InventoryError, match="is a directory"):
        load_inventory(str(tmp_path))
    (tmp_path / "bad.yaml").write_bytes(b"all:\n  hosts:\n    n\xff1:\n")
    with pytest.raises(InventoryError, match="UTF-8") as caught:
        load_inventory(str(tmp_path / "bad.yaml"))
    assert caught.value.problems[0].line == 3
    with pytest.raises(InventoryError, match="--inventory-format"):
        load_inventory(str(tmp_path / "x"), fmt="toml")
    ini = write(tmp_path, "[web]\nnode1\n", "hosts")
    with pytest.raises(InventoryError, match="INI"):
        load_inventory(ini, fmt="nodeward")


def test_group_addresses_are_refused_in_either_spelling(tmp_path: Path) -> None:
    path = write(tmp_path, "all:\n  vars:\n    ansible_host: 10.0.0.1\n  hosts:\n    node1:\n")
    (problem,) = problems(path)
    assert (problem.line, problem.field) == (3, "all.vars.ansible_host")
