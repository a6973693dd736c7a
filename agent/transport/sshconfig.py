"""ssh_config: which files, `Include` resolution, and the settings nodeward applies.

paramiko's `SSHConfig` parses and looks up, but does not apply anything, and it does not
implement `Include` at all: a lookup returns `{'include': '<glob>'}` as if it were a
setting (paramiko issue #1044; PRs #872, #2416, #2518 and #2663 never merged). So this
module expands `Include` itself, the way OpenSSH's `readconf.c` does, and hands the
flattened text to `SSHConfig.from_text`:

* arguments are split like a shell word list, `~` is expanded, globs are expanded and
  processed in sorted order, and a pattern that matches nothing is silently ignored;
* relative paths resolve under `~/.ssh` for user files (including a `-F` file) and
  under `/etc/ssh` for the system file;
* `Include` inside a `Host`/`Match` block applies only when that block applies. Blocks
  *inside* the included file are ANDed with the enclosing block (OpenSSH's
  SSHCONF_NEVERMATCH): we rewrite them as `Match <outer criteria> originalhost <patterns>`
  (`Host` patterns match the original host name in paramiko exactly like
  `originalhost`). After the included text the enclosing header is emitted again, so
  the outer block continues, as in OpenSSH where an include never changes the includer's
  Match state;
* depth is capped at 16 (OpenSSH's READCONF_MAX_DEPTH) and a file including itself,
  directly or not, is an InputError naming the file and line;
* `ProxyJump` and `ProxyCommand` lines are handed to paramiko as one synthetic setting,
  so that, as in OpenSSH, whichever of the two comes first wins over the other.

Without `-F`, `~/.ssh/config` is read before `/etc/ssh/ssh_config` and, as in OpenSSH, the
first value obtained for a setting wins. A `-F` file replaces both.

Tokens (`%h`, `%r`, ...) are *not* expanded by paramiko here (we clear its token table):
paramiko would expand `%r` with ssh_config's own `User`, while the real remote user may
come from the command line or the inventory. `expand_tokens` does it once the final
values are known.

paramiko is imported lazily, inside `parse`, so the CLI starts without it.
"""

from __future__ import annotations

import functools
import getpass
import glob
import hashlib
import os
import re
import shlex
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import InputError, Problem

if TYPE_CHECKING:
    from paramiko.config import SSHConfig

SYSTEM_CONFIG = "/etc/ssh/ssh_config"
SYSTEM_DIR = "/etc/ssh"
MAX_INCLUDE_DEPTH = 16

# paramiko's own line syntax (SSHConfig.SETTINGS_REGEX): "Key value" or "Key=value".
_SETTING = re.compile(r"(\w+)(?:\s*=\s*|\s+)(.+)")
_PROXY_KEY = "NodewardProxy"  # ProxyJump and ProxyCommand, merged (see _IncludeResolver)
_TOKEN = re.compile(r"%(.?)")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class HostConfig:
    """The ssh_config settings nodeward applies for one host, as written in the files.

    `None` means "not set". Paths and commands still contain their tokens.
    """

    host: str  # the name looked up
    hostname: str | None = None
    user: str | None = None
    port: int | None = None
    identity_files: tuple[str, ...] = ()
    identities_only: bool | None = None
    proxy_jump: str | None = None  # "none" in the file is returned as None
    proxy_command: str | None = None  # ditto
    user_known_hosts_files: tuple[str, ...] | None = None  # () for "none"
    global_known_hosts_files: tuple[str, ...] | None = None
    strict_host_key_checking: str | None = None
    hash_known_hosts: bool | None = None
    connect_timeout: float | None = None
    forward_agent: bool | None = None


class SshConfig:
    """Parsed ssh_config files (Include already resolved)."""

    def __init__(self, parsed: SSHConfig | None, files: tuple[str, ...]) -> None:
        self._parsed = parsed
        self.files = files  # every file read, in order, for messages

    def lookup(self, host: str) -> HostConfig:
        if self._parsed is None:
            return HostConfig(host=host)
        raw: Mapping[str, Any] = self._parsed.lookup(host)
        where = f"ssh_config ({', '.join(self.files)}) for {host}"
        hostname = raw.get("hostname")
        return HostConfig(
            host=host,
            # paramiko fills in HostName with the looked-up name when none is set.
            hostname=hostname if hostname and hostname != host else None,
            user=raw.get("user"),
            port=_int(raw.get("port"), "Port", where),
            identity_files=tuple(raw.get("identityfile") or ()),
            identities_only=_bool(raw.get("identitiesonly")),
            proxy_jump=_proxy(raw, "proxyjump"),
            proxy_command=_proxy(raw, "proxycommand"),
            user_known_hosts_files=_file_list(raw.get("userknownhostsfile")),
            global_known_hosts_files=_file_list(raw.get("globalknownhostsfile")),
            strict_host_key_checking=raw.get("stricthostkeychecking"),
            hash_known_hosts=_bool(raw.get("hashknownhosts")),
            connect_timeout=_timeout(raw.get("connecttimeout"), where),
            forward_agent=_forward_agent(raw.get("forwardagent")),
        )


def load_ssh_config(
    config_file: str | None = None,
    *,
    home: str | None = None,
    system_file: str = SYSTEM_CONFIG,
    system_dir: str = SYSTEM_DIR,
) -> SshConfig:
    """Read `config_file` (`-F`), or ~/.ssh/config then /etc/ssh/ssh_config.

    Raises InputError for a missing `-F` file, unparsable lines and Include loops.
    `home`, `system_file` and `system_dir` replace the real locations (tests).
    """
    home_dir = Path(home) if home is not None else Path.home()
    user_dir = home_dir / ".ssh"
    sources: list[tuple[Path, str]] = []
    if config_file is not None and config_file.lower() == "none":
        return SshConfig(None, ())  # `ssh -F none`: no configuration file at all
    if config_file is not None:
        path = Path(_expand_home(config_file, home_dir))
        # Not is_file(): `-F /dev/null` is the usual way to say "an empty config".
        if not path.exists() or path.is_dir():
            raise InputError([Problem(config_file, None, "", "ssh_config file (-F) not found")])
        sources.append((path, "user"))
    else:
        sources.extend([(user_dir / "config", "user"), (Path(system_file), "system")])
    lines: list[str] = []
    files: list[str] = []
    for path, kind in sources:
        if not path.exists():
            continue
        base = user_dir if kind == "user" else Path(system_dir)
        resolver = _IncludeResolver(base=base, home=home_dir, user=kind == "user", files=files)
        # Each top-level file starts in the implicit global block, whatever the previous
        # file's last Host/Match was.
        lines.append("Host *")
        lines.extend(resolver.expand(path, depth=0, chain=(), header=None, criteria=()))
    if not files:
        return SshConfig(None, ())
    return SshConfig(parse("\n".join(lines) + "\n", files), tuple(files))


def parse(text: str, files: list[str] | tuple[str, ...] = ()) -> SSHConfig:
    """Flattened ssh_config text -> paramiko SSHConfig (with paramiko's tokens disabled)."""
    from paramiko.ssh_exception import ConfigParseError

    try:
        return _untokenized_class().from_text(text)
    except ConfigParseError as exc:
        where = ", ".join(files) or "ssh_config"
        raise InputError([Problem(where, None, "", str(exc))]) from exc


@functools.cache
def _untokenized_class() -> type[SSHConfig]:
    from paramiko.config import SSHConfig

    class _Untokenized(SSHConfig):
        # Keep only `Match exec` expansion in paramiko; everything else is expanded by
        # expand_tokens() with the final user/host/port (see the module docstring).
        TOKENS_BY_CONFIG_KEY = {"match-exec": SSHConfig.TOKENS_BY_CONFIG_KEY["match-exec"]}  # noqa: RUF012

    return _Untokenized


class _IncludeResolver:
    def __init__(self, *, base: Path, home: Path, user: bool, files: list[str]) -> None:
        self.base = base
        self.home = home
        self.user = user  # `~` in Include is only expanded in user files (OpenSSH)
        self.files = files

    def expand(
        self,
        path: Path,
        *,
        depth: int,
        chain: tuple[str, ...],
        header: str | None,
        criteria: tuple[str, ...],
    ) -> list[str]:
        """Lines of `path` with every Include replaced by the included text.

        `header`: the enclosing block's header line as emitted (None: the global block);
        `criteria`: that block's conditions in `Match` syntax, ANDed onto every block
        header found in this file.
        """
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise InputError([Problem(str(path), None, "", f"cannot read: {exc.strerror or exc}")]) from exc
        self.files.append(str(path))
        out: list[str] = []
        current_header = header
        current_criteria = criteria
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            match = _SETTING.match(line)
            if match is None:
                raise InputError([Problem(str(path), number, "", f"cannot parse line: {line!r}")])
            key, value = match.group(1).lower(), match.group(2)
            if key == "host":
                patterns = _split(value, path, number)
                current_criteria = (*criteria, "originalhost " + shlex.quote(",".join(patterns)))
                current_header = line if not criteria else "Match " + " ".join(current_criteria)
                out.append(current_header)
            elif key == "match":
                own = _match_criteria(_split(value, path, number))
                current_criteria = (*criteria, *own)
                current_header = line if not criteria else "Match " + (" ".join(current_criteria) or "all")
                out.append(current_header)
            elif key == "include":
                for included in self._targets(value, path, number):
                    real = os.path.realpath(included)
                    if real in chain or real == os.path.realpath(path):
                        raise InputError(
                            [
                                Problem(
                                    str(path),
                                    number,
                                    "Include",
                                    f"Include loop: {included} is already being read",
                                )
                            ]
                        )
                    if depth + 1 > MAX_INCLUDE_DEPTH:
                        raise InputError(
                            [
                                Problem(
                                    str(path),
                                    number,
                                    "Include",
                                    f"Include nested more than {MAX_INCLUDE_DEPTH} levels deep",
                                )
                            ]
                        )
                    out.extend(
                        self.expand(
                            Path(included),
                            depth=depth + 1,
                            chain=(*chain, os.path.realpath(path)),
                            header=current_header,
                            criteria=current_criteria,
                        )
                    )
                    # Back to the includer's block: the included file may have opened
                    # its own Host/Match blocks, which must not swallow our next lines.
                    out.append(current_header or "Host *")
            elif key in ("proxyjump", "proxycommand"):
                # One setting for paramiko, so "first value wins" spans both, as in
                # OpenSSH where whichever of the two comes first disables the other.
                out.append(f"{_PROXY_KEY} {key} {_unquote(value)}")
            else:
                out.append(line)
        return out

    def _targets(self, value: str, path: Path, number: int) -> list[str]:
        found: list[str] = []
        for word in _split(value, path, number):
            pattern = _expand_home(word, self.home) if self.user else word
            if not os.path.isabs(pattern):
                pattern = str(self.base / pattern)
            if glob.has_magic(pattern):
                matches = sorted(glob.glob(pattern))
            else:
                matches = [pattern] if os.path.exists(pattern) else []
            # Like OpenSSH, a pattern without matches is not an error; directories are
            # not config files.
            found.extend(m for m in matches if os.path.isfile(m))
        return found


def _split(value: str, path: Path, number: int) -> list[str]:
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise InputError([Problem(str(path), number, "", f"cannot split {value!r}: {exc}")]) from exc
    if not words:
        raise InputError([Problem(str(path), number, "", "missing value")])
    return words


def _match_criteria(words: list[str]) -> tuple[str, ...]:
    """`Match` words regrouped as "keyword [argument]" strings, without `all`.

    `all` is the global block: ANDed with outer criteria it adds nothing. Everything
    else is kept as written so paramiko evaluates it (canonical, final, exec, user, ...).
    """
    criteria: list[str] = []
    rest = list(words)
    while rest:
        keyword = rest.pop(0)
        if keyword.lower().lstrip("!") in ("all", "canonical", "final"):
            if keyword.lower() != "all":
                criteria.append(keyword)
            continue
        argument = rest.pop(0) if rest else ""
        criteria.append(f"{keyword} {shlex.quote(argument)}".rstrip())
    return tuple(criteria)


def _expand_home(value: str, home: Path) -> str:
    if value == "~" or value.startswith("~/"):
        return str(home) + value[1:]
    return os.path.expanduser(value)


def _proxy(raw: Mapping[str, Any], which: str) -> str | None:
    merged = raw.get(_PROXY_KEY.lower())
    if not isinstance(merged, str):
        return None
    kind, _, value = merged.partition(" ")
    if kind != which or value.strip().lower() == "none":
        return None
    return value


def _unquote(value: str) -> str:
    # What paramiko does for every other value: one pair of surrounding double quotes.
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return value[1:-1]
    return value


def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("yes", "true")


def _forward_agent(value: str | None) -> bool | None:
    # ForwardAgent also accepts a socket path or $ENV: anything but "no" asks for it.
    if value is None:
        return None
    return value.strip().lower() not in ("no", "false")


def _int(value: str | None, name: str, where: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise InputError([Problem(where, None, name, f"not a port number: {value!r}")])
    return number


def _timeout(value: str | None, where: str) -> float | None:
    if value is None or value.strip().lower() == "none":
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise InputError([Problem(where, None, "ConnectTimeout", f"not a number: {value!r}")]) from None
    return seconds if seconds > 0 else None


def _file_list(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    if [w.lower() for w in words] == ["none"]:
        return ()
    return tuple(words)


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no $USER, e.g. in a bare container
        return str(os.getuid())


def token_values(
    *, original_host: str, hostname: str, port: int, remote_user: str, home: str | None = None
) -> dict[str, str]:
    """The values of ssh_config's `%` tokens (ssh_config(5), TOKENS)."""
    local_host = socket.gethostname()
    short = local_host.split(".")[0]
    home = home if home is not None else str(Path.home())
    connection_hash = hashlib.sha1(  # %C is defined by OpenSSH as a SHA-1 hex digest
        f"{local_host}{hostname}{port}{remote_user}".encode(), usedforsecurity=False
    ).hexdigest()
    return {
        "C": connection_hash,
        "d": home,
        "h": hostname,
        "i": str(os.getuid()),
        "k": hostname,
        "L": short,
        "l": local_host,
        "n": original_host,
        "p": str(port),
        "r": remote_user,
        "u": local_user(),
    }


def expand_tokens(value: str, tokens: Mapping[str, str], *, allowed: str | None = None) -> str:
    """Replace `%x` tokens (and `%%`). Raises ValueError for an unknown token.

    `allowed`: the token letters this setting accepts (None: all of `tokens`).
    """

    def replace(match: re.Match[str]) -> str:
        letter = match.group(1)
        if letter == "%":
            return "%"
        if letter and letter in tokens and (allowed is None or letter in allowed):
            return tokens[letter]
        raise ValueError(f"unknown or unsupported token %{letter} in {value!r}")

    return _TOKEN.sub(replace, value)


def expand_path(value: str, tokens: Mapping[str, str], *, home: str | None = None) -> str:
    """IdentityFile / UserKnownHostsFile: `~`, `%` tokens and `${VAR}`, like OpenSSH."""
    home_dir = Path(home) if home is not None else Path.home()
    expanded = _expand_home(value, home_dir)
    expanded = expand_tokens(expanded, tokens)

    def env(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable ${{{name}}} in {value!r} is not set")
        return os.environ[name]

    return _ENV.sub(env, expanded)
