"""SSH transport hardening, pure parts (issue #12 items 7 and 11).

The fleet half (real sshd, slow and garbage banners, Terrapin against a paramiko
server) is in test_ssh_transport_hardening.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import paramiko
import pytest

from agent.errors import ErrorKind, InventoryError, NodeError
from agent.inventory.loader import load_inventory
from agent.transport import knownhosts, ssh_algorithms
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


# ---------------------------------------------------------------- item 7: what is offered


def test_client_offers_no_cbc_3des_md5_or_sha1_by_default() -> None:
    # The offer a node sees is the Transport's security options after restrict();
    # ssh.py applies it to every hop (the fleet tests prove it end to end).
    left, right = socket.socketpair()
    try:
        transport = paramiko.Transport(left)
        ssh_algorithms.restrict(transport, ())
        security = transport.get_security_options()
        offered = [*security.ciphers, *security.digests, *security.kex, *security.key_types]
    finally:
        left.close()
        right.close()
    weak = [a for a in offered if "cbc" in a or "3des" in a or "md5" in a or "sha1" in a or a == "ssh-rsa"]
    assert weak == []
    assert "aes128-ctr" in security.ciphers and "hmac-sha2-256" in security.digests


def test_reenabled_legacy_algorithm_is_offered_after_every_modern_one() -> None:
    left, right = socket.socketpair()
    try:
        transport = paramiko.Transport(left)
        ssh_algorithms.restrict(transport, ("aes128-cbc", "hmac-sha1"))
        security = transport.get_security_options()
        ciphers, macs = list(security.ciphers), list(security.digests)
    finally:
        left.close()
        right.close()
    assert ciphers[-1] == "aes128-cbc" and "aes256-cbc" not in ciphers
    assert macs[-1] == "hmac-sha1" and "hmac-md5" not in macs


# ---------------------------------------------------------------- item 7: the inventory option


def test_inventory_reenables_legacy_algorithms_and_allows_no_strict_kex(tmp_path: Path) -> None:
    native = tmp_path / "inventory.yaml"
    native.write_text(
        "all:\n  hosts:\n    old:\n      legacy_algorithms: [aes128-cbc, hmac-sha1]\n"
        "      allow_no_strict_kex: true\n    new: {}\n"
    )
    nodes = {n.name: n for n in load_inventory(str(native), fmt="nodeward").nodes}
    assert nodes["old"].legacy_algorithms == ("aes128-cbc", "hmac-sha1")
    assert nodes["old"].allow_no_strict_kex is True
    assert (nodes["new"].legacy_algorithms, nodes["new"].allow_no_strict_kex) == ((), False)
    ini = tmp_path / "hosts.ini"
    ini.write_text(
        "[legacy]\nold nodeward_legacy_algorithms=3des-cbc,hmac-md5 nodeward_allow_no_strict_kex=yes\n"
    )
    (node,) = load_inventory(str(ini), fmt="ansible").nodes
    assert node.legacy_algorithms == ("3des-cbc", "hmac-md5") and node.allow_no_strict_kex is True


@pytest.mark.parametrize("name", ["aes128-ctr", "blowfish-cbc", "none"])
def test_inventory_cannot_reenable_anything_outside_the_legacy_list(tmp_path: Path, name: str) -> None:
    # "none" would be the null cipher; a modern name is a typo worth reporting.
    native = tmp_path / "inventory.yaml"
    native.write_text(f"all:\n  hosts:\n    old:\n      legacy_algorithms: [{name}]\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(str(native), fmt="nodeward")
    (problem,) = caught.value.problems
    assert problem.field.endswith("legacy_algorithms") and "aes128-cbc" in problem.message
