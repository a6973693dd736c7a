"""Generated sudoers policies: the strategies, and the properties that need no real sudo.

`policies(world)` draws a whole policy — aliases of all four kinds (Cmd_Alias too),
Defaults in every scope, negation, `#uid`/`%group`/`%#gid` forms, tags, regexes and
globs, backslash continuations, a main file with `@includedir`/`#includedir`/`@include`
of a relative and a `%h` path, and sudoers.d files including ones sudo must ignore
(`x.conf`, `y~`) that hold rules which would change the answer if they were read. Some
draws carry one deliberate syntax error. tests/fleet/test_sudo.py runs the same
strategies against real `visudo -c` and `sudo -l -U` (the oracles); here we check what
needs no oracle: the parser never raises, and its verdict follows the generator's intent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.facts.model import FactParseError, RawSection
from agent.facts.sudoers import fact as sudoers
from agent.facts.sudoers.parse_file import parse_text, tokenize

Draw = st.DrawFn


@dataclass(frozen=True)
class World:
    """The node a policy is generated for: its users, groups, names and one address."""

    users: tuple[str, ...] = ("alice", "bob", "carol")
    uids: Mapping[str, int] = field(default_factory=lambda: {"alice": 1001, "bob": 1002, "carol": 1003})
    groups: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"devs": ("alice", "bob"), "ops": ("carol",), "admins": ("alice",)}
    )
    gids: Mapping[str, int] = field(default_factory=lambda: {"devs": 2001, "ops": 2002, "admins": 2003})
    hostname: str = "oracle"
    address: str | None = "192.0.2.2"
    network: str | None = "192.0.2.0/24"
    targets: tuple[str, ...] = ("root", "daemon")
    commands: tuple[str, ...] = ("/usr/bin/id", "/usr/bin/true", "/usr/bin/whoami")


@dataclass(frozen=True)
class Generated:
    files: dict[str, str]  # path -> content, all mode 0440 root:root
    broken: str | None  # the syntax error deliberately put in, if any

    def render(self) -> str:
        return "".join(f"==> {path} <==\n{text}" for path, text in self.files.items())


NAMES = ("A1", "A2")
_SEPARATORS = (", ", ",", " , ", ",\\\n    ", " ,\\\n\t")


def _join(draw: Draw, items: list[str]) -> str:
    out = items[0]
    for item in items[1:]:
        out += str(draw(st.sampled_from(_SEPARATORS))) + item
    return out


def _negate(draw: Draw, item: str, chance: float = 0.15) -> str:
    return ("!" + item) if draw(st.floats(0, 1)) < chance else item


@st.composite
def policies(draw: Draw, world: World = World(), allow_broken: bool = True) -> Generated:
    """One whole sudo policy for `world`, spread over the files sudo reads (and some it skips)."""
    user_alias = [f"U{n}" for n in NAMES]
    runas_alias = [f"R{n}" for n in NAMES]
    host_alias = [f"H{n}" for n in NAMES]
    cmnd_alias = [f"C{n}" for n in NAMES]

    def user_item(aliases: bool = True) -> str:
        options = [*world.users, *(f"%{g}" for g in world.groups), "ALL"]
        options += [f"#{world.uids[u]}" for u in world.users[:1]]
        options += [f"%#{world.gids[g]}" for g in list(world.groups)[:1]]
        if aliases:
            options += user_alias
        return _negate(draw, str(draw(st.sampled_from(options))))

    def host_item(aliases: bool = True) -> str:
        options = ["ALL", world.hostname, "otherhost", world.hostname[:3] + "*", "x*"]
        if world.address:
            options += [world.address, "10.9.8.7"]
        if world.network:
            options += [world.network, "10.0.0.0/8"]
        if aliases:
            options += host_alias
        return _negate(draw, str(draw(st.sampled_from(options))))

    def runas_item(aliases: bool = True) -> str:
        options = ["ALL", *world.targets, "#0", "%devs", world.users[1]]
        if aliases:
            options += runas_alias
        return _negate(draw, str(draw(st.sampled_from(options))), 0.2)

    def cmnd_item(aliases: bool = True, args: bool = True) -> str:
        c = world.commands
        options = ["ALL", *c, "/usr/bin/", "/usr/bin/i*", "^/usr/bin/(id|true)$"]
        if args:
            options += [f'{c[0]} ""', f"{c[0]} -u", f"{c[1]} *"]
        if aliases:
            options += cmnd_alias
        return _negate(draw, str(draw(st.sampled_from(options))), 0.2)

    def items(make: Callable[[], str], low: int = 1, high: int = 3) -> list[str]:
        return [make() for _ in range(int(draw(st.integers(low, high))))]

    def runas_spec() -> str:
        kind = draw(st.sampled_from(["none", "none", "users", "users", "both", "empty", "groups"]))
        if kind == "none":
            return ""
        if kind == "empty":
            return "() "
        if kind == "groups":
            return "(:devs) "
        users = _join(draw, items(runas_item, 1, 2))
        if kind == "both":
            return f"({users} : ALL) "
        return f"({users}) "

    def cmndspec() -> str:
        tag_words = ["NOPASSWD:", "NOPASSWD:", "PASSWD:", "NOEXEC:", "SETENV:"]
        tags = draw(st.lists(st.sampled_from(tag_words), max_size=2))
        option = draw(st.sampled_from(["", "", "", "CWD=/tmp ", "TIMEOUT=1h "]))
        return runas_spec() + option + " ".join(str(t) for t in tags) + (" " if tags else "") + cmnd_item()

    def privilege() -> str:
        hosts = _join(draw, items(host_item, 1, 2))
        equals = draw(st.sampled_from([" = ", "=", " =", "= "]))
        return f"{hosts}{equals}{_join(draw, items(cmndspec, 1, 3))}"

    def userspec() -> str:
        privs = [privilege() for _ in range(int(draw(st.integers(1, 2))))]
        return f"{_join(draw, items(user_item, 1, 2))}\t" + " : ".join(privs)

    def defaults() -> str:
        scope = draw(st.sampled_from(["global", "global", "host", "user", "user", "runas", "cmnd"]))
        head = {
            "global": "Defaults",
            "host": "Defaults@" + ",".join(items(host_item, 1, 2)),
            "user": "Defaults:" + ",".join(items(user_item, 1, 2)),
            "runas": "Defaults>" + ",".join(items(runas_item, 1, 2)),
            "cmnd": "Defaults!" + ",".join(items(lambda: cmnd_item(args=False), 1, 2)),
        }[str(scope)]
        params = draw(
            st.lists(
                st.sampled_from(
                    [
                        "authenticate",
                        "!authenticate",
                        "!authenticate",
                        "use_pty",
                        "!use_pty",
                        "env_reset",
                        "timestamp_timeout=5",
                        "timestamp_timeout=-1",
                        "!timestamp_timeout",
                        "logfile=/var/log/nodeward-test-sudo.log",
                        "!logfile",
                        "exempt_group=devs",
                        "!exempt_group",
                        'env_keep += "FOO BAR"',
                        "ignore_dot",
                        "!lecture",
                    ]
                ),
                min_size=1,
                max_size=3,
            )
        )
        if scope == "global" and draw(st.floats(0, 1)) < 0.1:
            params = [*params, "runas_default=daemon"]
        return f"{head} {', '.join(str(p) for p in params)}"

    def alias_block() -> list[str]:
        lines = []
        for kind, names, make in (
            ("User_Alias", user_alias, lambda: user_item(aliases=False)),
            ("Runas_Alias", runas_alias, lambda: runas_item(aliases=False)),
            ("Host_Alias", host_alias, lambda: host_item(aliases=False)),
            (
                str(draw(st.sampled_from(["Cmnd_Alias", "Cmd_Alias"]))),
                cmnd_alias,
                lambda: cmnd_item(aliases=False),
            ),
        ):
            first = f"{names[0]} = {_join(draw, items(make))}"
            second = f"{names[1]} = {_join(draw, [names[0], *items(make, 0, 2)])}"
            if draw(st.booleans()):
                lines.append(f"{kind} {first} : {second}")
            else:
                lines += [f"{kind} {first}", f"{kind} {second}"]
        return lines

    comments = ["# a comment", "", "   ", "# 1000 is a comment, #1000 would be a uid"]
    body = alias_block() + [defaults() for _ in range(int(draw(st.integers(0, 4))))]
    body += [userspec() for _ in range(int(draw(st.integers(1, 5))))]
    spread: dict[str, list[str]] = {"main": [], "10-gen": [], "20-gen": [], "local": []}
    for line in body:
        spread[str(draw(st.sampled_from(["main", "main", "10-gen", "20-gen", "local"])))].append(line)
    for lines in spread.values():
        if draw(st.booleans()):
            lines.insert(int(draw(st.integers(0, len(lines)))), str(draw(st.sampled_from(comments))))
    includedir = draw(st.sampled_from(["@includedir /etc/sudoers.d", "#includedir /etc/sudoers.d"]))
    include = draw(
        st.sampled_from(["@include sudoers.local", "@include /etc/sudoers.%h", '@include "sudoers.local"'])
    )
    local_path = "/etc/sudoers." + (world.hostname if "%h" in include else "local")
    main = ["root\tALL=(ALL:ALL) ALL", *spread["main"]]
    main.insert(int(draw(st.integers(1, len(main)))), str(include))
    main.insert(int(draw(st.integers(1, len(main)))), str(includedir))
    files = {
        "/etc/sudoers": main,
        "/etc/sudoers.d/10-gen": spread["10-gen"],
        "/etc/sudoers.d/20-gen": spread["20-gen"],
        local_path: spread["local"],
        # sudo must skip both: a rule in them would change every answer below.
        "/etc/sudoers.d/x.conf": [f"{world.users[0]} ALL=(ALL) NOPASSWD: ALL", "Defaults !authenticate"],
        "/etc/sudoers.d/30-gen~": ["ALL ALL=(ALL) NOPASSWD: ALL"],
    }
    broken = None
    if allow_broken and draw(st.floats(0, 1)) < 0.3:
        broken = str(draw(st.sampled_from(sorted(_BREAKERS))))
        target = str(draw(st.sampled_from(["/etc/sudoers", "/etc/sudoers.d/10-gen", local_path])))
        if broken == "trailing backslash at EOF":
            # Only where nothing follows: at the end of an included file sudo's lexer goes on
            # into the including file, and a continuation there can even turn valid.
            target = "/etc/sudoers"
        files[target] = _BREAKERS[broken](files[target], world)
    texts = {}
    for path, lines in files.items():
        text = "\n".join(lines)
        if draw(st.floats(0, 1)) < 0.85:
            text += "\n"
        texts[path] = text
    return Generated(texts, broken)


def _append(line: str) -> Callable[[list[str], World], list[str]]:
    return lambda lines, world: [*lines, line]


# One deliberate error each; visudo -c must reject every one of them (tests/fleet/test_sudo.py).
_BREAKERS: dict[str, Callable[[list[str], World], list[str]]] = {
    "misspelt tag": _append("bob ALL=(ALL) NOPASSWORD: ALL"),
    "missing =": _append("bob ALL (ALL) ALL"),
    "unknown Defaults option": _append("Defaults use_ptty"),
    "flag with a value": _append("Defaults use_pty=yes"),
    "bad timestamp_timeout": _append("Defaults timestamp_timeout=5m"),
    "duplicate alias": _append("User_Alias UA1 = bob\nUser_Alias UA1 = carol"),
    "empty group": _append("% ALL = ALL"),
    "Defaults after a continuation": _append("bob ALL = /usr/bin/id, \\\nDefaults use_pty"),
    "lower-case alias keyword": _append("user_alias X = bob"),
    "relative command": _append("bob ALL = usr/bin/id"),
    "bad CWD": _append("bob ALL = CWD=tmp /usr/bin/id"),
    "reserved alias name": _append("Cmnd_Alias ALL = /usr/bin/id"),
    "sudoedit with a path": _append("bob ALL = /usr/bin/sudoedit /etc/motd"),
    "unterminated string": _append('Defaults passprompt="oops'),
    "trailing backslash at EOF": lambda lines, world: [*lines, "bob ALL = /usr/bin/id \\"],
}


# --------------------------------------------------------------------------- properties


def wire_for(generated: Generated, world: World = World()) -> sudoers.Wire:
    """The Wire the gather script would ship for these files (all 0440 root:root)."""
    files = {}
    for path, text in generated.files.items():
        name = path.rsplit("/", 1)[1]
        in_dir = path.startswith("/etc/sudoers.d/")
        role = ("ignored" if "." in name or name.endswith("~") else "dirent") if in_dir else "include"
        role = "main" if path == "/etc/sudoers" else role
        size = len(text.encode())
        files[path] = sudoers.FileInfo(path, role, 0, False, 0o100440, 0, 0, size, text)
    dirs = {"/etc/sudoers.d": sudoers.FileInfo("/etc/sudoers.d", "dir", 1, False, 0o040750, 0, 0, 4096)}
    return sudoers.Wire({"main": "/etc/sudoers", "host": world.hostname}, files, dirs, (), "", ())


def _parse_all(generated: Generated) -> list[str]:
    policy = sudoers.assemble(wire_for(generated), World().hostname)
    assert not policy.uncollected, policy.uncollected
    return list(policy.errors)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(allow_broken=False))
def test_generated_policies_parse_cleanly(generated: Generated) -> None:
    assert _parse_all(generated) == [], generated.render()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(allow_broken=True))
def test_each_deliberate_error_is_found(generated: Generated) -> None:
    errors = _parse_all(generated)
    assert bool(errors) == (generated.broken is not None), (generated.broken, errors, generated.render())


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_the_parser_never_raises_on_arbitrary_text(text: str) -> None:
    parsed = parse_text(text, "/etc/sudoers")
    assert all(problem.where.line >= 1 for problem in parsed.errors)


_SUDOERS_ALPHABET = st.sampled_from(
    [*"abcAB019 \t\n\\\"'#%+!=:,()@^$*?/.~-_", "Defaults", "ALL", "NOPASSWD:", "User_Alias", "@include"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_SUDOERS_ALPHABET, max_size=60).map("".join))
def test_the_parser_never_raises_on_sudoers_shaped_noise(text: str) -> None:
    tokens = tokenize(text)
    assert tokens[-1].kind == "EOF"
    parse_text(text, "/etc/sudoers")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_the_fact_parser_never_raises_on_hostile_section_bytes(data: bytes) -> None:
    for prefix in (b"", b"H nodeward-sudoers 1\n"):
        result = sudoers.parse(RawSection("sudoers", prefix + data, b"", 0, False), {"user": "scanner"})
        assert result is not None


def test_lexer_caps_huge_input() -> None:
    with pytest.raises(FactParseError):
        tokenize("a" * (2 << 20))
