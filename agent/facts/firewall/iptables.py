"""iptables-save / ip6tables-save format (legacy and nf_tables variants, and the persisted
files /etc/iptables/rules.v4, /etc/sysconfig/iptables that iptables-restore reads).

The format is line based: `*table`, `:CHAIN POLICY [packets:bytes]`, `-A CHAIN options`,
`COMMIT`. Options are tokenised like the shell (iptables-save quotes comments with
double quotes and backslash escapes). The match options we can judge become Match
values; any other module option becomes an unknown condition, so a rule we do not
understand is "may match" for the walker, never silently "never matches".

Implicit `-m tcp`/`-m udp` (iptables-save adds them, hand-written files often do not)
parse to the same Match values, so a persisted file and the live ruleset compare by
meaning, not by spelling.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from agent.facts.firewall.model import Chain, Match, Rule, chain_owner

MAX_LINES = 500_000
_BUILTIN_HOOKS: dict[str, dict[str, str]] = {
    "filter": {"INPUT": "input", "FORWARD": "forward", "OUTPUT": "output"},
    "mangle": {
        "PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward",
        "OUTPUT": "output", "POSTROUTING": "postrouting",
    },
    "nat": {"PREROUTING": "prerouting", "INPUT": "input", "OUTPUT": "output", "POSTROUTING": "postrouting"},
    "raw": {"PREROUTING": "prerouting", "OUTPUT": "output"},
    "security": {"INPUT": "input", "FORWARD": "forward", "OUTPUT": "output"},
}  # fmt: skip
# The netfilter hook priorities of the xtables tables (NF_IP_PRI_*).
_PRIORITY = {"raw": -300, "mangle": -150, "nat": -100, "filter": 0, "security": 50}
_TERMINAL_TARGETS = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "reject", "RETURN": "return"}
_LOG_TARGETS = frozenset({"LOG", "NFLOG", "ULOG"})
_QUEUE_TARGETS = frozenset({"QUEUE", "NFQUEUE"})
# Options that take no argument.
_FLAGS = frozenset(
    {"--syn", "--limit-iface-in", "--limit-iface-out", "-f", "--fragment", "--rcheck", "--update"}
)
_IGNORED_MODULES = frozenset({"comment", "tcp", "udp", "sctp", "dccp", "udplite"})


@dataclass
class _Table:
    name: str
    policies: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    rules: dict[str, list[Rule]] = field(default_factory=dict)
    declared_line: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SaveDocument:
    chains: tuple[Chain, ...]
    tables: tuple[str, ...]
    unparsed_lines: int


def parse_save(text: str, *, family: str, backend: str, source: str) -> SaveDocument:
    """Parse iptables-save output. `family` is "ip" (iptables) or "ip6" (ip6tables)."""
    tables: list[_Table] = []
    current: _Table | None = None
    unparsed = 0
    for number, raw in enumerate(text.splitlines()[:MAX_LINES], start=1):
        line = raw.strip()
        if line.startswith("[") and "]" in line:  # `iptables-save -c` counters before a rule
            line = line[line.index("]") + 1 :].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            current = _Table(line[1:].strip()[:64])
            tables.append(current)
        elif line == "COMMIT":
            current = None
        elif current is None:
            unparsed += 1
        elif line.startswith(":"):
            parts = line[1:].split()
            if not parts:
                unparsed += 1
                continue
            name = parts[0][:64]
            current.policies[name] = parts[1] if len(parts) > 1 else "-"
            current.order.append(name)
            current.rules.setdefault(name, [])
            current.declared_line[name] = number
        elif line.startswith("-A ") or line.startswith("--append "):
            rule = _rule(line, number, current, family, source)
            if rule is None:
                unparsed += 1
                continue
            chain, parsed = rule
            if chain not in current.rules:
                current.order.append(chain)
                current.rules[chain] = []
            current.rules[chain].append(parsed)
        else:
            unparsed += 1
    chains = tuple(c for t in tables for c in _chains(t, family, backend, source))
    return SaveDocument(chains=chains, tables=tuple(t.name for t in tables), unparsed_lines=unparsed)


def _chains(table: _Table, family: str, backend: str, source: str) -> list[Chain]:
    hooks = _BUILTIN_HOOKS.get(table.name, {})
    out: list[Chain] = []
    for name in table.order:
        hook = hooks.get(name, "")
        policy = table.policies.get(name, "-")
        line = table.declared_line.get(name)
        out.append(
            Chain(
                backend=backend,
                family=family,
                table=table.name,
                name=name,
                hook=hook,
                chain_type=("nat" if table.name == "nat" else "filter") if hook else "",
                priority=_PRIORITY.get(table.name, 0),
                policy=policy.lower() if hook and policy in ("ACCEPT", "DROP") else "",
                rules=tuple(table.rules.get(name, ())),
                owner=chain_owner(name),
                source=f"{source}:{line}" if line else source,
            )
        )
    return out


def _rule(line: str, number: int, table: _Table, family: str, source: str) -> tuple[str, Rule] | None:
    try:
        words = shlex.split(line[:8192], posix=True)
    except ValueError:
        return None
    if len(words) < 2:
        return None
    chain = words[1][:64]
    matches: list[Match] = []
    verdict = target = ""
    logs = limited = False
    negate = False
    module = ""
    i = 2
    while i < len(words):
        word = words[i]
        i += 1
        if word == "!":
            negate = True
            continue
        args: list[str] = []
        if word in ("-j", "--jump", "-g", "--goto"):
            name = words[i] if i < len(words) else ""
            i = len(words)  # everything after the target belongs to the target
            if word in ("-g", "--goto"):
                verdict, target = "goto", name
            elif name in _TERMINAL_TARGETS:
                verdict = _TERMINAL_TARGETS[name]
            elif name in _LOG_TARGETS:
                logs = True
            elif name in _QUEUE_TARGETS:
                verdict = "queue"
            elif name in table.policies or name in table.rules:
                verdict, target = "jump", name
            continue
        if word.startswith("-") and word not in _FLAGS:
            while i < len(words) and words[i] != "!" and not words[i].startswith("-"):
                args.append(words[i])
                i += 1
        if word in ("-m", "--match"):
            module = args[0] if args else ""
            negate = False
            continue
        found = _option(word, args, module, negate, family)
        if isinstance(found, Match):
            matches.append(found)
        elif found == "limit":
            limited = True
        negate = False
    text = line[:300]
    where = f"{source}:{number}"
    return chain, Rule(tuple(matches), verdict, target, logs, limited, text, where)


def _option(word: str, args: list[str], module: str, negate: bool, family: str) -> Match | str | None:
    """One option as a Match; "limit" for a rate limit; None for options that do not filter."""
    value = args[0] if args else ""
    shown = f"{'! ' if negate else ''}{word} {' '.join(args)}".strip()
    if word in ("-s", "--source", "--src", "-d", "--destination", "--dst"):
        name = "saddr" if word in ("-s", "--source", "--src") else "daddr"
        return Match(name, tuple(value.split(",")), negated=negate, family=family, text=shown)
    if word in ("-p", "--protocol"):
        proto = "ipv6-icmp" if value in ("icmpv6", "ipv6-icmp") else value.lower()
        return Match("proto", (proto,), negated=negate, text=shown)
    if word in ("-i", "--in-interface"):
        return Match("iif", (value,), negated=negate, text=shown)
    if word in ("-o", "--out-interface"):
        return Match("oif", (value,), negated=negate, text=shown)
    if word in ("--dport", "--destination-port", "--sport", "--source-port"):
        name = "dport" if word in ("--dport", "--destination-port") else "sport"
        return Match(name, (value.replace(":", "-"),), negated=negate, text=shown)
    if module == "multiport" and word in ("--dports", "--destination-ports", "--sports", "--source-ports"):
        name = "dport" if word in ("--dports", "--destination-ports") else "sport"
        return Match(name, tuple(v.replace(":", "-") for v in value.split(",")), negated=negate, text=shown)
    if word == "--syn" or (word == "--tcp-flags" and args[-1:] == ["SYN"]):
        # A SYN without ACK starts a connection: for our probes the same as ct state new.
        return Match("ct_state", ("new",), negated=negate, text=shown)
    if word in ("--ctstate", "--state"):
        return Match("ct_state", tuple(v.lower() for v in value.split(",")), negated=negate, text=shown)
    if word == "--ctorigdstport":
        return Match("ct_orig_dport", (value.replace(":", "-"),), negated=negate, text=shown)
    if module == "addrtype" and word == "--dst-type":
        return Match("addrtype_dst", (value.lower(),), negated=negate, text=shown)
    if module == "pkttype" and word == "--pkt-type":
        return Match("pkttype", (value.lower(),), negated=negate, text=shown)
    if module == "limit" or module == "hashlimit":
        return "limit"
    if module in _IGNORED_MODULES and word in ("--comment",):
        return None
    if module == "comment":
        return None
    return Match("unknown", (), negated=negate, text=shown[:200])
