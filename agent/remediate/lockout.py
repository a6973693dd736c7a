"""Refusals the bastion can decide before a script is even rendered.

The node-side guards (runtime.sh) judge what only the node knows, with the node's own
tools and in plan mode too: whether an account to keep has a key (L4), a locked
password (L5), is still let in by the candidate sshd configuration (L3), or can still
`sudo -n` (L11). Here, only what the bastion alone knows:

* L4: the inventory logs in with a password (`ansible_password` & co.): password
  authentication off would lock that automation out, key or not on the scan account;
* L9: a firewall candidate must keep a NEW connection from the bastion's address (as
  the node sees it) to the SSH port we use open, or it is refused outright;
* a kubelet field whose effective value comes from a command-line flag or a
  --config-dir drop-in cannot be fixed by editing the config file (the finding would
  stay FAIL after a kubelet restart for nothing).

`--i-have-console-access` (Context.force at the CLI) skips the L4 password refusal
only; L9 and the kubelet layer check are not about the operator's choice.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from agent.facts.model import FactValue
from agent.inventory.model import Node
from agent.remediate.context import Context
from agent.remediate.manifest import Manifest, ParamValue

# Ansible's own password variables: when the inventory logs in with a password, the
# automation that shares it would be locked out by PasswordAuthentication no (L4).
PASSWORD_VARS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")

_PASSWORD_KEYWORDS = frozenset(
    {"passwordauthentication", "kbdinteractiveauthentication", "challengeresponseauthentication"}
)


def refusal(
    manifest: Manifest,
    params: Mapping[str, ParamValue],
    facts: Mapping[str, FactValue],
    node: Node,
    ctx: Context,
) -> str | None:
    if manifest.id == "sshd_option":
        return _sshd(params, node, ctx)
    if manifest.id == "firewall_baseline":
        return _firewall(params, ctx)
    if manifest.id == "kubelet_config_field":
        return _kubelet(params, facts)
    return None


def _sshd(params: Mapping[str, ParamValue], node: Node, ctx: Context) -> str | None:
    keyword = str(params.get("keyword", "")).lower()
    if keyword in _PASSWORD_KEYWORDS and str(params.get("value", "")).lower() == "no":
        used = [var for var in PASSWORD_VARS if node.vars.get(var)]
        if used and not ctx.force:
            return (
                f"the inventory logs in to this node with a password ({used[0]}): {params['keyword']} no "
                "would lock that login out (L4); switch it to a key first, or use --i-have-console-access"
            )
    return None


def _firewall(params: Mapping[str, ParamValue], ctx: Context) -> str | None:
    if not ctx.client_addr:
        return (
            "the bastion's address as the node sees it is unknown: cannot prove the SSH path stays open (L9)"
        )
    try:
        bastion = ipaddress.ip_address(ctx.client_addr)
    except ValueError:
        return (
            f"the bastion's address {ctx.client_addr!r} is not an IP address: cannot prove the SSH path (L9)"
        )
    sources = params.get("ssh_sources", ())
    networks = [
        ipaddress.ip_network(str(s), strict=False) for s in (sources if isinstance(sources, tuple) else ())
    ]
    if not any(bastion.version == net.version and bastion in net for net in networks):
        shown = ", ".join(str(n) for n in networks) or "none"
        return (
            f"the candidate firewall allows SSH only from {shown}, not from the bastion's address "
            f"{bastion} as the node sees it: it would cut this very connection (L9)"
        )
    if params.get("ssh_port") != ctx.ssh_port:
        return (
            f"the candidate firewall opens SSH on port {params.get('ssh_port')}, but this connection uses "
            f"port {ctx.ssh_port} (L9)"
        )
    return None


def _kubelet(params: Mapping[str, ParamValue], facts: Mapping[str, FactValue]) -> str | None:
    fact = facts.get("kubelet")
    settings = getattr(fact, "settings", None)
    if not isinstance(settings, Mapping):
        return None  # no kubelet fact: the node-side script finds the file itself
    setting = settings.get(str(params.get("field", "")))
    layer = getattr(setting, "layer", None)
    where = getattr(setting, "where", "")
    if layer == "flag":
        return f"the effective value comes from a command-line flag ({where}): edit the kubelet's flags"
    if layer == "drop-in":
        return f"the effective value comes from a --config-dir drop-in ({where}), not the file nodeward edits"
    return None  # the node-side script follows the running kubelet's --config itself
