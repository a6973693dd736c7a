"""Which SSH algorithms nodeward offers, and what it refuses after key exchange.

The policy itself is data for auditors: ssh_algorithms.yaml next to this file. Here:

* `restrict` narrows a client Transport's offer to the modern algorithms, plus the
  legacy ones the inventory re-enabled for this node, offered last so that they are
  only chosen when the node offers nothing better;
* `legacy_refusal` explains a failed negotiation with a node that speaks only legacy
  algorithms, and says how to re-enable one for that node alone;
* `terrapin_refusal` refuses a finished key exchange that is open to the Terrapin
  prefix truncation (CVE-2023-48795) unless the operator allowed it for the node;
* `legacy_notes` says which re-enabled algorithms a connection actually uses.

No paramiko import at run time: the inventory validates `legacy_algorithms` with
`legacy_names()` without loading the SSH stack.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import ErrorKind, NodeError
from agent.textsafe import printable
from agent.yamlsafe import load_yaml

if TYPE_CHECKING:
    import paramiko

__all__ = ["legacy_names", "legacy_notes", "legacy_refusal", "policy", "restrict", "terrapin_refusal"]

POLICY_FILE = Path(__file__).with_name("ssh_algorithms.yaml")

# YAML category -> paramiko SecurityOptions attribute.
_SECURITY_ATTRIBUTE = {"ciphers": "ciphers", "macs": "digests", "kex": "kex", "keys": "key_types"}
# ssh_config keyword naming each category, for messages an operator acts on.
_SSHD_KEYWORD = {"ciphers": "Ciphers", "macs": "MACs"}
# Ciphers that authenticate themselves: the MAC negotiated next to them is unused.
_AEAD = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com")
_REENABLE = (
    "legacy_algorithms: [{name}] on this node in the inventory "
    "(nodeward_legacy_algorithms in an Ansible inventory)"
)


@dataclass(frozen=True, slots=True)
class AlgorithmPolicy:
    modern: Mapping[str, frozenset[str]]  # category -> offered by default
    legacy: Mapping[str, Mapping[str, str]]  # category -> name -> why it is off

    def why(self, name: str) -> str | None:
        return next((names[name] for names in self.legacy.values() if name in names), None)


@functools.cache
def policy() -> AlgorithmPolicy:
    """ssh_algorithms.yaml, validated once."""
    doc, _ = load_yaml(POLICY_FILE.read_text(encoding="utf-8"), str(POLICY_FILE), strict=True)
    if not isinstance(doc, Mapping):
        raise ValueError(f"{POLICY_FILE}: expected modern: and legacy: mappings")
    modern, legacy = doc.get("modern"), doc.get("legacy")
    if not isinstance(modern, Mapping) or set(modern) != set(_SECURITY_ATTRIBUTE):
        raise ValueError(f"{POLICY_FILE}: modern: needs exactly {', '.join(_SECURITY_ATTRIBUTE)}")
    if not isinstance(legacy, Mapping) or not set(legacy) <= set(_SSHD_KEYWORD):
        raise ValueError(f"{POLICY_FILE}: legacy: may only hold {', '.join(_SSHD_KEYWORD)}")
    offered: dict[str, frozenset[str]] = {}
    for category, names in modern.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{POLICY_FILE}: modern.{category} must be a list of names")
        offered[str(category)] = frozenset(names)
    reasons: dict[str, dict[str, str]] = {}
    for category, entries in legacy.items():
        if not isinstance(entries, Mapping) or not all(isinstance(v, str) for v in entries.values()):
            raise ValueError(f"{POLICY_FILE}: legacy.{category} must map names to reasons")
        reasons[str(category)] = {str(k): str(v) for k, v in entries.items()}
        if overlap := set(reasons[str(category)]) & offered[str(category)]:
            raise ValueError(f"{POLICY_FILE}: {', '.join(sorted(overlap))} both modern and legacy")
    return AlgorithmPolicy(offered, reasons)


def legacy_names() -> tuple[str, ...]:
    """Every algorithm an inventory may re-enable, in file order."""
    return tuple(name for names in policy().legacy.values() for name in names)


def restrict(transport: paramiko.Transport, reenabled: Iterable[str]) -> None:
    """Offer only modern algorithms, then the re-enabled legacy ones, in paramiko's order."""
    rules = policy()
    wanted = frozenset(reenabled)
    security = transport.get_security_options()
    for category, attribute in _SECURITY_ATTRIBUTE.items():
        current = tuple(getattr(security, attribute))
        legacy = rules.legacy.get(category, {})
        modern = [a for a in current if a in rules.modern[category]]
        extra = [a for a in current if a in legacy and a in wanted]
        setattr(security, attribute, modern + extra)


def legacy_refusal(category: str, offer: Mapping[str, list[str]], version: str, prefix: str) -> NodeError:
    """The node offers no modern cipher (or MAC): say which legacy one it has, and how."""
    lists = {
        "ciphers": ("client_encrypt_algo_list", "server_encrypt_algo_list"),
        "macs": ("client_mac_algo_list", "server_mac_algo_list"),
    }[category]
    offered = list(dict.fromkeys(name for key in lists for name in offer.get(key, [])))
    shown = printable(", ".join(offered) or "nothing", 300)
    what = "cipher" if category == "ciphers" else "MAC"
    legacy = [name for name in offered if name in policy().legacy.get(category, {})]
    if not legacy:
        return NodeError(
            ErrorKind.PROTOCOL,
            f"{prefix}no common {what}: the server ({printable(version, 120)}) offers {shown}",
        )
    name = legacy[0]
    return NodeError(
        ErrorKind.PROTOCOL,
        f"{prefix}the server ({printable(version, 120)}) offers only the legacy {what}(s) {shown}; "
        f"nodeward does not offer {name}: {policy().why(name)}. Enable a modern one in the "
        f"node's sshd_config ({_SSHD_KEYWORD[category]}), or accept the risk for this node with "
        f"{_REENABLE.format(name=name)}.",
    )


def terrapin_refusal(transport: paramiko.Transport, prefix: str, allowed: bool) -> NodeError | None:
    """A refusal when the negotiated modes are open to Terrapin and strict KEX is off.

    Checked after key exchange and before anything else is sent: the host key check,
    authentication and the command all travel in the encrypted stream an attacker could
    shorten. GCM is immune (no separate MAC); CTR with EtM is only theoretically
    affected, but the rule follows OpenSSH's advisory and stays simple to audit.
    """
    if allowed or getattr(transport, "agreed_on_strict_kex", False):
        return None
    exposed = [
        f"{cipher} with {mac}" if mac.endswith("-etm@openssh.com") else cipher
        for cipher, mac in _modes(transport)
        if cipher.startswith("chacha20-poly1305")
        or (cipher not in _AEAD and mac.endswith("-etm@openssh.com"))
    ]
    if not exposed:
        return None
    return NodeError(
        ErrorKind.PROTOCOL,
        f"{prefix}the server ({printable(transport.remote_version, 120)}) does not support strict "
        f"key exchange and negotiated {', '.join(dict.fromkeys(exposed))}, which is open to the "
        "Terrapin attack (CVE-2023-48795). Update the node's OpenSSH (9.6, or a distribution "
        "backport), or accept the risk for this node with allow_no_strict_kex: true in the "
        "inventory (nodeward_allow_no_strict_kex in an Ansible inventory).",
    )


def legacy_notes(transport: paramiko.Transport, prefix: str) -> list[str]:
    """One note per re-enabled legacy algorithm the connection really uses."""
    # An AEAD cipher's negotiated MAC is never used: only name it beside another cipher.
    used = [name for cipher, mac in _modes(transport) for name in (cipher, "" if cipher in _AEAD else mac)]
    notes = []
    for name in dict.fromkeys(used):
        why = policy().why(name)
        if why is not None:
            notes.append(f"{prefix}legacy algorithm {name} in use (re-enabled by the inventory): {why}")
    return notes


def _modes(transport: paramiko.Transport) -> list[tuple[str, str]]:
    """(cipher, MAC) negotiated for each direction; the stubs do not declare them."""
    return [
        (
            str(getattr(transport, f"{side}_cipher", "") or ""),
            str(getattr(transport, f"{side}_mac", "") or ""),
        )
        for side in ("local", "remote")
    ]
