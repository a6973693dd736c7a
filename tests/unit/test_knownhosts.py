"""known_hosts parsing, matching, trust-on-first-use and the host key policy.

Keys and the hashed file under tests/fixtures/ssh were made with ssh-keygen (the hashed
entries with `ssh-keygen -H`, the fingerprints with `ssh-keygen -l -E sha256`), so they
are OpenSSH's own output, not ours.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
import threading
from pathlib import Path

import pytest

from agent.errors import ErrorKind, NodeError
from agent.transport import knownhosts
from agent.transport.knownhosts import HostKeyStatus, KnownHosts, Policy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ssh"


def _key(name: str) -> tuple[str, bytes]:
    key_type, b64 = (FIXTURES / "keys" / f"{name}.pub").read_text().split()[:2]
    return key_type, base64.b64decode(b64)


def _line(hosts: str, name: str, marker: str = "") -> str:
    key_type, blob = _key(name)
    prefix = f"{marker} " if marker else ""
    return f"{prefix}{hosts} {key_type} {base64.b64encode(blob).decode()}\n"


def _known(*lines: str) -> KnownHosts:
    return KnownHosts(knownhosts.parse_text("".join(lines), "test"))


A_TYPE, A = _key("a")
B_TYPE, B = _key("b")
C_TYPE, C = _key("c")


# ------------------------------------------------------------------ names and patterns


def test_host_token_brackets_non_default_ports_only() -> None:
    assert knownhosts.host_token("Node1.Example", 22) == "node1.example"
    assert knownhosts.host_token("127.0.0.1", 2222) == "[127.0.0.1]:2222"
    assert knownhosts.host_token("::1", 2222) == "[::1]:2222"


def test_plain_name_and_comma_list_match_case_insensitively() -> None:
    known = _known(_line("node1.example,10.0.0.1", "a"))
    assert known.check("node1.example", A).status is HostKeyStatus.OK
    assert known.check("NODE1.example", A).status is HostKeyStatus.OK
    assert known.check("10.0.0.1", A).status is HostKeyStatus.OK
    assert known.check("node2.example", A).status is HostKeyStatus.UNKNOWN


def test_bracketed_port_entries_are_separate_from_port_22() -> None:
    known = _known(_line("[127.0.0.1]:2222", "a"), _line("127.0.0.1", "b"))
    assert known.check("[127.0.0.1]:2222", A).status is HostKeyStatus.OK
    assert known.check("[127.0.0.1]:2222", B).status is HostKeyStatus.CHANGED
    assert known.check("127.0.0.1", B).status is HostKeyStatus.OK
    assert known.check("[127.0.0.1]:2223", A).status is HostKeyStatus.UNKNOWN


def test_hashed_entries_written_by_ssh_keygen_match() -> None:
    known = KnownHosts.load([FIXTURES / "known_hosts_hashed"])
    assert known.check("[127.0.0.1]:2222", A).status is HostKeyStatus.OK
    assert known.check("example.org", B).status is HostKeyStatus.OK
    assert known.check("example.org", A).status is HostKeyStatus.CHANGED
    assert known.check("127.0.0.1", A).status is HostKeyStatus.UNKNOWN


def test_our_hashed_names_match_and_hide_the_name() -> None:
    field = knownhosts.hash_name("[10.1.2.3]:2200")
    assert field.startswith("|1|") and "10.1.2.3" not in field
    assert knownhosts.match_host_field(field, "[10.1.2.3]:2200")
    assert not knownhosts.match_host_field(field, "10.1.2.3")


def test_wildcards_star_and_question_mark() -> None:
    known = _known(_line("*.lab.example,web?.corp.example", "a"))
    assert known.check("db.lab.example", A).status is HostKeyStatus.OK
    assert known.check("web1.corp.example", A).status is HostKeyStatus.OK
    assert known.check("web12.corp.example", A).status is HostKeyStatus.UNKNOWN
    assert known.check("lab.example", A).status is HostKeyStatus.UNKNOWN


def test_brackets_are_literal_not_character_classes() -> None:
    # fnmatch would read "[127.0.0.1]" as a character class and match "1:2222".
    assert knownhosts.match_pattern("[127.0.0.1]:2222", "[127.0.0.1]:*")
    assert not knownhosts.match_pattern("1:2222", "[127.0.0.1]:2222")
    assert knownhosts.match_pattern("[10.0.0.7]:2222", "[10.0.0.?]:2222")


def test_negation_wins_over_a_positive_match() -> None:
    known = _known(_line("*.lab.example,!db.lab.example", "a"))
    assert known.check("web.lab.example", A).status is HostKeyStatus.OK
    assert known.check("db.lab.example", A).status is HostKeyStatus.UNKNOWN
    # A line with only a negation matches nothing (OpenSSH needs a positive match).
    assert not knownhosts.match_host_field("!db.lab.example", "web.lab.example")


# ------------------------------------------------------------------ statuses


def test_changed_means_another_key_is_known_for_the_host() -> None:
    known = _known(_line("node", "a"), _line("other", "b"))
    verdict = known.check("node", B)
    assert verdict.status is HostKeyStatus.CHANGED
    assert [e.key_blob for e in verdict.known] == [A]
    assert "test:1" in verdict.describe_known()


def test_a_key_of_another_type_also_counts_as_known() -> None:
    known = _known(_line("node", "c"))
    assert known.known_types("node") == ("ecdsa-sha2-nistp256",)
    assert known.check("node", A).status is HostKeyStatus.CHANGED


def test_revoked_key_is_rejected_even_when_listed_as_known() -> None:
    known = _known(_line("node", "a"), _line("*", "a", marker="@revoked"))
    verdict = known.check("node", A)
    assert verdict.status is HostKeyStatus.REVOKED
    assert verdict.matched is not None and verdict.matched.source == "test:2"
    # Revocation is per key: the host's other keys still work.
    other_key = _known(_line("node", "b"), _line("*", "a", marker="@revoked"))
    assert other_key.check("node", B).status is HostKeyStatus.OK


def test_revoked_line_applies_only_to_matching_hosts() -> None:
    known = _known(_line("node", "a"), _line("other", "a", marker="@revoked"))
    assert known.check("node", A).status is HostKeyStatus.OK


# ------------------------------------------------------------------ parsing robustness


def test_cert_authority_line_before_the_real_entry_does_not_lose_it() -> None:
    known = KnownHosts.load([FIXTURES / "known_hosts_mixed"])
    assert known.check("node1.corp.example", A).status is HostKeyStatus.OK
    assert known.check("10.0.0.1", A).status is HostKeyStatus.OK
    assert known.check("[node1.corp.example]:2222", C).status is HostKeyStatus.OK
    assert known.check("web.lab.example", B).status is HostKeyStatus.OK
    assert known.check("db.lab.example", B).status is HostKeyStatus.UNKNOWN
    assert known.check("indented.corp.example", B).status is HostKeyStatus.OK


def test_cert_authority_lines_are_kept_aside_not_trusted() -> None:
    known = KnownHosts.load([FIXTURES / "known_hosts_mixed"])
    _, ca = _key("ca")
    verdict = known.check("x.corp.example", ca)
    assert verdict.status is HostKeyStatus.UNKNOWN  # a CA key is not a host key
    assert [e.marker for e in verdict.authorities] == [knownhosts.Marker.CERT_AUTHORITY]


def test_malformed_lines_are_skipped_with_a_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="agent.transport.knownhosts"):
        known = KnownHosts.load([FIXTURES / "known_hosts_mixed"])
    hosts = {e.hosts for e in known.entries}
    assert hosts == {
        "*.corp.example",
        "node1.corp.example,10.0.0.1",
        "[node1.corp.example]:2222",
        "*.lab.example,!db.lab.example",
        "indented.corp.example",
    }
    skipped = [r.getMessage() for r in caplog.records if "line skipped" in r.getMessage()]
    assert len(skipped) == 6
    assert any("known_hosts_mixed:7:" in m and "does not match" in m for m in skipped)


def test_missing_files_are_fine_and_order_is_kept(tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.write_text(_line("node", "a"))
    known = KnownHosts.load([tmp_path / "absent", first, FIXTURES / "known_hosts_hashed"])
    assert [e.source.split("/")[-1] for e in known.entries] == [
        "first:1",
        "known_hosts_hashed:1",
        "known_hosts_hashed:2",
    ]


def test_fingerprint_matches_ssh_keygen() -> None:
    expected = {line.split()[1] for line in (FIXTURES / "fingerprints.txt").read_text().splitlines()}
    assert {knownhosts.fingerprint(A), knownhosts.fingerprint(C)} == expected


# ------------------------------------------------------------------ trust on first use


def test_append_creates_private_directory_and_file(tmp_path: Path) -> None:
    target = tmp_path / "home" / ".ssh" / "known_hosts"
    verdict = knownhosts.append_if_unknown(target, "[127.0.0.1]:2222", A_TYPE, A, hashed=False)
    assert verdict.status is HostKeyStatus.UNKNOWN
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == _line("[127.0.0.1]:2222", "a")


def test_append_is_once_only_and_never_over_another_key(tmp_path: Path) -> None:
    target = tmp_path / "known_hosts"
    knownhosts.append_if_unknown(target, "node", A_TYPE, A, hashed=False)
    again = knownhosts.append_if_unknown(target, "node", A_TYPE, A, hashed=False)
    assert again.status is HostKeyStatus.OK
    other = knownhosts.append_if_unknown(target, "node", B_TYPE, B, hashed=False)
    assert other.status is HostKeyStatus.CHANGED
    assert target.read_text().count("\n") == 1


def test_append_hashed_line_is_found_by_check(tmp_path: Path) -> None:
    target = tmp_path / "known_hosts"
    knownhosts.append_if_unknown(target, "[127.0.0.1]:2222", A_TYPE, A, hashed=True)
    text = target.read_text()
    assert text.startswith("|1|") and "127.0.0.1" not in text
    assert KnownHosts.load([target]).check("[127.0.0.1]:2222", A).status is HostKeyStatus.OK


def test_append_after_an_unterminated_last_line(tmp_path: Path) -> None:
    target = tmp_path / "known_hosts"
    target.write_text(_line("other", "b").rstrip("\n"))
    knownhosts.append_if_unknown(target, "node", A_TYPE, A, hashed=False)
    known = KnownHosts.load([target])
    assert known.check("other", B).status is HostKeyStatus.OK
    assert known.check("node", A).status is HostKeyStatus.OK


def test_concurrent_first_use_appends_exactly_one_line(tmp_path: Path) -> None:
    target = tmp_path / "known_hosts"
    results: list[HostKeyStatus] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        verdict = knownhosts.append_if_unknown(target, "node", A_TYPE, A, hashed=True)
        results.append(verdict.status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.value for r in results) == ["ok"] * 7 + ["unknown"]
    assert len(target.read_text().splitlines()) == 1


# ------------------------------------------------------------------ policy


def _verify(known: KnownHosts, blob: bytes, policy: Policy, tofu: Path | None) -> knownhosts.Accepted:
    return knownhosts.verify(
        known,
        "[127.0.0.1]:2222",
        "ssh-ed25519",
        blob,
        policy=policy,
        tofu_file=str(tofu) if tofu else None,
        hash_names=False,
        label="",
    )


def test_strict_policy_rejects_unknown_keys_and_says_how_to_proceed(tmp_path: Path) -> None:
    with pytest.raises(NodeError) as caught:
        _verify(_known(), A, Policy.STRICT, tmp_path / "kh")
    assert caught.value.kind is ErrorKind.HOSTKEY
    assert knownhosts.fingerprint(A) in caught.value.message
    assert "--accept-new-host-keys" in caught.value.message
    assert not (tmp_path / "kh").exists()


def test_accept_new_records_unknown_keys(tmp_path: Path) -> None:
    accepted = _verify(_known(), A, Policy.ACCEPT_NEW, tmp_path / "kh")
    assert accepted.added_to == str(tmp_path / "kh")
    assert accepted.fingerprint == knownhosts.fingerprint(A)
    assert _verify(KnownHosts.load([tmp_path / "kh"]), A, Policy.STRICT, None).added_to is None


def test_accept_new_never_replaces_a_changed_key(tmp_path: Path) -> None:
    known = _known(_line("[127.0.0.1]:2222", "a"))
    with pytest.raises(NodeError) as caught:
        _verify(known, B, Policy.ACCEPT_NEW, tmp_path / "kh")
    assert caught.value.kind is ErrorKind.HOSTKEY
    assert "CHANGED" in caught.value.message and knownhosts.fingerprint(A) in caught.value.message
    assert not (tmp_path / "kh").exists()


def test_accept_new_does_not_override_revocation(tmp_path: Path) -> None:
    known = _known(_line("*", "a", marker="@revoked"))
    with pytest.raises(NodeError, match="@revoked"):
        _verify(known, A, Policy.ACCEPT_NEW, tmp_path / "kh")
    assert not (tmp_path / "kh").exists()


def test_accept_new_refuses_hosts_vouched_for_by_a_ca(tmp_path: Path) -> None:
    known = _known(_line("[127.0.0.1]:*", "ca", marker="@cert-authority"))
    with pytest.raises(NodeError, match="cert-authority"):
        _verify(known, A, Policy.ACCEPT_NEW, tmp_path / "kh")


def test_hop_label_prefixes_messages() -> None:
    with pytest.raises(NodeError) as caught:
        knownhosts.verify(
            _known(),
            "bastion",
            A_TYPE,
            A,
            policy=Policy.STRICT,
            tofu_file=None,
            hash_names=False,
            label="jump host bastion (hop 1 of 1)",
        )
    assert caught.value.message.startswith("jump host bastion (hop 1 of 1): bastion presented")


@pytest.mark.parametrize(
    ("flag", "node", "config", "expected"),
    [
        (False, None, None, Policy.STRICT),
        (True, "yes", "yes", Policy.ACCEPT_NEW),  # the command line wins
        (False, "accept-new", "yes", Policy.ACCEPT_NEW),  # then the inventory
        (False, None, "accept-new", Policy.ACCEPT_NEW),
        (False, None, "ask", Policy.STRICT),  # nobody to ask: strict
        (False, "yes", "no", Policy.STRICT),  # the inventory overrides ssh_config's "no"
    ],
)
def test_policy_precedence(flag: bool, node: str | None, config: str | None, expected: Policy) -> None:
    policy = knownhosts.resolve_policy(accept_new_flag=flag, node_value=node, config_value=config, label="")
    assert policy is expected


def test_strict_host_key_checking_no_is_refused() -> None:
    with pytest.raises(NodeError) as caught:
        knownhosts.resolve_policy(accept_new_flag=False, node_value=None, config_value="no", label="")
    assert caught.value.kind is ErrorKind.HOSTKEY
    assert "--accept-new-host-keys" in caught.value.message


def test_unknown_strict_host_key_checking_value_is_a_config_error() -> None:
    with pytest.raises(NodeError) as caught:
        knownhosts.resolve_policy(accept_new_flag=False, node_value="maybe", config_value=None, label="")
    assert caught.value.kind is ErrorKind.CONFIG


def test_module_does_not_import_paramiko() -> None:
    # The CLI imports this for --help-time validation; paramiko must stay unloaded.
    import subprocess
    import sys

    code = "import agent.transport.knownhosts, agent.transport.sshconfig, sys; "
    code += "print('paramiko' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert out.stdout.strip() == "False"
