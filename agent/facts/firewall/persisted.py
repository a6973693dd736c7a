"""Rulesets persisted for the next boot: what the node will load, not what it runs now.

* nftables (/etc/nftables.conf on Debian/Ubuntu, /etc/sysconfig/nftables.conf on the
  RHEL family): the gather snippet loads the file into a throwaway network namespace
  and lists it with `nft -j`, so it parses with the same code as the live ruleset and
  compares by meaning (catalogue FW-10; CIS Ubuntu 24.04 4.3.10, SSG
  nftables_rules_permanent). When that is impossible (no unshare, a rule naming an
  interface that only exists on the host), a small text reader recovers the base
  chains and their policies only, and says so.
* iptables-restore files (/etc/iptables/rules.v4|v6 of iptables-persistent,
  /etc/sysconfig/iptables|ip6tables of iptables-services): the iptables-save parser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.facts.firewall import iptables, nft
from agent.facts.firewall.model import Chain, table_owner
from agent.facts.model import FactParseError

_TABLE = re.compile(r"^table\s+(?:(ip|ip6|inet|arp|bridge|netdev)\s+)?([A-Za-z0-9_.-]+)\s*\{")
_CHAIN = re.compile(r"^chain\s+([A-Za-z0-9_.-]+)\s*\{")
_HOOK = re.compile(
    r"type\s+(\w+)\s+hook\s+(\w+)(?:\s+device\s+\S+)?\s+priority\s+([\w+-]+(?:\s*[+-]\s*\d+)?)"
)
_POLICY = re.compile(r"policy\s+(accept|drop)")
_NAMED_PRIORITY = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}


class _Sub(Protocol):  # firewall.Sub, without importing it (it imports us)
    @property
    def name(self) -> str: ...
    @property
    def arg(self) -> str: ...
    @property
    def stdout(self) -> str: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def error(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Persisted:
    path: str
    backend: str  # nftables | iptables
    family: str  # ip | ip6 for iptables files; "" for nftables (any family)
    chains: tuple[Chain, ...]
    method: str  # how the content was read, shown in evidence
    complete: bool  # False: only base chains and policies are known (text fallback)
    valid: bool | None = None  # `nft -c -f` accepted the file (None: not checked)
    error: str = ""


def parse_persisted(sub: _Sub, by_name: Mapping[str, Sequence[_Sub]]) -> Persisted | None:
    if sub.name == "iptconf":
        return _iptables(sub)
    if sub.name == "nftconf_text":
        return _nftables(sub, by_name)
    return None


def _iptables(sub: _Sub) -> Persisted:
    family = "ip6" if sub.arg.endswith(("v6", "ip6tables")) else "ip"
    if sub.exit_code != 0:
        return Persisted(sub.arg, "iptables", family, (), "cat", False, None, sub.error)
    document = iptables.parse_save(sub.stdout, family=family, backend="iptables-persisted", source=sub.arg)
    return Persisted(sub.arg, "iptables", family, document.chains, "iptables-restore format", True)


def _nftables(text_sub: _Sub, by_name: Mapping[str, Sequence[_Sub]]) -> Persisted:
    path = text_sub.arg
    check = next((s for s in by_name.get("nftconf_check", ()) if s.arg == path), None)
    loaded = next((s for s in by_name.get("nftconf_json", ()) if s.arg == path), None)
    valid = None if check is None else check.exit_code == 0
    error = "" if check is None or check.exit_code == 0 else f"nft -c -f {path}: {check.error}"
    if loaded is not None and loaded.exit_code == 0:
        label = f"{path} (loaded in a private network namespace, listed with nft -j)"
        try:
            document = nft.loads(loaded.stdout, source=label)
            return Persisted(path, "nftables", "", document.chains, label, True, valid, error)
        except FactParseError as exc:
            error = error or str(exc)
    elif loaded is not None and not error:
        error = f"loading {path} in a private network namespace failed: {loaded.error}"
    if text_sub.exit_code != 0:
        return Persisted(path, "nftables", "", (), "cat", False, valid, error or text_sub.error)
    chains = parse_nft_text(text_sub.stdout, path)
    return Persisted(
        path, "nftables", "", chains, f"{path} (text: base chains and policies only)", False, valid, error
    )


def parse_nft_text(text: str, path: str) -> tuple[Chain, ...]:
    """Base chains and policies from nftables.conf text (the fallback; rules are not read)."""
    chains: list[Chain] = []
    depth = 0
    table: tuple[str, str, int] | None = None  # family, name, depth
    chain: dict[str, str | int] | None = None
    for number, raw in enumerate(text.splitlines()[:50_000], start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        found_table = _TABLE.match(line)
        found_chain = _CHAIN.match(line)
        if found_table and table is None:
            table = (found_table.group(1) or "ip", found_table.group(2), depth)
        elif found_chain and table is not None and chain is None:
            chain = {"name": found_chain.group(1), "line": number, "depth": depth}
        if chain is not None:
            hook = _HOOK.search(line)
            if hook:
                chain.update(type=hook.group(1), hook=hook.group(2), prio=_priority(hook.group(3)))
            policy = _POLICY.search(line)
            if policy:
                chain["policy"] = policy.group(1)
        depth += line.count("{") - line.count("}")
        if chain is not None and depth <= int(chain["depth"]):
            if table is not None and chain.get("hook"):
                chains.append(_text_chain(table, chain, path))
            chain = None
        if table is not None and depth <= table[2]:
            table = None
    return tuple(chains)


def _priority(text: str) -> int:
    text = text.replace(" ", "")
    match = re.fullmatch(r"([a-z]+)?([+-]?\d+)?", text)
    if match is None:
        return 0
    base = _NAMED_PRIORITY.get(match.group(1) or "", 0)
    return base + int(match.group(2) or 0)


def _text_chain(table: tuple[str, str, int], chain: Mapping[str, str | int], path: str) -> Chain:
    family, name, _ = table
    return Chain(
        backend="nftables",
        family=family,
        table=name,
        name=str(chain["name"]),
        hook=str(chain["hook"]),
        chain_type=str(chain.get("type", "filter")),
        priority=int(chain.get("prio", 0)),
        policy=str(chain.get("policy", "accept")),
        rules=(),
        owner=table_owner(name),
        source=f"{path}:{chain['line']}",
    )
