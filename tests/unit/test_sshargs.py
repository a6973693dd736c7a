"""agent.inventory.sshargs: the whitelist of OpenSSH flags in ansible_ssh_*_args."""

from __future__ import annotations

import pytest

from agent.inventory.sshargs import SshArgs, SshArgsError, parse_ssh_args


@pytest.mark.parametrize(
    "text",
    [
        "-o ProxyJump=jump@bastion:2222",
        "-oProxyJump=jump@bastion:2222",
        "-o 'ProxyJump jump@bastion:2222'",
        "-o proxyjump=jump@bastion:2222",
        "-o 'PROXYJUMP = jump@bastion:2222'",
        "-o ProxyJump jump@bastion:2222",
        "-J jump@bastion:2222",
        "-Jjump@bastion:2222",
    ],
)
def test_proxy_jump_in_every_form(text: str) -> None:
    assert parse_ssh_args(text) == SshArgs(proxy_jump="jump@bastion:2222")


def test_proxy_command_keeps_its_inner_quoting_intact() -> None:
    args = parse_ssh_args("""-o ProxyCommand="ssh -W %h:%p -q ops@192.0.2.1" -o StrictHostKeyChecking=yes""")
    assert args.proxy_command == "ssh -W %h:%p -q ops@192.0.2.1"
    assert args.strict_host_key_checking == "yes"


def test_every_accepted_flag() -> None:
    args = parse_ssh_args(
        "-p 2200 -i ~/.ssh/a -o IdentityFile=~/.ssh/b -F ~/.ssh/config.k8s -o User=ops "
        "-o 'UserKnownHostsFile ~/.ssh/kh1 ~/.ssh/kh2' -o StrictHostKeyChecking=Accept-New"
    )
    assert args == SshArgs(
        port=2200,
        identity_files=("~/.ssh/a", "~/.ssh/b"),
        ssh_config_file="~/.ssh/config.k8s",
        user="ops",
        known_hosts_files=("~/.ssh/kh1", "~/.ssh/kh2"),
        strict_host_key_checking="accept-new",
    )


def test_first_value_wins_like_openssh() -> None:
    args = parse_ssh_args("-p 2200 -o Port=2300 -o User=a -o User=b -J one -o ProxyJump=two")
    assert (args.port, args.user, args.proxy_jump) == (2200, "a", "one")


def test_glued_port() -> None:
    assert parse_ssh_args("-p2200").port == 2200


@pytest.mark.parametrize("value", ["no", "off", "NO"])
def test_disabling_host_key_checking_is_refused_with_the_way_out(value: str) -> None:
    with pytest.raises(SshArgsError, match="--accept-new-host-keys"):
        parse_ssh_args(f"-o StrictHostKeyChecking={value}")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("-A", "'-A'"),
        ("-C -o ProxyJump=x", "'-C'"),
        ("-o ForwardAgent=yes", "'forwardagent'"),
        ("-o LocalCommand=touch", "'localcommand'"),
        ("-L 8080:localhost:80", "'-L'"),
        ("bastion", "'bastion'"),
        ("-o StrictHostKeyChecking=ask", "'ask'"),
        ("-o UserKnownHostsFile=~/.ssh/kh -o UserKnownHostsFile=none", "none"),
        ("-o UserKnownHostsFile=/dev/null", "/dev/null"),
        ("-p 0", "'0'"),
        ("-p http", "'http'"),
    ],
)
def test_anything_else_is_an_error_naming_it(text: str, named: str) -> None:
    with pytest.raises(SshArgsError) as caught:
        parse_ssh_args(text)
    assert named in str(caught.value)


def test_option_without_value_explains_quoting() -> None:
    with pytest.raises(SshArgsError, match="quote"):
        parse_ssh_args("-o ProxyCommand ssh -W %h:%p bastion")


def test_three_word_option_needs_a_one_word_value() -> None:
    assert parse_ssh_args("-o Port 2200 -o User ops") == SshArgs(port=2200, user="ops")
    with pytest.raises(SshArgsError, match="quote"):
        parse_ssh_args("-o User -p 22")


def test_missing_flag_value_and_bad_quoting() -> None:
    with pytest.raises(SshArgsError, match="needs a value"):
        parse_ssh_args("-p")
    with pytest.raises(SshArgsError, match="cannot split"):
        parse_ssh_args("-o 'ProxyJump=x")


def test_none_switches_a_proxy_off() -> None:
    assert parse_ssh_args("-o ProxyJump=none").proxy_jump is None
    assert parse_ssh_args("") == SshArgs()
