"""Every fact nodeward can gather, in one explicit table (no import side effects).

Adding a fact: a POSIX sh snippet, a pure parser, a frozen dataclass, fixtures, and
one line here. Snippets are constants: they read node-side values only from the
NW_* variables the gather preamble exports, never from Python string formatting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.facts import (
    accounts,
    audit,
    audit_service,
    k8s_components,
    k8s_files,
    kernel,
    kubelet,
    mac,
    sockets,
    sysctl,
    system,
)
from agent.facts.firewall import fact as firewall
from agent.facts.model import FactValue, RawSection
from agent.facts.packages import fact as packages
from agent.facts.sshd import fact as sshd
from agent.facts.sudoers import fact as sudoers

Parser = Callable[[RawSection, Mapping[str, str]], FactValue]


@dataclass(frozen=True, slots=True)
class FactSpec:
    name: str
    script: str
    parse: Parser
    timeout: int = 60  # seconds, enforced on the node with timeout(1) where it exists
    max_bytes: int = 4 << 20  # per-section cap; the rest is cut on the node


FACTS: Mapping[str, FactSpec] = {
    spec.name: spec
    for spec in (
        FactSpec("system", system.SCRIPT, system.parse, timeout=10),
        FactSpec("sshd", sshd.SCRIPT, sshd.parse, timeout=30),
        FactSpec("firewall", firewall.SCRIPT, firewall.parse, timeout=60, max_bytes=48 << 20),
        FactSpec("sockets", sockets.SCRIPT, sockets.parse, timeout=20),
        FactSpec("sysctl", sysctl.SCRIPT, sysctl.parse, timeout=20),
        FactSpec("packages", packages.SCRIPT, packages.parse, timeout=180, max_bytes=8 << 20),
        FactSpec("kernel", kernel.SCRIPT, kernel.parse, timeout=60),
        FactSpec("mac", mac.SCRIPT, mac.parse, timeout=20),
        FactSpec("auditd", audit_service.SCRIPT, audit_service.parse, timeout=15),
        FactSpec("audit", audit.SCRIPT, audit.parse, timeout=30),
        FactSpec("k8s_components", k8s_components.SCRIPT, k8s_components.parse, timeout=30),
        FactSpec("kubelet", kubelet.SCRIPT, kubelet.parse, timeout=30, max_bytes=16 << 20),
        FactSpec("k8s_files", k8s_files.SCRIPT, k8s_files.parse, timeout=60, max_bytes=8 << 20),
        FactSpec("sudoers", sudoers.SCRIPT, sudoers.parse, timeout=30),
        FactSpec("accounts", accounts.SCRIPT, accounts.parse, timeout=60),
    )
}

# Gathered for every node whatever the checks need: reports show them. k8s_components
# gives the node's roles when the inventory sets none (issue 4), which any role-gated
# check needs whatever fact it reads.
ALWAYS = ("system", "k8s_components")
