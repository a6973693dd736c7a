"""What the planner knows about one node for this run: who must keep a way in, and from where.

bind.py fills fixes' `auto` parameters from it and lockout.py decides its refusals with
it; it lives below both so that neither imports the other back (issue #11: the two
used to import each other inside functions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.inventory.model import Node

VAR_LOGIN_USERS = "nodeward_login_users"
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\$?$")


@dataclass(frozen=True, slots=True)
class Context:
    """What the planner knows about one node for this run."""

    login_user: str
    keep_users: tuple[str, ...]  # login user first
    client_addr: str  # the bastion's address as the node sees it ("" when unknown)
    ssh_port: int
    roles: tuple[str, ...]
    force: bool = False  # --i-have-console-access: skip the lockout guards (never L7/L8)


def keep_users(node: Node, login_user: str) -> tuple[str, ...]:
    """The login account, then every account the inventory says people log in with."""
    users = [login_user]
    extra = node.vars.get(VAR_LOGIN_USERS, [])
    if isinstance(extra, str):
        extra = extra.replace(",", " ").split()
    if isinstance(extra, list):
        users += [str(u) for u in extra if isinstance(u, str) and _USER.match(u) and u not in users]
    return tuple(users)


def context_for(
    node: Node,
    login_user: str,
    gather_context: Mapping[str, str],
    roles: Sequence[str],
    *,
    force: bool = False,
) -> Context:
    port = gather_context.get("server_port", "")
    return Context(
        login_user=login_user,
        keep_users=keep_users(node, login_user),
        client_addr=gather_context.get("client_addr", ""),
        ssh_port=int(port) if port.isdigit() else (node.port or 22),
        roles=tuple(roles),
        force=force,
    )
