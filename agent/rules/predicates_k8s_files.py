"""Predicates for Kubernetes files (catalogue §7, ETCD-01/02, AUD-10) and control-plane flags
(§8 ETCD-03..ETCD-10, CP-01..CP-06, §10 AUD-09).

File checks judge what k8s_files found for one role: every file the processes use must
be at most a mode and owned by root. A file named by a process but missing is ERROR
(never PASS); a role with no file at all is not applicable. A FAIL names the file, its
mode AND owner, who uses it, and, when a parent directory already keeps users out
(kube-bench #1598: a 0644 file in a 0700 directory), says so instead of hiding the
finding: CIS judges the file, the operator decides whether to waive.

Flag checks judge the component k8s_components found (its process, else its static pod
manifest), with the effective values of agent/facts/controlplane.py. Which nodes they
apply to follows discovery: an etcd check applies where etcd runs (or its manifest
waits), an API server check where kube-apiserver does. A worker has neither and gets
NOT_APPLICABLE. When the inventory declares the role but nothing is found, the check
is ERROR: the node should have been judged and could not be. A component found on a
node the inventory calls a worker is judged anyway: what runs is what matters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agent.facts import controlplane as cp
from agent.facts import k8s_files as kf
from agent.facts.k8s_components import Component, K8sComponents
from agent.facts.k8s_files import FileRef, K8sFiles, Stat
from agent.facts.kubelet import KubeletConfig
from agent.facts.model import Absent, FactValue, Unavailable
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.verdict import Predicate, Verdict
from agent.textsafe import printable

APISERVER = "kube-apiserver"
ETCD = "etcd"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
CONTROL_PLANE_KINDS = (APISERVER, ETCD, CONTROLLER_MANAGER, SCHEDULER)
MAX_EVIDENCE = 25

Facts = Mapping[str, FactValue]


def _verdict(status: Status, reason: str, evidence: Sequence[Evidence] = ()) -> Verdict:
    return Verdict(status, printable(reason, 1200), tuple(evidence[:MAX_EVIDENCE]))


def _files(facts: Facts) -> K8sFiles | Verdict:
    found = facts.get(kf.FACT)
    if isinstance(found, K8sFiles):
        return found
    if isinstance(found, Unavailable):
        return _verdict(Status.ERROR, f"{kf.FACT}: {found.reason}")
    if isinstance(found, Absent):
        return _verdict(Status.NOT_APPLICABLE, f"{kf.FACT}: {found.reason}")
    return _verdict(Status.ERROR, f"this check needs the {kf.FACT} fact, which was not gathered")


def _optional_files(facts: Facts) -> K8sFiles | None:
    found = facts.get(kf.FACT)
    return found if isinstance(found, K8sFiles) else None


def _discovered(facts: Facts, kinds: Sequence[str]) -> bool:
    components = facts.get("k8s_components")
    if isinstance(components, K8sComponents) and any(components.get(k) is not None for k in kinds):
        return True
    files = _optional_files(facts)
    if files is None:
        return False
    return any(files.running(k) for k in kinds) or any(k in kinds for k in files.manifests.values())


# --- files ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileRule:
    role: str
    what: str  # "kubelet config file", for sentences
    mode: int | None = None  # the loosest permission bits allowed for files; None: not judged
    owner: str | None = None  # "root:root", "root" (uid only) or None (not judged)
    sorts: frozenset[str] = frozenset()  # judge only files of these sorts ("key", "cert"); empty: all
    dir_mode: int | None = None  # judge the role's directories against this mode
    dirs_for_owner: bool = False  # directories count for the owner rule (CIS 1.1.19)
    gate: tuple[str, tuple[str, ...]] | None = None  # (inventory role, component kinds) or None
    cis: str = ""  # the benchmark wording, quoted in the expectation
    gone_is_good: str = ""  # a named file that is missing PASSES, for this reason


def _selected(rule: FileRule, ref: FileRef) -> bool:
    is_dir = (ref.stat is not None and ref.stat.kind == "dir") or ref.sort == "dir"
    if is_dir:
        return rule.dir_mode is not None or rule.dirs_for_owner
    return not rule.sorts or ref.sort in rule.sorts


def _bits(extra: int, *, is_dir: bool) -> str:
    """The permission bits beyond the allowed ones, in words, most dangerous first."""
    verbs = (
        ("writable", 0o2),
        ("listable" if is_dir else "readable", 0o4),
        ("searchable" if is_dir else "executable", 0o1),
    )
    words: list[str] = []
    for who, shift in (("every user", 0), ("its group", 3), ("its owner", 6)):
        granted = [verb for verb, bit in verbs if extra & (bit << shift)]
        if granted:
            words.append(f"{' and '.join(granted)} by {who}")
    if extra & 0o7000:
        words.append("setuid/setgid/sticky set")
    return ", ".join(words) or "more permissive"


def _barrier_note(ref: FileRef) -> str:
    found = ref.barrier()
    if found is None:
        return ""
    path, parent, whom = found
    return (
        f"; note: the parent directory {printable(path, 200)} ({parent.text}) already keeps {whom} out, "
        "so the exposure is limited (CIS judges the file itself: fix it, or waive with that reason)"
    )


def _exposed(rule: FileRule, ref: FileRef) -> bool:
    """Does the mode give group or other users access a parent directory might block?"""
    if ref.stat is None:
        return False
    limit = rule.dir_mode if ref.stat.kind == "dir" else rule.mode
    return limit is not None and bool(ref.stat.mode & ~limit & 0o066)


def _owner_ok(owner: str, found: Stat) -> bool:
    if owner == "root":
        return found.uid == 0
    return found.uid == 0 and found.gid == 0


def _expected(rule: FileRule, ref: FileRef) -> str:
    parts: list[str] = []
    is_dir = ref.stat is not None and ref.stat.kind == "dir"
    limit = rule.dir_mode if is_dir else rule.mode
    if limit is not None:
        parts.append(f"{limit:04o} or stricter")
    if rule.owner is not None:
        parts.append("owner root" if rule.owner == "root" else "owned by root:root")
    text = ", ".join(parts) or "present"
    return f"{text} ({rule.cis})" if rule.cis else text


def _problem(rule: FileRule, ref: FileRef, found: Stat) -> str | None:
    problems: list[str] = []
    limit = rule.dir_mode if found.kind == "dir" else rule.mode
    if limit is not None and found.mode & ~limit & 0o7777:
        problems.append(_bits(found.mode & ~limit & 0o7777, is_dir=found.kind == "dir"))
        if rule.owner is None and found.uid != 0:
            # The mode check shows the owner too: a non-root owner can loosen the mode at will.
            problems.append(f"its owner {printable(found.owner, 64)} is not root and can change that at will")
    owner_bad = rule.owner is not None and not _owner_ok(rule.owner, found)
    if found.kind == "dir" and not rule.dirs_for_owner and rule.dir_mode is None:
        owner_bad = False
    if owner_bad:
        problems.append(f"not owned by {rule.owner}")
    if not problems:
        return None
    return f"{ref.shown} is {found.text}: {'; '.join(problems)}"


def _evidence(rule: FileRule, ref: FileRef) -> Evidence:
    if ref.stat is None:
        observed = f"{ref.shown}: not found"
    else:
        observed = f"{ref.shown}: {ref.stat.text} ({ref.stat.kind})"
    source = f"stat -L {printable(ref.root + ref.path, 300)} on the node; used as: {ref.why}"
    return Evidence(printable(observed, 400), _expected(rule, ref), printable(source, 600))


def _gate(rule_gate: tuple[str, tuple[str, ...]] | None, facts: Facts, node: Node) -> Verdict | None:
    if rule_gate is None:
        return None
    role, kinds = rule_gate
    if role in node.roles or _discovered(facts, kinds):
        return None
    return _verdict(
        Status.NOT_APPLICABLE,
        f"no {' or '.join(kinds)} runs here (process or static pod manifest) and the inventory does not "
        f"give this node the {role} role",
    )


def judge_files(rule: FileRule, facts: Facts, node: Node) -> Verdict:
    files = _files(facts)
    if isinstance(files, Verdict):
        return files
    gated = _gate(rule.gate, facts, node)
    if gated is not None:
        return gated
    chosen = [ref for ref in _role_files(rule, files, facts) if _selected(rule, ref)]
    if not chosen:
        return _verdict(Status.NOT_APPLICABLE, f"no {rule.what} on this node{_none_found(rule.role, files)}")
    missing = [ref for ref in chosen if ref.stat is None]
    problems = [
        (ref, text) for ref in chosen if ref.stat is not None and (text := _problem(rule, ref, ref.stat))
    ]
    bad = {id(ref) for ref, _ in problems} | {id(ref) for ref in missing}
    ordered = [ref for ref in chosen if id(ref) in bad] + [ref for ref in chosen if id(ref) not in bad]
    evidence = [_evidence(rule, ref) for ref in ordered]
    if problems:
        texts = [text for _, text in problems]
        more = f" (and {len(texts) - 3} more)" if len(texts) > 3 else ""
        notes = dict.fromkeys(_barrier_note(ref) for ref, _ in problems if _exposed(rule, ref))
        return _verdict(Status.FAIL, " | ".join(texts[:3]) + more + "".join(notes), evidence)
    if missing and not rule.gone_is_good:
        ref = missing[0]
        return _verdict(
            Status.ERROR,
            f"{ref.shown} is named ({ref.why}) but stat found no such file on the node",
            evidence,
        )
    if missing and len(missing) == len(chosen):
        return _verdict(Status.PASS, f"{missing[0].shown} does not exist: {rule.gone_is_good}", evidence)
    good = ", ".join(sorted({ref.stat.text for ref in chosen if ref.stat is not None}))
    return _verdict(Status.PASS, f"{rule.what}: {len(chosen)} checked, {good}", evidence)


def _none_found(role: str, files: K8sFiles) -> str:
    owner = kf.OWNER.get(role)
    if owner is not None and files.running(owner):
        return f" (the running {owner} names none)"
    return " (no running process names one and none is at the standard locations)"


def _role_files(rule: FileRule, files: K8sFiles, facts: Facts) -> tuple[FileRef, ...]:
    found = files.role(rule.role)
    if rule.role != kf.KUBELET_CLIENT_CA:
        return found
    # The client CA the kubelet really uses: the kubelet fact's effective value when it was
    # gathered (flags > drop-ins > config file, with sources), else the same order here.
    kubelet = facts.get("kubelet")
    wanted: str | None = None
    why = "its effective clientCAFile"
    if isinstance(kubelet, KubeletConfig):
        setting = kubelet.setting("authentication.x509.clientCAFile")
        if setting is not None and isinstance(setting.value, str):
            wanted, why = setting.value, setting.source
    else:
        wanted = _client_ca_by_precedence(files)
    if not wanted:
        return found if not files.running("kubelet") else ()
    matching = tuple(ref for ref in found if ref.path == wanted)
    if matching or not files.running("kubelet"):
        return matching or found
    # The kubelet uses a CA file the node-side scan did not stat: say so (ERROR), never
    # judge another file in its place.
    return (
        FileRef(
            kf.KUBELET_CLIENT_CA, wanted, f"the kubelet's client CA ({why}); not examined", None, named=True
        ),
    )


def _client_ca_by_precedence(files: K8sFiles) -> str | None:
    refs = [r for r in files.refs if r.kind == "kubelet" and r.pid is not None]
    flag = [r for r in refs if r.name == "client-ca-file"]
    if flag:
        return flag[-1].value
    configs = {r.value for r in refs if r.name == "config"}
    in_files = [r for r in refs if r.name == "clientCAFile"]
    in_files.sort(key=lambda r: (r.source not in configs, r.source))  # config file, then drop-ins in order
    return in_files[-1].value if in_files else None


def judge_etcd_data_dir_owner(facts: Facts, node: Node) -> Verdict:
    """CIS 1.1.12 asks for etcd:etcd; kubeadm runs etcd as root. What protects the data is
    that nobody but the account etcd runs as owns it (catalogue ETCD-02)."""
    files = _files(facts)
    if isinstance(files, Verdict):
        return files
    gated = _gate(("etcd", (ETCD,)), facts, node)
    if gated is not None:
        return gated
    dirs = [ref for ref in files.role(kf.ETCD_DATA_DIR) if ref.sort == "dir" or ref.stat is None]
    if not dirs:
        return _verdict(
            Status.NOT_APPLICABLE,
            f"no etcd data directory on this node{_none_found(kf.ETCD_DATA_DIR, files)}",
        )
    procs = files.running(ETCD)
    evidence: list[Evidence] = []
    problems: list[str] = []
    for ref in dirs:
        if procs:
            allowed_uids = {p.uid for p in procs if p.uid is not None}
            who = ", ".join(f"{p.user} (uid {p.uid}, pid {p.pid})" for p in procs)
            expected = (
                f"owned by the account etcd runs as: {who} (CIS 1.1.12 etcd:etcd, or root under kubeadm)"
            )
        else:
            allowed_uids = {0}
            expected = "owned by root or etcd (etcd is not running, so its account is unknown; CIS 1.1.12)"
        rule = FileRule(kf.ETCD_DATA_DIR, "etcd data directory")
        if ref.stat is None:
            evidence.append(_evidence(rule, ref))
            continue
        evidence.append(
            Evidence(f"{ref.shown}: {ref.stat.text}", expected, f"stat -L {ref.root + ref.path}; {ref.why}")
        )
        owned = ref.stat.uid in allowed_uids or (not procs and ref.stat.owner == "etcd")
        if not owned:
            problems.append(f"{ref.shown} is owned by {ref.stat.owner}:{ref.stat.group}, expected {expected}")
    if problems:
        return _verdict(Status.FAIL, "; ".join(problems[:3]), evidence)
    if any(ref.stat is None for ref in dirs):
        ref = next(r for r in dirs if r.stat is None)
        return _verdict(Status.ERROR, f"{ref.shown} is named ({ref.why}) but stat found nothing", evidence)
    return _verdict(Status.PASS, "the etcd data directory belongs to the account etcd runs as", evidence)


def _file_predicate(rule: FileRule) -> Predicate:
    def predicate(facts: Facts, node: Node) -> Verdict:
        return judge_files(rule, facts, node)

    return predicate


_CP = ("control-plane", CONTROL_PLANE_KINDS)
_KEYS = frozenset({"key"})
_CERTS = frozenset({"cert"})

FILE_RULES: Mapping[str, FileRule] = {
    "kubelet_service_file_mode_restricted": FileRule(
        kf.KUBELET_SERVICE, "kubelet unit file", mode=0o600, cis="CIS 4.1.1"
    ),
    "kubelet_service_file_owner_root": FileRule(
        kf.KUBELET_SERVICE, "kubelet unit file", owner="root:root", cis="CIS 4.1.2"
    ),
    "kubelet_kubeconfig_file_mode_restricted": FileRule(
        kf.KUBELET_KUBECONFIG, "kubelet kubeconfig", mode=0o600, cis="CIS 4.1.5"
    ),
    "kubelet_kubeconfig_file_owner_root": FileRule(
        kf.KUBELET_KUBECONFIG, "kubelet kubeconfig", owner="root:root", cis="CIS 4.1.6"
    ),
    "kubelet_config_file_mode_restricted": FileRule(
        kf.KUBELET_CONFIG, "kubelet config file", mode=0o600, cis="CIS 4.1.9"
    ),
    "kubelet_config_file_owner_root": FileRule(
        kf.KUBELET_CONFIG, "kubelet config file", owner="root:root", cis="CIS 4.1.10"
    ),
    "kubelet_client_ca_file_mode_restricted": FileRule(
        kf.KUBELET_CLIENT_CA, "kubelet client CA file", mode=0o644, cis="CIS 4.1.7"
    ),
    "kubelet_client_ca_file_owner_root": FileRule(
        kf.KUBELET_CLIENT_CA, "kubelet client CA file", owner="root:root", cis="CIS 4.1.8"
    ),
    "kube_proxy_kubeconfig_file_mode_restricted": FileRule(
        kf.PROXY_KUBECONFIG, "kube-proxy kubeconfig", mode=0o600, cis="CIS 4.1.3"
    ),
    "kube_proxy_kubeconfig_file_owner_root": FileRule(
        kf.PROXY_KUBECONFIG, "kube-proxy kubeconfig", owner="root:root", cis="CIS 4.1.4"
    ),
    "kubelet_pki_keys_protected": FileRule(
        kf.KUBELET_PKI, "kubelet private key", mode=0o600, owner="root", sorts=_KEYS, dir_mode=0o700
    ),
    "kubelet_bootstrap_kubeconfig_protected": FileRule(
        kf.KUBELET_BOOTSTRAP,
        "kubelet bootstrap kubeconfig",
        mode=0o600,
        owner="root:root",
        gone_is_good="removed after the node joined, as it should be (kubeadm passes the flag regardless)",
    ),
    "static_pod_manifests_mode_restricted": FileRule(
        kf.STATIC_POD_MANIFEST, "static pod manifest", mode=0o600, cis="CIS 1.1.1/1.1.3/1.1.5/1.1.7"
    ),
    "static_pod_manifests_owner_root": FileRule(
        kf.STATIC_POD_MANIFEST, "static pod manifest", owner="root:root", cis="CIS 1.1.2/1.1.4/1.1.6/1.1.8"
    ),
    "admin_kubeconfig_mode_restricted": FileRule(
        kf.ADMIN_KUBECONFIG, "admin kubeconfig", mode=0o600, cis="CIS 1.1.13"
    ),
    "admin_kubeconfig_owner_root": FileRule(
        kf.ADMIN_KUBECONFIG, "admin kubeconfig", owner="root:root", cis="CIS 1.1.14"
    ),
    "scheduler_kubeconfig_mode_restricted": FileRule(
        kf.SCHEDULER_KUBECONFIG, "scheduler kubeconfig", mode=0o600, cis="CIS 1.1.15"
    ),
    "scheduler_kubeconfig_owner_root": FileRule(
        kf.SCHEDULER_KUBECONFIG, "scheduler kubeconfig", owner="root:root", cis="CIS 1.1.16"
    ),
    "controller_manager_kubeconfig_mode_restricted": FileRule(
        kf.CONTROLLER_MANAGER_KUBECONFIG, "controller-manager kubeconfig", mode=0o600, cis="CIS 1.1.17"
    ),
    "controller_manager_kubeconfig_owner_root": FileRule(
        kf.CONTROLLER_MANAGER_KUBECONFIG, "controller-manager kubeconfig", owner="root:root", cis="CIS 1.1.18"
    ),
    "kubernetes_pki_owner_root": FileRule(
        kf.PKI,
        "Kubernetes PKI file or directory",
        owner="root:root",
        dirs_for_owner=True,
        gate=_CP,
        cis="CIS 1.1.19",
    ),
    "kubernetes_pki_certificates_mode_restricted": FileRule(
        kf.PKI, "Kubernetes PKI certificate", mode=0o644, sorts=_CERTS, gate=_CP, cis="CIS 1.1.20"
    ),
    "kubernetes_pki_keys_mode_restricted": FileRule(
        kf.PKI, "Kubernetes PKI private key", mode=0o600, sorts=_KEYS, gate=_CP, cis="CIS 1.1.21"
    ),
    "cni_config_files_mode_restricted": FileRule(
        kf.CNI, "CNI configuration file", mode=0o600, cis="CIS 1.1.9"
    ),
    "cni_config_files_owner_root": FileRule(
        kf.CNI, "CNI configuration file", owner="root:root", cis="CIS 1.1.10"
    ),
    "container_runtime_socket_protected": FileRule(
        kf.RUNTIME_SOCKET, "container runtime socket", mode=0o660, owner="root"
    ),
    "container_runtime_config_protected": FileRule(
        kf.RUNTIME_CONFIG, "container runtime configuration file", mode=0o644, owner="root"
    ),
    "etcd_data_dir_mode_restricted": FileRule(
        kf.ETCD_DATA_DIR, "etcd data directory", dir_mode=0o700, gate=("etcd", (ETCD,)), cis="CIS 1.1.11"
    ),
    "apiserver_audit_log_files_protected": FileRule(
        kf.AUDIT_LOG, "API server audit log file or directory", mode=0o600, owner="root", dir_mode=0o700
    ),
}


# --- control-plane flags -----------------------------------------------------------------


def _component(facts: Facts, node: Node, kind: str, role: str) -> Component | Verdict:
    found = facts.get("k8s_components")
    if isinstance(found, Unavailable):
        return _verdict(Status.ERROR, f"k8s_components: {found.reason}")
    if found is None:
        return _verdict(Status.ERROR, "the k8s_components fact was not gathered")
    component = found.get(kind) if isinstance(found, K8sComponents) else None
    if component is None:
        if role in node.roles:
            return _verdict(
                Status.ERROR,
                f"the inventory gives this node the {role} role, but no {kind} process or static pod "
                "manifest was found: it cannot be judged",
            )
        return _verdict(
            Status.NOT_APPLICABLE,
            f"no {kind} runs on this node (process or static pod manifest); "
            f"{'etcd' if kind == ETCD else 'control-plane'} checks apply where it does",
        )
    if not component.argv_known:
        return _verdict(
            Status.ERROR,
            f"{kind} is embedded in {component.embedded_in} ({component.source}); its arguments are unknown",
        )
    return component


_ROLE_OF = {
    ETCD: "etcd",
    APISERVER: "control-plane",
    CONTROLLER_MANAGER: "control-plane",
    SCHEDULER: "control-plane",
}
_DEFAULTS_OF: Mapping[str, Mapping[str, str]] = {
    APISERVER: cp.APISERVER_DEFAULTS,
    CONTROLLER_MANAGER: cp.CONTROLLER_DEFAULTS,
    SCHEDULER: cp.CONTROLLER_DEFAULTS,
}

Judge = Callable[[Component, Facts], Verdict]


def _flag_predicate(kind: str, judge: Judge) -> Predicate:
    def predicate(facts: Facts, node: Node) -> Verdict:
        component = _component(facts, node, kind, _ROLE_OF[kind])
        if isinstance(component, Verdict):
            return component
        try:
            return judge(component, facts)
        except cp.NeedsFiles as exc:
            return _verdict(Status.ERROR, str(exc))

    return predicate


def _setting(component: Component, name: str, facts: Facts) -> cp.Setting:
    if component.kind == ETCD:
        return cp.etcd_setting(component, name, _optional_files(facts))
    return cp.flag_setting(component, name, _DEFAULTS_OF.get(component.kind, {}))


def _shown(setting: cp.Setting) -> str:
    return "(not set)" if setting.value is None else printable(setting.value, 200)


def _set(*names: str) -> Judge:
    """CIS "argument is set as appropriate": every flag has a value."""

    def judge(component: Component, facts: Facts) -> Verdict:
        settings = [(name, _setting(component, name, facts)) for name in names]
        evidence = [
            Evidence(_shown(s), f"--{n} set to a file", printable(s.source, 600)) for n, s in settings
        ]
        unset = [f"--{n}" for n, s in settings if not s.value]
        if unset:
            return _verdict(
                Status.FAIL, f"{component.kind}: {', '.join(unset)} not set ({component.source})", evidence
            )
        return _verdict(Status.PASS, f"{component.kind}: {', '.join('--' + n for n in names)} set", evidence)

    return judge


def _bool(name: str, want: bool) -> Judge:
    def judge(component: Component, facts: Facts) -> Verdict:
        setting = _setting(component, name, facts)
        value = cp.truthy(setting.value)
        expected = (
            "true" if want else "false (or unset, default false)" if name.endswith("auto-tls") else "false"
        )
        evidence = [Evidence(_shown(setting), expected, printable(setting.source, 600))]
        if value is want:
            return _verdict(Status.PASS, f"{component.kind} --{name} is {_shown(setting)}", evidence)
        return _verdict(
            Status.FAIL,
            f"{component.kind} --{name} is {_shown(setting)}, expected {expected}: {setting.source}",
            evidence,
        )

    return judge


def _at_least(name: str, minimum: int) -> Judge:
    def judge(component: Component, facts: Facts) -> Verdict:
        setting = _setting(component, name, facts)
        evidence = [Evidence(_shown(setting), f">= {minimum}", printable(setting.source, 600))]
        try:
            number = int((setting.value or "").strip())
        except ValueError:
            number = None
        if number is not None and number >= minimum:
            return _verdict(Status.PASS, f"--{name} is {number}", evidence)
        return _verdict(
            Status.FAIL,
            f"--{name} is {_shown(setting)}, expected at least {minimum}: {setting.source}",
            evidence,
        )

    return judge


def _loopback_bind(component: Component, facts: Facts) -> Verdict:
    setting = _setting(component, "bind-address", facts)
    evidence = [Evidence(_shown(setting), "127.0.0.1 (loopback)", printable(setting.source, 600))]
    if cp.loopback_address(setting.value):
        return _verdict(Status.PASS, f"{component.kind} serves on {setting.value}", evidence)
    return _verdict(
        Status.FAIL,
        f"{component.kind} --bind-address is {_shown(setting)}: its secure port answers on every interface "
        f"({setting.source})",
        evidence,
    )


def _modes_judge(want: str | None, forbid: str | None) -> Judge:
    def judge(component: Component, facts: Facts) -> Verdict:
        modes = cp.authorization_modes(component, _optional_files(facts))
        shown = ",".join(modes.modes) or "(none)"
        expected = f"includes {want}" if want else f"does not include {forbid}"
        evidence = [Evidence(shown, expected, printable(modes.source, 600))]
        if want is not None and want not in modes.modes:
            return _verdict(
                Status.FAIL, f"authorization modes are {shown}: {want} is missing ({modes.source})", evidence
            )
        if forbid is not None and forbid in modes.modes:
            return _verdict(
                Status.FAIL,
                f"authorization modes are {shown}: {forbid} authorises every request ({modes.source})",
                evidence,
            )
        return _verdict(Status.PASS, f"authorization modes are {shown}", evidence)

    return judge


def _node_restriction(component: Component, facts: Facts) -> Verdict:
    enabled = _setting(component, "enable-admission-plugins", facts)
    disabled = _setting(component, "disable-admission-plugins", facts)
    on = "NodeRestriction" in cp.split_list(enabled.value)
    off = "NodeRestriction" in cp.split_list(disabled.value)
    evidence = [
        Evidence(_shown(enabled), "includes NodeRestriction", printable(enabled.source, 600)),
        Evidence(_shown(disabled), "does not include NodeRestriction", printable(disabled.source, 600)),
    ]
    if on and not off:
        return _verdict(Status.PASS, "the NodeRestriction admission plugin is enabled", evidence)
    why = (
        "disabled by --disable-admission-plugins"
        if off
        else "not in --enable-admission-plugins (not a default plugin)"
    )
    return _verdict(
        Status.FAIL, f"NodeRestriction is {why}: kubelets can modify other nodes' objects", evidence
    )


def _ciphers(component: Component, facts: Facts) -> Verdict:
    setting = _setting(component, "tls-cipher-suites", facts)
    suites = cp.split_list(setting.value)
    expected = "only the ECDHE-GCM/CHACHA20 and TLS 1.3 suites of CIS 1.2.29"
    evidence = [Evidence(_shown(setting), expected, printable(setting.source, 600))]
    if not suites:
        return _verdict(
            Status.FAIL,
            "--tls-cipher-suites is not set: Go's default list, which includes CBC suites, applies",
            evidence,
        )
    weak = cp.weak_ciphers(suites)
    if weak:
        return _verdict(Status.FAIL, f"weak or unlisted suites offered: {', '.join(weak[:6])}", evidence)
    return _verdict(Status.PASS, f"{len(suites)} strong suites", evidence)


def _etcd_urls(component: Component, facts: Facts) -> Verdict:
    evidence: list[Evidence] = []
    problems: list[str] = []
    for name in ("listen-client-urls", "listen-peer-urls"):
        setting = _setting(component, name, facts)
        listeners = cp.judge_urls(setting.value)
        evidence.append(
            Evidence(
                _shown(setting),
                "node or loopback addresses, https off loopback",
                printable(setting.source, 600),
            )
        )
        problems.extend(
            f"--{name} {printable(item.url, 120)}: {item.problem}" for item in listeners if item.problem
        )
    if problems:
        return _verdict(Status.FAIL, "; ".join(problems[:4]), evidence)
    return _verdict(Status.PASS, "etcd listens on specific addresses, with TLS off loopback", evidence)


def _unique_ca(component: Component, facts: Facts) -> Verdict:
    """CIS 2.7: etcd must not trust the cluster CA, or every certificate the cluster CA
    signs (kubelets, users) is also an etcd client certificate."""
    files = _files(facts)
    if isinstance(files, Verdict):
        return files
    etcd_ca = _setting(component, "trusted-ca-file", facts)
    components = facts.get("k8s_components")
    apiserver = components.get(APISERVER) if isinstance(components, K8sComponents) else None
    evidence = [Evidence(_shown(etcd_ca), "a CA of etcd's own", printable(etcd_ca.source, 600))]
    if not etcd_ca.value:
        return _verdict(Status.FAIL, "etcd trusts no client CA (--trusted-ca-file not set)", evidence)
    if apiserver is None:
        return _verdict(Status.ERROR, "no kube-apiserver found here to compare etcd's CA with", evidence)
    cluster_ca = cp.flag_setting(apiserver, "client-ca-file", {})
    evidence.append(Evidence(_shown(cluster_ca), "differs from etcd's CA", printable(cluster_ca.source, 600)))
    if not cluster_ca.value:
        return _verdict(Status.ERROR, "the API server names no --client-ca-file to compare with", evidence)
    if cluster_ca.value == etcd_ca.value:
        return _verdict(Status.FAIL, f"etcd trusts the cluster CA itself ({etcd_ca.value})", evidence)
    mine = files.digest(component.pid, etcd_ca.value)
    theirs = files.digest(apiserver.pid, cluster_ca.value)
    if mine is None or theirs is None:
        return _verdict(Status.ERROR, "the CA files could not be read to compare their content", evidence)
    evidence.append(Evidence(f"sha256 {mine[:16]}… vs {theirs[:16]}…", "different", "sha256sum on the node"))
    if mine == theirs:
        return _verdict(
            Status.FAIL,
            f"{etcd_ca.value} is a copy of the cluster CA {cluster_ca.value} (same sha256)",
            evidence,
        )
    return _verdict(Status.PASS, "etcd trusts a CA of its own", evidence)


def _encryption_set(component: Component, facts: Facts) -> Verdict:
    setting = _setting(component, "encryption-provider-config", facts)
    evidence = [
        Evidence(_shown(setting), "set to an EncryptionConfiguration", printable(setting.source, 600))
    ]
    if setting.value:
        return _verdict(Status.PASS, f"--encryption-provider-config is {setting.value}", evidence)
    return _verdict(
        Status.FAIL,
        "--encryption-provider-config is not set: Secrets are stored in etcd unencrypted",
        evidence,
    )


def _encryption_strong(component: Component, facts: Facts) -> Verdict:
    files = _files(facts)
    if isinstance(files, Verdict):
        return files
    setting = _setting(component, "encryption-provider-config", facts)
    if not setting.value:
        evidence = [Evidence("(not set)", "an EncryptionConfiguration", printable(setting.source, 600))]
        return _verdict(
            Status.FAIL, "no encryption provider configuration: Secrets are written in plain text", evidence
        )
    doc = files.doc(component.pid, setting.value)
    found = cp.secrets_encryption(cp.load_doc(doc))
    source = f"{setting.value} (named by {setting.source}), read on the node with secret values redacted"
    if isinstance(found, str):
        why = "it could not be read" if doc is None else found
        evidence = [
            Evidence("(unreadable)", "first provider for secrets is not identity", printable(source, 600))
        ]
        return _verdict(Status.ERROR, f"{setting.value}: {why}", evidence)
    shown = ", ".join(found.providers) or "(none)"
    evidence = [
        Evidence(
            shown,
            "first provider for secrets is not identity (aescbc, kms, secretbox)",
            printable(source, 600),
        )
    ]
    if not found.covered:
        return _verdict(
            Status.FAIL, f"{setting.value} has no entry for secrets: Secrets are not encrypted", evidence
        )
    if not found.providers or found.providers[0] == "identity":
        first = found.providers[0] if found.providers else "no provider"
        return _verdict(
            Status.FAIL,
            f"resources[{found.entry}] in {setting.value} writes Secrets with {first} first: "
            "they are stored unencrypted",
            evidence,
        )
    return _verdict(Status.PASS, f"Secrets are written with {found.providers[0]}", evidence)


def _audit_policy(component: Component, facts: Facts) -> Verdict:
    setting = _setting(component, "audit-policy-file", facts)
    if not setting.value:
        evidence = [Evidence("(not set)", "an audit Policy with rules", printable(setting.source, 600))]
        return _verdict(
            Status.FAIL, "--audit-policy-file is not set: the API server records no audit events", evidence
        )
    files = _files(facts)
    if isinstance(files, Verdict):
        return files
    doc = files.doc(component.pid, setting.value)
    found = cp.audit_policy(cp.load_doc(doc))
    source = f"{setting.value} (named by {setting.source})"
    if isinstance(found, str):
        why = "it does not exist or could not be read" if doc is None else found
        evidence = [Evidence("(unreadable)", "an audit Policy with rules", printable(source, 600))]
        return _verdict(Status.FAIL if doc is None else Status.ERROR, f"{setting.value}: {why}", evidence)
    evidence = [
        Evidence(
            f"{found.rules} rules, levels {', '.join(found.levels[:8])}",
            "at least one rule above None",
            printable(source, 600),
        )
    ]
    if not found.records_anything:
        return _verdict(Status.FAIL, f"{setting.value} records nothing (no rule above level None)", evidence)
    return _verdict(Status.PASS, f"{setting.value} has {found.rules} rules", evidence)


def _anonymous(component: Component, facts: Facts) -> Verdict:
    flags = component.flags
    if not flags.has("anonymous-auth") and flags.has("authentication-config"):
        raise cp.NeedsFiles(
            "anonymous access is configured in --authentication-config, which nodeward does not read yet"
        )
    return _bool("anonymous-auth", False)(component, facts)


_JUDGES: Mapping[str, tuple[str, Judge]] = {
    "etcd_tls_cert_and_key_set": (ETCD, _set("cert-file", "key-file")),
    "etcd_client_cert_auth_enabled": (ETCD, _bool("client-cert-auth", True)),
    "etcd_auto_tls_disabled": (ETCD, _bool("auto-tls", False)),
    "etcd_peer_tls_cert_and_key_set": (ETCD, _set("peer-cert-file", "peer-key-file")),
    "etcd_peer_client_cert_auth_enabled": (ETCD, _bool("peer-client-cert-auth", True)),
    "etcd_peer_auto_tls_disabled": (ETCD, _bool("peer-auto-tls", False)),
    "etcd_unique_ca": (ETCD, _unique_ca),
    "etcd_listen_urls_restricted": (ETCD, _etcd_urls),
    "apiserver_anonymous_auth_disabled": (APISERVER, _anonymous),
    "apiserver_kubelet_client_cert_set": (
        APISERVER,
        _set("kubelet-client-certificate", "kubelet-client-key"),
    ),
    "apiserver_kubelet_certificate_authority_set": (APISERVER, _set("kubelet-certificate-authority")),
    "apiserver_authorization_mode_not_always_allow": (APISERVER, _modes_judge(None, "AlwaysAllow")),
    "apiserver_authorization_mode_includes_node": (APISERVER, _modes_judge("Node", None)),
    "apiserver_authorization_mode_includes_rbac": (APISERVER, _modes_judge("RBAC", None)),
    "apiserver_node_restriction_enabled": (APISERVER, _node_restriction),
    "apiserver_profiling_disabled": (APISERVER, _bool("profiling", False)),
    "apiserver_audit_log_path_set": (APISERVER, _set("audit-log-path")),
    "apiserver_audit_log_maxage_sufficient": (APISERVER, _at_least("audit-log-maxage", 30)),
    "apiserver_audit_log_maxbackup_sufficient": (APISERVER, _at_least("audit-log-maxbackup", 10)),
    "apiserver_audit_log_maxsize_sufficient": (APISERVER, _at_least("audit-log-maxsize", 100)),
    "apiserver_audit_policy_file_set": (APISERVER, _audit_policy),
    "apiserver_etcd_client_cert_set": (APISERVER, _set("etcd-certfile", "etcd-keyfile")),
    "apiserver_etcd_ca_file_set": (APISERVER, _set("etcd-cafile")),
    "apiserver_tls_cert_and_key_set": (APISERVER, _set("tls-cert-file", "tls-private-key-file")),
    "apiserver_client_ca_file_set": (APISERVER, _set("client-ca-file")),
    "apiserver_encryption_provider_config_set": (APISERVER, _encryption_set),
    "apiserver_encryption_providers_strong": (APISERVER, _encryption_strong),
    "apiserver_tls_cipher_suites_strong": (APISERVER, _ciphers),
    "controller_manager_bind_address_loopback": (CONTROLLER_MANAGER, _loopback_bind),
    "controller_manager_profiling_disabled": (CONTROLLER_MANAGER, _bool("profiling", False)),
    "scheduler_bind_address_loopback": (SCHEDULER, _loopback_bind),
    "scheduler_profiling_disabled": (SCHEDULER, _bool("profiling", False)),
}

K8S_FILES_PREDICATES: Mapping[str, Predicate] = {
    **{name: _file_predicate(rule) for name, rule in FILE_RULES.items()},
    "etcd_data_dir_owned_by_etcd_account": judge_etcd_data_dir_owner,
    **{name: _flag_predicate(kind, judge) for name, (kind, judge) in _JUDGES.items()},
}
