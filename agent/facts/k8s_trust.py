"""Whether a process that looks like a Kubernetes component may be believed.

A name proves nothing: any user can start `~/x/kubelet --config=/etc/passwd` (issue 12
item 1). A component is believed only when its process runs as an account that
k8s_trust.yaml lists for its kind (real AND effective uid, so a setuid binary started by
a user does not count), its executable is owned by root and writable by no one
else (a root process running a user's file is that user's code), a service account's
process runs an executable named like its kind, and it runs where its kind may run:
any pod running as root passes every other test, so a kubelet is believed only in the
node's own mount namespace, and a control-plane component in a container only when its
argv is that of a static pod manifest (review of issue 12, findings 2 and 6). The decision is made
here, in Python, on what the discovery snippet reports; the snippets also refuse, on
the node, to read files for processes that fail the same test (defence in depth: root
must not read what an impostor names before the bastion has judged it).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from agent.yamlsafe import load_yaml

TRUST_FILE = Path(__file__).with_name("k8s_trust.yaml")
_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_KIND = re.compile(r"^[a-z0-9-]{1,32}$")
GROUP_OTHER_WRITE = 0o022


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a process is, as the snippet reported it; None: could not be read."""

    ruid: int | None
    euid: int | None
    user: str  # name of the real uid ("-" when unknown)
    exe_uid: int | None
    exe_mode: int | None  # permission bits of the executable
    exe: str | None = None  # readlink of /proc/<pid>/exe
    host_ns: bool | None = None  # in the scanning shell's mount namespace; None: unknown


ROOT_IDENTITY = Identity(0, 0, "root", 0, 0o755, None, True)
UNKNOWN = Identity(None, None, "-", None, None)
HOST, STATIC_POD, ANYWHERE = "host", "static-pod", "anywhere"


@cache
def _document() -> Mapping[str, object]:
    doc, _ = load_yaml(TRUST_FILE.read_text(encoding="utf-8"), str(TRUST_FILE), strict=True)
    if not isinstance(doc, Mapping):
        raise ValueError(f"{TRUST_FILE}: not a mapping")
    return doc


@cache
def service_users() -> Mapping[str, frozenset[str]]:
    """kind -> accounts it may run as (k8s_trust.yaml), validated."""
    table = _document().get("service_users")
    if not isinstance(table, Mapping):
        raise ValueError(f"{TRUST_FILE}: needs a service_users mapping")
    out: dict[str, frozenset[str]] = {}
    for kind, users in table.items():
        if not isinstance(kind, str) or not _KIND.match(kind) or not isinstance(users, list):
            raise ValueError(f"{TRUST_FILE}: bad entry {kind!r}")
        if not all(isinstance(u, str) and _NAME.match(u) for u in users):
            raise ValueError(f"{TRUST_FILE}: {kind}: account names only")
        out[kind] = frozenset(users)
    return out


@cache
def placements() -> Mapping[str, str]:
    """kind -> where it may run (k8s_trust.yaml `where`): host, static-pod or anywhere."""
    table = _document().get("where")
    if not isinstance(table, Mapping):
        raise ValueError(f"{TRUST_FILE}: needs a where mapping")
    out: dict[str, str] = {}
    for kind, place in table.items():
        if not isinstance(kind, str) or not _KIND.match(kind) or place not in (HOST, STATIC_POD, ANYWHERE):
            raise ValueError(f"{TRUST_FILE}: where: bad entry {kind!r}")
        out[kind] = place
    if set(out) != set(service_users()):
        raise ValueError(f"{TRUST_FILE}: where and service_users must name the same kinds")
    return out


def distrust(kind: str, who: Identity, *, static_pod: bool = False) -> str | None:
    """Why a process of `kind` must not be believed, or None when it may be.

    `static_pod`: its argv is a static pod manifest's command + args, and a believed
    kubelet runs (k8s_components decides), which lets a control-plane kind run in a
    container."""
    allowed = service_users().get(kind, frozenset({"root"}))
    if who.exe_uid is None or who.exe_mode is None:
        return "its executable could not be examined"
    if who.exe_uid != 0:
        return f"its executable is owned by uid {who.exe_uid}, not root"
    if who.exe_mode & GROUP_OTHER_WRITE:
        return f"its executable is writable by group or others (mode {who.exe_mode:04o})"
    if who.ruid is None or who.euid is None:
        return "its user could not be read"
    if who.ruid != who.euid:
        return f"it runs set-uid (real uid {who.ruid}, effective uid {who.euid})"
    user = "root" if who.ruid == 0 else who.user
    if user not in allowed:
        shown = user if user != "-" else f"uid {who.ruid}"
        return f"it runs as {shown}, not as {' or '.join(sorted(allowed))}"
    if user != "root":
        name = posixpath.basename((who.exe or "").removesuffix(" (deleted)"))
        if name != kind:
            return f"it runs as the service account {user} from {name or 'an unknown executable'}, not {kind}"
    place = placements().get(kind, HOST)
    if place == ANYWHERE or who.host_ns:
        return None
    if who.host_ns is None:
        return "its mount namespace could not be read"
    if place == STATIC_POD and static_pod:
        return None
    if place == STATIC_POD:
        return (
            "it runs in another mount namespace (a container) and its command line is not that"
            " of a static pod manifest"
        )
    return f"it runs in another mount namespace (a container): a {kind} is believed only on the node itself"


def accounts_pattern() -> str:
    """`root|etcd|...`: every account of the table, a case pattern for the snippets."""
    return "|".join(sorted({user for users in service_users().values() for user in users}))


def host_kinds() -> str:
    """Kinds believed only in the node's own mount namespace, space-separated."""
    return " ".join(sorted(kind for kind, place in placements().items() if place == HOST))


def awk_pairs() -> str:
    """`kind:user` words for the k8s_files snippet's awk, from the validated table."""
    table = sorted(service_users().items())
    return " ".join(f"{kind}:{user}" for kind, users in table for user in sorted(users))
