"""sshd judgements that are code, not a keyword compared with a value.

Keywords that must be off, algorithm lists and Match blocks are families
(agent/rules/family_sshd.py) whose keywords and forbidden patterns live in the checks'
YAML. What stays here: the validity of the configuration, AllowUsers/AllowGroups,
MaxStartups' three-part value, file modes of everything sshd reads (CIS Ubuntu 24.04
5.1.1-5.1.3), host key types and sizes, and the moduli file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from agent.facts.model import FactValue
from agent.facts.sshd.fact import SshdConfig
from agent.facts.sshd.walk import FileStat
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.family_sshd import keyword_evidence, observed, on_sshd
from agent.rules.verdict import Predicate, Verdict
from agent.textsafe import printable

_ShdCheck = Callable[[SshdConfig], Verdict]


def _on_sshd(judge: _ShdCheck) -> Predicate:
    """Adapt a judgement of the sshd fact to the predicate signature."""

    def predicate(facts: Mapping[str, FactValue], node: Node) -> Verdict:
        return on_sshd(facts, judge)

    return predicate


# --------------------------------------------------------------------------- either/or


def access_limited(fact: SshdConfig) -> Verdict:
    present = [key for key in ("allowusers", "allowgroups") if fact.options.get(key)]
    if present:
        key = present[0]
        shown = " ".join(fact.options[key])
        return Verdict(
            Status.PASS, f"{key} {shown}", (keyword_evidence(fact, key, shown, "AllowUsers or AllowGroups"),)
        )
    return Verdict(
        Status.FAIL,
        "every account with a shell and a key or password may log in: no AllowUsers or AllowGroups",
        (
            Evidence(
                "no AllowUsers, no AllowGroups", "AllowUsers or AllowGroups naming the admins", fact.source
            ),
        ),
    )


# --------------------------------------------------------------------------- crypto


def max_startups_limited(fact: SshdConfig) -> Verdict:
    value = observed(fact, "maxstartups")
    if value is None:
        return Verdict(Status.ERROR, "sshd does not report maxstartups")
    parts = value.split(":")
    expected = "10:30:60 or stricter (start <= 10, rate >= 30, full <= 60)"
    evidence = (keyword_evidence(fact, "maxstartups", value, expected),)
    try:
        begin, rate, full = (
            (int(p) for p in parts) if len(parts) == 3 else (int(parts[0]), 100, int(parts[0]))
        )
    except ValueError:
        return Verdict(Status.ERROR, f"maxstartups {value!r} is not begin:rate:full", evidence)
    if begin <= 10 and rate >= 30 and full <= 60:
        return Verdict(Status.PASS, f"maxstartups is {value}", evidence)
    return Verdict(Status.FAIL, f"maxstartups is {value}, expected 10:30:60 or stricter", evidence)


# --------------------------------------------------------------------------- validity


def config_valid(fact: SshdConfig) -> Verdict:
    if fact.config_valid is True:
        return Verdict(Status.PASS, f"sshd accepts its configuration ({fact.source})")
    if fact.config_valid is None:
        return Verdict(
            Status.ERROR,
            f"cannot tell without root whether sshd accepts its configuration: {fact.source}",
        )
    errors = "; ".join(fact.config_errors) or "sshd -T failed"
    return Verdict(
        Status.FAIL,
        "sshd rejects its configuration: the next restart or reload fails",
        (Evidence(printable(errors, 300), "sshd -t accepts the configuration", fact.source),),
    )


# --------------------------------------------------------------------------- files

_KEY_GROUP = "ssh_keys"  # RHEL/Fedora: private host keys 0640 root:ssh_keys (SSG)


def _statkeyword_evidence(stat: FileStat, expected: str) -> Evidence:
    return Evidence(f"{stat.permissions:04o} {stat.user}:{stat.group}", expected, f"stat {stat.path}")


def files_protected(fact: SshdConfig) -> Verdict:
    """CIS 5.1.1 / SSG file_permissions_sshd_config, *_drop_in_config: 0600 root:root;
    the drop-in directories not writable by anyone but root."""
    if not fact.walked:
        return Verdict(Status.ERROR, "no file walk arrived from the node")
    bad: list[Evidence] = []
    missing: list[str] = []
    for path in fact.config_files:
        stat = fact.stats.get(path)
        if stat is None:
            missing.append(path)
        elif stat.uid != 0 or stat.permissions & ~0o600:
            bad.append(_statkeyword_evidence(stat, "0600 or stricter, owner root"))
    for path in fact.config_dirs:
        stat = fact.stats[path]
        if stat.uid != 0 or stat.permissions & 0o022:
            bad.append(_statkeyword_evidence(stat, "not writable by group or others, owner root"))
    if missing:
        return Verdict(Status.ERROR, f"no stat(1) data for {', '.join(missing[:3])}")
    if bad:
        return Verdict(Status.FAIL, f"{len(bad)} sshd configuration path(s) too open", tuple(bad[:10]))
    count = len(fact.config_files) + len(fact.config_dirs)
    return Verdict(Status.PASS, f"{count} configuration path(s) owned by root and not open to others")


def _effective_keys(fact: SshdConfig) -> list[str]:
    return [path for path in fact.options.get("hostkey", ()) if path in fact.stats]


def private_keys_protected(fact: SshdConfig) -> Verdict:
    keys = _effective_keys(fact)
    if not keys:
        return Verdict(Status.ERROR, "none of the host keys sshd uses could be inspected")
    bad = []
    for path in keys:
        stat = fact.stats[path]
        allowed = 0o640 if stat.group == _KEY_GROUP else 0o600
        if stat.uid != 0 or stat.permissions & ~allowed:
            bad.append(_statkeyword_evidence(stat, "0600 root (0640 root:ssh_keys)"))
    if bad:
        return Verdict(Status.FAIL, f"{len(bad)} private host key(s) readable by others", tuple(bad))
    return Verdict(Status.PASS, f"{len(keys)} private host key(s) readable by root only")


def public_keys_protected(fact: SshdConfig) -> Verdict:
    keys = [path + ".pub" for path in _effective_keys(fact) if path + ".pub" in fact.stats]
    bad = []
    for path in keys:
        stat = fact.stats[path]
        if stat.uid != 0 or stat.permissions & ~0o644:
            bad.append(_statkeyword_evidence(stat, "0644 or stricter, owner root"))
    if bad:
        return Verdict(Status.FAIL, f"{len(bad)} public host key(s) writable by others", tuple(bad))
    return Verdict(Status.PASS, f"{len(keys)} public host key(s) owned by root and not writable by others")


def host_keys_strong(fact: SshdConfig) -> Verdict:
    """dev-sec sshd-50 (RSA >= 3072 here, as the catalogue asks); DSA is always weak."""
    paths = fact.options.get("hostkey", ())
    keys = [fact.host_keys[p] for p in paths if p in fact.host_keys]
    if not keys:
        return Verdict(Status.ERROR, "ssh-keygen -l could not describe any host key sshd uses")
    bad = [
        Evidence(
            f"{key.kind} {key.bits} bits",
            "RSA of at least 3072 bits, ECDSA or Ed25519",
            f"ssh-keygen -l -f {key.path}",
        )
        for key in keys
        if key.kind == "DSA" or (key.kind == "RSA" and (key.bits or 0) < 3072)
    ]
    if bad:
        return Verdict(Status.FAIL, f"{len(bad)} weak host key(s)", tuple(bad))
    return Verdict(Status.PASS, ", ".join(f"{k.kind} {k.bits}" for k in keys))


def moduli_strong(fact: SshdConfig) -> Verdict:
    """dev-sec sshd-48: no Diffie-Hellman group below 2048 bits (size column 2047)."""
    if fact.moduli is None:
        return Verdict(Status.ERROR, "the moduli file could not be read")
    smallest, count = fact.moduli
    if count == 0 or smallest is None:
        return Verdict(
            Status.PASS, "no moduli entries: sshd falls back to its built-in groups of 2048 bits or more"
        )
    evidence = (
        Evidence(
            f"smallest group {smallest + 1} bits", "at least 2048 bits", "size column of /etc/ssh/moduli"
        ),
    )
    if smallest < 2047:
        return Verdict(Status.FAIL, f"/etc/ssh/moduli has groups of {smallest + 1} bits", evidence)
    return Verdict(Status.PASS, f"{count} groups, the smallest {smallest + 1} bits", evidence)


SSHD_PREDICATES: Mapping[str, Predicate] = {
    "sshd_config_valid": _on_sshd(config_valid),
    "sshd_access_limited": _on_sshd(access_limited),
    "sshd_max_startups_limited": _on_sshd(max_startups_limited),
    "sshd_config_files_protected": _on_sshd(files_protected),
    "sshd_host_private_keys_protected": _on_sshd(private_keys_protected),
    "sshd_host_public_keys_protected": _on_sshd(public_keys_protected),
    "sshd_host_keys_strong": _on_sshd(host_keys_strong),
    "sshd_moduli_strong": _on_sshd(moduli_strong),
}
