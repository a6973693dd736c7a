"""sshd judgements that are code, not a keyword compared with a value.

Keywords that must be off, algorithm lists and Match blocks are families
(agent/rules/family_sshd.py) whose keywords and forbidden patterns live in the checks'
YAML. What stays here: the validity of the configuration, AllowUsers/AllowGroups,
MaxStartups' three-part value, file modes of everything sshd reads (CIS Ubuntu 24.04
5.1.1-5.1.3), host key types and sizes, and the moduli file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Literal

from pydantic import Field, PositiveInt, StrictStr

from agent.facts.model import FactValue
from agent.facts.sshd.fact import SshdConfig
from agent.facts.sshd.walk import FileStat
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.families import FamilyArgs
from agent.rules.family_file_permissions import Mode
from agent.rules.family_sshd import keyword_evidence, observed, on_sshd, sshd_family
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


class MaxStartups(FamilyArgs):
    """CIS 5.1.x: MaxStartups start:rate:full no looser than these."""

    start: PositiveInt  # unauthenticated connections before sshd starts dropping
    rate: Annotated[int, Field(ge=1, le=100)]  # percent dropped from `start` on
    full: PositiveInt  # unauthenticated connections at which every new one is dropped


def max_startups_limited(args: MaxStartups, fact: SshdConfig) -> Verdict:
    value = observed(fact, "maxstartups")
    if value is None:
        return Verdict(Status.ERROR, "sshd does not report maxstartups")
    parts = value.split(":")
    limit = f"{args.start}:{args.rate}:{args.full}"
    expected = f"{limit} or stricter (start <= {args.start}, rate >= {args.rate}, full <= {args.full})"
    evidence = (keyword_evidence(fact, "maxstartups", value, expected),)
    try:
        begin, rate, full = (
            (int(p) for p in parts) if len(parts) == 3 else (int(parts[0]), 100, int(parts[0]))
        )
    except ValueError:
        return Verdict(Status.ERROR, f"maxstartups {value!r} is not begin:rate:full", evidence)
    if begin <= args.start and rate >= args.rate and full <= args.full:
        return Verdict(Status.PASS, f"maxstartups is {value}", evidence)
    return Verdict(Status.FAIL, f"maxstartups is {value}, expected {limit} or stricter", evidence)


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


def _stat_evidence(stat: FileStat, expected: str) -> Evidence:
    return Evidence(f"{stat.permissions:04o} {stat.user}:{stat.group}", expected, f"stat {stat.path}")


class ConfigFilesProtected(FamilyArgs):
    """CIS 5.1.1 / SSG file_permissions_sshd_config, *_drop_in_config: the files at most
    `mode`, owned by root; the drop-in directories writable by root only."""

    mode: Mode


def files_protected(args: ConfigFilesProtected, fact: SshdConfig) -> Verdict:
    if not fact.walked:
        return Verdict(Status.ERROR, "no file walk arrived from the node")
    bad: list[Evidence] = []
    missing: list[str] = []
    for path in fact.config_files:
        stat = fact.stats.get(path)
        if stat is None:
            missing.append(path)
        elif stat.uid != 0 or stat.permissions & ~args.mode:
            bad.append(_stat_evidence(stat, f"{args.mode:04o} or stricter, owner root"))
    for path in fact.config_dirs:
        stat = fact.stats[path]
        if stat.uid != 0 or stat.permissions & 0o022:
            bad.append(_stat_evidence(stat, "not writable by group or others, owner root"))
    if missing:
        return Verdict(Status.ERROR, f"no stat(1) data for {', '.join(missing[:3])}")
    if bad:
        return Verdict(Status.FAIL, f"{len(bad)} sshd configuration path(s) too open", tuple(bad[:10]))
    count = len(fact.config_files) + len(fact.config_dirs)
    return Verdict(Status.PASS, f"{count} configuration path(s) owned by root and not open to others")


def _effective_keys(fact: SshdConfig) -> list[str]:
    return [path for path in fact.options.get("hostkey", ()) if path in fact.stats]


class HostKeysProtected(FamilyArgs):
    """Host key files at most `mode`, owned by root; a key owned by `key_group` may have
    `key_group_mode` (RHEL/Fedora: private host keys 0640 root:ssh_keys, per SSG)."""

    keys: Literal["private", "public"]
    mode: Mode
    key_group: StrictStr | None = None
    key_group_mode: Mode | None = None


def host_keys_protected(args: HostKeysProtected, fact: SshdConfig) -> Verdict:
    return private_keys_protected(args, fact) if args.keys == "private" else public_keys_protected(args, fact)


def private_keys_protected(args: HostKeysProtected, fact: SshdConfig) -> Verdict:
    keys = _effective_keys(fact)
    if not keys:
        return Verdict(Status.ERROR, "none of the host keys sshd uses could be inspected")
    bad = []
    for path in keys:
        stat = fact.stats[path]
        group_mode = args.key_group_mode if args.key_group and stat.group == args.key_group else None
        allowed = args.mode if group_mode is None else group_mode
        if stat.uid != 0 or stat.permissions & ~allowed:
            also = f" ({args.key_group_mode:04o} root:{args.key_group})" if args.key_group_mode else ""
            bad.append(_stat_evidence(stat, f"{args.mode:04o} root{also}"))
    if bad:
        return Verdict(Status.FAIL, f"{len(bad)} private host key(s) readable by others", tuple(bad))
    return Verdict(Status.PASS, f"{len(keys)} private host key(s) readable by root only")


def public_keys_protected(args: HostKeysProtected, fact: SshdConfig) -> Verdict:
    keys = [path + ".pub" for path in _effective_keys(fact) if path + ".pub" in fact.stats]
    bad = []
    for path in keys:
        stat = fact.stats[path]
        if stat.uid != 0 or stat.permissions & ~args.mode:
            bad.append(_stat_evidence(stat, f"{args.mode:04o} or stricter, owner root"))
    if bad:
        return Verdict(Status.FAIL, f"{len(bad)} public host key(s) writable by others", tuple(bad))
    return Verdict(Status.PASS, f"{len(keys)} public host key(s) owned by root and not writable by others")


class HostKeysStrong(FamilyArgs):
    """dev-sec sshd-50: key types never acceptable, and the smallest RSA key."""

    forbidden_kinds: tuple[StrictStr, ...]  # as ssh-keygen -l prints them: DSA
    rsa_min_bits: PositiveInt


def host_keys_strong(args: HostKeysStrong, fact: SshdConfig) -> Verdict:
    paths = fact.options.get("hostkey", ())
    keys = [fact.host_keys[p] for p in paths if p in fact.host_keys]
    if not keys:
        return Verdict(Status.ERROR, "ssh-keygen -l could not describe any host key sshd uses")
    bad = [
        Evidence(
            f"{key.kind} {key.bits} bits",
            f"RSA of at least {args.rsa_min_bits} bits, no {', '.join(args.forbidden_kinds)}",
            f"ssh-keygen -l -f {key.path}",
        )
        for key in keys
        if key.kind in args.forbidden_kinds or (key.kind == "RSA" and (key.bits or 0) < args.rsa_min_bits)
    ]
    if bad:
        return Verdict(Status.FAIL, f"{len(bad)} weak host key(s)", tuple(bad))
    return Verdict(Status.PASS, ", ".join(f"{k.kind} {k.bits}" for k in keys))


class ModuliStrong(FamilyArgs):
    """dev-sec sshd-48: no Diffie-Hellman group in /etc/ssh/moduli below `min_bits`."""

    min_bits: PositiveInt


def moduli_strong(args: ModuliStrong, fact: SshdConfig) -> Verdict:
    if fact.moduli is None:
        return Verdict(Status.ERROR, "the moduli file could not be read")
    smallest, count = fact.moduli
    if count == 0 or smallest is None:
        return Verdict(Status.PASS, "no moduli entries: sshd falls back to its built-in groups")
    evidence = (
        Evidence(
            f"smallest group {smallest + 1} bits",
            f"at least {args.min_bits} bits",
            "size column of /etc/ssh/moduli",
        ),
    )
    # The size column is the bit length minus one (2047 for a 2048-bit group).
    if smallest + 1 < args.min_bits:
        return Verdict(Status.FAIL, f"/etc/ssh/moduli has groups of {smallest + 1} bits", evidence)
    return Verdict(Status.PASS, f"{count} groups, the smallest {smallest + 1} bits", evidence)


SSHD_PREDICATES: Mapping[str, Predicate] = {
    "sshd_config_valid": _on_sshd(config_valid),
    "sshd_access_limited": _on_sshd(access_limited),
}


SSHD_FAMILIES = (
    sshd_family(
        "sshd_max_startups", MaxStartups, max_startups_limited, "MaxStartups no looser than start:rate:full"
    ),
    sshd_family(
        "sshd_config_paths_private",
        ConfigFilesProtected,
        files_protected,
        "every file and drop-in directory sshd reads is root's and at most a mode",
    ),
    sshd_family(
        "sshd_host_keys_protected",
        HostKeysProtected,
        host_keys_protected,
        "host key files at most a mode, root's",
    ),
    sshd_family(
        "sshd_host_key_strength", HostKeysStrong, host_keys_strong, "no forbidden key type, RSA of N bits"
    ),
    sshd_family("sshd_moduli_min_bits", ModuliStrong, moduli_strong, "no Diffie-Hellman group below N bits"),
)
