"""Ansible host patterns: `node[01:20].example.com`, `[a:f]`, steps, and `host:port`.

Semantics follow Ansible's `expand_hostname_range` (the documented inventory syntax),
with two deliberate differences: a range that would produce no host (`[9:1]`) or an
absurd number of hosts is an error instead of an empty or endless expansion, and
letter ranges must stay within one case (`[a:F]` is almost certainly a typo).
"""

from __future__ import annotations

import ipaddress
import re
import string

MAX_HOSTS = 10_000  # per pattern: far above any real fleet, far below a memory problem

_RANGE = re.compile(r"\[([^\[\]]*)\]")
_PORT_SUFFIX = re.compile(r"^(?P<host>.+):(?P<port>[0-9]+)$")


class RangeError(ValueError):
    """A host pattern that cannot be expanded; the message says why."""


def has_range(pattern: str) -> bool:
    """True when `pattern` contains at least one `[begin:end]` block."""
    return _RANGE.search(pattern) is not None


def expand_host_range(pattern: str) -> list[str]:
    """Every host name `pattern` stands for, in order; a name without ranges is itself.

    >>> expand_host_range("web[1:3:2]-[a:b]")
    ['web1-a', 'web1-b', 'web3-a', 'web3-b']
    """
    if "[" not in pattern and "]" not in pattern:
        return [pattern]
    match = _RANGE.search(pattern)
    if match is None:
        raise RangeError(f"unbalanced '[' or ']' in host pattern {pattern!r}")
    head, tail = pattern[: match.start()], pattern[match.end() :]
    if "[" in head or "]" in head:
        raise RangeError(f"unbalanced '[' or ']' in host pattern {pattern!r}")
    items = _expand_one(match.group(1), pattern)
    tails = expand_host_range(tail)
    if len(items) * len(tails) > MAX_HOSTS:
        raise RangeError(f"host pattern {pattern!r} expands to more than {MAX_HOSTS} hosts")
    return [f"{head}{item}{rest}" for item in items for rest in tails]


def _expand_one(body: str, pattern: str) -> list[str]:
    """Expand the inside of one `[...]` block: `begin:end` or `begin:end:step`."""
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise RangeError(f"host range [{body}] in {pattern!r} must be begin:end or begin:end:step")
    begin, end = bounds[0] or "0", bounds[1]  # Ansible: an empty begin means 0
    if not end:
        raise RangeError(f"host range [{body}] in {pattern!r} has no end value")
    step = _step(bounds[2] if len(bounds) == 3 else "1", body, pattern)
    if begin.isdigit() and end.isdigit():
        return _numbers(begin, end, step, body, pattern)
    if len(begin) == 1 and len(end) == 1 and begin.isalpha() and end.isalpha():
        return _letters(begin, end, step, body, pattern)
    raise RangeError(f"host range [{body}] in {pattern!r} must be two numbers or two single letters")


def _step(text: str, body: str, pattern: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise RangeError(f"host range [{body}] in {pattern!r} needs a positive whole step")
    return int(text)


def _numbers(begin: str, end: str, step: int, body: str, pattern: str) -> list[str]:
    # `[01:20]` keeps the zero padding: node01 ... node20, as Ansible does. The width
    # comes from `begin`, so both bounds must be written with the same width.
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and len(end) != width:
        raise RangeError(f"host range [{body}] in {pattern!r}: zero-padded bounds must have equal length")
    first, last = int(begin), int(end)
    if first > last:
        raise RangeError(f"host range [{body}] in {pattern!r} runs backwards ({first} > {last})")
    if (last - first) // step + 1 > MAX_HOSTS:
        raise RangeError(f"host pattern {pattern!r} expands to more than {MAX_HOSTS} hosts")
    return [str(n).zfill(width) for n in range(first, last + 1, step)]


def _letters(begin: str, end: str, step: int, body: str, pattern: str) -> list[str]:
    alphabet = string.ascii_lowercase if begin.islower() else string.ascii_uppercase
    if end not in alphabet:
        raise RangeError(f"host range [{body}] in {pattern!r} mixes upper and lower case")
    first, last = alphabet.index(begin), alphabet.index(end)
    if first > last:
        raise RangeError(f"host range [{body}] in {pattern!r} runs backwards ({begin} > {end})")
    return list(alphabet[first : last + 1 : step])


def split_host_port(text: str) -> tuple[str, int | None]:
    """Split Ansible's `host:port` (also `[v6addr]:port`); a bare IPv6 address has no port.

    The host part may still contain ranges: `node[01:20]:2222` -> (`node[01:20]`, 2222).
    Raises RangeError for a port outside 1..65535 or a trailing `:` without a port.
    """
    bracketed = re.fullmatch(r"\[([^\[\]]+)\](?::([0-9]+))?", text)
    if bracketed and _is_ipv6(bracketed.group(1)):
        return bracketed.group(1), _port(bracketed.group(2), text)
    if _is_ipv6(text):
        return text, None
    if text.endswith(":"):
        raise RangeError(f"host pattern {text!r} ends in ':' without a port")
    match = _PORT_SUFFIX.match(text)
    if match and _colons_outside_brackets(match.group("host")) == 0:
        return match.group("host"), _port(match.group("port"), text)
    return text, None


def _port(digits: str | None, text: str) -> int | None:
    if digits is None:
        return None
    port = int(digits)
    if not 1 <= port <= 65535:
        raise RangeError(f"port {port} in {text!r} is outside 1..65535")
    return port


def _colons_outside_brackets(text: str) -> int:
    return _RANGE.sub("", text).count(":")


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
