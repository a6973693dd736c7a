"""Differential tests: the file walk against the real sshd as oracle (issue 3, acceptance 2).

Hypothesis writes whole configuration trees into a temporary directory: keyword case,
`=` versus blanks, quotes, comments, duplicates, CR line ends, Include globs (also
nested and inside Match blocks), drop-ins that end in their own Match block, and Match
blocks over User, Group, Address, Host, LocalAddress, LocalPort and All. The node-side
snippet itself (walk.FUNCTIONS, the same shell the scan runs) walks the tree and
runs `sshd -T -f <tree> -C ...` for the operator and for each Match line; for every
configuration the real `sshd -t` accepts, every value the walk computes for those
connections, and for a few more random ones, must equal what sshd printed.

Needs /usr/sbin/sshd (openssh-server) and /run/sshd; no root (the host key is ours).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.facts.sshd import walk as sshd_walk
from agent.facts.sshd.fact import parse_sshd_t
from agent.facts.sshd.files import Effective, evaluate
from agent.facts.sshd.keywords import EXACT
from agent.facts.sshd.match import Connection

SSHD = "/usr/sbin/sshd"
ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C",
    "NW_USER": "scanner",
    "NW_CLIENT_ADDR": "192.0.2.10",
    "NW_SERVER_ADDR": "192.0.2.20",
    "NW_SERVER_PORT": "22",
}

# keyword -> values sshd accepts; written in random case, separators and quoting.
ANYWHERE: dict[str, list[str]] = {
    "PasswordAuthentication": ["yes", "no", "YES", "No"],
    "PermitRootLogin": ["yes", "no", "prohibit-password", "without-password", "forced-commands-only"],
    "PubkeyAuthentication": ["yes", "no"],
    "KbdInteractiveAuthentication": ["yes", "no"],
    "ChallengeResponseAuthentication": ["yes", "no"],
    "PermitEmptyPasswords": ["yes", "no"],
    "X11Forwarding": ["yes", "no"],
    "AllowAgentForwarding": ["yes", "no"],
    "AllowTcpForwarding": ["yes", "no", "all", "local", "remote"],
    "DisableForwarding": ["yes", "no"],
    "GatewayPorts": ["yes", "no", "clientspecified"],
    "PermitTunnel": ["yes", "no", "point-to-point", "ethernet"],
    "HostbasedAuthentication": ["yes", "no"],
    "IgnoreRhosts": ["yes", "no", "shosts-only"],
    "MaxAuthTries": ["1", "3", "6", "10", "+4"],
    "MaxSessions": ["2", "10"],
    "ClientAliveCountMax": ["0", "3"],
    "ClientAliveInterval": ["0", "300", "5m", "1m30s"],
    "LogLevel": ["INFO", "VERBOSE", "debug", "DEBUG1", "quiet", "SILENT", "debug3"],
    "Banner": ["none", "/etc/issue.net", "/etc/issue net"],
    "AllowUsers": ["alice", "bob* root", "scanner"],
    "DenyUsers": ["mallory", "eve*"],
    "AllowGroups": ["ssh-users", "adm sudo"],
    "AcceptEnv": ["LANG LC_*", "XMODIFIERS"],
    "AuthorizedKeysFile": [".ssh/authorized_keys", "%h/.ssh/k1 /etc/ssh/keys/%u", "none"],
    "AuthenticationMethods": ["publickey", "publickey,password", "any", "publickey password"],
    "ForceCommand": ["/bin/true", "internal-sftp -d /srv", "none"],
    "ChrootDirectory": ["/srv/%u", "none"],
    "SetEnv": ["A=1 B=2", "LC_ALL=C"],
    "PermitTTY": ["yes", "no"],
    "MaxStartups": [],  # global only, below
}
GLOBAL_ONLY: dict[str, list[str]] = {
    "UsePAM": ["yes", "no"],
    "StrictModes": ["yes", "no"],
    "IgnoreUserKnownHosts": ["yes", "no"],
    "UseDNS": ["yes", "no"],
    "PermitUserEnvironment": ["yes", "no", "LANG,LC_*"],
    "Compression": ["yes", "no", "delayed"],
    "LoginGraceTime": ["30", "2m", "0", "1h"],
    "MaxStartups": ["10:30:60", "5", "20:50:100"],
    "Ciphers": ["aes256-ctr,aes128-ctr", "+aes128-cbc", "-aes128-ctr", "^aes256-gcm@openssh.com"],
    "MACs": ["hmac-sha2-512,hmac-sha2-256", "-*sha1*", "+hmac-sha1"],
    "KexAlgorithms": ["curve25519-sha256,diffie-hellman-group16-sha512", "-ecdh-sha2-*"],
    "TCPKeepAlive": ["yes", "no"],
    "SyslogFacility": ["AUTH", "local0"],
}
del ANYWHERE["MaxStartups"]
CRITERIA: dict[str, list[str]] = {
    "User": ["alice", "scanner", "al*", "!root,*", "root", "daemon,bob"],
    "Group": ["root", "adm", "nogroup", "nosuchgroup", "daemon", "*"],
    "Address": [
        "10.0.0.0/8",
        "192.0.2.0/24",
        "192.0.2.10",
        "10.*",
        "!10.1.0.0/16,10.0.0.0/8",
        "2001:db8::/32",
    ],
    "Host": ["*.example.com", "bastion", "192.0.2.*"],
    "LocalPort": ["22", "2222"],
    "LocalAddress": ["192.0.2.20", "10.0.0.0/8"],
}
POOL = {key.lower() for key in (*ANYWHERE, *GLOBAL_ONLY)} | {"kbdinteractiveauthentication"}
COMPARED = sorted((POOL - {"challengeresponseauthentication"}) & EXACT)


# Keywords drawn more often, so duplicates (first value wins, accumulation) are common.
HOT = ["PasswordAuthentication", "PermitRootLogin", "MaxAuthTries", "AllowUsers", "AcceptEnv",
       "AuthorizedKeysFile", "MaxStartups", "SetEnv", "Ciphers", "ForceCommand"]  # fmt: skip
# Lines sshd rejects: the walk must notice that the configuration is unacceptable.
INVALID = st.sampled_from(
    [
        "PasswordAuthentication maybe", "NoSuchOption yes", "MaxAuthTries many", 'Banner "/etc/unterminated',
        "PermitTunnel YES", "PasswordAuthentication", "Match Address 10.1.2.3/8", "Match Bogus x",
        "LoginGraceTime 1x", "PermitRootLogin yes no", "Match", "AuthenticationMethods any publickey",
    ]
)  # fmt: skip


CASES: list[Callable[[str], str]] = [lambda text: text, str.lower, str.upper]


@st.composite
def directive(draw: st.DrawFn, pool: dict[str, list[str]]) -> str:
    hot = [k for k in HOT if k in pool]
    if draw(st.integers(0, 40)) == 0:
        return draw(INVALID)
    use_hot = bool(hot) and draw(st.booleans())
    keyword = draw(st.sampled_from(hot if use_hot else sorted(pool)))
    value = draw(st.sampled_from(pool[keyword]))
    case = draw(st.sampled_from(CASES))
    separator = draw(st.sampled_from([" ", "\t", "=", " = ", "  ", "= ", " ="]))
    if " " in value:
        value = draw(st.sampled_from([f'"{value}"', value])) if keyword in ("Banner",) else value
        if keyword == "Banner":
            value = f'"{pool[keyword][2]}"'
    else:
        value = draw(st.sampled_from([value, f'"{value}"', f"'{value}'"]))
    lead = draw(st.sampled_from(["", "  ", "\t"]))
    tail = draw(st.sampled_from(["", "", " # trailing comment", "\t#x", "\r"]))
    return f"{lead}{case(keyword)}{separator}{value}{tail}"


@st.composite
def match_line(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["Match All", "match all", "Match all # everyone"]))
    names = draw(st.lists(st.sampled_from(sorted(CRITERIA)), min_size=1, max_size=2, unique=True))
    parts = []
    for name in names:
        value = draw(st.sampled_from(CRITERIA[name]))
        written = draw(st.sampled_from([name, name.lower(), name.upper()]))
        parts.append(f"{written}{draw(st.sampled_from([' ', '=', ' ']))}{value}")
    return draw(st.sampled_from(["Match ", "match ", "MATCH\t"])) + " ".join(parts)


NOISE = st.sampled_from(["", "# a comment", "   ", "#PasswordAuthentication yes"])


def lines_of(items: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.one_of(items, NOISE), max_size=max_size)


@dataclass
class Tree:
    main: list[str]
    dropins: dict[str, list[str]]  # global drop-ins, Included at the top
    nested: dict[str, list[str]]  # included from the first drop-in
    in_match: dict[str, list[str]]  # included from inside a Match block


@st.composite
def trees(draw: st.DrawFn) -> Tree:
    everything = {**ANYWHERE, **GLOBAL_ONLY}
    dropins: dict[str, list[str]] = {}
    for index in range(draw(st.integers(0, 3))):
        body = draw(lines_of(directive(everything), 4))
        if draw(st.booleans()):  # a drop-in that ends in its own Match block
            body += [draw(match_line()), *draw(lines_of(directive(ANYWHERE), 2))]
        dropins[f"{index * 10 + 10:02d}-{draw(st.sampled_from(['a', 'b']))}{index}.conf"] = body
    if len(dropins) > 0 and draw(st.booleans()):
        dropins["README"] = ["This is not a .conf file and sshd never reads it"]
    nested: dict[str, list[str]] = {}
    if draw(st.booleans()):
        nested["n.conf"] = draw(lines_of(directive(everything), 3))
    in_match: dict[str, list[str]] = {}
    if draw(st.booleans()):
        in_match["m.conf"] = draw(lines_of(directive(ANYWHERE), 3))
    main = draw(lines_of(directive(everything), 5))
    include_at = draw(st.integers(0, len(main)))
    main.insert(include_at, "Include {dir}/d/*.conf")
    main += draw(lines_of(directive(everything), 3))
    for _ in range(draw(st.integers(0, 3))):
        main.append(draw(match_line()))
        main += draw(lines_of(directive(ANYWHERE), 3))
        if draw(st.integers(0, 15)) == 0:  # a global-only keyword inside a Match block
            main.append(draw(directive(GLOBAL_ONLY)))
        if len(in_match) > 0 and draw(st.booleans()):
            main.append(draw(st.sampled_from(["  Include {dir}/m/*.conf", "include={dir}/m/m.conf"])))
    return Tree(main, dropins, nested, in_match)


def write(tree: Tree, root: Path) -> Path:
    def put(path: Path, lines: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line.replace("{dir}", str(root)) + "\n" for line in lines))

    for name, body in tree.dropins.items():
        extra = ["Include {dir}/d2/*.conf"] if tree.nested and name.endswith("0.conf") else []
        put(root / "d" / name, extra + body)
    for name, body in tree.nested.items():
        put(root / "d2" / name, body)
    for name, body in tree.in_match.items():
        put(root / "m" / name, body)
    (root / "d").mkdir(exist_ok=True)
    put(root / "sshd_config", tree.main)
    return root / "sshd_config"


def host_groups(user: str) -> frozenset[str] | None:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    names = set()
    for gid in os.getgrouplist(user, entry.pw_gid):
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return frozenset(names)


@pytest.fixture(scope="module")
def host_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.access(SSHD, os.X_OK):
        pytest.fail("the sshd oracle tests need openssh-server (/usr/sbin/sshd)")
    if not Path("/run/sshd").is_dir() and os.geteuid() == 0:
        # sshd -T refuses to run without its privilege separation directory, which
        # ssh.service normally creates at start (a CI container has no running sshd).
        Path("/run/sshd").mkdir(mode=0o755)
    key = tmp_path_factory.mktemp("hostkey") / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def run_walk(config: Path, key: Path) -> str:
    script = sshd_walk.FUNCTIONS + '\nnw_sshd_main "$1" "$2"\n'
    proc = subprocess.run(
        ["/bin/sh", "-c", script, "nodeward", str(config), str(key)],
        capture_output=True, env=ENV, stdin=subprocess.DEVNULL, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode("utf-8", "replace")


def sshd_t(config: Path, key: Path, *extra: str, mode: str = "-T") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SSHD, mode, "-f", str(config), "-o", f"HostKey={key}", *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def assert_same(model: Effective, printed: str, what: str, files: Callable[[], str]) -> None:
    truth = parse_sshd_t(printed, source=what).options
    for key in COMPARED:
        assert model.printed(key) == truth.get(key), f"{key} for {what}\n{files()}"


EXTRA = st.builds(
    Connection,
    user=st.sampled_from(["alice", "root", "nobody", "daemon", "scanner", "bob"]),
    host=st.sampled_from(["bastion", "x.example.com", "192.0.2.10"]),
    addr=st.sampled_from(["10.1.2.3", "10.200.0.1", "192.0.2.10", "2001:db8::5", "127.0.0.1"]),
    laddr=st.sampled_from(["192.0.2.20", "10.9.9.9"]),
    lport=st.sampled_from([22, 2222]),
)


@settings(
    max_examples=int(os.environ.get("NW_ORACLE_EXAMPLES", "50")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(tree=trees(), extra=st.lists(EXTRA, max_size=2))
def test_file_walk_equals_sshd_t(host_key: Path, tree: Tree, extra: list[Connection]) -> None:
    with tempfile.TemporaryDirectory(prefix="nw-oracle-") as scratch:
        root = Path(scratch)
        config = write(tree, root)

        def files() -> str:
            return "\n".join(f"== {p}\n{p.read_text()}" for p in sorted(root.rglob("*")) if p.is_file())

        walk = sshd_walk.read(run_walk(config, host_key))
        accepted = sshd_t(config, host_key, mode="-t").returncode == 0
        model = evaluate(walk.tree, None, host_groups)
        assert not model.gaps, model.gaps
        # The walk and sshd agree on whether the configuration is acceptable at all.
        assert (not model.problems) == accepted, f"{model.problems}\n{files()}"
        if not accepted:
            return
        checked = [(spec, e.exit_code, e.output) for spec, e in walk.evaluations.items()]
        for connection in extra:
            real = sshd_t(config, host_key, "-C", connection.spec())
            checked.append((connection.spec(), real.returncode, real.stdout))

        def groups(user: str) -> frozenset[str] | None:
            return walk.groups[user] if user in walk.groups else host_groups(user)

        for spec, exit_code, printed in checked:
            parsed = Connection.from_spec(spec)
            assert parsed is not None
            effective = evaluate(walk.tree, parsed, groups)
            # Some errors only show in sshd's connection pass ("reprocess config line N").
            assert (exit_code == 0) == (not effective.problems), f"{spec}: {effective.problems}\n{files()}"
            if exit_code == 0:
                assert_same(effective, printed, spec, files)


def test_walk_reports_every_match_line_with_a_connection_that_selects_it(host_key: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="nw-oracle-") as scratch:
        root = Path(scratch)
        config = write(
            Tree(
                main=[
                    "Include {dir}/d/*.conf",
                    "PasswordAuthentication no",
                    "Match Address 10.0.0.0/8,!10.1.0.0/16",
                    "  PasswordAuthentication yes",
                    "Match Group adm",
                    "  PermitRootLogin yes",
                    "Match User al*,!root Host *.example.com",
                    "  X11Forwarding yes",
                ],
                dropins={"50-x.conf": ["Match LocalPort 22", "  MaxAuthTries 2"]},
                nested={},
                in_match={},
            ),
            root,
        )
        walk = sshd_walk.read(run_walk(config, host_key))
        specs = {(Path(r.file).name, r.line): r.spec for r in walk.requests}
        assert specs[("sshd_config", 3)] is not None and "addr=10.0.0.0" in specs[("sshd_config", 3)]
        assert specs[("sshd_config", 7)] is not None and "user=alx" in specs[("sshd_config", 7)]
        assert "host=x.example.com" in specs[("sshd_config", 7)]
        assert "lport=22" in (specs[("50-x.conf", 1)] or "")
        members = grp.getgrnam("adm").gr_mem
        if members or any(p.pw_gid == grp.getgrnam("adm").gr_gid for p in pwd.getpwall()):
            assert specs[("sshd_config", 5)] is not None
        for request in walk.requests:
            if request.spec is None:
                continue
            connection = Connection.from_spec(request.spec)
            model = evaluate(walk.tree, connection, lambda u: walk.groups.get(u))
            assert any(b.location.line == request.line for b in model.selected), request
            evaluation = walk.evaluations[request.spec]
            assert evaluation.exit_code == 0, evaluation.stderr


def test_oracle_needs_the_real_daemon() -> None:
    assert shutil.which("sshd", path=ENV["PATH"]) is not None
