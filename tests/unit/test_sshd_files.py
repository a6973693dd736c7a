"""The file walk's replay of sshd's two passes, on small hand-made trees.

Every rule here is also exercised against the real daemon by test_sshd_oracle.py;
these cases pin the ones a finding's wording depends on (which line won, which block).
"""

from __future__ import annotations

from agent.facts.sshd.files import ConfigTree, Effective, SourceFile, evaluate
from agent.facts.sshd.match import Connection
from agent.facts.sshd.sources import attribution

OPERATOR = Connection(user="scanner", host="192.0.2.10", addr="192.0.2.10", laddr="192.0.2.20", lport=22)
MAIN = "/etc/ssh/sshd_config"
DROPINS = "/etc/ssh/sshd_config.d/*.conf"


def tree(
    main: str, files: dict[str, str] | None = None, globs: dict[str, list[str]] | None = None
) -> ConfigTree:
    texts = {MAIN: main, **(files or {})}
    return ConfigTree(
        main=MAIN,
        files={path: SourceFile(path, tuple(text.split("\n"))) for path, text in texts.items()},
        globs={pattern: tuple(matches) for pattern, matches in (globs or {}).items()},
    )


def groups(user: str) -> frozenset[str] | None:
    return {"carol": frozenset({"carol", "contractors"}), "scanner": frozenset({"scanner"})}.get(user)


def run(config: ConfigTree, connection: Connection | None = OPERATOR) -> Effective:
    return evaluate(config, connection, groups)


def dropin_tree(main: str, dropins: dict[str, str]) -> ConfigTree:
    paths = {f"/etc/ssh/sshd_config.d/{name}": text for name, text in dropins.items()}
    return tree(main, paths, {DROPINS: sorted(paths)})


def test_a_drop_in_read_first_wins_and_the_finding_says_so() -> None:
    config = dropin_tree(
        "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n",
        {"20-x.conf": "# image build\nPermitRootLogin yes\n"},
    )
    effective = run(config)
    setting = effective.settings["permitrootlogin"]
    assert setting.values == ("yes",)
    assert str(setting.origin[0].location) == "/etc/ssh/sshd_config.d/20-x.conf:2"
    assert attribution(setting) == (
        "/etc/ssh/sshd_config.d/20-x.conf:2 (PermitRootLogin yes), read before /etc/ssh/sshd_config:2 "
        "(PermitRootLogin no), which sshd ignores: the first value wins"
    )
    assert effective.printed("passwordauthentication") == ("yes",)  # compiled-in default
    assert attribution(effective.settings.get("passwordauthentication")).startswith("compiled-in default")


def test_a_match_block_ends_with_the_included_file() -> None:
    config = dropin_tree(
        "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\nUsePAM yes\n",
        {"30-deploy.conf": "Match User deploy\n  PasswordAuthentication yes\n"},
    )
    for user, expected in (("scanner", "no"), ("deploy", "yes")):
        effective = run(config, Connection(user=user, addr="192.0.2.10", lport=22))
        assert effective.printed("passwordauthentication") == (expected,), user
        assert not effective.problems  # UsePAM (global only) is outside the included block
    deploy = run(config, Connection(user="deploy", addr="192.0.2.10", lport=22))
    assert [str(b) for b in deploy.selected] == ["Match User deploy"]
    assert "in Match User deploy at /etc/ssh/sshd_config.d/30-deploy.conf:1" in attribution(
        deploy.settings["passwordauthentication"]
    )


def test_a_match_value_overrides_the_global_one_for_its_connections_only() -> None:
    config = tree("PasswordAuthentication no\nMatch Address 10.0.0.0/8\n    PasswordAuthentication yes\n")
    inside = run(config, Connection(user="x", addr="10.0.0.0", lport=22))
    assert inside.printed("passwordauthentication") == ("yes",)
    assert attribution(inside.settings["passwordauthentication"]) == (
        "/etc/ssh/sshd_config:3 (PasswordAuthentication yes) in Match Address 10.0.0.0/8 at "
        "/etc/ssh/sshd_config:2; for this connection it overrides /etc/ssh/sshd_config:1 "
        "(PasswordAuthentication no)"
    )
    assert run(config).printed("passwordauthentication") == ("no",)


def test_global_only_keywords_inside_match_make_the_file_invalid() -> None:
    effective = run(tree("Match User x\n  UsePAM yes\n"))
    assert [p.message for p in effective.problems] == [
        "Directive 'UsePAM' is not allowed within a Match block"
    ]


def test_includes_inside_an_inactive_match_never_match() -> None:
    # sshd: an Include under a Match that does not select the connection passes
    # SSHCFG_NEVERMATCH, so Match blocks in that file cannot select it either.
    config = tree(
        "Match User nobody\n  Include /etc/ssh/inner.conf\n",
        {"/etc/ssh/inner.conf": "Match All\n  X11Forwarding yes\n"},
        {"/etc/ssh/inner.conf": ["/etc/ssh/inner.conf"]},
    )
    assert run(config).printed("x11forwarding") == ("no",)
    nobody = run(config, Connection(user="nobody", addr="192.0.2.1", lport=22))
    assert nobody.printed("x11forwarding") == ("yes",)


def test_match_all_applies_in_the_first_pass_too() -> None:
    config = tree("Match All\n  MaxStartups 5\n  AllowUsers a\nMatch All\n  AllowUsers b\n")
    effective = run(config)
    assert not effective.problems
    assert effective.printed("maxstartups") == ("5:30:5",)  # global-only, legal after Match All
    # The Match pass collects both blocks and replaces the first pass's list.
    assert effective.printed("allowusers") == ("a", "b")


def test_accumulating_lists_and_last_value_keywords() -> None:
    config = dropin_tree(
        "Include /etc/ssh/sshd_config.d/*.conf\nAllowUsers c\nMaxStartups 10:30:60\nMaxStartups 4\n",
        {"10-a.conf": "AllowUsers a b\nAcceptEnv LANG\n"},
    )
    effective = run(config)
    assert effective.printed("allowusers") == ("a", "b", "c")
    assert effective.printed("maxstartups") == ("4:30:4",)  # the last line wins; the rate stays
    assert "the last value wins" in attribution(effective.settings["maxstartups"])


def test_unsatisfiable_authentication_methods_are_a_problem() -> None:
    effective = run(tree("AuthenticationMethods publickey,password\nPasswordAuthentication no\n"))
    assert [p.message for p in effective.problems] == [
        "AuthenticationMethods cannot be satisfied by enabled authentication methods"
    ]
    assert not run(
        tree("AuthenticationMethods publickey,password publickey\nPasswordAuthentication no\n")
    ).problems


def test_what_the_walk_cannot_see_is_a_gap_not_a_guess() -> None:
    unexpanded = run(tree("Include /etc/ssh/sshd_config.d/*.conf\n"))
    assert unexpanded.gaps == (
        "Include /etc/ssh/sshd_config.d/*.conf at /etc/ssh/sshd_config:1 (not expanded on the node)",
    )
    hidden = ConfigTree(
        MAIN,
        {
            MAIN: SourceFile(MAIN, ("Include /etc/ssh/x.conf",)),
            "/etc/ssh/x.conf": SourceFile("/etc/ssh/x.conf", None, "unreadable"),
        },
        {"/etc/ssh/x.conf": ("/etc/ssh/x.conf",)},
    )
    assert run(hidden).gaps == ("/etc/ssh/x.conf (unreadable)",)
    assert not run(tree("Include /etc/ssh/none/*.conf\n"), None).complete


def test_include_recursion_is_capped_like_sshd() -> None:
    loop = tree("Include /etc/ssh/sshd_config\n", {}, {MAIN: [MAIN]})
    assert any("Too many recursive configuration includes" in p.message for p in run(loop).problems)


def test_match_group_uses_the_nodes_group_list() -> None:
    config = tree(
        "KbdInteractiveAuthentication no\nMatch Group contractors\n  KbdInteractiveAuthentication yes\n"
    )
    assert run(config, Connection(user="carol", addr="192.0.2.1", lport=22)).printed(
        "kbdinteractiveauthentication"
    ) == ("yes",)
    assert run(config).printed("kbdinteractiveauthentication") == ("no",)


def test_bad_lines_are_problems_and_never_exceptions() -> None:
    effective = run(
        tree(
            'PasswordAuthentication maybe\nNoSuchOption 1\nBanner "open\nPort\nSubsystem sftp a\n'
            "Subsystem sftp b\nLogin\x00Grace 1\nMatch Bogus x\nMatch Address 10.1.2.3/8\n"
        )
    )
    messages = " | ".join(p.message for p in effective.problems)
    for expected in (
        'unsupported option "maybe"',
        "Bad configuration option: NoSuchOption",
        "invalid quotes",
        'no argument after keyword "Port"',
        "Unsupported Match attribute bogus",
        "Invalid Match address argument",
        "Subsystem 'sftp' already defined.",
        "NUL byte",
    ):
        assert expected in messages
