"""Command-line flags of Kubernetes components, parsed as pflag / Go's flag do (issue 4)."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from agent.facts.k8s_flags import BOOLEAN_FLAGS, Flag, normalise, ordinal, parse_bool, parse_flags


def test_both_forms_single_and_double_dash() -> None:
    flags = parse_flags(
        ["kubelet", "--config=/a.yaml", "--kubeconfig", "/k.conf", "-v", "2", "-client-ca-file=/ca"]
    )
    assert flags.get("config") == "/a.yaml"
    assert flags.get("kubeconfig") == "/k.conf"
    assert flags.get("v") == "2"
    assert flags.get("client-ca-file") == "/ca"
    assert flags.positional == ()


def test_repeated_flag_last_wins_and_all_keeps_every_occurrence() -> None:
    flags = parse_flags(["kubelet", "--read-only-port=10255", "--config", "/c", "--read-only-port", "0"])
    assert flags.get("read-only-port") == "0"
    assert flags.all("read-only-port") == ("10255", "0")
    assert flags.source("read-only-port") == (
        "--read-only-port=0 on the command line (2nd of 2; the last one wins)"
    )
    assert flags.last("read-only-port") == Flag("read-only-port", "0", 4)


def test_bare_boolean_is_true_and_does_not_swallow_the_next_token() -> None:
    # pflag: `--anonymous-auth false` is "true" plus a stray positional "false".
    flags = parse_flags(["kubelet", "--anonymous-auth", "false", "--rotate-certificates"])
    assert flags.get("anonymous-auth") == "true"
    assert flags.all("anonymous-auth") == (None,)
    assert flags.positional == ("false",)
    assert flags.get("rotate-certificates") == "true"
    assert flags.source("anonymous-auth") == "--anonymous-auth (no value: true) on the command line"


def test_unknown_flag_takes_a_value_unless_the_next_token_is_a_flag() -> None:
    flags = parse_flags(["x", "--node-labels", "--config=/c", "--hostname-override", "n1"])
    assert flags.all("node-labels") == (None,)
    assert flags.get("config") == "/c"
    assert flags.get("hostname-override") == "n1"


def test_underscores_are_dashes_and_double_dash_ends_flags() -> None:
    flags = parse_flags(["kubelet", "--anonymous_auth=false", "--", "--read-only-port=1"])
    assert flags.get("anonymous-auth") == "false"
    assert not flags.has("read-only-port")
    assert flags.positional == ("--read-only-port=1",)


def test_values_keep_equals_signs_and_may_be_empty() -> None:
    flags = parse_flags(["kubelet", "--feature-gates=A=true,B=false", "--node-labels="])
    assert flags.get("feature-gates") == "A=true,B=false"
    assert flags.get("node-labels") == ""


def test_hostile_value_is_escaped_and_bounded_in_the_source() -> None:
    flags = parse_flags(["kubelet", "--tls-cert-file=\x1b[31m" + "x" * 5000])
    source = flags.source("tls-cert-file")
    assert "\x1b" not in source and "\\x1b" in source
    assert len(source) < 300


def test_not_set_and_start_index() -> None:
    flags = parse_flags(["hyperkube", "kubelet", "--port=1"], start=2)
    assert flags.get("port") == "1" and flags.get("nope") is None
    assert flags.source("nope") == "--nope is not set on the command line"


def test_parse_bool_is_go_strconv() -> None:
    assert [parse_bool(v) for v in ("1", "t", "TRUE", "True", None)] == [True] * 5
    assert [parse_bool(v) for v in ("0", "f", "FALSE", "False")] == [False] * 4
    assert parse_bool("yes") is None and parse_bool("") is None


def test_ordinals_and_names() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
    ]  # fmt: skip
    assert normalise("--read_only_port") == "read-only-port"
    assert {"anonymous-auth", "client-cert-auth", "peer-auto-tls", "profiling"} <= BOOLEAN_FLAGS
    assert "read-only-port" not in BOOLEAN_FLAGS and "authorization-mode" not in BOOLEAN_FLAGS


@given(st.lists(st.text(alphabet=string.printable + "\x00é", max_size=20), max_size=30))
def test_never_raises_and_positions_point_at_flags(argv: list[str]) -> None:
    flags = parse_flags(["kubelet", *argv])
    full = ["kubelet", *argv]
    for flag in flags.items:
        token = full[flag.position]
        assert token.startswith("-")
        assert normalise(token.partition("=")[0]) == flag.name
        assert isinstance(flags.source(flag.name), str)
    assert len(flags.items) + len(flags.positional) <= len(argv)
