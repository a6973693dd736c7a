"""Version ordering exactly as dpkg and rpm define it, for "is the running kernel the newest?".

String or numeric-tuple comparison gets kernel versions wrong ("6.1.0-9" > "6.1.0-21"
as strings; "~rc" sorts before the release in dpkg). These are straight ports of
dpkg's `verrevcmp` (lib/dpkg/version.c) and rpm's `rpmvercmp` (rpmio/rpmvercmp.c),
tested against the vectors both projects ship.
"""

from __future__ import annotations


def _digit(char: str) -> bool:
    return "0" <= char <= "9"


def _alpha(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _dpkg_order(char: str) -> int:
    if not char or _digit(char):
        return 0
    if _alpha(char):
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not _digit(a[i])) or (j < len(b) and not _digit(b[j])):
            ac = _dpkg_order(a[i] if i < len(a) else "")
            bc = _dpkg_order(b[j] if j < len(b) else "")
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and j < len(b) and _digit(a[i]) and _digit(b[j]):
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and _digit(a[i]):
            return 1
        if j < len(b) and _digit(b[j]):
            return -1
        if first_diff:
            return first_diff
    return 0


def _split_dpkg(version: str) -> tuple[int, str, str]:
    epoch = 0
    rest = version.strip()
    head, sep, tail = rest.partition(":")
    if sep and head and all(_digit(c) for c in head):
        epoch, rest = int(head), tail
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return epoch, upstream, revision


def dpkg_compare(a: str, b: str) -> int:
    """<0, 0, >0 like `dpkg --compare-versions a lt/eq/gt b`."""
    ea, ua, ra = _split_dpkg(a)
    eb, ub, rb = _split_dpkg(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


def _is_alnum(char: str) -> bool:
    return _digit(char) or _alpha(char)


def rpm_compare(a: str, b: str) -> int:
    """-1, 0, 1 like rpm's rpmvercmp (one version-release string against another)."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not _is_alnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < len(b) and not _is_alnum(b[j]) and b[j] not in "~^":
            j += 1
        ca = a[i] if i < len(a) else ""
        cb = b[j] if j < len(b) else ""
        if ca == "~" or cb == "~":  # tilde sorts before everything, even the end
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i += 1
            j += 1
            continue
        if ca == "^" or cb == "^":  # caret sorts after the end, before anything else
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (ca and cb):
            break
        si, sj = i, j
        numeric = _digit(ca)
        if numeric:
            while si < len(a) and _digit(a[si]):
                si += 1
            while sj < len(b) and _digit(b[sj]):
                sj += 1
        else:
            while si < len(a) and _alpha(a[si]):
                si += 1
            while sj < len(b) and _alpha(b[sj]):
                sj += 1
        if sj == j:  # segments of different kinds: numeric is newer than alpha
            return 1 if numeric else -1
        one, two = a[i:si], b[j:sj]
        if numeric:
            one, two = one.lstrip("0"), two.lstrip("0")
            if len(one) != len(two):
                return 1 if len(one) > len(two) else -1
        if one != two:
            return 1 if one > two else -1
        i, j = si, sj
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1
