"""The keyword table against the real sshd of this machine (Debian 12, OpenSSH 9.2p1).

DEFAULTS is what the file walk reports for a keyword no line sets, when sshd -T cannot
run; the scope column decides whether a keyword inside a Match block is legal. Both
are asked of the real daemon here, so a table edit that drifts from sshd fails.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agent.facts.sshd.fact import parse_sshd_t
from agent.facts.sshd.keywords import DEFAULTS, KEYWORDS, Merge, lookup, seconds
from agent.facts.sshd.syntax import argv_split

SSHD = "/usr/sbin/sshd"
# Printed from the build or the environment, not from the configuration.
ENVIRONMENTAL = {"hostkey", "port"}


@pytest.fixture(scope="module")
def host_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.access(SSHD, os.X_OK):
        pytest.fail("the sshd oracle tests need openssh-server (/usr/sbin/sshd)")
    if not Path("/run/sshd").is_dir() and os.geteuid() == 0:
        # sshd -T refuses to run without its privilege separation directory, which
        # ssh.service normally creates at start (a CI container has no running sshd).
        Path("/run/sshd").mkdir(mode=0o755)
    key = tmp_path_factory.mktemp("kw") / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def sshd(config: Path, key: Path, mode: str = "-T") -> subprocess.CompletedProcess[str]:
    test = ["-C", "user=a,host=b,addr=192.0.2.1,lport=22"] if mode == "-T" else []
    return subprocess.run(
        [SSHD, mode, "-f", str(config), "-o", f"HostKey={key}", *test],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_defaults_are_what_sshd_prints_for_an_empty_file(host_key: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    printed = parse_sshd_t(sshd(empty, host_key).stdout, source="test").options
    for key, values in DEFAULTS.items():
        if key not in ENVIRONMENTAL:
            assert printed.get(key) == values, key
    # Every keyword sshd prints is either in the table or printed-only (listenaddress).
    assert set(printed) - set(KEYWORDS) <= {"listenaddress"}


def test_scope_column_is_what_sshd_enforces(host_key: Path, tmp_path: Path) -> None:
    config = tmp_path / "scope"
    wrong = []
    for name, keyword in KEYWORDS.items():
        config.write_text(f"Match User nobody-at-all\n{name} x\n")
        refused = "not allowed within a Match block" in sshd(config, host_key, "-t").stderr
        if refused == keyword.in_match:
            wrong.append(name)
    assert wrong == []


def test_aliases_and_their_own_scope() -> None:
    found = lookup("ChallengeResponseAuthentication")
    assert found is not None and found[0].name == "kbdinteractiveauthentication" and found[1]
    found = lookup("DSAAuthentication")
    assert found is not None and found[0].name == "pubkeyauthentication" and not found[1]
    assert lookup("NoSuchKeyword") is None
    assert KEYWORDS["maxstartups"].merge is Merge.MAXSTARTUPS
    assert KEYWORDS["allowusers"].merge is Merge.ACCUMULATE


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("120", 120),
        ("2m", 120),
        ("1h30m", 5400),
        ("1W", 604800),
        ("0", 0),
        ("1x", -1),
        ("", -1),
        ("0x10", -1),
    ],
)
def test_time_values_like_convtime(text: str, value: int) -> None:
    assert seconds(text) == value


@pytest.mark.parametrize(
    ("line", "printed"),
    [
        ("LogLevel debug1", ("DEBUG",)),  # log.c prints DEBUG1 by its first name
        ("PermitRootLogin prohibit-password", ("without-password",)),
        ("AllowTcpForwarding all", ("yes",)),
        ("Compression delayed", ("yes",)),
        ("PermitUserEnvironment YES", ("YES",)),  # strcmp: a pattern list, not a flag
        ("StreamLocalBindMask 22", ("022",)),
        ("FingerprintHash md5", ("MD5",)),
        (
            "Ciphers -aes*-ctr",
            ("chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com",),
        ),
        ("UnusedConnectionTimeout 0", ("none",)),
        ("Subsystem sftp  /usr/lib/sftp -l  INFO", ("sftp /usr/lib/sftp -l INFO",)),
    ],
)
def test_values_print_as_sshd_prints_them(
    line: str, printed: tuple[str, ...], host_key: Path, tmp_path: Path
) -> None:
    keyword, _, rest = line.partition(" ")
    found = lookup(keyword)
    assert found is not None
    assert found[0].value(argv_split(rest), rest) == printed
    config = tmp_path / "one"
    config.write_text(line + "\n")
    assert parse_sshd_t(sshd(config, host_key).stdout, source="t").options[found[0].name] == printed
