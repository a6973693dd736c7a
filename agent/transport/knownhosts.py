"""OpenSSH known_hosts files, read line by line by us, and the host key policy.

Why not `paramiko.HostKeys`: its `load()` stops at the first `@cert-authority` line
(it raises `InvalidHostKey`, which is not an `SSHException`), so every entry after such
a line is silently lost (paramiko issues #771, #2277; pyinfra #838 / PR #1926). It also
knows neither wildcards, `!negation` nor `@revoked`, and `save_host_keys` rewrites the
whole file (paramiko #2355). So this module parses known_hosts itself, following
OpenSSH's `hostfile.c` and `match.c`:

* host field: comma-separated patterns with `*` and `?` (no character classes: `[` is
  literal, which matters for `[host]:port` entries), `!pattern` negates and wins, names
  compare case-insensitively; or a single hashed `|1|salt|hmac-sha1` entry;
* non-22 ports are looked up as `[host]:port`, port 22 as the bare host;
* `@revoked` lines reject their key for the matching hosts even if it is listed as
  known elsewhere;
* `@cert-authority` lines are recognised and kept aside, but host *certificates* are
  not supported yet: we negotiate plain host key algorithms first and verify the plain
  key. A CA line never makes a host "known", and trust-on-first-use refuses hosts that
  a CA vouches for (the operator expects certificate checks we cannot do yet);
* malformed lines are skipped with a debug log, never fatal.

This module deliberately imports neither paramiko nor anything heavy: key blobs are
compared as bytes, which is exactly what OpenSSH's `sshkey_equal` amounts to for plain
keys.
"""

from __future__ import annotations

import base64
import binascii
import enum
import errno
import fcntl
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.errors import ErrorKind, NodeError

log = logging.getLogger(__name__)

DEFAULT_USER_FILES = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_GLOBAL_FILES = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")

_HASH_MAGIC = "|1|"
_LOCK_TIMEOUT = 10.0  # seconds to wait for another writer of the same known_hosts file


class Marker(enum.StrEnum):
    NONE = ""
    REVOKED = "@revoked"
    CERT_AUTHORITY = "@cert-authority"


class HostKeyStatus(enum.Enum):
    OK = "ok"  # the presented key is listed for this host
    UNKNOWN = "unknown"  # no key of any type is listed for this host
    CHANGED = "changed"  # other keys are listed for this host, not this one
    REVOKED = "revoked"  # a matching @revoked line lists this key


@dataclass(frozen=True, slots=True)
class KnownHostEntry:
    marker: Marker
    hosts: str  # the host field as written (patterns or one hashed name)
    key_type: str
    key_blob: bytes
    source: str  # "path:line", for messages

    def matches(self, name: str) -> bool:
        return match_host_field(self.hosts, name)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key_blob)


@dataclass(frozen=True, slots=True)
class HostKeyCheck:
    status: HostKeyStatus
    name: str  # the name looked up: "host" or "[host]:port"
    matched: KnownHostEntry | None  # the entry that decided OK or REVOKED
    known: tuple[KnownHostEntry, ...]  # plain entries for this name (any key type)
    authorities: tuple[KnownHostEntry, ...]  # @cert-authority entries for this name

    def describe_known(self) -> str:
        return ", ".join(f"{e.key_type} {e.fingerprint} ({e.source})" for e in self.known)


def host_token(host: str, port: int) -> str:
    """The name known_hosts uses for host:port (OpenSSH `put_host_port`)."""
    host = host.lower()
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(blob: bytes) -> str:
    """OpenSSH's default fingerprint: SHA256, base64 without padding."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def hash_name(name: str, salt: bytes | None = None) -> str:
    """A `HashKnownHosts yes` host field: |1|base64(salt)|base64(HMAC-SHA1(salt, name))."""
    salt = salt if salt is not None else secrets.token_bytes(20)
    mac = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"{_HASH_MAGIC}{base64.b64encode(salt).decode()}|{base64.b64encode(mac).decode()}"


@functools.lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # OpenSSH match_pattern(): only `*` and `?` are special. fnmatch would also treat
    # `[...]` as a character class and never match "[host]:port" literally.
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def match_pattern(name: str, pattern: str) -> bool:
    return _pattern_regex(pattern.lower()).fullmatch(name.lower()) is not None


def match_host_field(field: str, name: str) -> bool:
    """Does a known_hosts host field apply to `name` (already "[host]:port" if needed)?"""
    if field.startswith(_HASH_MAGIC):
        return _match_hashed(field, name.lower())
    matched = False
    for pattern in field.split(","):
        if not pattern:
            continue
        if pattern.startswith("!"):
            if match_pattern(name, pattern[1:]):
                return False  # a matching negation rejects the line whatever else matches
        elif match_pattern(name, pattern):
            matched = True
    return matched


def _match_hashed(field: str, name: str) -> bool:
    try:
        _, _, salt_b64, mac_b64 = field.split("|")
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(mac_b64, validate=True)
    except (ValueError, binascii.Error):
        return False
    actual = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(actual, expected)


def _blob_type(blob: bytes) -> str | None:
    """The key type string at the start of an SSH public key blob."""
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length == 0 or 4 + length > len(blob):
        return None
    try:
        return blob[4 : 4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None


def parse_line(line: str, source: str) -> KnownHostEntry | None:
    """One known_hosts line -> entry; None for blanks, comments and malformed lines."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    fields = text.split()
    marker = Marker.NONE
    if fields[0].startswith("@"):
        try:
            marker = Marker(fields[0])
        except ValueError:
            log.debug("%s: unknown marker %s: line skipped", source, fields[0])
            return None
        fields = fields[1:]
    if len(fields) < 3:
        log.debug("%s: expected 'hosts keytype base64-key': line skipped", source)
        return None
    hosts, key_type, key_b64 = fields[0], fields[1], fields[2]
    if hosts.startswith(_HASH_MAGIC) and hosts.count("|") != 3:
        log.debug("%s: malformed hashed host name: line skipped", source)
        return None
    try:
        blob = base64.b64decode(key_b64, validate=True)
    except (ValueError, binascii.Error):
        # Also catches SSH1 "bits exponent modulus" lines, which OpenSSH dropped in 7.4.
        log.debug("%s: key is not valid base64: line skipped", source)
        return None
    embedded = _blob_type(blob)
    if embedded != key_type:
        log.debug("%s: key type %s does not match the key (%s): line skipped", source, key_type, embedded)
        return None
    return KnownHostEntry(marker=marker, hosts=hosts, key_type=key_type, key_blob=blob, source=source)


def parse_text(text: str, path: str) -> list[KnownHostEntry]:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = parse_line(line, f"{path}:{number}")
        if entry is not None:
            entries.append(entry)
    return entries


def read_file(path: str | os.PathLike[str]) -> list[KnownHostEntry]:
    """Entries of one file; a missing file is simply empty (as for OpenSSH)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        # Unreadable trust is not trust: we carry on, so the host ends up unknown (and
        # rejected under strict checking) rather than the whole run failing.
        log.warning("cannot read known_hosts file %s: %s", path, exc.strerror or exc)
        return []
    return parse_text(data.decode("utf-8", errors="replace"), os.fspath(path))


class KnownHosts:
    """All entries of a set of known_hosts files, checked like OpenSSH does."""

    def __init__(self, entries: Iterable[KnownHostEntry]) -> None:
        self.entries = tuple(entries)

    @classmethod
    def load(cls, paths: Iterable[str | os.PathLike[str]]) -> KnownHosts:
        entries: list[KnownHostEntry] = []
        for path in paths:
            entries.extend(read_file(path))
        return cls(entries)

    def _for(self, name: str, marker: Marker) -> tuple[KnownHostEntry, ...]:
        return tuple(e for e in self.entries if e.marker is marker and e.matches(name))

    def known_types(self, name: str) -> tuple[str, ...]:
        """Key types listed for `name`, in file order, without duplicates."""
        return tuple(dict.fromkeys(e.key_type for e in self._for(name, Marker.NONE)))

    def check(self, name: str, key_blob: bytes) -> HostKeyCheck:
        known = self._for(name, Marker.NONE)
        authorities = self._for(name, Marker.CERT_AUTHORITY)
        for entry in self._for(name, Marker.REVOKED):
            if entry.key_blob == key_blob:
                return HostKeyCheck(HostKeyStatus.REVOKED, name, entry, known, authorities)
        for entry in known:
            if entry.key_blob == key_blob:
                return HostKeyCheck(HostKeyStatus.OK, name, entry, known, authorities)
        status = HostKeyStatus.CHANGED if known else HostKeyStatus.UNKNOWN
        return HostKeyCheck(status, name, None, known, authorities)


def format_line(name: str, key_type: str, key_blob: bytes, *, hashed: bool) -> str:
    host_field = hash_name(name) if hashed else name
    return f"{host_field} {key_type} {base64.b64encode(key_blob).decode('ascii')}\n"


def append_if_unknown(
    path: str | os.PathLike[str], name: str, key_type: str, key_blob: bytes, *, hashed: bool
) -> HostKeyCheck:
    """Trust on first use: append one line for `name` to `path` unless it is listed there.

    The check is repeated under an exclusive lock on the file itself, so concurrent
    connections (threads of this run, or another nodeward/ssh process) never append the
    same host twice or append over a key another writer has just recorded. Returns the
    verdict for `name` in this file *before* appending: UNKNOWN means the line was
    appended; anything else means it was not and the caller must act on it.
    """
    target = Path(path)
    if not target.parent.exists():
        # ssh(1) creates ~/.ssh 0700 in the same situation.
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        _lock(fd, target)
        existing = KnownHosts(parse_text(_read_all(fd).decode("utf-8", "replace"), os.fspath(target)))
        verdict = existing.check(name, key_blob)
        if verdict.status is not HostKeyStatus.UNKNOWN:
            return verdict
        line = format_line(name, key_type, key_blob, hashed=hashed).encode()
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # never glue our entry onto an unterminated last line
        _write_all(fd, line)
        if target.is_file():  # fsync fails on /dev/null, a valid UserKnownHostsFile
            os.fsync(fd)
        return verdict
    finally:
        os.close(fd)  # also releases the flock


def _lock(fd: int, path: Path) -> None:
    # flock locks belong to the open file description, so two threads of this process
    # that open the file separately exclude each other just like two processes do.
    give_up = time.monotonic() + _LOCK_TIMEOUT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() > give_up:
            raise TimeoutError(f"{path} stayed locked by another writer for {_LOCK_TIMEOUT:g} s")
        time.sleep(0.05)


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Policy(enum.Enum):
    STRICT = "yes"  # unknown, changed and revoked keys are all fatal
    ACCEPT_NEW = "accept-new"  # trust on first use; changed and revoked keys stay fatal


_YES = ("yes", "true", "ask")  # `ask` needs a human: we are non-interactive, so it means yes
_NO = ("no", "off", "false")


def resolve_policy(
    *, accept_new_flag: bool, node_value: str | None, config_value: str | None, label: str
) -> Policy:
    """The host key policy for one host: CLI flag > inventory > ssh_config > strict.

    `StrictHostKeyChecking no` is refused, not obeyed: it would run commands as root on
    whatever answers at that address (reference/reliability.md S1).
    """
    if accept_new_flag:
        return Policy.ACCEPT_NEW
    where = f"{label}: " if label else ""
    for origin, value in (("the inventory", node_value), ("ssh_config", config_value)):
        if value is None:
            continue
        word = value.strip().lower()
        if word in _YES:
            return Policy.STRICT
        if word == "accept-new":
            return Policy.ACCEPT_NEW
        if word in _NO:
            raise NodeError(
                ErrorKind.HOSTKEY,
                f"{where}{origin} sets StrictHostKeyChecking {value}; nodeward never skips "
                "host key verification. Remove it, and use --accept-new-host-keys (or "
                "StrictHostKeyChecking accept-new) to trust unknown hosts on first use. "
                "Nothing was run.",
            )
        raise NodeError(
            ErrorKind.CONFIG,
            f"{where}{origin} has an unknown StrictHostKeyChecking value {value!r}",
        )
    return Policy.STRICT


@dataclass(frozen=True, slots=True)
class Accepted:
    """A host key that passed verification."""

    name: str
    key_type: str
    fingerprint: str
    added_to: str | None  # the known_hosts file we appended to (trust on first use)


def verify(
    known: KnownHosts,
    name: str,
    key_type: str,
    key_blob: bytes,
    *,
    policy: Policy,
    tofu_file: str | None,
    hash_names: bool,
    label: str,
) -> Accepted:
    """Accept the presented host key or raise NodeError(HOSTKEY). Runs before any auth.

    `label` prefixes messages ("jump host bastion (hop 1 of 2)"); "" for the node itself.
    """
    where = f"{label}: " if label else ""
    fp = fingerprint(key_blob)
    presented = f"{key_type} {fp}"
    verdict = known.check(name, key_blob)
    if verdict.status is HostKeyStatus.OK:
        return Accepted(name, key_type, fp, None)
    if verdict.status is HostKeyStatus.UNKNOWN and policy is Policy.ACCEPT_NEW:
        if verdict.authorities:
            sources = ", ".join(e.source for e in verdict.authorities)
            raise NodeError(
                ErrorKind.HOSTKEY,
                f"{where}{name} presented {presented}, which is not in known_hosts; a "
                f"@cert-authority line applies to it ({sources}) but host certificates are "
                "not supported yet, so it is not trusted on first use either. Add the plain "
                "host key to known_hosts. Nothing was run.",
            )
        if tofu_file is None:
            raise NodeError(
                ErrorKind.HOSTKEY,
                f"{where}{name} presented the unknown key {presented} and no user "
                "known_hosts file is configured to record it (UserKnownHostsFile none). "
                "Nothing was run.",
            )
        try:
            verdict = append_if_unknown(tofu_file, name, key_type, key_blob, hashed=hash_names)
        except (OSError, TimeoutError) as exc:
            raise NodeError(
                ErrorKind.HOSTKEY,
                f"{where}cannot record the new host key of {name} in {tofu_file}: {exc}. Nothing was run.",
            ) from exc
        if verdict.status is HostKeyStatus.UNKNOWN:
            log.info(
                "%strusted new host key for %s on first use: %s (added to %s)",
                where,
                name,
                presented,
                tofu_file,
            )
            return Accepted(name, key_type, fp, tofu_file)
        if verdict.status is HostKeyStatus.OK:  # another connection recorded it meanwhile
            return Accepted(name, key_type, fp, None)
    if verdict.status is HostKeyStatus.REVOKED:
        source = verdict.matched.source if verdict.matched else "known_hosts"
        raise NodeError(
            ErrorKind.HOSTKEY,
            f"{where}{name} presented {presented}, which is marked @revoked ({source}). Nothing was run.",
        )
    # A CA line does not vouch for the presented key (certificates are not checked
    # yet), but an operator who uses host certificates must learn why it did not count.
    hint = ""
    if verdict.authorities:
        sources = ", ".join(e.source for e in verdict.authorities)
        hint = f" A @cert-authority line applies ({sources}), but host certificates are not supported yet."
    if verdict.status is HostKeyStatus.CHANGED:
        tofu = " --accept-new-host-keys never replaces a known key." if policy is Policy.ACCEPT_NEW else ""
        raise NodeError(
            ErrorKind.HOSTKEY,
            f"{where}the host key of {name} has CHANGED: it presented {presented}, but "
            f"known_hosts lists {verdict.describe_known()}. Either the node was reinstalled or "
            "someone is intercepting the connection: verify the new key out of band, then "
            f"remove the old entry (ssh-keygen -R '{name}').{tofu}{hint} Nothing was run.",
        )
    raise NodeError(
        ErrorKind.HOSTKEY,
        f"{where}{name} presented the unknown host key {presented}. Verify it and add it to "
        "known_hosts, or use --accept-new-host-keys to trust new hosts on first use."
        f"{hint} Nothing was run.",
    )
