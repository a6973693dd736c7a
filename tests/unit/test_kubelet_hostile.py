"""The kubelet fact on hostile, broken or partial input: Unavailable or a note, never a crash
and never a PASS from garbage (reference/reliability.md §8 "Hostile facts")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.facts import kubelet
from agent.facts.kubelet import KubeletConfig
from agent.facts.model import Absent, RawSection, Unavailable
from agent.facts.registry import FACTS
from agent.facts.spec import read_section

HEAD = "@nodeward-kubelet 1\np 50 /usr/bin/kubelet /usr/bin/kubelet --config=/c.yaml\n"
KIND = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"


def parse(text: str, *, exit_code: int | None = 0, truncated: bool = False) -> object:
    return read_section(FACTS["kubelet"], RawSection("kubelet", text.encode(), b"", exit_code, truncated), {})


def config_section(body: str) -> str:
    return HEAD + "f config.50 /c.yaml\n" + body + "\n.\n"


def bomb(levels: int = 7) -> str:
    lines = ["a0: &a0 [x,x,x,x,x,x,x,x,x,x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines)


def test_alias_bomb_config_is_refused_not_expanded() -> None:
    found = parse(config_section(KIND + bomb()))
    assert isinstance(found, Unavailable)
    assert "alias bomb" in found.reason and "/c.yaml" in found.reason


def test_oversized_config_is_refused() -> None:
    big = KIND + "# " + "x" * (kubelet.CONFIG_CAP + 10)
    found = parse(config_section(big))
    assert isinstance(found, Unavailable) and "larger than" in found.reason


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (HEAD + "x missing.50 /c.yaml\n", "--config file /c.yaml does not exist"),
        (HEAD, "--config file /c.yaml was not read"),
        (config_section("kind: Pod\n"), "is a Pod, not a KubeletConfiguration"),
        (config_section("- a\n- b\n"), "not a KubeletConfiguration mapping"),
        (config_section("a: [unclosed\n"), "invalid YAML"),
        ("@nodeward-kubelet 1\np 9 /usr/local/bin/k3s /usr/local/bin/k3s agent\n", "journal holds no"),
        ("nonsense", "printed no records"),
    ],
)
def test_unjudgeable_configurations_are_unavailable(text: str, why: str) -> None:
    found = parse(text)
    assert isinstance(found, Unavailable), found
    assert why in found.reason


def test_section_failures() -> None:
    assert isinstance(parse("", exit_code=1), Unavailable)
    assert isinstance(parse(HEAD, truncated=True), Unavailable)


def test_no_kubelet_is_absent() -> None:
    found = parse("@nodeward-kubelet 1\np 9 /usr/local/bin/etcd etcd --data-dir=/var/lib/etcd\n")
    assert isinstance(found, Absent)


def test_wrong_types_keep_the_default_and_are_noted() -> None:
    text = config_section(KIND + 'readOnlyPort: "10255"\nauthentication: {anonymous: {enabled: "no"}}')
    found = parse(text)
    assert isinstance(found, KubeletConfig)
    assert found.lookup("readOnlyPort") is not None
    assert found.settings["readOnlyPort"].value == 0  # the file's string is not an int32
    assert any("readOnlyPort" in note for note in found.notes)
    # YAML 1.1 (as the kubelet's sigs.k8s.io/yaml) reads `no` unquoted as false; quoted it is a string
    assert any("authentication.anonymous.enabled" in note for note in found.notes)


def test_bad_flag_values_are_noted_not_trusted() -> None:
    text = "@nodeward-kubelet 1\np 5 /usr/bin/kubelet kubelet --read-only-port=abc --anonymous-auth=maybe\n"
    found = parse(text)
    assert isinstance(found, KubeletConfig)
    assert found.settings["readOnlyPort"].value == 10255  # the legacy default stays
    assert found.settings["authentication.anonymous.enabled"].value is True
    assert len(found.notes) == 2


def test_hostile_paths_and_values_are_escaped_in_sources() -> None:
    text = "@nodeward-kubelet 1\nP 5 {} {} 0 0 0 755 root host\n".format(
        b"/usr/bin/kubelet".hex(), b"kubelet\0--hostname-override=\x1b[2J<script>\0".hex()
    )
    found = parse(text)
    assert isinstance(found, KubeletConfig)
    observed = found.lookup("hostnameOverride")
    assert observed is not None and observed.value == "\x1b[2J<script>"
    assert "\x1b" not in observed.source


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_config_text_never_raises(body: str) -> None:
    found = parse(config_section(KIND + body))
    assert isinstance(found, KubeletConfig | Unavailable)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abcdef0123456789 PJFXWpjfx.-\n", max_size=60), max_size=20))
def test_arbitrary_record_streams_never_raise(lines: list[str]) -> None:
    found = parse("@nodeward-kubelet 1\n" + "\n".join(lines))
    assert isinstance(found, KubeletConfig | Unavailable | Absent)
