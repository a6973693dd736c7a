"""sshd families: a keyword that must be off, an algorithm list with forbidden entries,
and Match blocks that must not re-open what the operator's connection has closed.

    assert: {predicate: sshd_keyword_off, args: {keyword: x11forwarding, overridden_by: disableforwarding}}
    assert: {predicate: sshd_algorithms, args: {keyword: macs, forbidden: ["*md5*", "*sha1*"]}}
    assert: {predicate: sshd_match_keeps_off, args: {keywords: [permitrootlogin], what: root login}}

Values come from `sshd -T` (the effective configuration); the forbidden patterns use
sshd's own pattern syntax (`*` and `?`), matched as sshd matches them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, StrictBool, StrictStr

from agent.facts.sshd.fact import FILE_WALK, MatchView, SshdConfig
from agent.facts.sshd.keywords import DEFAULTS
from agent.facts.sshd.match import match_pattern
from agent.facts.sshd.sources import attribution, where
from agent.findings import Evidence, Status
from agent.rules.families import Facts, Family, FamilyArgs
from agent.rules.verdict import Verdict
from agent.textsafe import printable

ShdJudge = Callable[[SshdConfig], Verdict]


def on_sshd(facts: Facts, judge: ShdJudge) -> Verdict:
    fact = facts.get("sshd")
    if not isinstance(fact, SshdConfig):
        return Verdict(Status.ERROR, "the sshd fact is not available")
    return judge(fact)


def sshd_family(
    name: str, args: type[FamilyArgs], judge: Callable[[Any, SshdConfig], Verdict], summary: str
) -> Family:
    """A family judged over the sshd fact (ERROR when it is not available)."""
    return Family(name, args, lambda a, facts, node: on_sshd(facts, lambda fact: judge(a, fact)), summary)


def observed(fact: SshdConfig, key: str) -> str | None:
    values = fact.options.get(key)
    return values[0] if values else None


def keyword_evidence(fact: SshdConfig, key: str, seen: str, expected: str) -> Evidence:
    return Evidence(printable(seen, 200), expected, fact.source_of(key))


def _lowercase_keyword(value: str) -> str:
    """`sshd -T` prints keywords in lower case; a check written as in sshd_config works too."""
    if not value.isascii() or not value.isalnum():
        raise ValueError(f"{value!r} is not an sshd keyword")
    return value.lower()


Keyword = Annotated[StrictStr, AfterValidator(_lowercase_keyword)]


# --- sshd_keyword_off ----------------------------------------------------------------


class KeywordOff(FamilyArgs):
    keyword: Keyword
    label: StrictStr = ""  # "X11 forwarding", for the failure sentence
    overridden_by: Keyword | None = None  # a keyword whose `yes` turns this one off too
    absent_is_off: StrictBool = False  # a build without the feature does not print the keyword


def _keyword_off(args: KeywordOff, fact: SshdConfig) -> Verdict:
    key = args.keyword
    value = observed(fact, key)
    if value is None:
        if args.absent_is_off:
            return Verdict(Status.PASS, f"this sshd has no {key} support")
        return Verdict(Status.ERROR, f"sshd does not report {key}")
    if value == "no":
        return Verdict(Status.PASS, f"{key} is no", (keyword_evidence(fact, key, value, "no"),))
    override = observed(fact, args.overridden_by) if args.overridden_by else None
    if args.overridden_by and override == "yes":
        return Verdict(
            Status.PASS,
            f"{key} is {value}, but {args.overridden_by} yes overrides it",
            (keyword_evidence(fact, args.overridden_by, override, "yes"),),
        )
    if args.overridden_by is None:
        return Verdict(
            Status.FAIL, f"{key} is {value}, expected no", (keyword_evidence(fact, key, value, "no"),)
        )
    expected = f"{key} no, or {args.overridden_by} yes"
    return Verdict(
        Status.FAIL,
        f"{args.label or key} is allowed: {key} is {value} "
        f"and {args.overridden_by} is {override or 'not set'}",
        (keyword_evidence(fact, key, value, expected),),
    )


KEYWORD_OFF = sshd_family(
    "sshd_keyword_off",
    KeywordOff,
    _keyword_off,
    "an sshd keyword is `no` in the effective configuration (or overridden, or unsupported)",
)


# --- sshd_algorithms -----------------------------------------------------------------


class Algorithms(FamilyArgs):
    keyword: Literal["ciphers", "kexalgorithms", "macs", "hostkeyalgorithms", "pubkeyacceptedalgorithms"]
    forbidden: tuple[StrictStr, ...]  # sshd patterns: "*-cbc", "*sha1*"


def _algorithms(args: Algorithms, fact: SshdConfig) -> Verdict:
    key = args.keyword
    value = observed(fact, key)
    if value is None:
        return Verdict(Status.ERROR, f"sshd does not report {key}")
    weak = [name for name in value.split(",") if any(match_pattern(name, p) for p in args.forbidden)]
    expected = "none of: " + ", ".join(args.forbidden)
    if weak:
        evidence = keyword_evidence(fact, key, "weak: " + ",".join(weak), expected)
        return Verdict(Status.FAIL, f"{key} offers {', '.join(weak)}", (evidence,))
    return Verdict(
        Status.PASS, f"{key} offers no weak algorithm", (keyword_evidence(fact, key, value, expected),)
    )


ALGORITHMS = sshd_family(
    "sshd_algorithms", Algorithms, _algorithms, "an sshd algorithm list offers none of the forbidden patterns"
)


# --- sshd_match_keeps_off ------------------------------------------------------------

# How open each value is: a Match block fails when it gives a connection a more open
# value than the operator's own connection gets. Semantics of sshd's values, not policy.
_RANKS: Mapping[str, Mapping[str, int]] = {
    "passwordauthentication": {"no": 0, "yes": 1},
    "kbdinteractiveauthentication": {"no": 0, "yes": 1},
    "permitemptypasswords": {"no": 0, "yes": 1},
    "permitrootlogin": {"no": 0, "forced-commands-only": 1, "without-password": 2, "yes": 3},
}


def _ranked(value: str) -> str:
    value = _lowercase_keyword(value)
    if value not in _RANKS:
        raise ValueError(f"Match blocks are judged for {', '.join(_RANKS)}, not {value!r}")
    return value


class MatchKeepsOff(FamilyArgs):
    keywords: tuple[Annotated[StrictStr, AfterValidator(_ranked)], ...]
    what: StrictStr  # "password logins", for sentences


def _rank(key: str, value: str | None) -> int:
    return _RANKS[key].get((value or "").lower(), 0)


def _match_keeps_off(args: MatchKeepsOff, fact: SshdConfig) -> Verdict:
    if not fact.walked:
        return Verdict(Status.ERROR, "no file walk arrived from the node, so Match blocks are unknown")
    if not fact.match_views:
        return Verdict(Status.PASS, "the configuration has no Match blocks")
    failures: list[Evidence] = []
    unproven: list[str] = []
    for view in fact.match_views:
        for key in args.keywords:
            found = _reopened(fact, view, key)
            if isinstance(found, Evidence):
                failures.append(found)
            elif found:
                unproven.append(found)
    if failures:
        blocks = sorted({e.observed.split(" for ", 1)[-1] for e in failures})
        return Verdict(Status.FAIL, f"{args.what} re-opened for {'; '.join(blocks)}", tuple(failures[:10]))
    kept = f"keep {args.what} as strict as the operator's connection"
    summary = f"{len(fact.match_views)} Match block(s) {kept}"
    return Verdict(Status.PASS, summary + (f" ({'; '.join(unproven[:3])})" if unproven else ""))


def _reopened(fact: SshdConfig, view: MatchView, key: str) -> Evidence | str | None:
    """Evidence when this Match view is weaker than the operator's view, a note when it
    could not be evaluated and the block itself does not set the keyword, else None."""
    operator = observed(fact, key)
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
        seen = f"{key} {value} for {view.block}"
        expected = f"{operator or 'no'} (as for the operator's connection) or no"
        return Evidence(printable(seen, 200), expected, printable(f"{origin} — {view.method}", 600))
    # Not evaluated by sshd (or the derived connection misses the block): read the block.
    for directive in view.directives:
        if directive.keyword == key and _rank(key, directive.values[0]) > _rank(key, operator):
            seen = f"{key} {directive.values[0]} for {view.block}"
            why = view.note or "the connection nodeward derived is not selected by it"
            source = f"{where(directive)} — {FILE_WALK}, not confirmed by sshd -T: {why}"
            return Evidence(printable(seen, 200), f"{operator or 'no'} or no", printable(source, 600))
    return f"{view.block} not evaluated: {view.note}" if view.note else None


MATCH_KEEPS_OFF = sshd_family(
    "sshd_match_keeps_off",
    MatchKeepsOff,
    _match_keeps_off,
    "no Match block gives a connection a more open value than the operator's connection",
)
