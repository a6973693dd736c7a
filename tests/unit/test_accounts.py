"""The accounts fact: golden captures from Debian 12 and other distributions' file formats
(tests/fixtures/facts/accounts)."""

from __future__ import annotations

from pathlib import Path

from agent.facts import accounts
from agent.facts.accounts import AccountsFact
from agent.facts.model import RawSection, Unavailable

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts" / "accounts"


def load(name: str) -> AccountsFact:
    data = (FIXTURES / name).read_bytes()
    fact = accounts.parse(RawSection("accounts", data, b"", 0, False), {})
    assert isinstance(fact, AccountsFact), fact
    return fact


def test_debian12_clean_golden() -> None:
    fact = load("debian12_clean.out")
    assert [a.name for a in fact.accounts if a.uid == 0] == ["root"]
    assert fact.uid_min == 1000 and fact.uid_min_source.startswith("/etc/login.defs:")
    assert fact.passwords["root"] == ("locked", 1)
    assert {state for state, _ in fact.passwords.values()} == {"locked"}
    ssh = {p.path: p.perms for p in fact.paths_of("root_ssh")}
    assert ssh == {"/root/.ssh": 0o700, "/root/.ssh/authorized_keys": 0o600}
    assert [(k.key_type, k.restricted) for k in fact.root_keys] == [
        ("ssh-ed25519", True)
    ]  # cloud-init's stub
    assert fact.pam_su is not None
    wheel = [line for line in fact.pam_su if line.module == "pam_wheel.so"]
    assert [(w.kind, w.control, w.args) for w in wheel] == [
        ("auth", "required", ("use_uid", "group=sugroup"))
    ]
    assert fact.paths_of("equiv") == () and fact.paths_of("home") == ()
    postgres = fact.account("postgres")
    assert postgres is not None and fact.is_system(postgres) and postgres.shell == "/bin/bash"


def test_debian12_weak_golden_reports_states_never_hashes() -> None:
    raw = (FIXTURES / "debian12_weak.out").read_text()
    assert "$6$" not in raw and "fixturehash" not in raw and "lockedhash" not in raw
    fact = load("debian12_weak.out")
    assert [a.name for a in fact.accounts if a.uid == 0] == ["root", "toor"]
    assert fact.passwords["root"][0] == "empty"
    assert fact.passwords["daemon"][0] == "set"
    # RHEL's "!!", passwd -l's "!<hash>" and "*LK*": nothing crypt(3) can match
    assert [fact.passwords[n][0] for n in ("man", "mail", "games")] == ["locked", "locked", "locked"]
    assert fact.group("wheelz") is not None and fact.group("wheelz").gid == 0  # type: ignore[union-attr]
    assert {p.path for p in fact.paths_of("home")} == {"/home/alice/.rhosts", "/home/alice/.netrc"}
    assert [p.path for p in fact.paths_of("equiv")] == ["/etc/hosts.equiv"]
    assert [p.path for p in fact.paths_of("syskeys")] == ["/var/backups/.ssh/authorized_keys"]
    assert [k.restricted for k in fact.root_keys] == [True, False]
    assert fact.pam_su is not None and not [line for line in fact.pam_su if line.module == "pam_wheel.so"]


def test_rhel9_formats() -> None:
    # /etc/pam.d/su of RHEL 9 (util-linux), as `grep -n -v` of comments ships it
    pam = accounts.parse_pam(
        "1:auth\t\trequired\tpam_env.so\n"
        "2:auth\t\tsufficient\tpam_rootok.so\n"
        "6:auth\t\trequired\tpam_wheel.so use_uid\n"
        "7:auth\t\tsubstack\tsystem-auth\n"
        "8:auth\t\tinclude\t\tpostlogin\n"
        "9:account\t\tsufficient\tpam_succeed_if.so uid = 0 use_uid quiet\n"
        "12:session\t\toptional\tpam_xauth.so\n"
        "13:-session   optional   pam_systemd.so\n"
        "14:auth [success=1 default=ignore] pam_succeed_if.so user ingroup wheel\n"
    )
    assert [(p.line, p.kind, p.control, p.module) for p in pam][2] == (6, "auth", "required", "pam_wheel.so")
    assert pam[-2].kind == "session" and pam[-1].control == "[success=1 default=ignore]"
    # login.defs: the last UID_MIN wins
    assert accounts.parse_login_defs("88:UID_MIN 1000\n90:SYS_UID_MAX 999\n120:UID_MIN 500\n") == (
        500,
        "/etc/login.defs:120",
    )
    assert accounts.parse_login_defs(None) == (1000, "UID_MIN default (1000)")


def test_authorized_keys_options_with_quoted_blanks() -> None:
    keys = accounts.parse_authorized_keys(
        "# comment\n"
        'from="10.0.0.1",command="echo \\"no shell\\"; exit 1" ssh-rsa AAAA root@x\n'
        "restrict ecdsa-sha2-nistp256 AAAA\n"
        "ssh-ed25519 AAAA laptop\n"
        "garbage line\n"
        "sk-ssh-ed25519@openssh.com AAAA yubikey\n"
    )
    assert [(k.line, k.key_type, k.restricted) for k in keys] == [
        (2, "ssh-rsa", True),
        (3, "ecdsa-sha2-nistp256", True),
        (4, "ssh-ed25519", False),
        (6, "sk-ssh-ed25519@openssh.com", False),
    ]


def test_failures_are_unavailable() -> None:
    assert isinstance(accounts.parse(RawSection("accounts", b"", b"x", 126, False), {}), Unavailable)
    assert isinstance(accounts.parse(RawSection("accounts", b"nope\n", b"", 0, False), {}), Unavailable)
    no_passwd = b"H nodeward-accounts 1\nM L2V0Yy9wYXNzd2Q=\n"
    assert isinstance(accounts.parse(RawSection("accounts", no_passwd, b"", 0, False), {}), Unavailable)
    fact = accounts.parse(
        RawSection("accounts", b"H nodeward-accounts 1\nC L2V0Yy9wYXNzd2Q= \nU shadow\n", b"", 0, False), {}
    )
    assert isinstance(fact, AccountsFact) and not fact.shadow_readable and fact.accounts == ()
