"""The test fleet: real OpenSSH sshd "nodes" on 127.0.0.1, each with its own /etc.

Every node is a private set of namespaces made by ``unshare``:

* a **mount** namespace in which /etc, /home, /root, /var, /usr/local, /opt and /run are
  overlayfs copy-on-write mounts over the host's directories.  The node's own files are
  written into the *upper* directories before mounting (so they shadow the host's), and
  everything the node writes later (a remediation, ``useradd``) lands in the upper
  directory too.  The host's /etc is never written.
* a **PID** namespace with its own /proc, whose init is a tiny bash "anchor".  When the
  anchor dies the kernel kills every process in the namespace (sshd, session children,
  rollback timers a test left behind), and the mounts go with the last process.  That
  is the whole clean-up story: ``stop()`` kills the anchor, and if pytest itself dies
  the anchor sees EOF on its stdin pipe and exits on its own.
* a **UTS** namespace so each node has its own hostname (listed in its /etc/hosts, so
  nothing ever asks a DNS server, which on CI is not on loopback).

The network namespace is shared on purpose: the node's sshd listens on 127.0.0.1 on a
free port of the host, and the harness refuses to start a node whose configuration would
listen anywhere else.

sshd runs with ``-o LogLevel=DEBUG1 -E <node.root>/sshd.log``.  The OpenSSH 9.2p1 lines
worth counting (see ``count_log``) are::

    Connection from 127.0.0.1 port 44784 on 127.0.0.1 port 2299 rdomain ""
    Accepted publickey for scanner from 127.0.0.1 port 44784 ssh2: ED25519 SHA256:...
    debug1: session_input_channel_req: session 0 req exec
    Starting session: command for scanner from 127.0.0.1 port 44784 id 0
    debug1: server_request_direct_tcpip: originator 127.0.0.1 port 0, target 127.0.0.1 port 40301

``LOG_CONNECTION``, ``LOG_ACCEPTED_PUBLICKEY``, ``LOG_EXEC_REQUEST`` and ``LOG_DIRECT_TCPIP``
(on a jump node: note the underscore, the hyphenated "direct-tcpip" lines carry no port)
are those patterns.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import dataclasses
import datetime
import hashlib
import os
import re
import select
import shlex
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

NODES_DIR = Path(__file__).resolve().with_name("nodes")
LOOPBACK = "127.0.0.1"
SSHD = "/usr/sbin/sshd"

# Host trees a node gets a private copy-on-write view of.  Anything a test wants to put
# on a node (NodeSpec.files, remove, modes) must live under one of them: other paths
# (/usr/bin, /tmp, ...) are the host's own and shared by every node.
OVERLAID_TREES = ("/etc", "/home", "/root", "/var", "/usr/local", "/opt", "/run")

# What a root shell on Debian 12 has; used for node.exec() so a command inside the node
# finds the node's /usr/local/sbin stubs first, like sudo's secure_path does.
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Where nodeward keeps its state as root: the journal on a bastion, backups on a node.
NODEWARD_STATE_DIR = "/var/lib/nodeward"

KEY_KINDS = ("bastion", "other", "encrypted")
# Host key types a spec may ask for.  Only ed25519 by default: ssh-keygen makes one in
# milliseconds, while an RSA key costs ~0.3 s of CPU per node.
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")

# Exact OpenSSH 9.2p1 wording (LogLevel DEBUG1), one line per event.
LOG_CONNECTION = r"^Connection from 127\.0\.0\.1 port \d+ on 127\.0\.0\.1 port \d+"
LOG_ACCEPTED_PUBLICKEY = r"^Accepted publickey for \S+ from 127\.0\.0\.1 port \d+ ssh2"
LOG_EXEC_REQUEST = r"session_input_channel_req: session \d+ req exec$"
# A ProxyJump hop carrying a connection; group 1 is the target port.
LOG_DIRECT_TCPIP = r"server_request_direct_tcpip: originator \S+ port \d+, target 127\.0\.0\.1 port (\d+)$"

# Private mount, hostname and PID namespaces; the network stays the host's loopback.
_UNSHARE = ["unshare", "--mount", "--uts", "--pid", "--fork", "--propagation", "private"]
_START_TIMEOUT = 20.0
_EXEC_TIMEOUT = 120.0
_PORT_ATTEMPTS = 5


class FleetError(RuntimeError):
    """A node could not be built or started; the message carries sshd's own words."""


def _run(argv: list[str], *, input: bytes | None = None) -> bytes:
    """Run a helper tool on the host and fail with its stderr, not just an exit code."""
    proc = subprocess.run(argv, input=input, capture_output=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise FleetError(
            f"{shlex.join(argv)} exited {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}"
        )
    return proc.stdout


# --------------------------------------------------------------------------- client keys


class FleetKeys:
    """Client keys for one test session, generated fresh into ``directory`` with
    ssh-keygen (never committed)."""

    PASSPHRASE: ClassVar[str] = "fleet-passphrase-not-secret"

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # The OpenSSH client refuses private keys other users can read.
        directory.chmod(0o700)
        for kind in KEY_KINDS:
            passphrase = self.PASSPHRASE if kind == "encrypted" else ""
            comment = f"nodeward-fleet-{kind}"
            _run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    passphrase,
                    "-C",
                    comment,
                    "-f",
                    str(directory / kind),
                ]
            )
        self.bastion: Path = directory / "bastion"  # the scanner's key; stock nodes authorize it
        self.other: Path = directory / "other"  # a valid key that no node authorizes ("wrong key")
        self.encrypted: Path = directory / "encrypted"  # protected with PASSPHRASE

    def __repr__(self) -> str:
        return f"FleetKeys({self.bastion.parent})"

    def path(self, kind: str) -> Path:
        if kind not in KEY_KINDS:
            raise ValueError(f"unknown key kind {kind!r}; expected one of {KEY_KINDS}")
        path: Path = getattr(self, kind)
        return path

    def public_line(self, kind: str) -> str:
        return self.path(kind).with_suffix(".pub").read_text().strip()


# --------------------------------------------------------------------------- node specs


def _mode(value: object, where: str) -> str:
    # YAML 1.1 reads an unquoted 0640 as the integer 416; insisting on a string keeps
    # the file honest about what it means.
    if not isinstance(value, str) or not re.fullmatch(r"0?[0-7]{3,4}", value):
        raise ValueError(f"{where}: mode must be a quoted octal string like '0640', got {value!r}")
    return value


def _node_path(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or os.path.normpath(value) != value:
        raise ValueError(f"{where}: {value!r} is not a normalised absolute path")
    if _tree_of(value) is None:
        raise ValueError(f"{where}: {value} is outside the node's private trees {OVERLAID_TREES}")
    return value


def _tree_of(path: str) -> str | None:
    for tree in OVERLAID_TREES:
        if path == tree or path.startswith(tree + "/"):
            return tree
    return None


@dataclass
class FileSpec:
    """One file placed on a node; ``owner``/``group`` are names in the node's own passwd."""

    content: str
    mode: str = "0644"
    owner: str = "root"
    group: str = "root"

    @classmethod
    def coerce(cls, value: object, where: str, *, default_mode: str = "0644") -> FileSpec:
        if isinstance(value, FileSpec):
            return value
        if isinstance(value, str):
            return cls(content=value, mode=default_mode)
        if isinstance(value, Mapping):
            unknown = set(value) - {"content", "mode", "owner", "group"}
            if unknown or "content" not in value:
                raise ValueError(f"{where}: needs 'content', may have mode/owner/group: {value!r}")
            return cls(
                content=str(value["content"]),
                mode=_mode(value.get("mode", default_mode), where),
                owner=str(value.get("owner", "root")),
                group=str(value.get("group", "root")),
            )
        raise ValueError(f"{where}: expected a mapping or a string, got {value!r}")


@dataclass
class UserSpec:
    """An account on the node.

    ``password`` None leaves the shadow field "!" (locked, as useradd and cloud-init do);
    key logins still work with UsePAM yes, but not with UsePAM no.  ``locked: false``
    with no password gives "*" instead, a key-only account OpenSSH never calls locked.
    """

    name: str
    keys: list[str] = field(default_factory=list)
    password: str | None = None
    shell: str = "/bin/bash"
    groups: list[str] = field(default_factory=list)
    locked: bool = True

    @classmethod
    def coerce(cls, value: object, where: str) -> UserSpec:
        if isinstance(value, UserSpec):
            user = value
        elif isinstance(value, Mapping):
            allowed = {f.name for f in dataclasses.fields(cls)}
            unknown = set(value) - allowed
            if unknown:
                raise ValueError(f"{where}: unknown user fields {sorted(unknown)}")
            user = cls(**dict(value))
        else:
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user.name):
            raise ValueError(f"{where}: bad user name {user.name!r}")
        for kind in user.keys:
            if kind not in KEY_KINDS:
                raise ValueError(f"{where}: key {kind!r} is not one of {KEY_KINDS}")
        return user


@dataclass
class NodeSpec:
    """What one node looks like, loaded from ``tests/fleet/nodes/<name>.yaml``.

    A YAML file may say ``extends: <other>``: it starts from that spec and replaces whole
    top-level fields (no deep merge, so a file always shows every value it changes).
    """

    name: str
    description: str
    sshd_config: str
    sshd_config_d: dict[str, str] = field(default_factory=dict)
    users: list[UserSpec] = field(default_factory=list)
    sudoers: str | None = None  # None keeps the host's /etc/sudoers (stock on Debian 12)
    sudoers_d: dict[str, FileSpec] = field(default_factory=dict)
    files: dict[str, FileSpec] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    stubs: dict[str, str] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)  # chmod inside the node, last
    host_keys: list[str] = field(default_factory=lambda: ["ed25519"])
    login_user: str = "scanner"

    def __post_init__(self) -> None:
        # Overrides arrive as plain dicts from YAML or from load_spec(**overrides); turn
        # them into the typed pieces here so every NodeSpec is checked the same way.
        where = f"node spec {self.name}"
        raw_users: Any = self.users
        self.users = [UserSpec.coerce(u, f"{where} users[{i}]") for i, u in enumerate(raw_users)]
        raw_sudoers_d: Any = self.sudoers_d
        self.sudoers_d = {
            str(n): FileSpec.coerce(v, f"{where} sudoers_d.{n}", default_mode="0440")
            for n, v in raw_sudoers_d.items()
        }
        raw_files: Any = self.files
        self.files = {
            _node_path(p, f"{where} files"): FileSpec.coerce(v, f"{where} files.{p}")
            for p, v in raw_files.items()
        }
        self.remove = [_node_path(p, f"{where} remove") for p in self.remove]
        self.modes = {
            _node_path(p, f"{where} modes"): _mode(m, f"{where} modes.{p}") for p, m in self.modes.items()
        }
        for fname in [*self.sshd_config_d, *self.sudoers_d, *self.stubs]:
            if not fname or "/" in fname or fname.startswith("."):
                raise ValueError(f"{where}: {fname!r} must be a plain file name")
        for kind in self.host_keys:
            if kind not in HOST_KEY_TYPES:
                raise ValueError(f"{where}: host key type {kind!r} not in {HOST_KEY_TYPES}")
        if not self.host_keys:
            raise ValueError(f"{where}: a node needs at least one host key")
        if self.login_user not in {u.name for u in self.users} | {"root"}:
            raise ValueError(f"{where}: login_user {self.login_user!r} is not among users")


def _load_mapping(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if name in seen:
        raise ValueError(f"node spec extends loop: {' -> '.join((*seen, name))}")
    path = NODES_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in NODES_DIR.glob("*.yaml"))
        raise ValueError(f"no node spec {name!r} (known: {', '.join(known)})")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top")
    base = data.pop("extends", None)
    if base is None:
        return data
    merged = _load_mapping(str(base), (*seen, name))
    merged.update(data)
    return merged


def load_spec(name: str, **overrides: Any) -> NodeSpec:
    """Load ``nodes/<name>.yaml`` and replace whole fields with ``overrides``."""
    data = _load_mapping(name)
    allowed = {f.name for f in dataclasses.fields(NodeSpec)} - {"name"}
    unknown = (set(data) | set(overrides)) - allowed
    if unknown:
        raise ValueError(f"node spec {name}: unknown fields {sorted(unknown)}")
    data.update(overrides)
    return NodeSpec(name=name, **data)


# ------------------------------------------------------------------ building a node tree


def _tree_dirname(tree: str) -> str:
    return tree.strip("/").replace("/", "_")


def _days_since_epoch() -> int:
    # Shadow's "last changed" must be a real day: 0 means "must change password now" and
    # pam_unix then refuses even key logins in a non-interactive session.
    return (datetime.datetime.now(datetime.UTC).date() - datetime.date(1970, 1, 1)).days


class _Accounts:
    """The node's passwd/shadow/group/gshadow: the host's, plus the spec's accounts.

    Host password hashes are not carried over (they become "*"): a node must not hold a
    copy of this machine's secrets, and no test logs in with a host password.
    """

    def __init__(self) -> None:
        def table(path: str) -> list[list[str]]:
            lines = Path(path).read_text().splitlines()
            return [line.split(":") for line in lines if line and not line.startswith("#")]

        self.passwd = table("/etc/passwd")
        self.group = table("/etc/group")
        self.shadow = [self._scrub(row) for row in table("/etc/shadow")]
        self.gshadow = [self._scrub(row) for row in table("/etc/gshadow")]

    @staticmethod
    def _scrub(row: list[str]) -> list[str]:
        if len(row) > 1 and row[1].startswith("$"):
            row[1] = "*"
        return row

    @staticmethod
    def _find(rows: list[list[str]], name: str) -> list[str] | None:
        return next((row for row in rows if row[0] == name), None)

    def _free_id(self) -> int:
        # Like useradd: the first id >= 1000 free as both uid and gid, so uid == gid.
        taken = {int(r[2]) for r in self.passwd} | {int(r[2]) for r in self.group}
        candidate = 1000
        while candidate in taken:
            candidate += 1
        return candidate

    def ensure_group(self, name: str) -> int:
        row = self._find(self.group, name)
        if row is None:
            gid = self._free_id()
            self.group.append([name, "x", str(gid), ""])
            self.gshadow.append([name, "!", "", ""])
            return gid
        return int(row[2])

    def add_member(self, group: str, user: str) -> None:
        self.ensure_group(group)
        for rows, index in ((self.group, 3), (self.gshadow, 3)):
            row = self._find(rows, group)
            if row is None:
                continue
            members = [m for m in row[index].split(",") if m]
            if user not in members:
                members.append(user)
            row[index] = ",".join(members)

    def add_user(self, user: UserSpec, password_hash: str | None) -> tuple[int, int, str]:
        """Create or update ``user``; returns (uid, gid, home)."""
        secret = password_hash if password_hash is not None else ("!" if user.locked else "*")
        row = self._find(self.passwd, user.name)
        if row is None:
            uid = self._free_id()
            home = f"/home/{user.name}"
            self.group.append([user.name, "x", str(uid), ""])
            self.gshadow.append([user.name, "!", "", ""])
            self.passwd.append([user.name, "x", str(uid), str(uid), "", home, user.shell])
            self.shadow.append([user.name, secret, str(_days_since_epoch()), "0", "99999", "7"])
            self.shadow[-1] += ["", "", ""]
        else:
            # An account the host already has (root): keep its ids and home, set what
            # the spec says about it.
            uid, home = int(row[2]), row[5]
            row[6] = user.shell
            shadow_row = self._find(self.shadow, user.name)
            if shadow_row is not None:
                shadow_row[1] = secret
                shadow_row[2] = str(_days_since_epoch())
        for group in user.groups:
            self.add_member(group, user.name)
        passwd_row = self._find(self.passwd, user.name)
        assert passwd_row is not None
        return uid, int(passwd_row[3]), home

    def ids(self, owner: str, group: str) -> tuple[int, int]:
        user_row = self._find(self.passwd, owner)
        group_row = self._find(self.group, group)
        if user_row is None or group_row is None:
            raise ValueError(f"unknown owner {owner}:{group} on this node")
        return int(user_row[2]), int(group_row[2])

    def render(self) -> dict[str, str]:
        return {
            name: "".join(":".join(row) + "\n" for row in rows)
            for name, rows in (
                ("/etc/passwd", self.passwd),
                ("/etc/group", self.group),
                ("/etc/shadow", self.shadow),
                ("/etc/gshadow", self.gshadow),
            )
        }


class _NodeTree:
    """Writes a node's files into its overlay upper directories before the mount."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for tree in OVERLAID_TREES:
            upper = self.upper(tree)
            upper.mkdir(parents=True)
            (root / "work" / _tree_dirname(tree)).mkdir(parents=True)
            # The upper directory's owner and mode ARE the merged directory's: copy the
            # host's, or /etc would show up as 0700 (what pytest's tmp dirs have).
            self._copy_meta(Path(tree), upper)

    def upper(self, tree: str) -> Path:
        return self.root / "upper" / _tree_dirname(tree)

    def work(self, tree: str) -> Path:
        return self.root / "work" / _tree_dirname(tree)

    def host_path(self, node_path: str) -> Path:
        """Where ``node_path`` lives in the upper directory."""
        tree = _tree_of(node_path)
        if tree is None:
            raise ValueError(f"{node_path} is outside {OVERLAID_TREES}")
        rel = node_path[len(tree) :].lstrip("/")
        return self.upper(tree) / rel if rel else self.upper(tree)

    @staticmethod
    def _copy_meta(source: Path, target: Path) -> None:
        try:
            st = source.stat()
        except FileNotFoundError:
            target.chmod(0o755)
            os.chown(target, 0, 0)
            return
        target.chmod(stat.S_IMODE(st.st_mode))
        os.chown(target, st.st_uid, st.st_gid)

    def mkdir(self, node_dir: str, *, mode: int | None = None, uid: int = 0, gid: int = 0) -> Path:
        """Create ``node_dir`` and missing parents, each looking like the host's directory
        of the same name (or 0755 root when the host has none)."""
        target = self.host_path(node_dir)
        missing: list[tuple[str, Path]] = []
        node_path, upper = node_dir, target
        while not upper.is_dir():  # absent from the upper layer, or a whiteout
            missing.append((node_path, upper))
            node_path, upper = os.path.dirname(node_path), upper.parent
        for path, upper in reversed(missing):
            if _is_whiteout(upper):
                # The host's entry is hidden from the node; a new directory in its place
                # must not bring the host's contents back, hence opaque.
                upper.unlink()
                upper.mkdir(0o755)
                os.setxattr(upper, "trusted.overlay.opaque", b"y")
            else:
                upper.mkdir()
                self._copy_meta(Path(path), upper)
        if mode is not None:
            target.chmod(mode)
            os.chown(target, uid, gid)
        return target

    def opaque(self, node_dir: str, **kw: int) -> Path:
        """Make ``node_dir`` show only what the node puts there, hiding the host's entries."""
        if node_dir in OVERLAID_TREES:
            # overlayfs ignores the opaque mark on the upper layer's root directory, so
            # hide the host's entries one by one instead.
            for name in os.listdir(node_dir):
                if not os.path.lexists(self.host_path(f"{node_dir}/{name}")):
                    self.whiteout(f"{node_dir}/{name}")
            return self.host_path(node_dir)
        target = self.mkdir(node_dir, **kw)
        os.setxattr(target, "trusted.overlay.opaque", b"y")
        return target

    def whiteout(self, node_path: str) -> None:
        """Hide one host file from the node (an overlayfs whiteout: a 0/0 char device)."""
        self.mkdir(os.path.dirname(node_path))
        os.mknod(self.host_path(node_path), stat.S_IFCHR, os.makedev(0, 0))

    def write(
        self, node_path: str, content: str | bytes, *, mode: int = 0o644, uid: int = 0, gid: int = 0
    ) -> Path:
        self.mkdir(os.path.dirname(node_path))
        target = self.host_path(node_path)
        if target.exists() or target.is_symlink():
            target.unlink()
        data = content.encode() if isinstance(content, str) else content
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chown(target, uid, gid)
        target.chmod(mode)
        return target


def _is_whiteout(path: Path) -> bool:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _hash_password(password: str) -> str:
    # The password goes on stdin, never into argv where `ps` would show it.
    return _run(["openssl", "passwd", "-6", "-stdin"], input=password.encode()).decode().strip()


def _build_tree(root: Path, spec: NodeSpec, keys: FleetKeys, hostname: str) -> _NodeTree:
    tree = _NodeTree(root)
    accounts = _Accounts()

    # Accounts and homes.  Homes are 0700 (Debian 12's adduser DIR_MODE), ~/.ssh 0700 and
    # authorized_keys 0600, all owned by the user: sshd's StrictModes rejects anything
    # group/world-writable or owned by someone else anywhere on that path.
    # The node's /home holds its own users only, and its /root is a fresh Debian root
    # home: the host's root dotfiles, keys and tokens never show inside a node.
    tree.opaque("/home")
    tree.opaque("/root")
    for dotfile in ("bashrc", "profile"):
        stock = Path(f"/usr/share/base-files/dot.{dotfile}")
        if stock.is_file():
            tree.write(f"/root/.{dotfile}", stock.read_bytes())
    skel = Path("/etc/skel")
    for user in spec.users:
        password_hash = _hash_password(user.password) if user.password is not None else None
        uid, gid, home = accounts.add_user(user, password_hash)
        if home.startswith("/home/"):
            tree.mkdir(home, mode=0o700, uid=uid, gid=gid)
            for entry in skel.iterdir() if skel.is_dir() else []:
                if entry.is_file():
                    tree.write(
                        f"{home}/{entry.name}",
                        entry.read_bytes(),
                        mode=stat.S_IMODE(entry.stat().st_mode),
                        uid=uid,
                        gid=gid,
                    )
        if user.keys:
            tree.opaque(f"{home}/.ssh", mode=0o700, uid=uid, gid=gid)
            lines = "".join(keys.public_line(kind) + "\n" for kind in user.keys)
            tree.write(f"{home}/.ssh/authorized_keys", lines, mode=0o600, uid=uid, gid=gid)
    for path, text in accounts.render().items():
        st = os.stat(path)
        tree.write(path, text, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid)

    # Hostname: listed the Debian way so no lookup of it ever reaches a DNS server.
    hosts = Path("/etc/hosts").read_text()
    tree.write("/etc/hosts", f"{hosts.rstrip()}\n127.0.1.1\t{hostname}\n")
    tree.write("/etc/hostname", hostname + "\n")

    # sshd: the node's config, only the node's drop-ins, only the node's host keys.
    tree.write("/etc/ssh/sshd_config", spec.sshd_config)
    tree.opaque("/etc/ssh/sshd_config.d")
    for fname, text in spec.sshd_config_d.items():
        tree.write(f"/etc/ssh/sshd_config.d/{fname}", text)
    for host_key in sorted(Path("/etc/ssh").glob("ssh_host_*")):
        tree.whiteout(f"/etc/ssh/{host_key.name}")
    for kind in spec.host_keys:
        key_path = tree.host_path(f"/etc/ssh/ssh_host_{kind}_key")
        for old in (key_path, key_path.with_name(key_path.name + ".pub")):
            old.unlink()  # the whiteouts just made
        _run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{hostname}", "-f", str(key_path)])
    # Privilege separation directory; sshd refuses to start without it.
    tree.mkdir("/run/sshd", mode=0o755)

    # nodeward's own state: the test machine may be a bastion that once ran --remediate,
    # and its journal there is not the node's.  A whiteout hides the host's directory
    # whether it exists now or appears while the node runs; a fix run on the node then
    # makes the node's own (overlayfs turns the whiteout into an opaque directory).
    tree.whiteout(NODEWARD_STATE_DIR)

    # sudo: the node's policy only.  Debian's README stays so the directory looks stock.
    if spec.sudoers is not None:
        tree.write("/etc/sudoers", spec.sudoers, mode=0o440)
    tree.opaque("/etc/sudoers.d")
    readme = Path("/etc/sudoers.d/README")
    if readme.is_file():
        tree.write("/etc/sudoers.d/README", readme.read_bytes(), mode=0o440)
    placed = {f"/etc/sudoers.d/{fname}": fspec for fname, fspec in spec.sudoers_d.items()}
    for path, fspec in {**placed, **spec.files}.items():
        uid, gid = accounts.ids(fspec.owner, fspec.group)
        tree.write(path, fspec.content, mode=int(fspec.mode, 8), uid=uid, gid=gid)
    for name, script in spec.stubs.items():
        tree.write(f"/usr/local/sbin/{name}", script, mode=0o755)
    return tree


def _anchor_script(tree: _NodeTree, spec: NodeSpec, hostname: str) -> str:
    """The node's PID 1: mount everything, report ready, then wait for stdin to close."""
    q = shlex.quote
    lines = [
        "set -eu",
        # /proc is still the host's here, so this read gives our host-side pid, which
        # nsenter needs.  `read` is a builtin: the shell itself opens /proc/self.
        "read -r hostpid _ < /proc/self/stat",
        "mount -t proc proc /proc",
        f"hostname {q(hostname)}",
    ]
    for t in OVERLAID_TREES:
        options = f"lowerdir={t},upperdir={tree.upper(t)},workdir={tree.work(t)}"
        lines.append(f"mount -t overlay overlay -o {q(options)} {q(t)}")
    lines += [f"rm -rf -- {q(p)}" for p in spec.remove]
    lines += [f"chmod {q(m)} -- {q(p)}" for p, m in spec.modes.items()]
    lines += [
        'echo "ready $hostpid"',
        # EOF comes when the harness closes the pipe, or when pytest dies and the kernel
        # closes it: either way PID 1 exits and takes the whole node with it.
        "read -r _ || :",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------- processes


def _parent_of(pid: int) -> int | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces; fields follow the last ")".
    return int(data[data.rindex(b")") + 2 :].split()[1])


def _child_of(parent: int, deadline: float) -> int:
    while time.monotonic() < deadline:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and _parent_of(int(entry.name)) == parent:
                return int(entry.name)
        time.sleep(0.005)
    raise FleetError(f"process {parent} started no child")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _reap(proc: subprocess.Popen[bytes], *, kill: bool) -> None:
    """Wait for ``proc``; SIGKILL its process group first if ``kill`` or if it lingers."""
    for attempt in range(2):
        if kill or attempt:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue
    raise FleetError(f"process group {proc.pid} did not die")


def _sha256_fingerprint(public_line: str) -> str:
    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


# --------------------------------------------------------------------------- nodes


class FleetNode:
    """One running node.  Build it with ``Fleet.start``."""

    address: str = LOOPBACK

    def __init__(self, name: str, spec: NodeSpec, root: Path, hostname: str) -> None:
        self.name = name
        self.spec = spec
        self.root = root
        self.hostname = hostname
        self.login_user = spec.login_user
        self.sshd_log = root / "sshd.log"
        self.port = 0
        self.pid = 0  # host pid of the listening sshd
        self.anchor_pid = 0  # host pid of the namespace's PID 1
        self._anchor: subprocess.Popen[bytes] | None = None
        self._sshd: subprocess.Popen[bytes] | None = None
        # Byte ranges of sshd_log caused by the harness's own readiness probes, which
        # count_log leaves out so tests count only their own connections.
        self._probe_spans: list[tuple[int, int]] = []

    def __repr__(self) -> str:
        return f"FleetNode({self.name!r}, port={self.port}, spec={self.spec.name!r})"

    # ---- inside the node

    def _nsenter(self) -> list[str]:
        if not self.anchor_pid:
            raise FleetError(f"node {self.name} is not running")
        return ["nsenter", "-t", str(self.anchor_pid), "-m", "-p", "-u", "--"]

    def exec(
        self, argv: list[str], input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` as root inside the node (its files, its /proc, its hostname), with
        a root login's PATH so the node's /usr/local/sbin stubs come first."""
        proc = subprocess.run(
            self._nsenter() + argv,
            input=input,
            capture_output=True,
            check=False,
            cwd="/",
            env={"PATH": NODE_PATH, "LC_ALL": "C", "HOME": "/root"},
            timeout=_EXEC_TIMEOUT,
        )
        if check and proc.returncode != 0:
            error = subprocess.CalledProcessError(proc.returncode, argv, proc.stdout, proc.stderr)
            error.add_note(f"on node {self.name}: {proc.stderr.decode(errors='replace')}")
            raise error
        return proc

    def read_file(self, path: str) -> bytes:
        return self.exec(["cat", "--", path]).stdout

    # ---- host keys

    def _public_host_keys(self) -> list[str]:
        """``<type> <base64>`` of each host key, as the node has it now (comment dropped)."""
        keys = []
        for kind in self.spec.host_keys:
            fields = self.read_file(f"/etc/ssh/ssh_host_{kind}_key.pub").decode().split()
            keys.append(" ".join(fields[:2]))
        return keys

    def host_key_lines(self) -> list[str]:
        """known_hosts lines for every host key the node offers."""
        return [f"[{self.address}]:{self.port} {key}" for key in self._public_host_keys()]

    def host_key_line(self) -> str:
        """``[127.0.0.1]:<port> ssh-ed25519 AAAA...`` (the node's first host key type)."""
        return self.host_key_lines()[0]

    def host_key_fingerprint(self) -> str:
        return _sha256_fingerprint(self._public_host_keys()[0])

    def regenerate_host_key(self) -> None:
        """New host keys, then sshd restarted on the same port ("changed key" tests)."""
        for kind in self.spec.host_keys:
            path = f"/etc/ssh/ssh_host_{kind}_key"
            self.exec(["rm", "-f", "--", path, path + ".pub"])
            self.exec(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{self.hostname}", "-f", path])
        self.restart_sshd()

    # ---- sshd

    def _sshd_argv(self, *, test: bool = False) -> list[str]:
        argv = [SSHD, "-T" if test else "-D", "-e", "-f", "/etc/ssh/sshd_config"]
        argv += ["-o", f"ListenAddress={LOOPBACK}", "-o", f"Port={self.port}"]
        if not test:
            # Command-line -o wins over the config file, so DEBUG1 holds whatever LogLevel
            # the spec sets.  The log lives outside the overlays so the host reads it
            # directly.  The pid file stays at its default, /run/sshd.pid in the node's
            # private /run, so a remediation can reload sshd the way Debian's
            # ssh.service does (`sshd -t && kill -HUP "$(cat /run/sshd.pid)"`).
            argv += ["-o", "LogLevel=DEBUG1", "-E", str(self.sshd_log)]
        return argv

    def _check_config(self) -> None:
        """``sshd -T`` (which includes ``-t``) with the exact options the daemon gets, and
        proof that it would listen on loopback only."""
        proc = self.exec(self._sshd_argv(test=True), check=False)
        if proc.returncode != 0:
            raise FleetError(
                f"node {self.name}: sshd -t rejects the configuration:\n"
                + proc.stderr.decode(errors="replace")
            )
        listen = re.findall(r"^listenaddress (\S+)$", proc.stdout.decode(), re.M)
        if listen != [f"{LOOPBACK}:{self.port}"]:
            # Port and ListenAddress add up in sshd: a spec line `Port 22` or
            # `ListenAddress 0.0.0.0` would make the node listen beyond the harness's
            # loopback port.
            raise FleetError(
                f"node {self.name}: sshd would listen on {listen}; node specs must not set "
                "Port or ListenAddress (the harness adds 127.0.0.1 and a free port)"
            )

    def _launch_sshd(self, deadline: float) -> None:
        self._check_config()
        launched_at = self.sshd_log.stat().st_size if self.sshd_log.exists() else 0
        with self.sshd_log.open("ab") as log:
            self._sshd = subprocess.Popen(
                self._nsenter() + self._sshd_argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd="/",
                env={"PATH": NODE_PATH, "LC_ALL": "C"},
                start_new_session=True,
            )
        # nsenter forks to enter the PID namespace; the daemon is its child.
        self.pid = _child_of(self._sshd.pid, deadline)
        self._wait_ready(launched_at, deadline)

    def _wait_ready(self, launched_at: int, deadline: float) -> None:
        """Wait for sshd's "Server listening" line, then read its banner once.

        Waiting for the line first means the daemon's own start-up lines are all logged
        before the probe, so excluding the probe's lines from count_log cannot swallow
        any of them.
        """
        sshd = self._sshd
        assert sshd is not None
        listening = f"Server listening on {LOOPBACK} port {self.port}."
        while self._find_log_line(listening, launched_at) is None:
            if sshd.poll() is not None:
                raise FleetError(f"node {self.name}: sshd exited {sshd.returncode}")
            if time.monotonic() >= deadline:
                raise FleetError(f"node {self.name}: sshd not listening on port {self.port} in time")
            time.sleep(0.005)
        start = self.sshd_log.stat().st_size
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=5) as sock:
                sock.settimeout(5)
                probe_port = sock.getsockname()[1]
                banner = sock.recv(256)
        except OSError as exc:
            raise FleetError(f"node {self.name}: sshd listens but the probe failed: {exc}") from exc
        if not banner.startswith(b"SSH-2.0-"):
            raise FleetError(f"node {self.name}: unexpected banner {banner!r}")
        # The probe's last line; wait for it so a late one is not counted as a test's.
        closed = f"Connection closed by {LOOPBACK} port {probe_port}"
        give_up = min(deadline, time.monotonic() + 3)
        while (end := self._find_log_line(closed, start)) is None and time.monotonic() < give_up:
            time.sleep(0.005)
        self._probe_spans.append((start, end if end is not None else self.sshd_log.stat().st_size))

    def _find_log_line(self, needle: str, start: int) -> int | None:
        """Offset just past the first log line at or after ``start`` containing ``needle``."""
        data = self.sshd_log.read_bytes()
        found = data.find(needle.encode(), start)
        if found < 0:
            return None
        end = data.find(b"\n", found)
        return len(data) if end < 0 else end + 1

    def restart_sshd(self) -> None:
        """Stop the listener and start a fresh one on the same port.

        Open sessions keep running, as with ``systemctl restart ssh``.
        """
        if self._sshd is not None:
            with contextlib.suppress(ProcessLookupError):  # a test may have killed it
                os.kill(self.pid, signal.SIGTERM)
            _reap(self._sshd, kill=False)
        self._launch_sshd(time.monotonic() + _START_TIMEOUT)

    # ---- log

    def read_log(self, *, include_probes: bool = False) -> str:
        """The sshd log as text, without the readiness probes' lines unless asked.

        sshd ends every line it logs with CRLF when logging to stderr/-E; they come back
        as plain LF so ``re.M`` patterns ending in ``$`` match.
        """
        data = self.sshd_log.read_bytes()
        if not include_probes:
            kept, position = [], 0
            for start, end in self._probe_spans:
                kept.append(data[position:start])
                position = end
            kept.append(data[position:])
            data = b"".join(kept)
        return data.decode(errors="replace").replace("\r\n", "\n")

    def count_log(self, pattern: str) -> int:
        """Number of sshd log lines matching ``pattern`` (``re.search``), leaving out the
        lines the harness's readiness probes caused.  See LOG_* for exact patterns."""
        regex = re.compile(pattern)
        return sum(1 for line in self.read_log().splitlines() if regex.search(line))

    def wait_log(self, pattern: str, *, count: int = 1, timeout: float = 10.0) -> int:
        """Wait until ``count_log(pattern) >= count`` (sshd logs asynchronously, e.g. after
        a SIGHUP reload); returns the count, raises FleetError on timeout."""
        deadline = time.monotonic() + timeout
        while (seen := self.count_log(pattern)) < count:
            if time.monotonic() >= deadline:
                raise FleetError(f"node {self.name}: {seen} < {count} log lines match {pattern!r}")
            time.sleep(0.02)
        return seen

    # ---- lifecycle

    def _start(self, port: int) -> None:
        """Bring the namespaces and sshd up; the caller has built the tree."""
        deadline = time.monotonic() + _START_TIMEOUT
        self.port = port
        anchor_log = self.root / "anchor.log"
        with anchor_log.open("wb") as log:
            self._anchor = subprocess.Popen(
                # A script file rather than `bash -c`, so the node's `ps` and `pgrep -f`
                # see a short PID 1 command line.
                [*_UNSHARE, "--", "/bin/bash", str(self.root / "anchor.sh")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd="/",
                env={"PATH": NODE_PATH, "LC_ALL": "C"},
                start_new_session=True,
            )
        assert self._anchor.stdout is not None
        ready, _, _ = select.select([self._anchor.stdout], [], [], _START_TIMEOUT)
        line = self._anchor.stdout.readline() if ready else b""
        if not line.startswith(b"ready "):
            self.stop()
            raise FleetError(f"node {self.name}: namespace setup failed: {anchor_log.read_text().strip()}")
        self.anchor_pid = int(line.split()[1])
        self._launch_sshd(deadline)

    def stop(self) -> None:
        """Kill PID 1 of the node: the kernel kills everything else inside, and the
        overlay mounts disappear with the namespace.  The upper directories stay on disk
        under ``root`` for post-mortems.  Safe to call twice."""
        anchor, sshd = self._anchor, self._sshd
        self._anchor = self._sshd = None
        if anchor is not None:
            if self.anchor_pid:
                # unshare reaps its child, so once unshare is gone PID 1 is fully gone,
                # and PID 1 only finishes exiting after every process in its namespace.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.anchor_pid, signal.SIGKILL)
                _reap(anchor, kill=False)
            else:
                _reap(anchor, kill=True)  # setup failed before PID 1 reported in
            for pipe in (anchor.stdin, anchor.stdout):
                if pipe is not None:
                    pipe.close()
        if sshd is not None:
            # nsenter exits as soon as its child, the daemon, has died with the namespace.
            _reap(sshd, kill=anchor is None)
        self.anchor_pid = 0


# --------------------------------------------------------------------------- fleet


class Fleet:
    """All nodes of one test; ``stop_all`` (the fixture's teardown) ends them."""

    def __init__(self, workdir: Path, keys: FleetKeys) -> None:
        if "," in str(workdir) or ":" in str(workdir):
            # overlayfs splits its mount options on both characters.
            raise FleetError(f"fleet workdir {workdir} must not contain ',' or ':'")
        self.workdir = workdir
        self.keys = keys
        self.nodes: list[FleetNode] = []
        self._lock = threading.Lock()
        workdir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def _claim_name(self, wanted: str) -> str:
        with self._lock:
            taken = {node.name for node in self.nodes} | {p.name for p in self.workdir.iterdir()}
            name, n = wanted, 2
            while name in taken:
                name, n = f"{wanted}-{n}", n + 1
            (self.workdir / name).mkdir()
            return name

    def start(self, spec: str | NodeSpec, *, name: str | None = None) -> FleetNode:
        """Build and start one node; returns once sshd has sent its banner."""
        if isinstance(spec, str):
            spec = load_spec(spec)
        node_name = self._claim_name(name or spec.name)
        hostname = re.sub(r"[^a-z0-9-]", "-", node_name.lower())[:63]
        root = self.workdir / node_name
        tree = _build_tree(root, spec, self.keys, hostname)
        (root / "anchor.sh").write_text(_anchor_script(tree, spec, hostname))
        node = FleetNode(node_name, spec, root, hostname)
        with self._lock:
            self.nodes.append(node)
        for attempt in range(_PORT_ATTEMPTS):
            try:
                node._start(_free_port())
                return node
            except FleetError as exc:
                node.stop()
                log = node.sshd_log.read_text(errors="replace") if node.sshd_log.exists() else ""
                # Another process may grab the free port before sshd binds it (rare).
                if "Address already in use" in log and attempt + 1 < _PORT_ATTEMPTS:
                    node.sshd_log.unlink()
                    node._probe_spans.clear()
                    continue
                with self._lock:
                    self.nodes.remove(node)
                if log:
                    exc.add_note(f"sshd log {node.sshd_log}:\n{log}")
                raise
        raise AssertionError("unreachable")

    def start_many(self, spec: str, count: int, *, prefix: str = "node") -> list[FleetNode]:
        """Start ``count`` nodes of one spec in parallel (named prefix0, prefix1, ...)."""
        loaded = load_spec(spec)
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(count, 16)) as pool:
            futures = [pool.submit(self.start, loaded, name=f"{prefix}{i}") for i in range(count)]
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:
                raise FleetError(f"{len(errors)} of {count} nodes failed") from errors[0]
            return [f.result() for f in futures]

    def known_hosts(self, nodes: Iterable[FleetNode], path: Path | None = None) -> Path:
        """Write a known_hosts file trusting exactly ``nodes``' current host keys."""
        path = path or self.workdir / "known_hosts"
        lines = [line for node in nodes for line in node.host_key_lines()]
        path.write_text("".join(line + "\n" for line in lines))
        return path

    def ssh_argv(
        self,
        node: FleetNode,
        command: str | None = None,
        *,
        key: str = "bastion",
        user: str | None = None,
        known_hosts: Path | None = None,
        extra: Iterable[str] = (),
    ) -> list[str]:
        """An OpenSSH client command line for ``node``: strict host keys against
        ``known_hosts`` (default: a file trusting just this node), batch mode, only
        ``key``, and none of this machine's ssh_config, agent or global known_hosts."""
        if known_hosts is None:
            known_hosts = self.known_hosts([node], self.workdir / f"known_hosts.{node.name}")
        argv = ["ssh", "-F", "none", "-i", str(self.keys.path(key)), "-p", str(node.port)]
        for option in (
            "BatchMode=yes",
            "IdentitiesOnly=yes",
            "IdentityAgent=none",
            "StrictHostKeyChecking=yes",
            f"UserKnownHostsFile={known_hosts}",
            "GlobalKnownHostsFile=/dev/null",
            "ConnectTimeout=10",
        ):
            argv += ["-o", option]
        argv += [*extra, f"{user or node.login_user}@{node.address}"]
        return argv if command is None else [*argv, command]

    def ssh(
        self,
        node: FleetNode,
        command: str,
        *,
        key: str = "bastion",
        user: str | None = None,
        known_hosts: Path | None = None,
        extra: Iterable[str] = (),
        input: bytes | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``command`` on ``node`` with the ``ssh_argv`` client; never raises on failure."""
        argv = self.ssh_argv(node, command, key=key, user=user, known_hosts=known_hosts, extra=extra)
        return subprocess.run(argv, input=input, capture_output=True, check=False, timeout=timeout, cwd="/")

    def stop_all(self) -> None:
        with self._lock:
            nodes = list(self.nodes)
        errors: list[BaseException] = []
        for node in nodes:
            try:
                node.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        if errors:
            raise FleetError(f"{len(errors)} node(s) did not stop") from errors[0]


__all__ = [
    "KEY_KINDS",
    "LOG_ACCEPTED_PUBLICKEY",
    "LOG_CONNECTION",
    "LOG_DIRECT_TCPIP",
    "LOG_EXEC_REQUEST",
    "LOOPBACK",
    "OVERLAID_TREES",
    "FileSpec",
    "Fleet",
    "FleetError",
    "FleetKeys",
    "FleetNode",
    "NodeSpec",
    "UserSpec",
    "load_spec",
]
