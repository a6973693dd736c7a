"""nftables: `nft -j list table|ruleset` JSON (libnftables-json(5)) into Chains and Rules.

JSON, not the text format: it is nft's own normalised view (service names resolved to
ports, sets expanded), documented, and stable across nft 0.9-1.x. Named sets are
resolved from the same document; a set whose members change at run time (`dynamic`,
`timeout`) becomes an unknown condition rather than a guess. Verdict maps
(`ct state vmap { established : accept, ... }`, firewalld's and Debian's favourite) are
expanded into one rule per element, in order, so the walker sees plain rules.

Everything here is pure and bounded: hostile JSON can make a chain "unknown", never an
exception other than FactParseError.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.facts.firewall.model import TERMINAL, Chain, Match, Rule, table_owner
from agent.facts.model import FactParseError

MAX_OBJECTS = 200_000  # a kube-proxy nftables table of a very large cluster stays below this
MAX_SET_ELEMENTS = 10_000  # beyond this a set is "unknown": we never hold huge sets in memory
_PORT_FIELDS = frozenset({"dport", "sport"})
_L4 = frozenset({"tcp", "udp", "udplite", "sctp", "dccp"})


@dataclass(frozen=True, slots=True)
class NftDocument:
    chains: tuple[Chain, ...]
    tables: tuple[tuple[str, str], ...]  # (family, name) of every table in the document


def loads(text: str, *, source: str) -> NftDocument:
    """Parse one `nft -j list ...` output. Raises FactParseError on anything but JSON of nft."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FactParseError("firewall", None, f"{source}: not JSON ({str(exc)[:80]})") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("nftables"), list):
        raise FactParseError("firewall", None, f"{source}: not nft JSON (no 'nftables' list)")
    objects = document["nftables"]
    if len(objects) > MAX_OBJECTS:
        raise FactParseError("firewall", None, f"{source}: more than {MAX_OBJECTS} objects")
    return _build(objects, source)


def _build(objects: Sequence[object], source: str) -> NftDocument:
    tables: list[tuple[str, str]] = []
    chain_meta: dict[tuple[str, str, str], Mapping[str, object]] = {}
    rules: dict[tuple[str, str, str], list[Rule]] = {}
    sets: dict[tuple[str, str, str], tuple[str, ...] | None] = {}
    raw_rules: list[Mapping[str, object]] = []
    for item in objects:
        if not isinstance(item, Mapping) or len(item) != 1:
            continue
        kind, body = next(iter(item.items()))
        if not isinstance(body, Mapping):
            continue
        family, table = str(body.get("family", "")), str(body.get("table", body.get("name", "")))
        if kind == "table":
            tables.append((family, str(body.get("name", ""))))
        elif kind == "chain":
            key = (family, table, str(body.get("name", "")))
            chain_meta[key] = body
            rules.setdefault(key, [])
        elif kind in ("set", "map"):
            sets[(family, table, str(body.get("name", "")))] = _set_members(body)
        elif kind == "rule":
            raw_rules.append(body)
    for body in raw_rules:
        key = (str(body.get("family", "")), str(body.get("table", "")), str(body.get("chain", "")))
        family, table, chain = key
        where = f"{source}: table {family} {table} chain {chain} handle {body.get('handle', '?')}"
        exprs = body.get("expr")
        if not isinstance(exprs, list):
            continue
        rules.setdefault(key, []).extend(_rules(exprs, family, table, sets, where))
    chains = tuple(_chain(key, chain_meta.get(key, {}), tuple(found), source) for key, found in rules.items())
    return NftDocument(chains=chains, tables=tuple(tables))


def _chain(
    key: tuple[str, str, str], meta: Mapping[str, object], rules: tuple[Rule, ...], source: str
) -> Chain:
    family, table, name = key
    hook = str(meta.get("hook", "")) if meta.get("hook") else ""
    return Chain(
        backend="nftables",
        family=family,
        table=table,
        name=name,
        hook=hook,
        chain_type=str(meta.get("type", "")) if hook else "",
        priority=_int(meta.get("prio", 0)),
        policy=str(meta.get("policy", "accept")) if hook else "",
        rules=rules,
        owner=table_owner(table),
        source=f"{source}: table {family} {table} chain {name}",
    )


def _int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return 0


def _set_members(body: Mapping[str, object]) -> tuple[str, ...] | None:
    """Static members of a named set, or None when they are not knowable from a listing."""
    flags = body.get("flags", [])
    if isinstance(flags, list) and ({"dynamic", "timeout"} & {str(f) for f in flags}):
        return None
    elements = body.get("elem", [])
    if not isinstance(elements, list) or len(elements) > MAX_SET_ELEMENTS:
        return None
    values: list[str] = []
    for element in elements:
        value = _value(element)
        if value is None:
            return None
        values.extend(value)
    return tuple(values)


def _value(right: object) -> tuple[str, ...] | None:
    """A match's right-hand side as strings: "22", "30000-32767", "10.0.0.0/8", "lo"."""
    if isinstance(right, bool):
        return None
    if isinstance(right, (str, int)):
        return (str(right),)
    if isinstance(right, list):  # flag lists: ct state ["established", "related"]
        out: list[str] = []
        for item in right[:MAX_SET_ELEMENTS]:
            value = _value(item)
            if value is None:
                return None
            out.extend(value)
        return tuple(out)
    if not isinstance(right, Mapping) or len(right) != 1:
        return None
    kind, body = next(iter(right.items()))
    if kind == "set" and isinstance(body, list):
        return _value(body)
    if kind == "range" and isinstance(body, list) and len(body) == 2:
        low, high = _value(body[0]), _value(body[1])
        if low is None or high is None:
            return None
        return (f"{low[0]}-{high[0]}",)
    if kind == "prefix" and isinstance(body, Mapping):
        return (f"{body.get('addr')}/{body.get('len')}",)
    if kind == "elem" and isinstance(body, Mapping):
        return _value(body.get("val"))
    return None


def _rules(
    exprs: list[object],
    family: str,
    table: str,
    sets: Mapping[tuple[str, str, str], tuple[str, ...] | None],
    where: str,
) -> list[Rule]:
    matches: list[Match] = []
    words: list[str] = []
    verdict, target = "", ""
    logs = limited = False
    for expr in exprs[:256]:
        if not isinstance(expr, Mapping) or len(expr) != 1:
            matches.append(Match("unknown", (), text="?"))
            continue
        kind, body = next(iter(expr.items()))
        if kind == "match" and isinstance(body, Mapping):
            found, text = _match(body, family, table, sets)
            matches.extend(found)
            words.append(text)
        elif kind in TERMINAL or kind == "return":
            verdict = str(kind)
            words.append(str(kind))
        elif kind in ("jump", "goto") and isinstance(body, Mapping):
            verdict, target = str(kind), str(body.get("target", ""))
            words.append(f"{kind} {target}")
        elif kind == "queue":
            verdict = "queue"
            words.append("queue")
        elif kind == "log":
            logs = True
            words.append("log")
        elif kind == "limit":
            limited = True
            words.append("limit")
        elif kind == "vmap" and isinstance(body, Mapping):
            return _vmap(body, matches, words, family, table, sets, where)
        elif kind == "xt" and isinstance(body, Mapping):
            name = str(body.get("name", "?"))
            if body.get("type") == "target":
                verdict = name.lower() if name.lower() in TERMINAL else verdict
                logs = logs or name in ("LOG", "NFLOG")
            else:
                matches.append(Match("unknown", (), text=f"xt match {name}"))
            words.append(f"xt {name}")
        elif kind in ("counter", "comment", "meta", "mangle", "ct", "notrack", "flow", "set"):
            continue  # statements that neither filter nor decide
        else:
            words.append(str(kind))
    return [Rule(tuple(matches), verdict, target, logs, limited, " ".join(words)[:300], where)]


def _vmap(
    body: Mapping[str, object],
    matches: list[Match],
    words: list[str],
    family: str,
    table: str,
    sets: Mapping[tuple[str, str, str], tuple[str, ...] | None],
    where: str,
) -> list[Rule]:
    """`<key> vmap { a : accept, b : drop }` is one rule per element, in listing order."""
    data = body.get("data")
    elements = data.get("set") if isinstance(data, Mapping) else None
    if not isinstance(elements, list):
        return [Rule((*matches, Match("unknown", (), text="vmap")), "", text="vmap", source=where)]
    out: list[Rule] = []
    for element in elements[:MAX_SET_ELEMENTS]:
        if not isinstance(element, list) or len(element) != 2 or not isinstance(element[1], Mapping):
            continue
        verdict_obj = element[1]
        verdict = next(iter(verdict_obj), "")
        target = ""
        inner = verdict_obj.get(verdict)
        if isinstance(inner, Mapping):
            target = str(inner.get("target", ""))
        found, text = _match({"op": "==", "left": body.get("key"), "right": element[0]}, family, table, sets)
        rule_text = " ".join([*words, f"{text} : {verdict} {target}".strip()])
        out.append(Rule((*matches, *found), str(verdict), target, text=rule_text[:300], source=where))
    return out


def _match(
    body: Mapping[str, object],
    family: str,
    table: str,
    sets: Mapping[tuple[str, str, str], tuple[str, ...] | None],
) -> tuple[list[Match], str]:
    op = str(body.get("op", "=="))
    left, right = body.get("left"), body.get("right")
    field, proto, fam, name = _left(left)
    text = f"{name} {'' if op in ('==', 'in') else op + ' '}{_show(right)}"
    if isinstance(right, str) and right.startswith("@"):
        values = sets.get((family, table, right[1:]))
    else:
        values = _value(right)
    if field == "unknown" or values is None:
        return [Match("unknown", (), text=text[:200])], text
    negated = op == "!="
    if op in ("<", ">", "<=", ">=") and field in _PORT_FIELDS | {"ct_orig_dport"} and len(values) == 1:
        values, negated = (_port_bound(op, values[0]),), False
        if values[0] == "":
            return [Match("unknown", (), text=text[:200])], text
    elif op not in ("==", "!=", "in"):
        return [Match("unknown", (), text=text[:200])], text
    found = [Match(field, values, negated=negated, family=fam, text=text[:200])]
    if proto:
        found.append(Match("proto", (proto,), text=proto))
    return found, text


def _port_bound(op: str, value: str) -> str:
    if not value.isdigit():
        return ""
    n = int(value)
    return {"<": f"0-{n - 1}", "<=": f"0-{n}", ">": f"{n + 1}-65535", ">=": f"{n}-65535"}[op]


def _left(left: object) -> tuple[str, str, str, str]:
    """(field, implied l4 protocol, address family, printable name) of a match's left side."""
    if not isinstance(left, Mapping) or len(left) != 1:
        return "unknown", "", "", "?"
    kind, body = next(iter(left.items()))
    if not isinstance(body, Mapping):
        return "unknown", "", "", str(kind)
    if kind == "meta":
        key = str(body.get("key", ""))
        field = {
            "iif": "iif", "iifname": "iif", "oif": "oif", "oifname": "oif",
            "l4proto": "proto", "nfproto": "nfproto", "pkttype": "pkttype",
        }.get(key, "unknown")  # fmt: skip
        return field, "", "", f"meta {key}"
    if kind == "payload":
        protocol, pfield = str(body.get("protocol", "")), str(body.get("field", ""))
        name = f"{protocol} {pfield}"
        if protocol in ("ip", "ip6") and pfield in ("saddr", "daddr"):
            return pfield, "", protocol, name
        if protocol == "ip" and pfield == "protocol":
            return "proto", "", "ip", name
        if protocol == "ip6" and pfield == "nexthdr":
            return "proto", "", "ip6", name
        if protocol in _L4 and pfield in _PORT_FIELDS:
            return pfield, protocol, "", name
        if protocol == "th" and pfield in _PORT_FIELDS:
            return pfield, "", "", name
        return "unknown", "", "", name
    if kind == "ct":
        key, direction = str(body.get("key", "")), str(body.get("dir", ""))
        if key == "state":
            return "ct_state", "", "", "ct state"
        if key == "proto-dst" and direction == "original":
            return "ct_orig_dport", "", "", "ct original proto-dst"
        return "unknown", "", "", f"ct {key}"
    if kind == "fib":
        flags = body.get("flags", [])
        if body.get("result") == "type" and isinstance(flags, list) and flags == ["daddr"]:
            return "addrtype_dst", "", "", "fib daddr type"
        return "unknown", "", "", "fib"
    return "unknown", "", "", str(kind)


def _show(right: object) -> str:
    values = _value(right)
    if values is None:
        return str(right)[:80] if isinstance(right, str) else "{...}"
    return ",".join(values[:8]) + (",..." if len(values) > 8 else "")
