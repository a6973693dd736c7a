"""Does a connection select a Match block? sshd's own rules, re-implemented.

The file walk needs this to say which Match block set a value for a connection, and
for configurations where `sshd -T` cannot run. It follows OpenSSH 9.x exactly:
servconf.c `match_cfg_line` (criteria are ANDed; a criterion whose connection field
is missing simply does not match in test mode), match.c `match_pattern_list` (`*`/`?`
patterns, comma lists, a matching `!pattern` vetoes the whole list) and addrmatch.c
`addr_match_list` (CIDR entries first, wildcard strings otherwise; a CIDR with host
bits set is an error that makes sshd refuse the whole file).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

GroupsOf = Callable[[str], frozenset[str] | None]  # None: no such user on the node

_SUBPATTERN_MAX = 1023  # match.c copies each sub-pattern into char sub[1024]


@dataclass(frozen=True, slots=True)
class Connection:
    """sshd -T -C parameters. lport 0 means "not given", as sshd's static struct has it."""

    user: str | None = None
    host: str | None = None
    addr: str | None = None
    laddr: str | None = None
    lport: int = 0
    rdomain: str | None = None

    @classmethod
    def from_spec(cls, spec: str) -> Connection | None:
        """servconf.c parse_server_match_testspec; None when sshd would reject it."""
        fields: dict[str, str] = {}
        for part in spec.split(","):
            if part == "":
                break  # strsep loop stops at the first empty token
            key, sep, value = part.partition("=")
            if not sep or key not in ("user", "host", "addr", "laddr", "lport", "rdomain"):
                return None
            fields[key] = value
        lport = 0
        if "lport" in fields:
            lport = port_number(fields["lport"])
            if lport < 0:
                return None
        return cls(
            user=fields.get("user"),
            host=fields.get("host"),
            addr=fields.get("addr"),
            laddr=fields.get("laddr"),
            lport=lport,
            rdomain=fields.get("rdomain"),
        )

    def spec(self) -> str:
        parts = [
            f"{key}={value}"
            for key, value in (
                ("user", self.user),
                ("host", self.host),
                ("addr", self.addr),
                ("laddr", self.laddr),
                ("lport", str(self.lport) if self.lport else None),
                ("rdomain", self.rdomain),
            )
            if value is not None
        ]
        return ",".join(parts)


def port_number(text: str) -> int:
    """misc.c a2port: 0-65535 or a service name; -1 when neither."""
    if re.fullmatch(r"[+]?[0-9]+", text.strip(" \t")) and int(text) <= 65535:
        return int(text)
    try:
        return socket.getservbyname(text, "tcp")
    except (OSError, UnicodeError):
        return -1


def match_pattern(text: str, pattern: str) -> bool:
    """match.c match_pattern: `*` and `?` only, everything else literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def match_pattern_list(text: str, patterns: str, *, lower: bool = False) -> int:
    """1 if some sub-pattern matches, -1 if a negated one does, else 0."""
    positive = False
    for sub in patterns.split(","):
        negated = sub.startswith("!")
        if negated:
            sub = sub[1:]
        if len(sub) >= _SUBPATTERN_MAX:
            return 0
        if lower:
            sub = sub.lower()
        if match_pattern(text, sub):
            if negated:
                return -1
            positive = True
    return 1 if positive else 0


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """addr_pton: getaddrinfo(AI_NUMERICHOST), which also takes inet_aton short forms."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


def _cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | int:
    """addr_pton_cidr: a network, -1 (not an address at all) or -2 (bad mask/host bits)."""
    if len(text) >= 64:
        return -1
    host, slash, mask = text.partition("/")
    if slash and not re.fullmatch(r"[0-9]+", mask):
        return -1
    if slash and int(mask) > 128:
        return -1
    address = _address(host)
    if address is None:
        return -1
    bits = int(mask) if slash else address.max_prefixlen
    if bits > address.max_prefixlen:
        return -2
    try:
        return ipaddress.ip_network(f"{address}/{bits}", strict=True)
    except ValueError:
        return -2  # host bits set: "inconsistent mask length"


def addr_match_list(addr: str | None, patterns: str) -> int:
    """addrmatch.c addr_match_list: 1 match, 0 none, -1 negated match, -2 invalid list."""
    tried = None
    if addr is not None:
        tried = _address(addr)
        if tried is None:
            return 0
    result = 0
    for entry in patterns.split(","):
        negated = entry.startswith("!")
        if negated:
            entry = entry[1:]
        if entry == "":
            return -2
        network = _cidr(entry)
        if network == -2:
            return -2
        if isinstance(network, int):
            hit = addr is not None and match_pattern(addr, entry)
        else:
            hit = tried is not None and tried.version == network.version and tried in network
        if hit:
            if negated:
                return -1
            result = 1
    return result


@dataclass(frozen=True, slots=True)
class MatchResult:
    matched: bool
    error: str | None = None  # sshd would refuse the configuration ("Bad Match condition")


def match_criteria(
    pairs: list[tuple[str, str | None]], connection: Connection | None, groups_of: GroupsOf
) -> MatchResult:
    """servconf.c match_cfg_line for parsed criteria; connection None is sshd's first,
    connection-less pass (only `All` matches there)."""
    result = True
    for attribute, argument in pairs:
        if attribute == "all":
            return MatchResult(True)
        arg = argument or ""
        if attribute == "user":
            if connection is None or connection.user is None or match_pattern_list(connection.user, arg) != 1:
                result = False
        elif attribute == "group":
            if connection is None or connection.user is None:
                result = False
            else:
                groups = groups_of(connection.user)
                if not groups or not _groups_match(groups, arg):
                    result = False
        elif attribute == "host":
            if (
                connection is None
                or connection.host is None
                or match_pattern_list(connection.host.lower(), arg, lower=True) != 1
            ):
                result = False
        elif attribute in ("address", "localaddress"):
            value = (
                None
                if connection is None
                else (connection.addr if attribute == "address" else connection.laddr)
            )
            verdict = addr_match_list(value, arg)
            if verdict == -2:
                return MatchResult(False, f"Invalid Match {attribute} argument '{arg}'")
            if value is None or verdict != 1:
                result = False
        elif attribute == "localport":
            port = port_number(arg)
            if port < 0:
                return MatchResult(False, f"Invalid LocalPort '{arg}' on Match line")
            if connection is None:
                result = False
            elif connection.lport == 0:
                return MatchResult(
                    False,
                    "'Match LocalPort' in configuration but 'lport' not in connection test specification.",
                )
            elif port != connection.lport:
                result = False
        elif attribute == "rdomain":
            if (
                connection is None
                or connection.rdomain is None
                or match_pattern_list(connection.rdomain, arg) != 1
            ):
                result = False
        else:
            return MatchResult(False, f"Unsupported Match attribute {attribute}")
    return MatchResult(result)


def _groups_match(groups: frozenset[str], patterns: str) -> bool:
    """groupaccess.c ga_match_pattern_list: any group matches, a negated match vetoes."""
    found = False
    for group in sorted(groups):
        verdict = match_pattern_list(group, patterns)
        if verdict == -1:
            return False
        if verdict == 1:
            found = True
    return found
