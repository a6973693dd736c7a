"""Ansible YAML and INI inventories, group_vars/host_vars, and Ansible's precedence."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agent.errors import InventoryError, Problem
from agent.inventory.ansible import group_var_value
from agent.inventory.loader import load_inventory
from agent.inventory.model import Connection, Inventory, Node
from agent.secret import Secret

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventory"


def write(root: Path, files: dict[str, str]) -> str:
    """Create `files` under `root`; returns the path of the first one (the inventory)."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(root / next(iter(files)))


def load(path: str | Path) -> Inventory:
    return load_inventory(str(path), fmt="ansible")


def problems(path: str | Path) -> tuple[Problem, ...]:
    with pytest.raises(InventoryError) as caught:
        load(path)
    return caught.value.problems


def node(inventory: Inventory, name: str) -> Node:
    (found,) = [n for n in inventory.nodes if n.name == name]
    return found


# --- the YAML fixture with group_vars/ and host_vars/ ------------------------------


@pytest.fixture(scope="module")
def yaml_fleet() -> Inventory:
    return load_inventory(str(FIXTURES / "ansible_yaml" / "hosts.yml"))  # auto-detected


def test_twenty_ranged_hosts_get_their_ports_from_host_vars(yaml_fleet: Inventory) -> None:
    workers = [n for n in yaml_fleet.nodes if "workers" in n.groups]
    assert [n.name for n in workers] == [f"node{i:02d}" for i in range(1, 21)]
    ports = {n.name: n.port for n in workers}
    assert ports["node07"] == 2207  # host_vars/node07.yml
    assert ports["node13"] == 2213  # host_vars/node13/ports.yaml (a directory)
    assert ports["node20"] == 2220  # host_vars/node20.json (tab-indented JSON)
    others = {name: port for name, port in ports.items() if name not in ("node07", "node13", "node20")}
    assert set(others.values()) == {2222}  # the group's ansible_port
    assert all(n.user == "admin" and n.become is True for n in workers)
    assert yaml_fleet.groups["workers"] == tuple(n.name for n in workers)


def test_yaml_vars_and_precedence(yaml_fleet: Inventory) -> None:
    n01, n20 = node(yaml_fleet, "node01"), node(yaml_fleet, "node20")
    assert dict(n01.vars) == {
        "site": "dc1",
        "PermitRootLogin": False,  # YAML 1.1, as Ansible reads it
        "tier": "app-from-file",  # group_vars/workers.yml beats the inline group var
        "ntp_server": "pool.example.org",  # group_vars/all.yml
    }
    assert n20.vars["rack"] == "r20"


def test_ssh_args_and_host_vars_files(yaml_fleet: Inventory) -> None:
    cp1, cp2 = node(yaml_fleet, "cp1"), node(yaml_fleet, "cp2")
    assert (cp1.address, cp1.user, cp2.user) == ("10.0.0.11", "root", "admin")
    assert cp1.proxy_jump == "jump@192.0.2.1"
    assert cp1.strict_host_key_checking == "accept-new"
    assert cp1.vars["audit"] == "strict"  # 20-override.yaml is read after 10-main.yml
    assert cp1.vars["role_hint"] == "control-plane"
    assert "ansible_python_interpreter" not in cp2.vars  # Ansible's own settings: ignored


def test_ungrouped_and_skipped_hosts(yaml_fleet: Inventory) -> None:
    assert node(yaml_fleet, "lonely.example.com").groups == ("all", "ungrouped")
    assert yaml_fleet.groups["ungrouped"] == ("lonely.example.com",)
    assert node(yaml_fleet, "node01").groups == ("all", "workers")
    ((name, reason),) = yaml_fleet.skipped
    assert name == "win1"
    assert "winrm" in reason
    assert "win1" not in yaml_fleet.groups["all"]
    assert len(yaml_fleet.nodes) == 23


# --- the INI fixture ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ini_fleet() -> Inventory:
    return load_inventory(str(FIXTURES / "ansible_ini" / "hosts.ini"))  # auto-detected


def test_ini_hosts_ranges_ports_and_groups(ini_fleet: Inventory) -> None:
    assert [n.name for n in ini_fleet.nodes] == [
        "bastion",
        "web1.example.com",
        "web2.example.com",
        "web3.example.com",
        "web4.example.com",
    ]
    bastion = node(ini_fleet, "bastion")
    assert (bastion.address, bastion.port, bastion.groups) == ("192.0.2.1", 2222, ("all", "ungrouped"))
    web4 = node(ini_fleet, "web4.example.com")
    assert (web4.port, web4.user) == (2200, "deploy")
    assert web4.groups == ("all", "prod", "web")
    assert web4.source.endswith("hosts.ini:6")
    assert ini_fleet.groups["prod"] == ini_fleet.groups["web"]


def test_ini_inline_vars_are_literals_and_group_vars_are_strings(ini_fleet: Inventory) -> None:
    web1, web4 = node(ini_fleet, "web1.example.com"), node(ini_fleet, "web4.example.com")
    assert web1.vars["http_port"] == "80"  # [web:vars]: a string
    assert web4.vars["http_port"] == 8080  # inline: ast.literal_eval, and host beats group
    assert web4.vars["debug"] is True
    assert web4.vars["tags"] == ["a", "b"]
    assert web1.vars["enabled"] == "FALSE"
    assert web1.vars["env"] == "prod"  # from the parent group
    assert web1.vars["from_file"] is True  # group_vars/web.yml, YAML 1.1


def test_ini_connection_fields_from_string_group_vars(ini_fleet: Inventory) -> None:
    web1 = node(ini_fleet, "web1.example.com")
    assert web1.become is True  # ansible_become=yes, converted as Ansible does
    assert web1.proxy_command == "ssh -W %h:%p -q ops@192.0.2.1"
    assert ini_fleet.skipped == (
        ("db1.example.com", "connection 'docker' is not supported (nodeward speaks ssh and local)"),
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("23", "23"),
        ("FALSE", "FALSE"),
        ("True", "True"),
        ("'quoted value'", "quoted value"),
        ("""'-o ProxyCommand="ssh -W %h:%p b"'""", '-o ProxyCommand="ssh -W %h:%p b"'),
        ("8080 # a comment", "8080"),
        ("plain # not a comment", "plain # not a comment"),
        ("[1, 2]", "[1, 2]"),
        ("", ""),
    ],
)
def test_group_var_values(text: str, value: str) -> None:
    assert group_var_value(text) == value


# --- precedence --------------------------------------------------------------------


def test_group_precedence_depth_then_priority_then_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "hosts.yml": """
            all:
              vars: {x: all, y: all, z: all, w: all}
              children:
                parent:
                  vars: {x: parent, y: parent}
                  children:
                    child:
                      vars: {x: child}
                      hosts: {h1: {}, h2: {w: host}}
                alpha:
                  vars: {z: alpha, y: alpha}
                  hosts: {h1: {}}
                beta:
                  vars: {z: beta}
                  hosts: {h1: {}}
                gamma:
                  vars: {z: gamma, ansible_group_priority: 0}
                  hosts: {h2: {}}
                delta:
                  vars: {z: delta}
                  hosts: {h2: {}}
            """
        },
    )
    inventory = load(path)
    h1, h2 = node(inventory, "h1"), node(inventory, "h2")
    assert h1.vars["x"] == "child"  # child beats parent beats all
    assert h1.vars["z"] == "beta"  # siblings: alphabetical, the later name wins
    assert h1.vars["y"] == "parent"  # depth 2 beats depth 1, whatever the names
    assert h2.vars["z"] == "delta"  # gamma sorts later but has a lower priority
    assert h2.vars["w"] == "host"
    assert h1.groups == ("all", "alpha", "beta", "parent", "child")


def test_files_beat_inline_and_hosts_beat_groups(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "hosts.yml": """
            all:
              children:
                web:
                  vars: {a: inline-web, b: inline-web, c: inline-web, d: inline-web}
                  hosts:
                    h1: {c: inline-host, d: inline-host}
            """,
            "group_vars/all": "a: file-all\n",  # no extension: still a vars file
            "group_vars/web.yaml": "b: file-web\nc: file-web\n",
            "host_vars/h1.yml": "d: file-host\n",
        },
    )
    h1 = load(path).nodes[0]
    assert h1.vars["a"] == "file-all"  # group_vars/all beats even a child's inline var
    assert h1.vars["b"] == "file-web"  # group_vars/<g> beats inline group vars
    assert h1.vars["c"] == "inline-host"  # inline host vars beat every group var
    assert h1.vars["d"] == "file-host"  # host_vars/<h> beats inline host vars


def test_group_vars_directory_then_extension_files(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "inv.yml": "all:\n  hosts:\n    h1:\n",
            "group_vars/all/b.yml": "v: dir-b\nonly_dir: 1\n",
            "group_vars/all/a.yml": "v: dir-a\n",
            "group_vars/all/.hidden.yml": "v: hidden\n",
            "group_vars/all/c.yml~": "v: backup\n",
            "group_vars/all.yml": "v: file\n",
            "group_vars/all.yaml": "v: file-yaml\n",
        },
    )
    h1 = load(path).nodes[0]
    assert h1.vars["v"] == "file-yaml"  # order: all/ (sorted), all.yml, all.yaml
    assert h1.vars["only_dir"] == 1


def test_last_definition_of_a_host_wins_in_ansible_files(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "hosts.yml": """
            all:
              children:
                a: {hosts: {h1: {ansible_port: 2201, x: 1}}}
                b: {hosts: {h1: {ansible_port: 2202}}}
              vars:
                x: 0
                x: 5
            """
        },
    )
    h1 = load(path).nodes[0]
    assert (h1.port, h1.vars["x"]) == (2202, 1)  # duplicates: last wins, as in Ansible


def test_ini_port_suffix_is_overridden_by_explicit_ansible_port(tmp_path: Path) -> None:
    path = write(tmp_path, {"hosts": "h1:2200 ansible_port=2300\nh2:2201\n[v6]\n[2001:db8::5]:2202\n"})
    inventory = load(path)
    assert [(n.name, n.port) for n in inventory.nodes] == [("h1", 2300), ("h2", 2201), ("2001:db8::5", 2202)]


# --- connection types and roles ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ssh", Connection.SSH),
        ("smart", Connection.SSH),
        ("paramiko", Connection.SSH),
        ("paramiko_ssh", Connection.SSH),
        ("ansible.builtin.ssh", Connection.SSH),
        ("local", Connection.LOCAL),
        ("docker", None),
        ("community.docker.docker", None),
        ("winrm", None),
    ],
)
def test_connection_types(tmp_path: Path, value: str, expected: Connection | None) -> None:
    inventory = load(write(tmp_path, {"hosts": f"h1 ansible_connection={value}\nh2\n"}))
    if expected is None:
        assert inventory.skipped[0][0] == "h1"
        assert value in inventory.skipped[0][1]
        assert [n.name for n in inventory.nodes] == ["h2"]
    else:
        assert node(inventory, "h1").connection is expected
        assert inventory.skipped == ()


def test_skipped_hosts_are_not_validated(tmp_path: Path) -> None:
    inventory = load(write(tmp_path, {"hosts": "win1 ansible_connection=winrm ansible_port=99999\nh2\n"}))
    assert [s[0] for s in inventory.skipped] == ["win1"]


def test_become_password_becomes_a_secret(tmp_path: Path) -> None:
    path = write(
        tmp_path, {"hosts": "h1 ansible_become_pass=1234\nh2\n[all:vars]\nansible_become_password='s e'\n"}
    )
    h1, h2 = load(path).nodes
    assert h1.become_password == Secret("1234")  # literal_eval made it an int; a password is text
    assert h2.become_password == Secret("s e")
    assert "1234" not in repr(h1)


def test_nodeward_roles_in_ansible_inventories(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"hosts": "[cp]\nc1 nodeward_roles=\"['etcd']\"\n[cp:vars]\nnodeward_roles=control-plane,bastion\n"},
    )
    assert load(path).nodes[0].roles == ("control-plane", "bastion", "etcd")


# --- problems ------------------------------------------------------------------------


def test_every_bad_ini_line_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "hosts": """
            ok1
            [web servers]
            skipped-line
            [web:hosts2]
            [web]
            node1 novalue
            node2 x="unclosed
            node3 ansible_port=70000
            [ghost:vars]
            a=1
            [prod:children]
            web
            missing
            [web:vars]
            justtext
            bad;host
            """
        },
    )
    found = problems(path)
    lines = [p.line for p in found]
    assert lines == [2, 4, 6, 7, 8, 9, 13, 15, 16]
    messages = [p.message for p in found]
    assert "invalid section header" in messages[0]
    assert "unknown section type 'hosts2'" in messages[1]
    assert "novalue" in messages[2]
    assert "cannot split" in messages[3]
    assert "65535" in messages[4] and found[4].field == "web.hosts.node3.ansible_port"
    assert "undefined group 'ghost'" in messages[5]
    assert "undefined group 'missing'" in messages[6]
    assert "expected key=value" in messages[7]
    assert "bad;host" in messages[8]


def test_templated_values_are_errors_in_every_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "hosts.yml": """
            all:
              hosts:
                h1:
                  ansible_user: "{{ lookup('env', 'USER') }}"
                  ansible_python_interpreter: "{{ ansible_playbook_python }}"
                  literal: !unsafe "{{ kept as text }}"
            """,
            "group_vars/all.yml": 'ntp: "{% if x %}a{% endif %}"\n',
        },
    )
    found = problems(path)
    assert [(Path(p.file).name, p.line, p.field) for p in found] == [
        ("all.yml", 1, "ntp"),
        ("hosts.yml", 4, "all.hosts.h1.ansible_user"),
    ]
    assert all("ansible-inventory" in p.message and "--list" in p.message for p in found)


def test_unsafe_values_are_kept_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, {"hosts.yml": 'all:\n  hosts:\n    h1:\n      literal: !unsafe "{{ x }}"\n'})
    assert load(path).nodes[0].vars["literal"] == "{{ x }}"


def test_bad_values_in_vars_files_point_into_those_files(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "hosts": "[web]\nh1\n",
            "group_vars/web.yml": "x: 1\nansible_ssh_common_args: -o ForwardAgent=yes\n",
            "host_vars/h1.yml": "ansible_port: 1\nansible_user: 'bad user'\n",
            "host_vars/h1/broken.yml": "a: [1,\n",
        },
    )
    found = problems(path)
    summary = [(Path(p.file).name, p.line, p.field) for p in found]
    assert ("web.yml", 2, "ansible_ssh_common_args") in summary
    assert ("h1.yml", 2, "ansible_user") in summary
    assert ("broken.yml", 2, "") in summary
    assert "forwardagent" in next(p.message for p in found if p.field == "ansible_ssh_common_args")


def test_structure_problems_in_ansible_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "hosts.yml": """
            all:
              hostz:
                h1:
              children:
                web:
                  hosts: [h2]
                "bad group":
                  hosts: {h3: }
                db:
                  vars:
                    ansible_group_priority: high
                  hosts:
                    "db[3:1]":
            """
        },
    )
    found = problems(path)
    assert [(p.line, p.field) for p in found] == [
        (2, "all.hostz"),
        (6, "all.children.web.hosts"),
        (7, "all.children.bad group"),
        (11, "all.children.db.vars.ansible_group_priority"),
        (13, "all.children.db.hosts.db[3:1]"),
    ]
    assert "did you mean 'hosts'" in found[0].message


def test_group_cycle_in_ini(tmp_path: Path) -> None:
    path = write(tmp_path, {"hosts": "[a]\nh1\n[a:children]\nb\n[b:children]\na\n"})
    (problem,) = problems(path)
    assert "own ancestor" in problem.message


def test_vault_and_plugin_files_get_a_way_out(tmp_path: Path) -> None:
    vault = write(
        tmp_path / "v", {"hosts.yml": "all:\n  vars:\n    pw: !vault |\n      $ANSIBLE_VAULT;1.1\n"}
    )
    assert "ansible-inventory" in problems(vault)[0].message
    plugin = write(tmp_path / "p", {"aws_ec2.yml": "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n"})
    assert "inventory plugin configuration" in problems(plugin)[0].message
