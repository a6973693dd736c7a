"""The sudoers fact: golden captures from Debian 12, other distros' stock files, and the
corners of sudo's grammar that line-based scanners get wrong (tests/fixtures/facts/sudoers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.facts.model import RawSection, Unavailable
from agent.facts.registry import FACTS
from agent.facts.spec import read_section
from agent.facts.sudoers import fact as sudoers
from agent.facts.sudoers.fact import Probe, SudoersFact
from agent.facts.sudoers.parse_file import (
    Alias,
    DefaultsEntry,
    Include,
    UserSpec,
    defaults_problem,
    parse_text,
    tokenize,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts" / "sudoers"
CONTEXT = {"user": "scanner"}


def load(name: str, rc: int = 0) -> SudoersFact:
    data = (FIXTURES / name).read_bytes()
    fact = sudoers.parse(RawSection("sudoers", data, b"", rc, False), CONTEXT)
    assert isinstance(fact, SudoersFact), fact
    return fact


# --------------------------------------------------------------------------- golden captures


def test_debian12_clean_golden() -> None:
    fact = load("debian12_clean.out")
    assert fact.installed and fact.version == "1.9.13p3" and fact.main == "/etc/sudoers"
    assert fact.policy.read == ("/etc/sudoers", "/etc/sudoers.d/00-hardening", "/etc/sudoers.d/README")
    assert fact.policy.errors == () and fact.policy.ignored == () and fact.policy.uncollected == ()
    assert fact.visudo is not None and fact.visudo.exit_code == 0
    assert fact.visudo.parsed_ok == fact.policy.read  # sudo's own list of files it read
    assert fact.host.short == "node1"
    # 00-hardening sets timestamp_timeout for root, so sudo -V cannot tell the compiled-in
    # value; options no line sets (ignore_dot) do come from sudo -V
    assert fact.compiled["timestamp_timeout"].source == "sudo 1.9.13p3 built-in default"
    assert fact.compiled["ignore_dot"] == sudoers.Setting(False, "sudo -V (compiled-in default)")
    evaluator = fact.evaluator()
    assert evaluator.setting("use_pty").source == "/etc/sudoers.d/00-hardening:2"
    assert evaluator.setting("logfile").value == "/var/log/sudo.log"
    grants = evaluator.grants()
    assert [(g.principals, g.all_commands, g.nopasswd, g.source) for g in grants] == [
        (("root",), True, False, "/etc/sudoers:47"),
        (("%sudo",), True, False, "/etc/sudoers:50"),
    ]
    alice = fact.person("alice")
    assert "sudo" in alice.groups  # from getent group, fetched because the policy names %sudo
    decision = evaluator.decide(alice, fact.person("root"), Probe("/usr/bin/id"))
    assert decision.allowed and decision.needs_password and decision.rule is not None


def test_debian12_weak_golden() -> None:
    fact = load("debian12_weak.out")
    policy = fact.policy
    # `@include sudoers.local` is relative to /etc/sudoers; it is read where it stands
    assert policy.read == (
        "/etc/sudoers",
        "/etc/sudoers.d/10-defaults",
        "/etc/sudoers.d/90-cloud-init-users",
        "/etc/sudoers.d/README",
        "/etc/sudoers.d/scanner",
        "/etc/sudoers.local",
    )
    ignored = {i.path: (i.reason, i.rules) for i in policy.ignored}
    assert ignored["/etc/sudoers.d/50-ops.conf"] == ("sudo skips names that contain '.' or end in '~'", 1)
    assert ignored["/etc/sudoers.d/60-tmp"] == ("world writable", 1)
    assert fact.visudo is not None and fact.visudo.exit_code == 1
    # visudo fails only on modes: the policy itself parses
    assert fact.visudo.syntax == () and fact.visudo.syntax_ok
    assert any("60-tmp: bad permissions" in line for line in fact.visudo.permissions)
    evaluator = fact.evaluator()
    ops = [g for g in evaluator.grants() if g.source == "/etc/sudoers.local:3"]
    assert [g.principals for g in ops] == [("alice", "bob")]  # the alias with a continuation
    nopasswd = {(g.principals, g.source) for g in evaluator.grants() if g.nopasswd}
    assert nopasswd == {
        (("deploy",), "/etc/sudoers.d/90-cloud-init-users:4"),
        (("scanner",), "/etc/sudoers.d/scanner:2"),
    }
    assert evaluator.setting("use_pty").value is False  # the later !use_pty wins
    assert evaluator.setting("timestamp_timeout").value == -1.0
    alice, root = fact.person("alice"), fact.person("root")
    passwordless = evaluator.decide(alice, root, Probe("/usr/bin/id"))
    assert passwordless.allowed and passwordless.needs_password is False  # Defaults:%ops !authenticate
    assert "10-defaults:1" in passwordless.why


def test_debian12_broken_golden() -> None:
    fact = load("debian12_broken.out")
    assert fact.visudo is not None and not fact.visudo.syntax_ok
    assert fact.visudo.syntax[0].startswith("/etc/sudoers.d/20-typo:1:30: syntax error")
    assert fact.policy.dropped == ("/etc/sudoers.d/20-typo:1:30: syntax error",)  # the same place
    # Debian builds sudo with --with-timeout=15: read from this node's sudo -V
    assert fact.compiled["timestamp_timeout"] == sudoers.Setting(15.0, "sudo -V (compiled-in default)")


def test_debian12_absent_golden() -> None:
    fact = load("debian12_absent.out")
    assert not fact.installed and fact.visudo is None
    assert fact.lookup("installed") is not None


def test_failed_or_hostile_sections_are_unavailable() -> None:
    data = (FIXTURES / "debian12_clean.out").read_bytes()
    spec = FACTS["sudoers"]
    no_base64 = read_section(spec, RawSection("sudoers", b"", b"", 127, False, missing_tool=0), CONTEXT)
    assert isinstance(no_base64, Unavailable) and no_base64.reason.startswith("base64 is not installed")
    assert isinstance(read_section(spec, RawSection("sudoers", data, b"", 0, True), CONTEXT), Unavailable)
    assert isinstance(sudoers.parse(RawSection("sudoers", b"garbage\n", b"", 0, False), CONTEXT), Unavailable)
    forged = data + b"F 0 main 0 81a0 0 0 1 not-base64!\n"
    assert isinstance(sudoers.parse(RawSection("sudoers", forged, b"", 0, False), CONTEXT), Unavailable)


# --------------------------------------------------------------------------- other distributions


def test_rhel9_stock_file() -> None:
    parsed = parse_text((FIXTURES / "rhel9.sudoers").read_text(), "/etc/sudoers")
    assert parsed.errors == ()
    include = [e for e in parsed.entries if isinstance(e, Include)]
    assert [(i.directive, i.path, i.is_dir) for i in include] == [("#includedir", "/etc/sudoers.d", True)]
    defaults = {e.name: e for e in parsed.entries if isinstance(e, DefaultsEntry)}
    assert defaults["secure_path"].value == "/sbin:/bin:/usr/sbin:/usr/bin"  # `name = value` with blanks
    assert defaults["visiblepw"].op == "false"
    users = [e.users[0].text() for e in parsed.entries if isinstance(e, UserSpec)]
    assert users == ["root", "%wheel"]


def test_rhel9_compiled_defaults_from_sudo_v() -> None:
    compiled = sudoers.compiled_defaults((FIXTURES / "rhel9_sudo_V.txt").read_text())
    assert compiled["timestamp_timeout"].value == 5.0 and "sudo -V" in compiled["timestamp_timeout"].source
    assert compiled["use_pty"].value is False  # 1.9.5: not printed, so off
    assert compiled["logfile"].value is None


def test_ubuntu2404_stock_file() -> None:
    parsed = parse_text((FIXTURES / "ubuntu2404.sudoers").read_text(), "/etc/sudoers")
    assert parsed.errors == ()
    users = [e.users[0].text() for e in parsed.entries if isinstance(e, UserSpec)]
    assert users == ["root", "%admin", "%sudo"]
    assert sudoers.sudo_version("Sudo version 1.9.15p5\n")[1] == (1, 9, 15)
    assert (
        sudoers.compiled_defaults("Sudo version 1.9.15p5\n")["use_pty"].value is True
    )  # default from 1.9.14


def test_sles15_stock_file_trailing_comments_and_targetpw() -> None:
    parsed = parse_text((FIXTURES / "sles15.sudoers").read_text(), "/etc/sudoers")
    assert parsed.errors == ()
    names = [e.name for e in parsed.entries if isinstance(e, DefaultsEntry)]
    assert "targetpw" in names  # "Defaults targetpw   # ask for..." : a comment after a flag
    everyone = next(e for e in parsed.entries if isinstance(e, UserSpec))
    assert everyone.users[0].kind == "ALL" and everyone.where.line == 61


# --------------------------------------------------------------------------- the grammar's corners


def kinds(text: str) -> list[str]:
    return [t.kind for t in tokenize(text) if t.kind not in ("NL", "EOF")]


def test_uid_versus_comment() -> None:
    assert kinds("#1000 ALL = ALL\n") == ["WORD", "ALL", "=", "ALL"]
    assert kinds("# 1000 ALL = ALL\n") == []
    assert kinds("#-1 ALL = ALL\n") == ["WORD", "ALL", "=", "ALL"]


def test_hash_include_only_in_column_one_but_at_include_anywhere() -> None:
    first = parse_text("#include /etc/a\n  #include /etc/b\n  @include /etc/c\n@includedir /etc/d\n", "f")
    includes = [(e.directive, e.path) for e in first.entries if isinstance(e, Include)]
    assert includes == [("#include", "/etc/a"), ("@include", "/etc/c"), ("@includedir", "/etc/d")]


def test_include_paths_quoted_escaped_relative_and_per_host() -> None:
    parsed = parse_text('@include "/etc/sudo rs"\n@include /etc/a\\ b\n@include rel.d\n', "/etc/sudoers")
    paths = [e.path for e in parsed.entries if isinstance(e, Include)]
    assert paths == ["/etc/sudo rs", "/etc/a b", "rel.d"]
    assert sudoers.resolve_include("rel.d", "/etc/sudoers", "node1") == "/etc/rel.d"
    assert sudoers.resolve_include("/etc/sudoers.%h", "/etc/sudoers", "node1") == "/etc/sudoers.node1"


def test_misspelt_tag_is_an_alias_then_a_syntax_error() -> None:
    parsed = parse_text("alice ALL=(ALL) NOPASSWORD: ALL\n", "f")
    assert [(p.column, p.message) for p in parsed.errors] == [(32, "syntax error")]  # where visudo -c puts it
    assert parsed.dropped == parsed.errors


def test_continuations_and_a_defaults_line_after_one() -> None:
    ok = parse_text("User_Alias A = alice, \\\n   bob\nA ALL = /usr/bin/id, \\\n  /usr/bin/true\n", "f")
    assert ok.errors == ()
    alias = next(e for e in ok.entries if isinstance(e, Alias))
    assert [m.name for m in alias.members] == ["alice", "bob"]
    bad = parse_text("bob ALL = /usr/bin/id, \\\nDefaults use_pty\n", "f")
    assert bad.errors[0].message == "invalid line continuation"
    assert parse_text("bob ALL = /usr/bin/id \\", "f").errors  # a continuation at the end of the file


def test_escapes_in_command_arguments() -> None:
    parsed = parse_text('bob ALL = /bin/ls -l\\,x, /usr/bin/id "", /bin/echo a\\:b\n', "f")
    spec = next(e for e in parsed.entries if isinstance(e, UserSpec))
    commands = [s.command.command for s in spec.privileges[0].cmndspecs]
    assert [(c.path, c.args) for c in commands if c] == [
        ("/bin/ls", "-l,x"),
        ("/usr/bin/id", '""'),
        ("/bin/echo", "a:b"),
    ]


def test_negation_parity_and_user_forms() -> None:
    parsed = parse_text('!!alice, !bob, %#27, %:ad, +ops, "%with space" ALL = ALL\n', "f")
    spec = next(e for e in parsed.entries if isinstance(e, UserSpec))
    assert [(m.kind, m.name, m.negated) for m in spec.users] == [
        ("WORD", "alice", False),
        ("WORD", "bob", True),
        ("USERGROUP", "%#27", False),
        ("USERGROUP", "%:ad", False),
        ("NETGROUP", "+ops", False),
        ("USERGROUP", "%with space", False),
    ]


def test_defaults_scopes_and_bindings() -> None:
    text = (
        "Defaults:alice, %ops !authenticate\nDefaults@web*,10.0.0.0/8 use_pty\n"
        "Defaults>root,!daemon logfile=/l\n"
        'Defaults!/usr/bin/id, CMDS !use_pty\nDefaults env_keep += "A B", env_keep -= C\n'
    )
    parsed = parse_text(text, "f")
    assert parsed.errors == ()
    got = [
        (e.scope, [m.text() for m in e.binding], e.name, e.op, e.value)
        for e in parsed.entries
        if isinstance(e, DefaultsEntry)
    ]
    assert got == [
        ("user", ["alice", "%ops"], "authenticate", "false", None),
        ("host", ["web*", "10.0.0.0/8"], "use_pty", "true", None),
        ("runas", ["root", "!daemon"], "logfile", "=", "/l"),
        ("cmnd", ["/usr/bin/id", "CMDS"], "use_pty", "false", None),
        ("global", [], "env_keep", "+=", "A B"),
        ("global", [], "env_keep", "-=", "C"),
    ]


@pytest.mark.parametrize(
    ("name", "op", "value", "ok"),
    [
        ("use_pty", "true", None, True),
        ("use_pty", "=", "yes", False),
        ("timestamp_timeout", "=", "2.5", True),
        ("timestamp_timeout", "=", "5m", False),
        ("timestamp_timeout", "true", None, False),
        ("logfile", "false", None, True),
        ("logfile", "=", "relative", False),
        ("umask", "=", "0777", True),
        ("umask", "=", "1777", False),
        ("lecture", "true", None, True),
        ("syslog", "=", "kern", False),
        ("use_ptty", "true", None, False),
        ("env_keep", "+=", "X", True),
        ("secure_path", "+=", "X", False),
    ],
)
def test_defaults_values_are_typed_like_visudo(name: str, op: str, value: str | None, ok: bool) -> None:
    assert (defaults_problem(name, op, value) is None) == ok


def test_option_and_digest_and_sudoedit_errors() -> None:
    assert parse_text("bob ALL = CWD=tmp /usr/bin/id\n", "f").errors[0].message.startswith('values for "CWD"')
    assert parse_text("bob ALL = TIMEOUT=5x /usr/bin/id\n", "f").errors[0].message == "invalid timeout value"
    assert "sudoedit" in parse_text("bob ALL = /usr/bin/sudoedit /etc/motd\n", "f").errors[0].message
    assert (
        parse_text("Cmnd_Alias ALL = /bin/ls\n", "f")
        .errors[0]
        .message.startswith("syntax error, reserved word")
    )
    digest = "sha256:" + "a" * 64
    parsed = parse_text(f"bob ALL = {digest} /usr/bin/id, ^/usr/bin/(id|true)$ -u\n", "f")
    assert parsed.errors == ()


def test_command_matching_like_sudo() -> None:
    assert sudoers.command_matches("/usr/bin/i*", None, Probe("/usr/bin/id", "-u"))
    assert not sudoers.command_matches("/usr/bin/*", None, Probe("/usr/bin/x/id"))  # FNM_PATHNAME
    assert sudoers.command_matches("/usr/bin/", None, Probe("/usr/bin/id"))
    assert not sudoers.command_matches("/usr/bin/", None, Probe("/usr/bin/x/id"))
    assert sudoers.command_matches("/usr/bin/id", '""', Probe("/usr/bin/id"))
    assert not sudoers.command_matches("/usr/bin/id", '""', Probe("/usr/bin/id", "-u"))
    assert sudoers.command_matches("/usr/bin/true", "*", Probe("/usr/bin/true", "a/b c"))  # args: / matches
    assert sudoers.command_matches("^/usr/bin/(id|true)$", None, Probe("/usr/bin/true"))


def test_assembly_skips_what_sudo_skips() -> None:
    def info(path: str, role: str, mode: int, text: str | None = None) -> sudoers.FileInfo:
        return sudoers.FileInfo(path, role, 1, False, mode, 0, 0, len(text or ""), text)

    files = {
        "/etc/sudoers": info(
            "/etc/sudoers", "main", 0o100440, "@includedir /etc/sudoers.d\n@include /etc/gone\n"
        ),
        "/etc/sudoers.d/b": info("/etc/sudoers.d/b", "dirent", 0o100440, "bob ALL = ALL\n"),
        "/etc/sudoers.d/a": info(
            "/etc/sudoers.d/a", "dirent", 0o100460, "alice ALL = ALL\n"
        ),  # g+w, group root: read
        "/etc/sudoers.d/x~": info("/etc/sudoers.d/x~", "ignored", 0o100440, "carol ALL = ALL\n"),
        "/etc/sudoers.d/fifo": info("/etc/sudoers.d/fifo", "dirent", 0o010644),
        "/etc/gone": sudoers.FileInfo("/etc/gone", "include", 1, False, None, None, None, None),
    }
    dirs = {"/etc/sudoers.d": info("/etc/sudoers.d", "dir", 0o040755)}
    wire = sudoers.Wire({"main": "/etc/sudoers"}, files, dirs, (), "", ())
    policy = sudoers.assemble(wire, "node1")
    assert policy.read == ("/etc/sudoers", "/etc/sudoers.d/a", "/etc/sudoers.d/b")  # strcmp order
    assert {i.path for i in policy.ignored} == {"/etc/sudoers.d/x~", "/etc/sudoers.d/fifo"}
    assert policy.errors == ("/etc/sudoers:2: @include /etc/gone: missing",)
    insecure_dir = sudoers.Wire(
        wire.scalars, files, {"/etc/sudoers.d": info("/etc/sudoers.d", "dir", 0o040777)}, (), "", ()
    )
    assert sudoers.assemble(insecure_dir, "node1").read == ("/etc/sudoers",)
    main = dict(files, **{"/etc/sudoers": info("/etc/sudoers", "main", 0o100446, "")})
    disabled = sudoers.assemble(sudoers.Wire(wire.scalars, main, dirs, (), "", ()), "node1")
    assert disabled.disabled is not None and "world writable" in disabled.disabled
