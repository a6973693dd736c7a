"""Entry points: load an inventory file (any supported format) or an ad-hoc host list.

Loading is pure file reading: nothing is resolved, contacted or executed. Every
problem is collected and raised as one InventoryError (cli.py: exit code 2).
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

from agent.errors import InventoryError, Problem
from agent.inventory.ansible import load_ansible
from agent.inventory.fields import FieldError, valid_host, valid_user
from agent.inventory.limit import apply_limit
from agent.inventory.model import Connection, Inventory, Node
from agent.inventory.native import load_native
from agent.inventory.ranges import RangeError, split_host_port
from agent.inventory.tree import ALL, Problems, read_text

FORMATS = ("auto", "nodeward", "ansible")
HOSTS_SOURCE = "--hosts"
LOCAL_NAME = "localhost"  # the node name `local://` gets in reports

# Keys only our format has: a file using them is ours even if it also copies
# ansible_* spellings, so auto-detection never reads `address:` as a free variable.
_NATIVE_ONLY_KEYS = frozenset(
    {
        "address",
        "identity_file",
        "proxy_jump",
        "proxy_command",
        "known_hosts_file",
        "ssh_config_file",
        "strict_host_key_checking",
        "become_password",
    }
)
# A mapping key at the start of a line, after `- `, or inside a flow mapping `{a: 1, b: 2}`.
_YAML_KEY = re.compile(
    r"""(?:^[ \t]*(?:-[ \t]+)?|[{,][ \t]*)["']?([A-Za-z_][\w.-]*)["']?[ \t]*:(?=[ \t]|$)""", re.M
)
_URL_PASSWORD = re.compile(r"^((?:[A-Za-z][\w+.-]*://)?[^@/:]*):[^@/]*@")
_YAML_FIRST_LINE = re.compile(r"""^(?:---|%|\{|-\s|["']|[^\s=]+?:(?:\s|$))""")


def load_inventory(path: str, *, fmt: str = "auto", limit: str | None = None) -> Inventory:
    """Read the inventory at `path`; `fmt` is "auto", "nodeward" or "ansible".

    auto: INI if the file is not YAML-shaped; otherwise Ansible if it uses ansible_*
    keys (and none of our own field names) or has group_vars/ or host_vars/ beside it;
    otherwise nodeward. `limit` applies `--limit` patterns (agent.inventory.limit).
    """
    if fmt not in FORMATS:
        raise InventoryError(
            [Problem("--inventory-format", None, "", f"{fmt!r} is not one of {', '.join(FORMATS)}")]
        )
    problems = Problems()
    text = read_text(path, problems)
    if text is None:
        problems.raise_if_any()
        raise AssertionError("unreachable: read_text reported no problem")
    ini = looks_like_ini(text)
    chosen = fmt if fmt != "auto" else detect_format(text, path, ini=ini)
    if chosen == "nodeward":
        if ini:
            raise InventoryError(
                [
                    Problem(
                        path,
                        None,
                        "",
                        "this looks like an Ansible INI inventory; use --inventory-format ansible",
                    )
                ]
            )
        inventory, membership = load_native(text, path)
    else:
        inventory, membership = load_ansible(text, path, ini=ini)
    return inventory if limit is None else apply_limit(inventory, limit, membership)


def looks_like_ini(text: str) -> bool:
    """True unless the first significant line reads like YAML (`key:`, `---`, `{`, `- `)."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            return True
        return _YAML_FIRST_LINE.match(line) is None
    return False  # an empty file: let the YAML reader say it defines no hosts


def detect_format(text: str, path: str, *, ini: bool) -> str:
    """The format "auto" stands for (see load_inventory)."""
    if ini:
        return "ansible"
    keys = set(_YAML_KEY.findall(text))
    if keys & _NATIVE_ONLY_KEYS:
        return "nodeward"
    here = os.path.dirname(os.path.abspath(path))
    vars_dirs = any(os.path.isdir(os.path.join(here, d)) for d in ("group_vars", "host_vars"))
    if vars_dirs or any(key.startswith("ansible_") for key in keys):
        return "ansible"
    return "nodeward"


def inventory_from_hosts(spec: str) -> Inventory:
    """An inventory from testinfra-style URLs: `ssh://user@host:port,host2,local://`.

    A bare `host` means ssh://host. User and host are percent-decoded. Passwords in the
    URL are refused: they would sit in shell history and the process list.
    """
    problems: list[Problem] = []
    nodes: dict[str, Node] = {}
    for index, item in enumerate(part.strip() for part in spec.split(",")):
        if not item:
            continue
        field = f"hosts[{index}]"
        try:
            node = _host_from_url(item)
        except (FieldError, RangeError) as error:
            problems.append(Problem(HOSTS_SOURCE, None, field, f"{_redacted(item)!r}: {error}"))
            continue
        if node.name in nodes:
            problems.append(Problem(HOSTS_SOURCE, None, field, f"{node.name!r} is listed twice"))
            continue
        nodes[node.name] = node
    if not nodes and not problems:
        problems.append(Problem(HOSTS_SOURCE, None, "", "no host given"))
    if problems:
        raise InventoryError(problems)
    return Inventory(tuple(nodes.values()), {ALL: tuple(nodes)}, HOSTS_SOURCE)


def _redacted(item: str) -> str:
    """`ssh://user:secret@host` -> `ssh://user:***@host`: error messages end up in logs."""
    return _URL_PASSWORD.sub(r"\1:***@", item)


def _host_from_url(item: str) -> Node:
    url = urlsplit(item if "://" in item else f"ssh://{item}")
    scheme = url.scheme.lower()
    if url.query or url.fragment or url.path not in ("", "/"):
        raise FieldError("paths, queries and fragments are not part of a host URL")
    if scheme == "local":
        if url.netloc:
            raise FieldError("local:// takes no host; it scans the machine nodeward runs on")
        return Node(LOCAL_NAME, connection=Connection.LOCAL, groups=(ALL,), source=HOSTS_SOURCE)
    if scheme not in ("ssh", "paramiko"):
        raise FieldError(f"unsupported scheme {scheme!r}:// (use ssh:// or local://)")
    userinfo, at, hostport = url.netloc.rpartition("@")
    if ":" in userinfo:
        raise FieldError("passwords in --hosts are not supported; use a key or ssh-agent")
    user = valid_user(unquote(userinfo)) if at else None
    host, port = split_host_port(hostport)
    host = valid_host(unquote(host))
    return Node(host, port=port, user=user, groups=(ALL,), source=HOSTS_SOURCE)
