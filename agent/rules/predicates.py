"""The registry of named predicates and predicate families.

Named predicates (`assert: {predicate: name}`) are the only place check logic is Python
instead of YAML: judgements a comparison cannot express (sudoers privilege across files,
firewall default-deny across nftables and iptables). Each is a pure function of the
node's facts that returns a Verdict with its evidence.

Families (`assert: {predicate: family, args: {...}}`, agent/rules/families.py) are one
function for many checks; their modes, owners, flags and thresholds are the checks' YAML.

Every name is registered once: a second registration of a name raises at import, so
two modules can never shadow each other's predicate.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.rules.families import Family, unique_families, unique_registry
from agent.rules.family_component_flag import AUTHORIZATION_MODES, COMPONENT_FLAG
from agent.rules.family_file_permissions import FILE_PERMISSIONS
from agent.rules.family_sshd import ALGORITHMS, KEYWORD_OFF, MATCH_KEEPS_OFF
from agent.rules.family_tls import TLS_CIPHER_SUITES
from agent.rules.predicates_accounts import (
    ACCOUNTS_PREDICATES,
    ONLY_ROOT_HAS_ID_ZERO,
    ROOT_SSH_MODES,
    TRUST_FILES_ABSENT,
)
from agent.rules.predicates_audit import AUDIT_FILES_PROTECTED, AUDIT_PREDICATES, AUDIT_WATCHES
from agent.rules.predicates_firewall import FIREWALL_PREDICATES, INPUT_DEFAULT_DENY
from agent.rules.predicates_firewall_ports import NODEPORTS_RESTRICTED, OVERLAY_PORTS, PORT_EXPOSURE
from agent.rules.predicates_k8s_files import K8S_FILES_PREDICATES
from agent.rules.predicates_kubelet import DURATION_AT_LEAST, KUBELET_PREDICATES
from agent.rules.predicates_mac import MAC_BOOT_SWITCHES, MAC_PREDICATES
from agent.rules.predicates_packages import PACKAGES_HELD, PACKAGES_PREDICATES, SECURITY_UPDATES
from agent.rules.predicates_sshd import SSHD_FAMILIES, SSHD_PREDICATES
from agent.rules.predicates_sudo import (
    SUDO_DEFAULT,
    SUDO_PREDICATES,
    SUDOERS_INCLUDES_MODE,
    SUDOERS_MAIN_FILE_MODE,
)
from agent.rules.verdict import Predicate, Verdict

__all__ = ["FAMILIES", "PREDICATES", "Family", "Predicate", "Verdict"]

PREDICATES: Mapping[str, Predicate] = unique_registry(
    (
        FIREWALL_PREDICATES,
        K8S_FILES_PREDICATES,
        KUBELET_PREDICATES,
        PACKAGES_PREDICATES,
        MAC_PREDICATES,
        AUDIT_PREDICATES,
        SSHD_PREDICATES,
        SUDO_PREDICATES,
        ACCOUNTS_PREDICATES,
    )
)

FAMILIES: Mapping[str, Family] = unique_families(
    (
        FILE_PERMISSIONS,
        COMPONENT_FLAG,
        AUTHORIZATION_MODES,
        KEYWORD_OFF,
        ALGORITHMS,
        MATCH_KEEPS_OFF,
        PORT_EXPOSURE,
        SECURITY_UPDATES,
        PACKAGES_HELD,
        AUDIT_WATCHES,
        AUDIT_FILES_PROTECTED,
        SUDO_DEFAULT,
        TRUST_FILES_ABSENT,
        *SSHD_FAMILIES,
        SUDOERS_MAIN_FILE_MODE,
        SUDOERS_INCLUDES_MODE,
        ROOT_SSH_MODES,
        TLS_CIPHER_SUITES,
        OVERLAY_PORTS,
        NODEPORTS_RESTRICTED,
        INPUT_DEFAULT_DENY,
        ONLY_ROOT_HAS_ID_ZERO,
        MAC_BOOT_SWITCHES,
        DURATION_AT_LEAST,
    ),
    taken=PREDICATES,
)
