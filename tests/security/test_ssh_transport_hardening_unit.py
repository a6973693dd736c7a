"""SSH transport hardening, pure parts (issue #12 items 7 and 11).

The fleet half (real sshd, slow and garbage banners, Terrapin against a paramiko
server) is in test_ssh_transport_hardening.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ErrorKind, NodeError
from agent.transport import knownhosts
from agent.transport.knownhosts import KnownHosts, Policy
from tests.unit.test_knownhosts import A_TYPE, A, _line

HOST = "[127.0.0.1]:2222"


def _known(*lines: str) -> KnownHosts:
    return KnownHosts(knownhosts.parse_text("".join(lines), "kh"))


def _refusal(known: KnownHosts, policy: Policy, label: str = "", tofu: str | None = None) -> str:
    with pytest.raises(NodeError) as caught:
        knownhosts.verify(
            known, HOST, A_TYPE, A, policy=policy, tofu_file=tofu, hash_names=False, label=label
        )
    assert caught.value.kind is ErrorKind.HOSTKEY
    return caught.value.message


# ---------------------------------------------------------------- item 11: @cert-authority


@pytest.mark.parametrize("policy", [Policy.STRICT, Policy.ACCEPT_NEW])
@pytest.mark.parametrize("label", ["", "jump host bastion (hop 1 of 1)"])
def test_cert_authority_message_names_host_once_and_keeps_the_label(
    policy: Policy, label: str, tmp_path: Path
) -> None:
    # verify() used to reuse its `where` (the label prefix) for the CA line sources, so
    # the message began with "kh:1[127.0.0.1]:2222 presented ..." and lost the label.
    message = _refusal(
        _known(_line("[127.0.0.1]:*", "ca", marker="@cert-authority")),
        policy,
        label,
        tofu=f"{tmp_path}/known_hosts",
    )
    prefix = f"{label}: " if label else ""
    assert message.startswith(f"{prefix}{HOST} presented ")
    assert f"ssh-ed25519 {knownhosts.fingerprint(A)}" in message
    assert message.count("kh:1") == 1 and "(kh:1)" in message
    assert "host certificates are not supported yet" in message


def test_changed_key_with_a_cert_authority_line_says_why_the_ca_did_not_count() -> None:
    # A plain key that does not match, plus a CA for the host: an operator who rotated
    # to a CA-signed key must not be left thinking only of a man in the middle.
    message = _refusal(
        _known(_line("[127.0.0.1]:*", "ca", marker="@cert-authority"), _line(HOST, "b")),
        Policy.STRICT,
    )
    assert message.startswith(f"the host key of {HOST} has CHANGED")
    assert "A @cert-authority line applies (kh:1), but host certificates are not supported yet" in message
