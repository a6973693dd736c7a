"""Named predicates: the only place check logic is Python instead of YAML.

For judgements a single comparison cannot express (sudoers privilege across files,
firewall default-deny across nftables and iptables). Each is a pure function of the
node's facts that returns a Verdict with its evidence; a check refers to one by name
(`assert: {predicate: name}`) and the catalogue loader rejects unknown names.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.rules.predicates_firewall import FIREWALL_PREDICATES
from agent.rules.predicates_k8s_files import K8S_FILES_PREDICATES
from agent.rules.predicates_kubelet import KUBELET_PREDICATES
from agent.rules.predicates_patch import PATCH_PREDICATES
from agent.rules.predicates_sshd import SSHD_PREDICATES
from agent.rules.predicates_sudo import SUDO_PREDICATES
from agent.rules.verdict import Predicate, Verdict

__all__ = ["PREDICATES", "Predicate", "Verdict"]

PREDICATES: Mapping[str, Predicate] = {
    **FIREWALL_PREDICATES,
    **K8S_FILES_PREDICATES,
    **KUBELET_PREDICATES,
    **PATCH_PREDICATES,
    **SSHD_PREDICATES,
    **SUDO_PREDICATES,
}
