"""`ansible_ssh_common_args` / `ansible_ssh_extra_args`: raw OpenSSH flags, whitelisted.

Ansible pastes these strings into an `ssh` command line. We do not run `ssh`, so we
read the few flags that change *where* and *how* we connect, and refuse everything
else by name: silently ignoring an unknown flag could mean connecting somewhere the
operator did not intend (or without the protection they asked for).

Within one string OpenSSH's rule applies: the first value of an option wins, except
identity files, which accumulate (ssh offers each in turn).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, replace

_OPTION = re.compile(r"^\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*?)\s*$", re.S)

ACCEPT_NEW_HINT = (
    "nodeward never disables host key checking; to trust keys of new hosts on first "
    "contact, pass --accept-new-host-keys explicitly"
)


class SshArgsError(ValueError):
    """A flag or option nodeward does not accept; the message names it."""


@dataclass(frozen=True, slots=True)
class SshArgs:
    """What the accepted flags say. `None`/empty means the flag was not given."""

    proxy_jump: str | None = None
    proxy_command: str | None = None
    strict_host_key_checking: str | None = None  # "yes" | "accept-new"
    known_hosts_files: tuple[str, ...] = ()
    port: int | None = None
    user: str | None = None
    identity_files: tuple[str, ...] = ()
    ssh_config_file: str | None = None  # -F


def parse_ssh_args(text: str) -> SshArgs:
    """Parse one args string (shell-quoted, as Ansible passes it to ssh)."""
    try:
        tokens = shlex.split(text)
    except ValueError as error:  # unbalanced quotes
        raise SshArgsError(f"cannot split {text!r} into arguments: {error}") from None
    result = SshArgs()
    index = 0
    while index < len(tokens):
        flag, value, index = _next_flag(tokens, index)
        if flag == "o" and _OPTION.match(value) is None and index < len(tokens):
            value, index = _three_word_option(value, tokens[index]), index + 1
        result = _apply_flag(result, flag, value)
    return result


def _three_word_option(key: str, value: str) -> str:
    """`-o Port 2222` written as three words: fine for a one-word value.

    A ProxyCommand is never one word, and its next word (`ssh`, then `-W`...) would
    be misread, so that one must be quoted.
    """
    if value.startswith("-") or key.strip().lower() == "proxycommand":
        raise SshArgsError(
            f"ssh option {key.strip()!r} has no value; write it as -o '{key.strip()}=value' "
            "(quote values that contain spaces)"
        )
    return f"{key}={value}"


def _next_flag(tokens: list[str], index: int) -> tuple[str, str, int]:
    """Return (flag letter, its argument, index of the next token)."""
    token = tokens[index]
    if not token.startswith("-") or len(token) < 2:
        raise SshArgsError(f"unexpected argument {token!r}: only ssh options are accepted here")
    flag = token[1]
    if flag not in "oJpiF":
        raise SshArgsError(
            f"ssh flag {token!r} is not supported; accepted: -o ProxyJump=, -J, "
            "-o ProxyCommand=, -o StrictHostKeyChecking=, -o UserKnownHostsFile=, "
            "-o Port=, -o User=, -o IdentityFile=, -p, -i, -F"
        )
    if len(token) > 2:  # glued form: -oKey=V, -J host, -p2222
        return flag, token[2:], index + 1
    if index + 1 >= len(tokens):
        raise SshArgsError(f"ssh flag -{flag} needs a value")
    return flag, tokens[index + 1], index + 2


def _apply_flag(args: SshArgs, flag: str, value: str) -> SshArgs:
    if flag == "o":
        key, option_value = _split_option(value)
        return _apply_option(args, key, option_value)
    option = {"J": "proxyjump", "p": "port", "i": "identityfile", "F": "-F"}[flag]
    return _apply_option(args, option, value)


def _split_option(text: str) -> tuple[str, str]:
    """`Key=Value` or `Key Value` (OpenSSH accepts both); keys are case-insensitive."""
    match = _OPTION.match(text)
    if match is None or not match.group(2):
        raise SshArgsError(
            f"ssh option {text.strip()!r} has no value; write it as -o 'Key=value' "
            "(quote values that contain spaces)"
        )
    return match.group(1).lower(), match.group(2)


def _apply_option(args: SshArgs, key: str, value: str) -> SshArgs:
    """Record one option, keeping the first value of single-valued options."""
    if key == "identityfile":
        return replace(args, identity_files=(*args.identity_files, value))
    if key == "proxyjump":
        return args if args.proxy_jump else replace(args, proxy_jump=_unless_none(value))
    if key == "proxycommand":
        return args if args.proxy_command else replace(args, proxy_command=_unless_none(value))
    if key == "stricthostkeychecking":
        checking = _strict_checking(value)  # validated even when an earlier one wins
        if args.strict_host_key_checking:
            return args
        return replace(args, strict_host_key_checking=checking)
    if key == "userknownhostsfile":
        files = _files(value)  # validated even when an earlier one wins
        return args if args.known_hosts_files else replace(args, known_hosts_files=files)
    if key == "port":
        return args if args.port is not None else replace(args, port=_port_number(value))
    if key == "user":
        return args if args.user else replace(args, user=value)
    if key == "-F":
        return args if args.ssh_config_file else replace(args, ssh_config_file=value)
    raise SshArgsError(
        f"ssh option {key!r} is not supported; accepted -o options: ProxyJump, "
        "ProxyCommand, StrictHostKeyChecking, UserKnownHostsFile, Port, User, IdentityFile"
    )


def _unless_none(value: str) -> str | None:
    # OpenSSH's "none" switches a proxy off; treat it as not set.
    return None if value.lower() == "none" else value


def _strict_checking(value: str) -> str:
    lowered = value.lower()
    if lowered in ("yes", "accept-new"):
        return lowered
    if lowered in ("no", "off"):
        raise SshArgsError(f"StrictHostKeyChecking={value} is refused: {ACCEPT_NEW_HINT}")
    raise SshArgsError(f"StrictHostKeyChecking={value!r} is not supported (use yes or accept-new)")


def _files(value: str) -> tuple[str, ...]:
    # UserKnownHostsFile takes several whitespace-separated files.
    files = tuple(value.split())
    for name in files:
        if name.lower() == "none" or name == "/dev/null":
            # No file to check against: with --accept-new-host-keys every key would be
            # "new" on every run, i.e. host keys would never really be checked.
            raise SshArgsError(f"UserKnownHostsFile={name} is refused: host keys are always checked")
    return files


def _port_number(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise SshArgsError(f"ssh port {value!r} must be a number in 1..65535")
    return int(value)
