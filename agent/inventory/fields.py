"""Connection fields: their spellings, validation, and the final Node for each host.

Both inventory formats end here. They differ only in two switches:

* which spellings are fields. Native files accept our names (`port`) *and* Ansible's
  (`ansible_port`) so files can be copied across; Ansible files only Ansible's, and
  everything else there is a free variable for checks (`Node.vars`).
* how forgiving types are (`Context.lenient`). Ansible INI `[g:vars]` values are
  strings, so `ansible_port=2222` must become 2222 and `ansible_become=yes` True, as
  Ansible itself would do. Our own files are typed by YAML 1.2 and must say what they
  mean: `become: yes` is the *string* "yes" there, and an error.

Validation follows reliability.md §4: the inventory is trusted code (a ProxyCommand runs
locally), but it is still checked, so a typo or a pasted value can never smuggle a
shell metacharacter, an option (`-oProxyCommand=...`) or a newline into a host name,
user or path.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TypeVar

from agent.errors import Problem
from agent.inventory.model import Connection, Inventory, Node
from agent.inventory.sshargs import ACCEPT_NEW_HINT, SshArgs, SshArgsError, parse_ssh_args
from agent.inventory.tree import Locator, Origin, Problems, ResolvedHost, Tree, Var, VarSet
from agent.secret import Secret
from agent.transport.ssh_algorithms import legacy_names
from agent.yamlsafe import UnsafeText

T = TypeVar("T")

NATIVE_FIELDS = (
    "address",
    "port",
    "user",
    "identity_file",
    "proxy_jump",
    "proxy_command",
    "connection",
    "become",
    "become_password",
    "roles",
    "known_hosts_file",
    "ssh_config_file",
    "strict_host_key_checking",
    "legacy_algorithms",
    "allow_no_strict_kex",
)

# Ansible spelling -> canonical field. ansible_ssh_* host/port/user are the pre-2.0
# names; `nodeward_roles` is ours, so Ansible inventories can carry node roles too.
ANSIBLE_SPELLINGS: Mapping[str, str] = {
    "ansible_host": "address",
    "ansible_ssh_host": "address",
    "ansible_port": "port",
    "ansible_ssh_port": "port",
    "ansible_user": "user",
    "ansible_ssh_user": "user",
    "ansible_ssh_private_key_file": "identity_file",
    "ansible_private_key_file": "identity_file",
    "ansible_become": "become",
    "ansible_become_password": "become_password",
    "ansible_become_pass": "become_password",
    "ansible_connection": "connection",
    "ansible_ssh_common_args": "ssh_common_args",
    "ansible_ssh_extra_args": "ssh_extra_args",
    "nodeward_roles": "roles",
    "nodeward_legacy_algorithms": "legacy_algorithms",
    "nodeward_allow_no_strict_kex": "allow_no_strict_kex",
}
NATIVE_SPELLINGS: Mapping[str, str] = {**{f: f for f in NATIVE_FIELDS}, **ANSIBLE_SPELLINGS}
FREE_VARS_KEY = "vars"  # native: the free-form mapping for checks

SSH_CONNECTIONS = frozenset({"ssh", "smart", "paramiko", "paramiko_ssh"})

TEMPLATE_HINT = (
    "templated values ('{{' or '{%') are not evaluated: nodeward never runs Jinja. "
    "Resolve them first with `ansible-inventory -i <inventory> --list --yaml "
    "--output resolved.yml` and pass resolved.yml, or write the value literally"
)

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_SCOPE_ID = re.compile(r"[A-Za-z0-9_.-]+")
_USER = re.compile(r"[a-z_][a-z0-9_.-]*\$?", re.IGNORECASE)
_ROLE = re.compile(r"[a-z][a-z0-9-]*")
_GROUP = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ANSIBLE_TRUE = frozenset({"y", "yes", "on", "1", "true", "t"})
_ANSIBLE_FALSE = frozenset({"n", "no", "off", "0", "false", "f"})


class FieldError(ValueError):
    """A value that is not acceptable for its field; the message says why."""


@dataclass(frozen=True, slots=True)
class Context:
    base_dir: str  # relative paths are resolved against the inventory file's directory
    lenient: bool  # Ansible type coercions (see the module docstring)


# --- value validators (also usable on their own) ------------------------------------


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def no_controls(text: str, what: str) -> str:
    """Refuse NUL, newlines and other control characters: they end commands and lines."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise FieldError(f"{what} contains a control character (newline, NUL, tab, ...)")
    return text


def valid_host(value: object, what: str = "host") -> str:
    """A DNS name or an IPv4/IPv6 literal; nothing that a shell or ssh could misread."""
    if not isinstance(value, str) or not value:
        raise FieldError(f"{what} must be a host name or IP address, not {_kind(value)}")
    if len(value) <= 253 and (_is_ip(value) or _HOSTNAME.fullmatch(value)):
        return value
    raise FieldError(
        f"{what} {value!r} is not a valid host name or IP address (letters, digits, "
        "'-', '_' and '.'; no leading '-', no spaces or shell characters)"
    )


def _is_ip(text: str) -> bool:
    address, _, scope = text.partition("%")
    if scope and not _SCOPE_ID.fullmatch(scope):
        return False
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return not scope or ":" in address


def valid_port(value: object, *, lenient: bool = False) -> int:
    if lenient and isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"port must be a whole number in 1..65535, not {_kind(value)}")
    if not 1 <= value <= 65535:
        raise FieldError(f"port {value} is outside 1..65535")
    return value


def valid_user(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise FieldError(f"user must be a user name, not {_kind(value)}")
    if len(value) > 256 or not _USER.fullmatch(value):
        raise FieldError(
            f"user {value!r} is not a valid user name (letters, digits, '_', '.', '-'; "
            "starting with a letter or '_')"
        )
    return value


def valid_path(value: object, base_dir: str, what: str = "path") -> str:
    """Absolute, `~`-prefixed or relative to the inventory directory; returned absolute."""
    if not isinstance(value, str) or not value.strip():
        raise FieldError(f"{what} must be a file path, not {_kind(value)}")
    no_controls(value, what)
    expanded = os.path.expanduser(value)
    if expanded.startswith("~"):
        raise FieldError(f"{what} {value!r}: cannot expand '~' (unknown user?)")
    if not os.path.isabs(expanded):
        expanded = os.path.join(base_dir, expanded)
    return os.path.normpath(expanded)


def valid_jump(value: object) -> str:
    """OpenSSH ProxyJump: `[user@]host[:port]` hops separated by commas."""
    if not isinstance(value, str) or not value:
        raise FieldError(f"proxy_jump must be [user@]host[:port][,...], not {_kind(value)}")
    for hop in value.split(","):
        _valid_hop(hop.strip())
    return value


def _valid_hop(hop: str) -> None:
    rest = hop.removeprefix("ssh://").rstrip("/")
    if "@" in rest:
        user, _, rest = rest.rpartition("@")
        valid_user(user)
    bracketed = re.fullmatch(r"\[([^\]]+)\](?::([0-9]+))?", rest)
    if bracketed:
        host, port = bracketed.group(1), bracketed.group(2)
    else:
        host, _, port = rest.partition(":")
    valid_host(host, "jump host")
    if port:
        if not port.isdigit():
            raise FieldError(f"jump host port {port!r} is not a number")
        valid_port(int(port))


def valid_role(value: object) -> str:
    if not isinstance(value, str) or not _ROLE.fullmatch(value):
        raise FieldError(
            f"role {value!r} must be lower-case letters, digits and '-' "
            "(e.g. control-plane, worker, etcd, bastion)"
        )
    return value


def valid_group_name(name: str) -> str:
    if not _GROUP.fullmatch(name):
        raise FieldError(f"group name {name!r} may only contain letters, digits, '_', '.' and '-'")
    return name


def is_templated(value: object) -> bool:
    """True when a string anywhere in `value` holds Jinja markup (never for !unsafe)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not isinstance(item, UnsafeText) and ("{{" in item or "{%" in item):
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# --- reading one mapping of variables ----------------------------------------------


def read_vars(
    raw: object,
    loc: Locator,
    problems: Problems,
    *,
    native: bool,
    host_scope: bool,
) -> VarSet:
    """Split one `key: value` mapping into canonical fields and free variables.

    `loc` locates the mapping itself; `host_scope` is False for group `vars:` (where
    a native `address` makes no sense: every host of the group would get it).
    """
    out = VarSet()
    if raw is None:
        return out
    if not isinstance(raw, Mapping):
        problems.add(loc.at().problem(f"must be a mapping of name: value, not {_kind(raw)}"))
        return out
    spellings = NATIVE_SPELLINGS if native else ANSIBLE_SPELLINGS
    seen: dict[str, str] = {}  # canonical -> spelling used, to catch `port` + `ansible_port`
    for key, value in raw.items():
        origin = loc.at(str(key))
        if not isinstance(key, str):
            problems.add(origin.problem(f"variable names must be strings, not {_kind(key)}"))
        elif native and key == FREE_VARS_KEY:
            out.extra.update(_free_vars(value, loc.child(key), problems))
        elif key in spellings:
            group_address = native and not host_scope and spellings[key] == "address"
            _read_field(out, seen, spellings[key], key, Var(value, origin), problems, group_address)
        elif native:
            known = [*NATIVE_SPELLINGS, FREE_VARS_KEY]
            problems.add(origin.problem(f"unknown field {key!r}{suggest(key, known)}"))
        elif not key.startswith("ansible_"):  # other ansible_* settings do not concern us
            _read_free(out.extra, key, Var(value, origin), problems)
    return out


def _read_field(
    out: VarSet,
    seen: dict[str, str],
    canonical: str,
    spelling: str,
    var: Var,
    problems: Problems,
    group_address: bool,
) -> None:
    if group_address:  # native only: one address shared by a whole group is a mistake
        problems.add(var.origin.problem(f"{spelling} can only be set on a host, not for a group"))
    elif canonical in seen:
        problems.add(var.origin.problem(f"{spelling!r} repeats {seen[canonical]!r}; keep one of them"))
    elif is_templated(var.value):
        problems.add(var.origin.problem(TEMPLATE_HINT))
    else:
        seen[canonical] = spelling
        out.fields[canonical] = var


def _free_vars(raw: object, loc: Locator, problems: Problems) -> dict[str, Var]:
    found: dict[str, Var] = {}
    if raw is None:
        return found
    if not isinstance(raw, Mapping):
        problems.add(loc.at().problem(f"vars must be a mapping of name: value, not {_kind(raw)}"))
        return found
    for key, value in raw.items():
        origin = loc.at(str(key))
        if not isinstance(key, str):
            problems.add(origin.problem(f"variable names must be strings, not {_kind(key)}"))
        else:
            _read_free(found, key, Var(value, origin), problems)
    return found


def _read_free(out: dict[str, Var], key: str, var: Var, problems: Problems) -> None:
    if is_templated(var.value):
        problems.add(var.origin.problem(TEMPLATE_HINT))
    else:
        out[key] = var


# --- converters: raw value -> typed field value ------------------------------------


def _paths(value: object, ctx: Context, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise FieldError(f"{what} must name at least one file")
    return tuple(valid_path(item, ctx.base_dir, what) for item in items)


def _known_hosts(value: object, ctx: Context) -> tuple[str, ...]:
    files = _paths(value, ctx, "known_hosts_file")
    if os.devnull in files:
        # Nothing to check against: with --accept-new-host-keys every key would be new.
        raise FieldError(f"known_hosts_file {os.devnull} is refused: host keys are always checked")
    return files


def _boolean(value: object, ctx: Context) -> bool:
    if isinstance(value, bool):
        return value
    if ctx.lenient:  # Ansible's boolean(): yes/no/on/off/1/0/true/false, any case
        text = str(value).strip().lower() if isinstance(value, str | int | float) else ""
        if text in _ANSIBLE_TRUE:
            return True
        if text in _ANSIBLE_FALSE:
            return False
    hint = "" if ctx.lenient else " (YAML 1.2: yes/no/on/off are strings here; write true/false)"
    raise FieldError(f"must be true or false, not {value!r}{hint}")


def _connection(value: object, ctx: Context) -> Connection | str:
    """Connection, or (a string) the reason this host cannot be scanned."""
    if not isinstance(value, str):
        raise FieldError(f"connection must be ssh or local, not {_kind(value)}")
    name = value.strip().lower().removeprefix("ansible.builtin.").removeprefix("ansible.legacy.")
    if name in SSH_CONNECTIONS:
        return Connection.SSH
    if name == "local":
        return Connection.LOCAL
    reason = f"connection {value!r} is not supported (nodeward speaks ssh and local)"
    if not ctx.lenient:
        raise FieldError(reason)
    return reason


def _secret(value: object, ctx: Context) -> Secret:
    # Never echo the value: it is a password.
    if ctx.lenient and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # INI inline `pass=1234` arrives as an int
    if not isinstance(value, str) or not value:
        raise FieldError(f"become password must be a non-empty string, not {_kind(value)}")
    no_controls(value, "become password")
    return Secret(value)


def _roles(value: object, ctx: Context) -> tuple[str, ...]:
    if ctx.lenient and isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise FieldError(f"roles must be a list of role names, e.g. [worker], not {_kind(value)}")
    return tuple(valid_role(role) for role in value)


def _host_key_checking(value: object, _ctx: Context) -> str:
    if value is True:
        return "yes"
    text = value.strip().lower() if isinstance(value, str) else ""
    if text in ("yes", "accept-new"):
        return text
    if value is False or text in ("no", "off", "false"):
        raise FieldError(f"strict_host_key_checking={value!r} is refused: {ACCEPT_NEW_HINT}")
    raise FieldError(f"strict_host_key_checking must be yes or accept-new, not {value!r}")


def _legacy_algorithms(value: object, ctx: Context) -> tuple[str, ...]:
    """SSH algorithms to offer again for this node: only names ssh_algorithms.yaml lists."""
    if ctx.lenient and isinstance(value, str):  # INI: a comma-separated string
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise FieldError(f"legacy_algorithms must be a list of algorithm names, not {_kind(value)}")
    allowed = legacy_names()
    for name in value:
        if not isinstance(name, str) or name not in allowed:
            raise FieldError(
                f"legacy_algorithms: {name!r} is not a legacy SSH algorithm nodeward can "
                f"re-enable (one of {', '.join(allowed)})"
            )
    return tuple(dict.fromkeys(value))


def _ssh_args(value: object, ctx: Context) -> SshArgs:
    if not isinstance(value, str):
        raise FieldError(f"ssh arguments must be a string, not {_kind(value)}")
    no_controls(value, "ssh arguments")
    try:
        args = parse_ssh_args(value)
    except SshArgsError as error:
        raise FieldError(str(error)) from None
    # Values inside the flags get exactly the checks the dedicated fields get.
    return replace(
        args,
        user=None if args.user is None else valid_user(args.user),
        proxy_jump=None if args.proxy_jump is None else valid_jump(args.proxy_jump),
        proxy_command=None if args.proxy_command is None else no_controls(args.proxy_command, "ProxyCommand"),
        identity_files=_paths(list(args.identity_files), ctx, "IdentityFile") if args.identity_files else (),
        known_hosts_files=_known_hosts(list(args.known_hosts_files), ctx) if args.known_hosts_files else (),
        ssh_config_file=None
        if args.ssh_config_file is None
        else valid_path(args.ssh_config_file, ctx.base_dir, "-F file"),
    )


def _text(what: str) -> Callable[[object, Context], str]:
    def convert(value: object, _ctx: Context) -> str:
        if not isinstance(value, str) or not value.strip():
            raise FieldError(f"{what} must be a non-empty string, not {_kind(value)}")
        return no_controls(value, what)

    return convert


# --- one host -> one Node ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Skip:
    name: str
    reason: str


class _HostFields:
    """The merged fields of one host, converted on demand; errors go to `problems`."""

    def __init__(self, host: ResolvedHost, ctx: Context, problems: Problems) -> None:
        self.ctx = ctx
        self.problems = problems
        self.fields: dict[str, Var] = {}
        self.roles: list[Var] = []  # roles accumulate over all layers instead of replacing
        self.extra: dict[str, Var] = {}
        self.rank: dict[str, int] = {}  # field -> index of the layer that set it last
        for index, layer in enumerate(host.layers):
            self.rank.update(dict.fromkeys(layer.fields, index))
            self.fields.update(layer.fields)
            self.extra.update(layer.extra)
            if "roles" in layer.fields:
                self.roles.append(layer.fields["roles"])

    def get(self, name: str, convert: Callable[[object, Context], T]) -> T | None:
        var = self.fields.get(name)
        return None if var is None else self.convert(var, convert)

    def convert(self, var: Var, convert: Callable[[object, Context], T]) -> T | None:
        try:
            return convert(var.value, self.ctx)
        except FieldError as error:
            self.problems.add(var.origin.problem(str(error)))
            return None

    def origin(self, name: str) -> Origin | None:
        var = self.fields.get(name)
        return None if var is None else var.origin


def build_node(host: ResolvedHost, ctx: Context, problems: Problems) -> Node | Skip:
    """The Node for `host`, or a Skip when its connection type is not ours.

    Problems go to `problems`; the Node returned alongside them is never used, because
    the caller raises as soon as there is any problem.
    """
    got = _HostFields(host, ctx, problems)
    connection = got.get("connection", _connection) or Connection.SSH
    if not isinstance(connection, Connection):  # Connection is a StrEnum: test it, not str
        return Skip(host.name, connection)  # not ours to validate any further
    try:
        valid_host(host.name, "host name")
    except FieldError as error:
        problems.add(host.origin.problem(str(error)))
    return _assemble(host, got, connection)


def _assemble(host: ResolvedHost, got: _HostFields, connection: Connection) -> Node:
    common = got.get("ssh_common_args", _ssh_args) or SshArgs()
    extra = got.get("ssh_extra_args", _ssh_args) or SshArgs()
    args = (common, extra)  # ssh: explicit options first, then common, then extra args

    def first(value: T | None, pick: Callable[[SshArgs], T | None]) -> T | None:
        """The explicit field, else the common args' value, else the extra args' value."""
        if value is not None:
            return value
        return next((found for found in map(pick, args) if found is not None), None)

    proxy_jump, proxy_command = _proxy(host, got, args)
    roles: dict[str, None] = {}
    for var in got.roles:
        roles.update(dict.fromkeys(got.convert(var, _roles) or ()))
    explicit_keys = got.get("identity_file", lambda v, c: _paths(v, c, "identity_file")) or ()
    return Node(
        name=host.name,
        address=got.get("address", lambda v, _c: valid_host(v, "address")),
        port=first(got.get("port", lambda v, c: valid_port(v, lenient=c.lenient)), _port_of),
        user=first(got.get("user", lambda v, _c: valid_user(v)), _user_of),
        identity_files=tuple(dict.fromkeys((*explicit_keys, *common.identity_files, *extra.identity_files))),
        proxy_jump=proxy_jump,
        proxy_command=proxy_command,
        known_hosts_files=first(
            got.get("known_hosts_file", _known_hosts),
            lambda a: a.known_hosts_files or None,
        )
        or (),
        ssh_config_file=first(
            got.get("ssh_config_file", lambda v, c: valid_path(v, c.base_dir, "ssh_config_file")),
            _config_of,
        ),
        strict_host_key_checking=first(got.get("strict_host_key_checking", _host_key_checking), _checking_of),
        legacy_algorithms=got.get("legacy_algorithms", _legacy_algorithms) or (),
        allow_no_strict_kex=bool(got.get("allow_no_strict_kex", _boolean)),
        connection=connection,
        become=_become(got),
        become_password=got.get("become_password", _secret),
        groups=host.groups,
        roles=tuple(roles),
        vars=MappingProxyType({name: var.value for name, var in got.extra.items()}),
        source=host.origin.where,
    )


def _proxy(host: ResolvedHost, got: _HostFields, args: tuple[SshArgs, ...]) -> tuple[str | None, str | None]:
    """(ProxyJump, ProxyCommand). At most one: the more specific setting wins.

    A host's own `proxy_command` replaces the `proxy_jump` its group set, and `none`
    cancels an inherited one (the bastion itself must not jump through itself).
    Explicit fields beat ssh args; two proxies set in the same place are an error.
    """
    jump = got.get("proxy_jump", _jump)  # "" means an explicit `none`
    command = got.get("proxy_command", _command)
    if jump is None and command is None:
        jump = next((a.proxy_jump for a in args if a.proxy_jump), None)
        command = next((a.proxy_command for a in args if a.proxy_command), None)
        origin = got.origin("ssh_common_args") or got.origin("ssh_extra_args")
        rank_jump = rank_command = 0
    else:
        origin = got.origin("proxy_command") or got.origin("proxy_jump")
        rank_jump, rank_command = got.rank.get("proxy_jump", -1), got.rank.get("proxy_command", -1)
    if jump and command:
        if rank_jump == rank_command:
            where = origin or host.origin
            got.problems.add(where.problem("set either proxy_jump or proxy_command, not both"))
        elif rank_jump < rank_command:
            jump = None
        else:
            command = None
    if jump:
        _check_not_self(host, got, jump)
    return jump or None, command or None


def _jump(value: object, _ctx: Context) -> str:
    if isinstance(value, str) and value.strip().lower() == "none":
        return ""
    return valid_jump(value)


def _command(value: object, ctx: Context) -> str:
    if isinstance(value, str) and value.strip().lower() == "none":
        return ""
    return _text("proxy_command")(value, ctx)


def _check_not_self(host: ResolvedHost, got: _HostFields, jump: str) -> None:
    address = got.fields.get("address")
    own = {host.name, address.value if address else host.name}
    for hop in jump.split(","):
        target = hop.strip().removeprefix("ssh://").rpartition("@")[2]
        target = target[1:].partition("]")[0] if target.startswith("[") else target.partition(":")[0]
        if target in own:
            where = got.origin("proxy_jump") or host.origin
            got.problems.add(
                where.problem(
                    f"{host.name} would jump through itself ({target}); set proxy_jump: none on the jump host"
                )
            )


def _become(got: _HostFields) -> bool:
    value = got.get("become", _boolean)
    return True if value is None else value  # nodeward gathers as root unless told not to


def _port_of(args: SshArgs) -> int | None:
    return args.port


def _user_of(args: SshArgs) -> str | None:
    return args.user


def _config_of(args: SshArgs) -> str | None:
    return args.ssh_config_file


def _checking_of(args: SshArgs) -> str | None:
    return args.strict_host_key_checking


# --- the whole tree -> Inventory ---------------------------------------------------


def build_inventory(
    tree: Tree, ctx: Context, problems: Problems, *, ungrouped: bool
) -> tuple[Inventory, dict[str, tuple[str, ...]]]:
    """Nodes for every host of `tree`, or InventoryError with every problem found.

    Also returns the full membership (group -> hosts, skipped hosts included), which
    `--limit` needs so that `--limit windows` still finds the skipped winrm hosts.
    """
    resolved = tree.resolve(problems, ungrouped=ungrouped)
    if not resolved and not problems:
        problems.add(Problem(tree.file, None, "", "the inventory defines no hosts"))
    nodes: list[Node] = []
    skipped: list[tuple[str, str]] = []
    for host in resolved:
        built = build_node(host, ctx, problems)
        if isinstance(built, Skip):
            skipped.append((built.name, built.reason))
        else:
            nodes.append(built)
    problems.raise_if_any()
    membership = {g: tuple(h.name for h in resolved if g in h.groups) for g in tree.groups}
    loaded = {node.name for node in nodes}
    groups = {g: tuple(n for n in names if n in loaded) for g, names in membership.items()}
    return Inventory(tuple(nodes), groups, tree.file, tuple(skipped)), membership
