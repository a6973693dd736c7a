"""ssh_config: Include resolution, first-value-wins, tokens, and how settings combine
with the inventory and the command line (CLI > inventory > ssh_config > defaults)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ErrorKind, InputError, NodeError
from agent.inventory.model import Node
from agent.transport import jump, ssh_route
from agent.transport.options import SshOptions
from agent.transport.sshconfig import (
    SshConfig,
    expand_path,
    expand_tokens,
    load_ssh_config,
    local_user,
)


class Tree:
    """A fake home (with ~/.ssh) and a fake /etc/ssh under tmp_path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.user_dir = self.home / ".ssh"
        self.etc = root / "etc"
        self.user_dir.mkdir(parents=True)
        self.etc.mkdir()

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def load(self, config_file: str | None = None) -> SshConfig:
        return load_ssh_config(
            config_file,
            home=str(self.home),
            system_file=str(self.etc / "ssh_config"),
            system_dir=str(self.etc),
        )


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


# ------------------------------------------------------------------ Include


def test_include_glob_is_sorted_and_relative_to_the_user_dir(tree: Tree) -> None:
    tree.write("home/.ssh/config", "Include conf.d/*.conf\nHost *\n  User fallback\n")
    tree.write("home/.ssh/conf.d/20-b.conf", "Host web\n  User from-b\n  Port 2020\n")
    tree.write("home/.ssh/conf.d/10-a.conf", "Host web\n  User from-a\n")
    tree.write("home/.ssh/conf.d/notes.txt", "Host web\n  Port 1\n")
    config = tree.load()
    web = config.lookup("web")
    assert (web.user, web.port) == ("from-a", 2020)  # 10-a before 20-b: first value wins
    assert config.lookup("db").user == "fallback"
    assert [Path(f).name for f in config.files] == ["config", "10-a.conf", "20-b.conf"]


def test_nested_includes_with_tilde_and_absolute_paths(tree: Tree) -> None:
    tree.write("home/.ssh/config", "Include ~/.ssh/level1\n")
    tree.write("home/.ssh/level1", f"Include {tree.root}/elsewhere/level2\n")
    tree.write("elsewhere/level2", "Include level3\n")  # relative: still under ~/.ssh
    tree.write("home/.ssh/level3", "Host deep\n  HostName deep.internal\n")
    assert tree.load().lookup("deep").hostname == "deep.internal"


def test_include_without_matches_is_ignored(tree: Tree) -> None:
    tree.write("home/.ssh/config", "Include missing.d/*.conf absent\nHost x\n  Port 2022\n")
    assert tree.load().lookup("x").port == 2022


def test_include_loop_is_an_input_error_naming_file_and_line(tree: Tree) -> None:
    tree.write("home/.ssh/config", "# top\nInclude a.conf\n")
    a = tree.write("home/.ssh/a.conf", "Host a\n  Port 2200\n\nInclude config\n")
    with pytest.raises(InputError) as caught:
        tree.load()
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == (str(a), 4)
    assert "loop" in problem.message


def test_self_include_is_a_loop(tree: Tree) -> None:
    config = tree.write("home/.ssh/config", "Include config\n")
    with pytest.raises(InputError) as caught:
        tree.load()
    assert caught.value.problems[0].file == str(config)
    assert caught.value.problems[0].line == 1


def test_include_depth_is_capped_at_16(tree: Tree) -> None:
    tree.write("home/.ssh/config", "Include f1\n")
    for level in range(1, 18):
        tree.write(f"home/.ssh/f{level}", f"Include f{level + 1}\n")
    tree.write("home/.ssh/f18", "Host x\n  Port 2222\n")
    with pytest.raises(InputError, match="more than 16 levels"):
        tree.load()


def test_include_inside_host_applies_only_to_that_host(tree: Tree) -> None:
    tree.write(
        "home/.ssh/config",
        "Host alpha\n"
        "  Include alpha.conf\n"
        "  Port 2201\n"  # still inside `Host alpha` after the include, as in OpenSSH
        "Host *\n"
        "  User everyone\n",
    )
    tree.write(
        "home/.ssh/alpha.conf",
        "User alpha-user\n"
        "Host beta\n"  # only ever applies while `Host alpha` does (never, for beta)
        "  Port 2999\n"
        "  HostName beta.internal\n",
    )
    config = tree.load()
    alpha = config.lookup("alpha")
    assert (alpha.user, alpha.port, alpha.hostname) == ("alpha-user", 2201, None)
    beta = config.lookup("beta")
    assert (beta.user, beta.port, beta.hostname) == ("everyone", None, None)


def test_include_inside_match_and_host_blocks_in_included_file(tree: Tree) -> None:
    tree.write(
        "home/.ssh/config",
        "Match originalhost *.lab\n  Include lab.conf\n  ConnectTimeout 7\n",
    )
    tree.write("home/.ssh/lab.conf", "Host db.lab\n  Port 5022\nHost *\n  User labuser\n")
    config = tree.load()
    db = config.lookup("db.lab")
    assert (db.port, db.user, db.connect_timeout) == (5022, "labuser", 7.0)
    web = config.lookup("web.lab")
    assert (web.port, web.user, web.connect_timeout) == (None, "labuser", 7.0)
    other = config.lookup("db.prod")
    assert (other.port, other.user, other.connect_timeout) == (None, None, None)


def test_system_file_includes_resolve_under_the_system_dir(tree: Tree) -> None:
    tree.write("etc/ssh_config", "Include ssh_config.d/*.conf\n")
    tree.write("etc/ssh_config.d/50-site.conf", "Host *\n  GlobalKnownHostsFile /srv/kh\n")
    assert tree.load().lookup("x").global_known_hosts_files == ("/srv/kh",)


# ------------------------------------------------------------------ files and precedence


def test_user_file_wins_over_system_file(tree: Tree) -> None:
    tree.write(
        "home/.ssh/config",
        "Host *\n  HashKnownHosts no\n  User u1\nHost only-this\n  Port 1111\n",
    )
    tree.write("etc/ssh_config", "ConnectTimeout 9\nHost *\n  HashKnownHosts yes\n  User sys\n")
    node = tree.load().lookup("web")
    assert (node.hash_known_hosts, node.user) == (False, "u1")
    # The system file's top lines are global again, not part of the user file's last Host.
    assert node.connect_timeout == 9.0


def test_first_value_wins_inside_one_file(tree: Tree) -> None:
    tree.write(
        "home/.ssh/config",
        "Host web\n  User specific\nHost *\n  User generic\n  Port 2222\nHost web\n  Port 1\n",
    )
    web = tree.load().lookup("web")
    assert (web.user, web.port) == ("specific", 2222)


def test_dash_f_replaces_both_default_files(tree: Tree) -> None:
    tree.write("home/.ssh/config", "Host *\n  User from-user-file\n")
    tree.write("etc/ssh_config", "Host *\n  Port 2222\n")
    custom = tree.write("custom/config", "Host *\n  HostName custom.internal\n")
    web = tree.load(str(custom)).lookup("web")
    assert (web.hostname, web.user, web.port) == ("custom.internal", None, None)


@pytest.mark.parametrize("empty", ["/dev/null", "none"])
def test_dash_f_dev_null_and_none_mean_no_settings(tree: Tree, empty: str) -> None:
    tree.write("home/.ssh/config", "Host *\n  User from-user-file\n")
    assert tree.load(empty).lookup("web").user is None


def test_missing_dash_f_file_is_an_input_error(tree: Tree) -> None:
    with pytest.raises(InputError, match="not found"):
        tree.load(str(tree.root / "nope"))


def test_no_files_at_all_gives_empty_settings(tree: Tree) -> None:
    assert tree.load().lookup("web").user is None


def test_unparsable_line_names_file_and_line(tree: Tree) -> None:
    path = tree.write("home/.ssh/config", "Host web\n  Port 22\n  NoValueHere\n")
    with pytest.raises(InputError) as caught:
        tree.load()
    assert (caught.value.problems[0].file, caught.value.problems[0].line) == (str(path), 3)


def test_settings_are_converted(tree: Tree) -> None:
    tree.write(
        "home/.ssh/config",
        "Host web\n"
        "  IdentityFile ~/.ssh/id_%r@%h\n"
        "  IdentitiesOnly yes\n"
        "  UserKnownHostsFile ~/.ssh/kh1 /srv/kh2\n"
        "  ProxyJump none\n"
        "  ForwardAgent yes\n"
        "  StrictHostKeyChecking accept-new\n"
        "Host *\n"
        "  IdentityFile ~/.ssh/id_fleet\n"
        "  ProxyJump bastion\n"
        "  UserKnownHostsFile /ignored\n",
    )
    web = tree.load().lookup("web")
    # Tokens and ~ are left for expand_path (paramiko's own %r would use ssh_config's
    # User, not the final login user); IdentityFile accumulates in order.
    assert web.identity_files == ("~/.ssh/id_%r@%h", "~/.ssh/id_fleet")
    assert web.identities_only is True
    assert web.user_known_hosts_files == ("~/.ssh/kh1", "/srv/kh2")
    assert web.proxy_jump is None  # "none" stops later values, like OpenSSH
    assert web.forward_agent is True
    assert web.strict_host_key_checking == "accept-new"
    assert tree.load().lookup("db").proxy_jump == "bastion"


def test_user_known_hosts_file_none(tree: Tree) -> None:
    tree.write("home/.ssh/config", "UserKnownHostsFile none\n")
    assert tree.load().lookup("x").user_known_hosts_files == ()


def test_bad_port_is_an_input_error(tree: Tree) -> None:
    tree.write("home/.ssh/config", "Host x\n  Port ssh\n")
    with pytest.raises(InputError, match="not a port number"):
        tree.load().lookup("x")


# ------------------------------------------------------------------ tokens


def test_tokens_expand_once_with_percent_escape() -> None:
    values = {"h": "node1", "p": "2222", "r": "scanner", "u": "me"}
    assert expand_tokens("%r@%h:%p %%h %u", values) == "scanner@node1:2222 %h me"


def test_unknown_or_disallowed_token_is_an_error() -> None:
    with pytest.raises(ValueError, match="%z"):
        expand_tokens("id_%z", {"h": "x"})
    with pytest.raises(ValueError, match="%u"):
        expand_tokens("%u", {"u": "me"}, allowed="hpr")


def test_expand_path_does_tilde_tokens_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYDIR", "/srv/keys")
    tokens = {"h": "node1", "r": "scanner", "d": str(tmp_path)}
    assert expand_path("~/.ssh/id_%r", tokens, home=str(tmp_path)) == f"{tmp_path}/.ssh/id_scanner"
    assert expand_path("${KEYDIR}/%h", tokens) == "/srv/keys/node1"
    with pytest.raises(ValueError, match="NOT_SET_ANYWHERE"):
        expand_path("${NOT_SET_ANYWHERE}/x", tokens)


# ------------------------------------------------------------------ CLI > inventory > ssh_config


@pytest.fixture
def web_config(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> SshConfig:
    monkeypatch.setenv("HOME", str(tree.home))
    path = tree.write(
        "custom/config",
        "Host web\n"
        "  HostName web.internal\n"
        "  User cfguser\n"
        "  Port 2200\n"
        "  IdentityFile ~/.ssh/id_%r_%h\n"
        "  UserKnownHostsFile ~/.ssh/kh_%h\n"
        "  ForwardAgent yes\n",
    )
    return tree.load(str(path))


def test_ssh_config_fills_what_the_inventory_leaves_open(web_config: SshConfig, tree: Tree) -> None:
    target = ssh_route.resolve_node(Node(name="web"), SshOptions(), web_config)
    assert (target.hostname, target.user, target.port) == ("web.internal", "cfguser", 2200)
    assert target.identity_files == (f"{tree.home}/.ssh/id_cfguser_web.internal",)
    assert target.identities_only and not target.identities_required
    assert target.user_known_hosts == (f"{tree.home}/.ssh/kh_web.internal",)
    assert any("ForwardAgent" in note for note in target.notes)


def test_inventory_beats_ssh_config(web_config: SshConfig, tree: Tree) -> None:
    node = Node(name="web", user="invuser", port=2300, known_hosts_files=("/inv/kh",))
    target = ssh_route.resolve_node(node, SshOptions(), web_config)
    assert (target.user, target.port) == ("invuser", 2300)
    # %r is the final login user, not ssh_config's User.
    assert target.identity_files == (f"{tree.home}/.ssh/id_invuser_web.internal",)
    # The inventory's UserKnownHostsFile (ansible_ssh_common_args) replaces ssh_config's.
    assert target.user_known_hosts == ("/inv/kh",)


def test_command_line_beats_inventory(web_config: SshConfig, tree: Tree) -> None:
    node = Node(name="web", user="invuser", identity_files=("/inv/key",))
    options = SshOptions(user="cliuser", identity_files=("/cli/key",), known_hosts_files=("/c",))
    target = ssh_route.resolve_node(node, options, web_config)
    assert target.user == "cliuser"
    assert target.identity_files == ("/cli/key",)
    assert target.identities_required and target.identities_only
    # --known-hosts files are read on top of UserKnownHostsFile, which keeps the TOFU role.
    assert target.extra_known_hosts == ("/c",)
    assert target.user_known_hosts == (f"{tree.home}/.ssh/kh_web.internal",)


def test_ssh_config_is_looked_up_by_inventory_name_and_the_address_wins(
    web_config: SshConfig, tree: Tree
) -> None:
    # As `ssh -o HostName=127.0.0.9 web`: the `Host web` block applies, except HostName.
    target = ssh_route.resolve_node(Node(name="web", address="127.0.0.9"), SshOptions(), web_config)
    assert (target.hostname, target.port, target.user) == ("127.0.0.9", 2200, "cfguser")
    assert target.identity_files == (f"{tree.home}/.ssh/id_cfguser_127.0.0.9",)
    other = ssh_route.resolve_node(Node(name="db", address="127.0.0.9"), SshOptions(), web_config)
    assert (other.hostname, other.port, other.user) == ("127.0.0.9", 22, local_user())
    assert other.identity_files == () and not other.identities_only


def test_known_hosts_defaults_follow_openssh(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tree.home))
    target = ssh_route.resolve_node(Node(name="x"), SshOptions(known_hosts_files=("/extra",)), tree.load())
    assert target.user_known_hosts == (
        f"{tree.home}/.ssh/known_hosts",
        f"{tree.home}/.ssh/known_hosts2",
    )
    assert target.global_known_hosts == ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
    assert target.extra_known_hosts == ("/extra",)


def test_connect_timeout_from_ssh_config_unless_given_on_the_command_line(tree: Tree) -> None:
    from agent.transport.options import Timeouts

    tree.write("home/.ssh/config", "ConnectTimeout 3\n")
    config = tree.load()
    assert ssh_route.resolve_node(Node(name="x"), SshOptions(), config).connect_timeout == 3.0
    options = SshOptions(timeouts=Timeouts(connect=5))
    assert ssh_route.resolve_node(Node(name="x"), options, config).connect_timeout == 5.0


def test_strict_host_key_checking_no_in_ssh_config_is_refused(tree: Tree) -> None:
    tree.write("home/.ssh/config", "Host lax\n  StrictHostKeyChecking no\n")
    with pytest.raises(NodeError) as caught:
        ssh_route.resolve_node(Node(name="lax"), SshOptions(), tree.load())
    assert caught.value.kind is ErrorKind.HOSTKEY
    assert "--accept-new-host-keys" in caught.value.message


# ------------------------------------------------------------------ ProxyJump / ProxyCommand


def test_parse_proxy_jump_hops() -> None:
    hops = jump.parse_proxy_jump("bastion, ops@jump2:2222,[::1]:2200,ssh://u@h3:22,fe80::1")
    assert hops == (
        jump.JumpSpec("bastion"),
        jump.JumpSpec("jump2", "ops", 2222),
        jump.JumpSpec("::1", None, 2200),
        jump.JumpSpec("h3", "u", 22),
        jump.JumpSpec("fe80::1"),
    )
    assert str(hops[1]) == "ops@jump2:2222" and str(hops[2]) == "[::1]:2200"


@pytest.mark.parametrize(
    "value",
    ["", "a,,b", "-oProxyCommand=touch", "host:99999", "host:", "@host", "ho st", "h;id", "[::1"],
)
def test_parse_proxy_jump_rejects_malformed_hops(value: str) -> None:
    with pytest.raises(ValueError):
        jump.parse_proxy_jump(value)


def test_route_prefers_the_inventory_and_expands_tokens(tree: Tree) -> None:
    tree.write(
        "home/.ssh/config",
        "Host web\n  HostName web.internal\n  ProxyCommand nc %h %p\nHost *\n  ProxyJump b1,b2\n",
    )
    config = tree.load()
    web = Node(name="web")
    target = ssh_route.resolve_node(web, SshOptions(), config)
    assert ssh_route.route(web, target, config) == ((), "nc web.internal 22")
    db = Node(name="db")
    hops, command = ssh_route.route(db, ssh_route.resolve_node(db, SshOptions(), config), config)
    assert [h.host for h in hops] == ["b1", "b2"] and command is None
    pinned = Node(name="web", proxy_jump="ops@b3:2200")
    hops, command = ssh_route.route(pinned, target, config)
    assert hops == (jump.JumpSpec("b3", "ops", 2200),) and command is None


def test_proxy_jump_and_proxy_command_share_first_value_wins(tree: Tree) -> None:
    # OpenSSH: whichever of the two is obtained first disables the other.
    tree.write(
        "home/.ssh/config",
        'Host a\n  ProxyJump j1\nHost b\n  ProxyCommand "nc %h %p"\nHost c\n  ProxyJump none\n'
        "Host *\n  ProxyCommand socat - TCP:%h:%p\n  ProxyJump never-used\n",
    )
    config = tree.load()
    a, b, c, d = (config.lookup(h) for h in "abcd")
    assert (a.proxy_jump, a.proxy_command) == ("j1", None)
    assert (b.proxy_jump, b.proxy_command) == (None, "nc %h %p")
    assert (c.proxy_jump, c.proxy_command) == (None, None)
    assert (d.proxy_jump, d.proxy_command) == (None, "socat - TCP:%h:%p")


def test_route_refuses_both_jump_and_command_in_the_inventory(tree: Tree) -> None:
    node = Node(name="web", proxy_jump="b", proxy_command="nc %h %p")
    config = tree.load()
    with pytest.raises(NodeError) as caught:
        ssh_route.route(node, ssh_route.resolve_node(node, SshOptions(), config), config)
    assert caught.value.kind is ErrorKind.CONFIG


def test_hops_use_their_own_ssh_config_but_not_the_nodes_user(tree: Tree) -> None:
    tree.write(
        "home/.ssh/config",
        "Host b1\n  HostName 127.0.0.2\n  User jumper\n  Port 2201\n  IdentityFile /keys/jump\n",
    )
    config = tree.load()
    node = Node(name="web", user="nodeuser")
    options = SshOptions(user="cliuser", identity_files=("/keys/scan",))
    first = ssh_route.resolve_hop(jump.JumpSpec("b1"), 1, 2, node, options, config)
    assert (first.hostname, first.user, first.port) == ("127.0.0.2", "jumper", 2201)
    assert first.identity_files == ("/keys/jump",)
    assert first.label == "jump host b1 (hop 1 of 2)"
    second = ssh_route.resolve_hop(jump.JumpSpec("b2", "ops", 2202), 2, 2, node, options, config)
    assert (second.hostname, second.user, second.port) == ("b2", "ops", 2202)
    assert second.identity_files == ("/keys/scan",)  # the scanning identity by default
