"""Every fact nodeward can gather, in one explicit table (no import side effects).

Adding a fact: a POSIX sh snippet, a pure parser, a frozen dataclass, fixtures, and
one line here. Snippets are constants: they read node-side values only from the
NW_* variables the gather preamble exports, never from Python string formatting.
The line declares the tools the snippet needs and the exit codes its parser reads
(agent/facts/spec.py); a snippet never tests for its own tools, and a parser never
handles a missing tool, a failed or cut-off section: read_section does, for all.
"""

from __future__ import annotations

from collections.abc import Mapping

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
from agent.facts.packages import fact as packages
from agent.facts.spec import FactSpec, IfMissing, Tool
from agent.facts.sshd import fact as sshd
from agent.facts.sudoers import fact as sudoers

__all__ = ["ALWAYS", "FACTS", "FactSpec"]

# A component that is simply not there: its checks do not apply.
_ABSENT = IfMissing.ABSENT
# A tool the fact cannot be read without: its checks ERROR, never PASS.
_NEEDED = IfMissing.UNAVAILABLE
# Both encode every free-text field with it, so file contents cannot break the framing.
_BASE64 = Tool(("base64",), _NEEDED)

FACTS: Mapping[str, FactSpec] = {
    spec.name: spec
    for spec in (
        FactSpec("system", system.SCRIPT, system.parse, timeout=10),
        FactSpec(
            "sshd", sshd.SCRIPT, sshd.parse, timeout=30, tools=(Tool(("sshd",), _ABSENT),), reads_partial=True
        ),
        FactSpec("firewall", firewall.SCRIPT, firewall.parse, timeout=60, max_bytes=48 << 20),
        FactSpec("sockets", sockets.SCRIPT, sockets.parse, timeout=20),
        FactSpec("sysctl", sysctl.SCRIPT, sysctl.parse, timeout=20, tools=(Tool(("sysctl",), _NEEDED),)),
        FactSpec(
            "packages",
            packages.SCRIPT,
            packages.parse,
            timeout=180,
            max_bytes=8 << 20,
            tools=(Tool(("apt-get", "dnf", "yum", "zypper", "apk"), _ABSENT),),
        ),
        FactSpec("kernel", kernel.SCRIPT, kernel.parse, timeout=60),
        FactSpec("mac", mac.SCRIPT, mac.parse, timeout=20),
        FactSpec("auditd", audit_service.SCRIPT, audit_service.parse, timeout=15),
        FactSpec("audit", audit.SCRIPT, audit.parse, timeout=30, tools=(Tool(("auditd",), _ABSENT),)),
        FactSpec("k8s_components", k8s_components.SCRIPT, k8s_components.parse, timeout=30),
        FactSpec("kubelet", kubelet.SCRIPT, kubelet.parse, timeout=30, max_bytes=16 << 20),
        FactSpec("k8s_files", k8s_files.SCRIPT, k8s_files.parse, timeout=60, max_bytes=8 << 20),
        FactSpec("sudoers", sudoers.SCRIPT, sudoers.parse, timeout=30, tools=(_BASE64,)),
        FactSpec("accounts", accounts.SCRIPT, accounts.parse, timeout=60, tools=(_BASE64,)),
    )
}

# Gathered for every node whatever the checks need: reports show them. k8s_components
# gives the node's roles when the inventory sets none (issue 4), which any role-gated
# check needs whatever fact it reads.
ALWAYS = ("system", "k8s_components")
