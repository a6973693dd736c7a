"""sshd judgements one YAML comparison cannot express.

- either/or settings: `DisableForwarding yes` turns off X11, agent and TCP forwarding
  whatever the individual keywords say (sshd_config(5)), so a check accepts either;
- algorithm lists: a FAIL names the weak algorithms actually offered;
- file modes of everything sshd reads (CIS Ubuntu 24.04 5.1.1-5.1.3) and host key sizes;
- Match blocks (catalogue SSH-26): a block that gives some connections a weaker
  password or root-login setting than the operator's own connection gets is reported
  with its condition and the line that set the value. Nobody else evaluates Match
  blocks per condition (reference/anchors.md, "Match block handling").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from agent.facts.model import FactValue
from agent.facts.sshd import FILE_WALK, MatchView, SshdConfig
from agent.facts.sshd_keywords import DEFAULTS
from agent.facts.sshd_match import match_pattern
from agent.facts.sshd_sources import attribution, where
from agent.facts.sshd_walk import FileStat
from agent.findings import Evidence, Status
from agent.inventory.model import Node
from agent.rules.verdict import Predicate, Verdict
from agent.textsafe import printable

_ShdCheck = Callable[[SshdConfig], Verdict]


def _on_sshd(judge: _ShdCheck) -> Predicate:
    """Adapt a judgement of the sshd fact to the predicate signature."""

    def predicate(facts: Mapping[str, FactValue], node: Node) -> Verdict:
        fact = facts.get("sshd")
        if not isinstance(fact, SshdConfig):
            return Verdict(Status.ERROR, "the sshd fact is not available")
        return judge(fact)

    return predicate


def _observed(fact: SshdConfig, key: str) -> str | None:
    values = fact.options.get(key)
    return values[0] if values else None


def _evidence(fact: SshdConfig, key: str, observed: str, expected: str) -> Evidence:
    return Evidence(printable(observed, 200), expected, fact.source_of(key))


# --------------------------------------------------------------------------- either/or


def _forwarding_off(key: str, label: str) -> _ShdCheck:
    def judge(fact: SshdConfig) -> Verdict:
        value, disabled = _observed(fact, key), _observed(fact, "disableforwarding")
        if value is None:
            return Verdict(Status.ERROR, f"sshd does not report {key}")
        if value == "no":
            return Verdict(Status.PASS, f"{key} is no", (_evidence(fact, key, value, "no"),))
        if disabled == "yes":
            return Verdict(
                Status.PASS,
                f"{key} is {value}, but disableforwarding yes overrides it",
                (_evidence(fact, "disableforwarding", disabled, "yes"),),
            )
        expected = f"{key} no, or disableforwarding yes"
        return Verdict(
            Status.FAIL,
            f"{label} is allowed: {key} is {value} and disableforwarding is {disabled or 'not set'}",
            (_evidence(fact, key, value, expected),),
        )

    return judge


def _off_or_unsupported(key: str) -> _ShdCheck:
    """Kerberos/GSSAPI: a build without them does not print the keyword: that is off too."""

    def judge(fact: SshdConfig) -> Verdict:
        value = _observed(fact, key)
        if value is None:
            return Verdict(Status.PASS, f"this sshd has no {key} support")
        evidence = (_evidence(fact, key, value, "no"),)
        if value == "no":
            return Verdict(Status.PASS, f"{key} is no", evidence)
        return Verdict(Status.FAIL, f"{key} is {value}, expected no", evidence)

    return judge


def access_limited(fact: SshdConfig) -> Verdict:
    present = [key for key in ("allowusers", "allowgroups") if fact.options.get(key)]
    if present:
        key = present[0]
        shown = " ".join(fact.options[key])
        return Verdict(
            Status.PASS, f"{key} {shown}", (_evidence(fact, key, shown, "AllowUsers or AllowGroups"),)
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

# Weak by CIS Ubuntu 24.04 5.1.6/5.1.12/5.1.15 and SSG sshd_use_strong_*: CBC ciphers and
# RC4; SHA-1 and 1024-bit group key exchange; MD5, RIPEMD, SHA-1, 96-bit and UMAC-64 MACs.
_WEAK: Mapping[str, tuple[str, ...]] = {
    "ciphers": ("*-cbc", "*cbc@*", "arcfour*", "3des*", "blowfish*", "cast128*"),
    "kexalgorithms": ("*-sha1", "*-sha1@*", "diffie-hellman-group1-*", "gss-*"),
    "macs": ("*md5*", "*ripemd160*", "*sha1*", "*-96*", "umac-64*"),
}


def _strong_list(key: str) -> _ShdCheck:
    def judge(fact: SshdConfig) -> Verdict:
        value = _observed(fact, key)
        if value is None:
            return Verdict(Status.ERROR, f"sshd does not report {key}")
        weak = [name for name in value.split(",") if any(match_pattern(name, p) for p in _WEAK[key])]
        expected = "none of: " + ", ".join(_WEAK[key])
        if weak:
            evidence = _evidence(fact, key, "weak: " + ",".join(weak), expected)
            return Verdict(Status.FAIL, f"{key} offers {', '.join(weak)}", (evidence,))
        return Verdict(
            Status.PASS, f"{key} offers no weak algorithm", (_evidence(fact, key, value, expected),)
        )

    return judge


def max_startups_limited(fact: SshdConfig) -> Verdict:
    value = _observed(fact, "maxstartups")
    if value is None:
        return Verdict(Status.ERROR, "sshd does not report maxstartups")
    parts = value.split(":")
    expected = "10:30:60 or stricter (start <= 10, rate >= 30, full <= 60)"
    evidence = (_evidence(fact, "maxstartups", value, expected),)
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


def _stat_evidence(stat: FileStat, expected: str) -> Evidence:
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
            bad.append(_stat_evidence(stat, "0600 or stricter, owner root"))
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


def private_keys_protected(fact: SshdConfig) -> Verdict:
    keys = _effective_keys(fact)
    if not keys:
        return Verdict(Status.ERROR, "none of the host keys sshd uses could be inspected")
    bad = []
    for path in keys:
        stat = fact.stats[path]
        allowed = 0o640 if stat.group == _KEY_GROUP else 0o600
        if stat.uid != 0 or stat.permissions & ~allowed:
            bad.append(_stat_evidence(stat, "0600 root (0640 root:ssh_keys)"))
    if bad:
        return Verdict(Status.FAIL, f"{len(bad)} private host key(s) readable by others", tuple(bad))
    return Verdict(Status.PASS, f"{len(keys)} private host key(s) readable by root only")


def public_keys_protected(fact: SshdConfig) -> Verdict:
    keys = [path + ".pub" for path in _effective_keys(fact) if path + ".pub" in fact.stats]
    bad = []
    for path in keys:
        stat = fact.stats[path]
        if stat.uid != 0 or stat.permissions & ~0o644:
            bad.append(_stat_evidence(stat, "0644 or stricter, owner root"))
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


# --------------------------------------------------------------------------- Match blocks

_RANKS: Mapping[str, Mapping[str, int]] = {
    "passwordauthentication": {"no": 0, "yes": 1},
    "kbdinteractiveauthentication": {"no": 0, "yes": 1},
    "permitemptypasswords": {"no": 0, "yes": 1},
    "permitrootlogin": {"no": 0, "forced-commands-only": 1, "without-password": 2, "yes": 3},
}


def _rank(key: str, value: str | None) -> int:
    return _RANKS[key].get((value or "").lower(), 0)


def _match_reopens(keys: tuple[str, ...], what: str) -> _ShdCheck:
    def judge(fact: SshdConfig) -> Verdict:
        if not fact.walked:
            return Verdict(Status.ERROR, "no file walk arrived from the node, so Match blocks are unknown")
        if not fact.match_views:
            return Verdict(Status.PASS, "the configuration has no Match blocks")
        failures: list[Evidence] = []
        unproven: list[str] = []
        for view in fact.match_views:
            for key in keys:
                found = _reopened(fact, view, key)
                if isinstance(found, Evidence):
                    failures.append(found)
                elif found:
                    unproven.append(found)
        if failures:
            blocks = sorted({e.observed.split(" for ", 1)[-1] for e in failures})
            return Verdict(Status.FAIL, f"{what} re-opened for {'; '.join(blocks)}", tuple(failures[:10]))
        summary = f"{len(fact.match_views)} Match block(s) keep {what} as strict as the operator's connection"
        return Verdict(Status.PASS, summary + (f" ({'; '.join(unproven[:3])})" if unproven else ""))

    return judge


def _reopened(fact: SshdConfig, view: MatchView, key: str) -> Evidence | str | None:
    """Evidence when this Match view is weaker than the operator's view, a note when it
    could not be evaluated and the block itself does not set the keyword, else None."""
    operator = _observed(fact, key)
    if view.options and view.selected is not False:
        value = view.value(key)
        if value is None or _rank(key, value) == 0 or _rank(key, value) <= _rank(key, operator):
            return None
        setting = view.settings.get(key)
        walk_says = setting.values if setting is not None else DEFAULTS.get(key)
        # When the walk disagrees with sshd, name no line rather than a wrong one.
        origin = (
            attribution(setting) if walk_says == (value,) else "the file walk could not attribute this value"
        )
        observed = f"{key} {value} for {view.block}"
        expected = f"{operator or 'no'} (as for the operator's connection) or no"
        return Evidence(printable(observed, 200), expected, printable(f"{origin} — {view.method}", 600))
    # Not evaluated by sshd (or the derived connection misses the block): read the block.
    for directive in view.directives:
        if directive.keyword == key and _rank(key, directive.values[0]) > _rank(key, operator):
            observed = f"{key} {directive.values[0]} for {view.block}"
            why = view.note or "the connection nodeward derived is not selected by it"
            source = f"{where(directive)} — {FILE_WALK}, not confirmed by sshd -T: {why}"
            return Evidence(printable(observed, 200), f"{operator or 'no'} or no", printable(source, 600))
    return f"{view.block} not evaluated: {view.note}" if view.note else None


SSHD_PREDICATES: Mapping[str, Predicate] = {
    "sshd_config_valid": _on_sshd(config_valid),
    "sshd_x11_forwarding_off": _on_sshd(_forwarding_off("x11forwarding", "X11 forwarding")),
    "sshd_tcp_forwarding_off": _on_sshd(_forwarding_off("allowtcpforwarding", "TCP forwarding")),
    "sshd_agent_forwarding_off": _on_sshd(_forwarding_off("allowagentforwarding", "Agent forwarding")),
    "sshd_gssapi_off": _on_sshd(_off_or_unsupported("gssapiauthentication")),
    "sshd_kerberos_off": _on_sshd(_off_or_unsupported("kerberosauthentication")),
    "sshd_access_limited": _on_sshd(access_limited),
    "sshd_ciphers_strong": _on_sshd(_strong_list("ciphers")),
    "sshd_kex_strong": _on_sshd(_strong_list("kexalgorithms")),
    "sshd_macs_strong": _on_sshd(_strong_list("macs")),
    "sshd_max_startups_limited": _on_sshd(max_startups_limited),
    "sshd_config_files_protected": _on_sshd(files_protected),
    "sshd_host_private_keys_protected": _on_sshd(private_keys_protected),
    "sshd_host_public_keys_protected": _on_sshd(public_keys_protected),
    "sshd_host_keys_strong": _on_sshd(host_keys_strong),
    "sshd_moduli_strong": _on_sshd(moduli_strong),
    "sshd_match_passwords_off": _on_sshd(
        _match_reopens(
            ("passwordauthentication", "kbdinteractiveauthentication", "permitemptypasswords"),
            "password logins",
        )
    ),
    "sshd_match_root_login_off": _on_sshd(_match_reopens(("permitrootlogin",), "root login")),
}
