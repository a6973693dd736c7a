"""sshd_config lexing and Match criteria, case by case as OpenSSH 9.2 reads them.

Each expectation was read off the real daemon (`sshd -T -f`), see the comments; the
differential test (test_sshd_oracle.py) covers the combinations.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.facts.sshd.match import (
    Connection,
    addr_match_list,
    match_criteria,
    match_pattern,
    match_pattern_list,
    port_number,
)
from agent.facts.sshd.syntax import QuoteError, argv_split, split_line, strdelim
from agent.facts.sshd.syntax import match_criteria as split_criteria


@pytest.mark.parametrize(
    ("raw", "keyword", "rest"),
    [
        ("PasswordAuthentication no", "PasswordAuthentication", "no"),
        ("PasswordAuthentication=no", "PasswordAuthentication", "no"),  # one "=" is a separator
        ("PermitRootLogin   =   yes", "PermitRootLogin", "yes"),
        ("\t  LogLevel\tVERBOSE  \r", "LogLevel", "VERBOSE"),  # CR and blanks stripped
        ("Banner==x", "Banner", "=x"),  # only one "=" is skipped: the value is "=x"
        ("# PermitRootLogin yes", None, ""),
        ("#PermitRootLogin yes", None, ""),
        ("   ", None, ""),
        ("=Port 22", "Port", "22"),  # an empty first token: sshd takes the next one
    ],
)
def test_split_line_cuts_the_keyword_like_strdelim(raw: str, keyword: str | None, rest: str) -> None:
    line = split_line(7, raw)
    assert (line.number, line.keyword, line.rest) == (7, keyword, rest)


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("no", ("no",)),
        ('"/etc/issue net"', ("/etc/issue net",)),  # sshd -T: banner /etc/issue net
        ("'single quoted'", ("single quoted",)),
        ("LANG LC_*  # comment", ("LANG", "LC_*")),  # a token starting with # ends the line
        ("no#x", ("no#x",)),  # ... but a # inside a token is part of it
        (r"a\ b", ("a b",)),  # backslash-space outside quotes joins
        (r'"a\"b"', ('a"b',)),
        (r"c:\path", (r"c:\path",)),  # unknown escapes stay
        ('x"y z"w', ("xy zw",)),  # quotes may start mid-token
    ],
)
def test_argv_split_matches_openssh(text: str, args: tuple[str, ...]) -> None:
    assert argv_split(text) == args


def test_argv_split_rejects_an_open_quote() -> None:
    with pytest.raises(QuoteError):
        argv_split('"/etc/unterminated')


def test_strdelim_quotes_and_separators() -> None:
    assert strdelim('"User" bob') == ("User", "bob")
    assert strdelim("User=bob") == ("User", "bob")
    assert strdelim("bob") == ("bob", None)
    assert strdelim('"open') == (None, None)


@pytest.mark.parametrize(
    ("text", "pairs", "error"),
    [
        ("User bob Address 10.0.0.0/8", [("user", "bob"), ("address", "10.0.0.0/8")], None),
        ("user=bob", [("user", "bob")], None),
        ("All", [("all", None)], None),
        ("all # everyone", [("all", None)], None),
        ("User bob All", [("user", "bob")], "'all' cannot be combined with other Match attributes"),
        ("User", [], "Missing Match criteria for User"),
        ("", [], "One or more attributes required for Match"),
        ('User "a b"', [("user", "a b")], None),
    ],
)
def test_match_criteria_are_cut_like_match_cfg_line(
    text: str, pairs: list[tuple[str, str | None]], error: str | None
) -> None:
    assert split_criteria(text) == (pairs, error)


@given(st.text(max_size=200))
def test_lexing_never_raises_anything_unexpected(text: str) -> None:
    line = split_line(1, text)
    if line.keyword is not None:
        with contextlib.suppress(QuoteError):
            argv_split(line.rest)
        split_criteria(line.rest)


# --------------------------------------------------------------------------- matching


def test_patterns_and_lists() -> None:
    assert match_pattern("deploy", "dep*") and match_pattern("a.b", "a?b") and not match_pattern("ab", "a?b")
    assert match_pattern("x[1]", "x[1]")  # no brackets in OpenSSH patterns: literal
    assert match_pattern_list("alice", "bob,al*") == 1
    assert match_pattern_list("root", "!root,*") == -1  # a negated match vetoes the list
    assert match_pattern_list("carol", "!root,*") == 1
    assert match_pattern_list("HOST.example.com".lower(), "*.EXAMPLE.com", lower=True) == 1


@pytest.mark.parametrize(
    ("addr", "patterns", "result"),
    [
        ("10.1.2.3", "10.0.0.0/8", 1),
        ("10.1.2.3", "10.0.0.0/8,!10.1.0.0/16", -1),
        ("192.0.2.10", "10.0.0.0/8", 0),
        ("10.1", "10.*", 1),  # sshd parses inet_aton short forms; the wildcard sees the string
        ("2001:db8::5", "2001:db8::/32", 1),
        ("10.1.2.3", "10.1.2.3/8", -2),  # host bits set: sshd refuses the file
        ("not-an-address", "10.0.0.0/8", 0),
        (None, "10.0.0.0/8", 0),
        (None, "10.0.0.0/33", -2),
        ("10.1.2.3", ",10.0.0.0/8", -2),  # an empty entry
    ],
)
def test_addr_match_list_like_addrmatch_c(addr: str | None, patterns: str, result: int) -> None:
    assert addr_match_list(addr, patterns) == result


BAD_ADDRESS = "Invalid Match address argument '10.1.2.3/8'"
NO_LPORT = "'Match LocalPort' in configuration but 'lport' not in connection test specification."
BAD_PORT = "Invalid LocalPort 'not-a-port' on Match line"


def no_groups(user: str) -> frozenset[str] | None:
    return {"carol": frozenset({"carol", "contractors"})}.get(user)


@pytest.mark.parametrize(
    ("criteria", "connection", "matched", "error"),
    [
        ([("user", "deploy")], Connection(user="deploy"), True, None),
        ([("user", "deploy")], None, False, None),  # the connection-less first pass
        ([("all", None)], None, True, None),
        ([("group", "contractors")], Connection(user="carol"), True, None),
        ([("group", "contractors")], Connection(user="nobody-here"), False, None),
        ([("group", "!contractors,*")], Connection(user="carol"), False, None),
        ([("address", "10.0.0.0/8"), ("user", "x")], Connection(user="x", addr="10.9.9.9"), True, None),
        ([("address", "10.1.2.3/8")], Connection(addr="10.1.2.3"), False, BAD_ADDRESS),
        ([("localport", "22")], Connection(lport=22), True, None),
        ([("localport", "22")], Connection(user="x"), False, NO_LPORT),
        ([("localport", "not-a-port")], Connection(lport=22), False, BAD_PORT),
        ([("host", "*.example.com")], Connection(host="Bastion.EXAMPLE.com"), True, None),
        ([("rdomain", "vrf*")], Connection(user="x"), False, None),  # no rdomain given: no match
        ([("bogus", "x")], Connection(user="x"), False, "Unsupported Match attribute bogus"),
    ],
)  # fmt: skip
def test_match_criteria_for_a_connection(
    criteria: list[tuple[str, str | None]], connection: Connection | None, matched: bool, error: str | None
) -> None:
    verdict = match_criteria(criteria, connection, no_groups)
    assert (verdict.matched, verdict.error) == (matched, error)


def test_connection_specs_round_trip_and_reject_what_sshd_rejects() -> None:
    spec = "user=scanner,host=192.0.2.10,addr=192.0.2.10,laddr=192.0.2.20,lport=22"
    connection = Connection.from_spec(spec)
    assert connection is not None and connection.spec() == spec and connection.lport == 22
    assert Connection.from_spec("user=a,bogus=1") is None
    assert Connection.from_spec("user=a,lport=99999") is None
    assert port_number("ssh") == 22 and port_number("70000") == -1
