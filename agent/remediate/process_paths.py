"""Files a running Kubernetes component names, resolved on the bastion for a fix.

A fix used to find these on the node (`pgrep -x kubelet` and /proc/<pid>/cmdline) when
it ran, as root: a user's `~/x/kubelet --config=/etc/passwd` then chose what root
chmod'ed and chown'ed (issue 12 item 1). Now the paths come from the scan's facts
only, and only when every link of the chain is trustworthy:

* the process is one k8s_files believed (k8s_trust.py: root or its service account,
  root-owned executable) and runs in the node's own mount namespace;
* the value is the process's own command-line flag, a plain absolute path;
* the file exists as a regular file, and every directory above it is owned by root
  and writable by no group or other user, so no one but root can swap what the name
  points at. The file's own owner does not matter here: that is what an owner fix
  changes, and owning a file in a root-only directory does not redirect its name.

The node-side script checks again when it runs (no symbolic link, same device and
inode as when the fix was prepared, the directory chain still root-only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.facts.k8s_files import FileRef, K8sFiles, PathRef
from agent.facts.kubelet import KubeletConfig
from agent.facts.model import FactValue
from agent.textsafe import printable

_SPEC = re.compile(r"^([a-z0-9-]{1,32}):--([a-z0-9-]{1,64})$")
_PLAIN = re.compile(r"^/[A-Za-z0-9._/@+-]{0,1023}$")
GROUP_OTHER_WRITE = 0o022


@dataclass(frozen=True, slots=True)
class Resolved:
    paths: tuple[str, ...]
    refused: tuple[str, ...]  # why a named file is left alone


def _ref_for(files: K8sFiles, ref: PathRef) -> FileRef | None:
    return next((f for f in files.files if f.path == ref.value and not f.root), None)


def unsafe(found: FileRef | None) -> str | None:
    """Why root must not touch this file by name, or None."""
    if found is None or found.stat is None:
        return "not found by the scan"
    if found.stat.kind != "file":
        return "not a regular file"
    for directory, parent in found.parents:
        if parent is None:
            return f"{directory} could not be examined"
        if parent.uid != 0 or parent.mode & GROUP_OTHER_WRITE:
            return f"{directory} ({parent.text}) can be changed by someone other than root"
    return None


def _check(files: K8sFiles, ref: PathRef, kind: str, shown: str) -> str | None:
    """Why root must not touch the file a process's own flag names, or None."""
    proc = files.procs.get(ref.pid) if ref.pid is not None else None
    if proc is None or proc.kind != kind:
        return f"{shown}: not a process the scan trusted"
    if proc.root or proc.contained:
        return f"{shown}: the process runs in its own mount namespace"
    if not _PLAIN.match(ref.value) or "/../" in f"{ref.value}/" or "/./" in f"{ref.value}/":
        return f"{shown}: not a plain absolute path"
    why = unsafe(_ref_for(files, ref))
    return None if why is None else f"{shown}: {why}"


def from_flags(specs: Sequence[str], facts: Mapping[str, FactValue]) -> Resolved:
    """The files `process:--flag` specs name, from trusted processes only."""
    files = facts.get("k8s_files")
    if not specs:
        return Resolved((), ())
    if not isinstance(files, K8sFiles):
        return Resolved((), ("the k8s_files fact is missing: no file a process names is touched",))
    paths: list[str] = []
    refused: list[str] = []
    for spec in specs:
        match = _SPEC.match(spec)
        if match is None:
            continue
        kind, flag = match.groups()
        for ref in files.refs:
            if ref.pid is None or ref.kind != kind or ref.name != flag:
                continue
            if ref.source != f"/proc/{ref.pid}/cmdline":
                continue  # only the process's own flag, as the binding says
            why = _check(files, ref, kind, printable(f"--{flag}={ref.value} of {kind} (pid {ref.pid})", 300))
            if why is not None:
                refused.append(why)
            elif ref.value not in paths:
                paths.append(ref.value)
    return Resolved(tuple(paths), tuple(refused))


def kubelet_config(facts: Mapping[str, FactValue]) -> Resolved:
    """The --config file of the trusted running kubelet (kubelet fact), with the checks
    from_flags makes. A kubelet in a container reads its --config through
    /proc/<pid>/root: the same name on the node is another file, and root must not edit
    that one (review of issue 12, finding 3). No path and no refusal: the kubelet names
    no --config (the fix's default applies); a refusal: the fix must not run.

    With the k8s_files fact (a scan that judged the kubelet's files) the same process
    must be there, in the node's own mount namespace, and unsafe() must pass. Without it
    the kubelet fact alone vouches for the namespace (k8s_trust.py believes a kubelet only
    on the node itself), and the fix's nw_pin checks the directory chain on the node."""
    found = facts.get("kubelet")
    if not isinstance(found, KubeletConfig) or found.component.pid is None:
        return Resolved((), ())
    path = found.config_file
    if found.component.embedded_in is not None or path is None:
        return Resolved((), ())
    pid = found.component.pid
    shown = printable(f"--config={path} of kubelet (pid {pid})", 300)
    if found.component.in_container:
        return Resolved((), (f"{shown}: the process runs in its own mount namespace",))
    if not _PLAIN.match(path) or "/../" in f"{path}/" or "/./" in f"{path}/":
        return Resolved((), (f"{shown}: not a plain absolute path",))
    files = facts.get("k8s_files")
    if not isinstance(files, K8sFiles):
        return Resolved((path,), ())
    ref = next(
        (
            r
            for r in files.refs
            if (r.pid, r.kind, r.name, r.source) == (pid, "kubelet", "config", f"/proc/{pid}/cmdline")
        ),
        None,
    )
    if ref is None or ref.value != path:
        return Resolved((), (f"{shown}: the file scan did not see this kubelet name it",))
    why = _check(files, ref, "kubelet", shown)
    return Resolved((), (why,)) if why is not None else Resolved((path,), ())
