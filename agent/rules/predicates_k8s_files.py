"""Control-plane judgements that are code, not a flag compared with a value.

The table-driven file and flag checks are families (agent/rules/family_file_permissions.py,
agent/rules/family_component_flag.py) whose modes and thresholds live in the checks' YAML.
What stays here reads several flags together (NodeRestriction enabled and not disabled),
parses a file a flag names (EncryptionConfiguration, audit Policy), compares two
components (etcd's CA against the cluster CA) or walks listener URLs.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.facts import controlplane as cp
from agent.facts import k8s_files as kf
from agent.facts.k8s_components import APISERVER, ETCD, Component, K8sComponents
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.families import Facts
from agent.rules.family_component_flag import (
    Judge,
    on_component,
    setting_of,
    shown,
)
from agent.rules.family_file_permissions import OnlyWhere, file_evidence, files_fact, none_found, only_where
from agent.rules.phrasing import bounded_verdict
from agent.rules.verdict import Predicate, Verdict
from agent.textsafe import printable


def _node_restriction(component: Component, facts: Facts) -> Verdict:
    enabled = setting_of(component, "enable-admission-plugins", facts)
    disabled = setting_of(component, "disable-admission-plugins", facts)
    on = "NodeRestriction" in cp.split_list(enabled.value)
    off = "NodeRestriction" in cp.split_list(disabled.value)
    evidence = [
        Evidence(shown(enabled), "includes NodeRestriction", printable(enabled.source, 600)),
        Evidence(shown(disabled), "does not include NodeRestriction", printable(disabled.source, 600)),
    ]
    if on and not off:
        return bounded_verdict(Status.PASS, "the NodeRestriction admission plugin is enabled", evidence)
    why = (
        "disabled by --disable-admission-plugins"
        if off
        else "not in --enable-admission-plugins (not a default plugin)"
    )
    return bounded_verdict(
        Status.FAIL, f"NodeRestriction is {why}: kubelets can modify other nodes' objects", evidence
    )


def _etcd_urls(component: Component, facts: Facts) -> Verdict:
    evidence: list[Evidence] = []
    problems: list[str] = []
    for name in ("listen-client-urls", "listen-peer-urls"):
        setting = setting_of(component, name, facts)
        listeners = cp.judge_urls(setting.value)
        evidence.append(
            Evidence(
                shown(setting),
                "node or loopback addresses, https off loopback",
                printable(setting.source, 600),
            )
        )
        problems.extend(
            f"--{name} {printable(item.url, 120)}: {item.problem}" for item in listeners if item.problem
        )
    if problems:
        return bounded_verdict(Status.FAIL, "; ".join(problems[:4]), evidence)
    return bounded_verdict(Status.PASS, "etcd listens on specific addresses, with TLS off loopback", evidence)


def _unique_ca(component: Component, facts: Facts) -> Verdict:
    """CIS 2.7: etcd must not trust the cluster CA, or every certificate the cluster CA
    signs (kubelets, users) is also an etcd client certificate."""
    files = files_fact(facts)
    if isinstance(files, Verdict):
        return files
    etcd_ca = setting_of(component, "trusted-ca-file", facts)
    components = facts.get("k8s_components")
    apiserver = components.get(APISERVER) if isinstance(components, K8sComponents) else None
    evidence = [Evidence(shown(etcd_ca), "a CA of etcd's own", printable(etcd_ca.source, 600))]
    if not etcd_ca.value:
        return bounded_verdict(Status.FAIL, "etcd trusts no client CA (--trusted-ca-file not set)", evidence)
    if apiserver is None:
        return bounded_verdict(
            Status.ERROR, "no kube-apiserver found here to compare etcd's CA with", evidence
        )
    cluster_ca = cp.flag_setting(apiserver, "client-ca-file", {})
    evidence.append(Evidence(shown(cluster_ca), "differs from etcd's CA", printable(cluster_ca.source, 600)))
    if not cluster_ca.value:
        return bounded_verdict(
            Status.ERROR, "the API server names no --client-ca-file to compare with", evidence
        )
    if cluster_ca.value == etcd_ca.value:
        return bounded_verdict(Status.FAIL, f"etcd trusts the cluster CA itself ({etcd_ca.value})", evidence)
    mine = files.digest(component.pid, etcd_ca.value)
    theirs = files.digest(apiserver.pid, cluster_ca.value)
    if mine is None or theirs is None:
        return bounded_verdict(
            Status.ERROR, "the CA files could not be read to compare their content", evidence
        )
    evidence.append(Evidence(f"sha256 {mine[:16]}… vs {theirs[:16]}…", "different", "sha256sum on the node"))
    if mine == theirs:
        return bounded_verdict(
            Status.FAIL,
            f"{etcd_ca.value} is a copy of the cluster CA {cluster_ca.value} (same sha256)",
            evidence,
        )
    return bounded_verdict(Status.PASS, "etcd trusts a CA of its own", evidence)


def _encryption_strong(component: Component, facts: Facts) -> Verdict:
    files = files_fact(facts)
    if isinstance(files, Verdict):
        return files
    setting = setting_of(component, "encryption-provider-config", facts)
    if not setting.value:
        evidence = [Evidence("(not set)", "an EncryptionConfiguration", printable(setting.source, 600))]
        return bounded_verdict(
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
        return bounded_verdict(Status.ERROR, f"{setting.value}: {why}", evidence)
    shown = ", ".join(found.providers) or "(none)"
    evidence = [
        Evidence(
            shown,
            "first provider for secrets is not identity (aescbc, kms, secretbox)",
            printable(source, 600),
        )
    ]
    if not found.covered:
        return bounded_verdict(
            Status.FAIL, f"{setting.value} has no entry for secrets: Secrets are not encrypted", evidence
        )
    if not found.providers or found.providers[0] == "identity":
        first = found.providers[0] if found.providers else "no provider"
        return bounded_verdict(
            Status.FAIL,
            f"resources[{found.entry}] in {setting.value} writes Secrets with {first} first: "
            "they are stored unencrypted",
            evidence,
        )
    return bounded_verdict(Status.PASS, f"Secrets are written with {found.providers[0]}", evidence)


def _audit_policy(component: Component, facts: Facts) -> Verdict:
    setting = setting_of(component, "audit-policy-file", facts)
    if not setting.value:
        evidence = [Evidence("(not set)", "an audit Policy with rules", printable(setting.source, 600))]
        return bounded_verdict(
            Status.FAIL, "--audit-policy-file is not set: the API server records no audit events", evidence
        )
    files = files_fact(facts)
    if isinstance(files, Verdict):
        return files
    doc = files.doc(component.pid, setting.value)
    found = cp.audit_policy(cp.load_doc(doc))
    source = f"{setting.value} (named by {setting.source})"
    if isinstance(found, str):
        why = "it does not exist or could not be read" if doc is None else found
        evidence = [Evidence("(unreadable)", "an audit Policy with rules", printable(source, 600))]
        return bounded_verdict(
            Status.FAIL if doc is None else Status.ERROR, f"{setting.value}: {why}", evidence
        )
    evidence = [
        Evidence(
            f"{found.rules} rules, levels {', '.join(found.levels[:8])}",
            "at least one rule above None",
            printable(source, 600),
        )
    ]
    if not found.records_anything:
        return bounded_verdict(
            Status.FAIL, f"{setting.value} records nothing (no rule above level None)", evidence
        )
    return bounded_verdict(Status.PASS, f"{setting.value} has {found.rules} rules", evidence)


def judge_etcd_data_dir_owner(facts: Facts, node: Node) -> Verdict:
    """CIS 1.1.12 asks for etcd:etcd; kubeadm runs etcd as root. What protects the data is
    that nobody but the account etcd runs as owns it (catalogue ETCD-02)."""
    files = files_fact(facts)
    if isinstance(files, Verdict):
        return files
    gated = only_where(OnlyWhere(role="etcd", running=(ETCD,)), facts, node)
    if gated is not None:
        return gated
    dirs = [ref for ref in files.role(kf.ETCD_DATA_DIR) if ref.sort == "dir" or ref.stat is None]
    if not dirs:
        return bounded_verdict(
            Status.NOT_APPLICABLE,
            f"no etcd data directory on this node{none_found(kf.ETCD_DATA_DIR, files)}",
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
        if ref.stat is None:
            evidence.append(file_evidence(ref, "present"))
            continue
        evidence.append(
            Evidence(f"{ref.shown}: {ref.stat.text}", expected, f"stat -L {ref.root + ref.path}; {ref.why}")
        )
        owned = ref.stat.uid in allowed_uids or (not procs and ref.stat.owner == "etcd")
        if not owned:
            problems.append(f"{ref.shown} is owned by {ref.stat.owner}:{ref.stat.group}, expected {expected}")
    if problems:
        return bounded_verdict(Status.FAIL, "; ".join(problems[:3]), evidence)
    if any(ref.stat is None for ref in dirs):
        ref = next(r for r in dirs if r.stat is None)
        return bounded_verdict(
            Status.ERROR, f"{ref.shown} is named ({ref.why}) but stat found nothing", evidence
        )
    return bounded_verdict(
        Status.PASS, "the etcd data directory belongs to the account etcd runs as", evidence
    )


def _on(kind: str, judge: Judge) -> Predicate:
    def predicate(facts: Facts, node: Node) -> Verdict:
        return on_component(kind, judge, facts, node)

    return predicate


K8S_FILES_PREDICATES: Mapping[str, Predicate] = {
    "etcd_data_dir_owner": judge_etcd_data_dir_owner,
    "etcd_ca_distinct_from_cluster_ca": _on(ETCD, _unique_ca),
    "etcd_listen_urls": _on(ETCD, _etcd_urls),
    "apiserver_node_restriction": _on(APISERVER, _node_restriction),
    "apiserver_secrets_encryption": _on(APISERVER, _encryption_strong),
    "apiserver_audit_policy": _on(APISERVER, _audit_policy),
}
