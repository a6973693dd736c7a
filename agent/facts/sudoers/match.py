"""sudo's matching rules: which users, hosts, runas targets and commands an entry covers.

Semantics follow plugins/sudoers/match.c and parse.c: in every list the last matching
item decides, the last matching command spec decides, Defaults apply global/host/user/runas
in file order and command Defaults after them, a NOPASSWD/PASSWD tag beats the
`authenticate` default, and exempt_group members never authenticate. tests/fleet/test_sudo.py
holds `sudo -l -U` as the oracle over generated policies.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agent.facts.sudoers.assemble import Policy
from agent.facts.sudoers.collect import int_or_none
from agent.facts.sudoers.defaults import Setting, apply_default
from agent.facts.sudoers.identity import HostInfo, Person
from agent.facts.sudoers.syntax_tree import CmndSpec, DefaultsEntry, Member


@dataclass(frozen=True, slots=True)
class Probe:
    """A command a user might run: absolute path and its arguments ("" for none)."""

    path: str
    args: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    needs_password: bool | None  # None when not allowed
    rule: CmndSpec | None
    why: str  # which rule decided, and why no password is needed


_META = re.compile(r"[*?\[]")


def _glob_regex(pattern: str, pathname: bool) -> re.Pattern[str] | None:
    """fnmatch(3) with backslash escapes, and FNM_PATHNAME when `pathname` (for paths)."""
    out: list[str] = []
    i = 0
    any_char = "[^/]" if pathname else "."
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char == "*":
            out.append(any_char + "*")
        elif char == "?":
            out.append(any_char)
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                body = body.replace("\\", "\\\\").replace("^", "\\^")
                out.append(f"[{'^' if negate else ''}{body}]")
                i = end + 1
                continue
        else:
            out.append(re.escape(char))
        i += 1
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return None


def _glob(pattern: str, text: str, *, pathname: bool, casefold: bool = False) -> bool:
    compiled = _glob_regex(pattern.casefold() if casefold else pattern, pathname)
    return compiled is not None and compiled.fullmatch(text.casefold() if casefold else text) is not None


def _regex(pattern: str, text: str) -> bool:
    flags = 0
    if pattern.startswith("^(?i)"):
        pattern, flags = "^" + pattern[5:], re.IGNORECASE
    try:
        return re.search(pattern, text, flags) is not None
    except re.error:
        return False


def command_matches(path: str, args: str | None, probe: Probe) -> bool:
    if path in ("list", "sudoedit"):
        return probe.path == path
    if path.startswith("^"):
        matched = _regex(path, probe.path)
    elif path.endswith("/"):
        return probe.path.rsplit("/", 1)[0] + "/" == path
    elif _META.search(path):
        matched = _glob(path, probe.path, pathname=True)
    else:
        matched = path == probe.path
    if not matched:
        return False
    if args is None:
        return True
    if args == '""':
        return probe.args == ""
    if args.startswith("^"):
        return _regex(args, probe.args)
    return _glob(args, probe.args, pathname=False)


MemberMatch = bool | None  # True ALLOW, False DENY, None no match (sudo's UNSPEC)


def last_match(members: Sequence[Member], match: Callable[[Member], MemberMatch]) -> MemberMatch:
    """Every sudoers list: the last item that matches decides (match.c, *_matches)."""
    for member in reversed(members):
        verdict = match(member)
        if verdict is not None:
            return verdict
    return None


def _flip(member: Member, matched: bool) -> MemberMatch:
    return (not member.negated) if matched else None


class Matcher:
    """sudo's matching rules over one assembled policy, for one host."""

    def __init__(self, policy: Policy, host: HostInfo, compiled: Mapping[str, Setting]) -> None:
        self.policy = policy
        self.host = host
        self.compiled = compiled
        self.defaults = policy.defaults
        base = {
            name: self.setting(name).value for name in ("case_insensitive_user", "case_insensitive_group")
        }
        self.ci_user = base["case_insensitive_user"] is True
        self.ci_group = base["case_insensitive_group"] is True

    # ---- members

    def _alias(
        self, kind: str, member: Member, seen: tuple[str, ...], match: Callable[[Member], MemberMatch]
    ) -> MemberMatch:
        alias = self.policy.aliases.get((kind, member.name))
        if alias is None or member.name in seen or len(seen) > 64:
            return None
        verdict = last_match(alias.members, match)
        if verdict is None:
            return None
        return (not verdict) if member.negated else verdict

    def _same_user(self, pattern: str, who: Person) -> bool:
        if pattern.startswith("#") and who.uid is not None and int_or_none(pattern[1:]) == who.uid:
            return True
        return pattern.casefold() == who.name.casefold() if self.ci_user else pattern == who.name

    def _in_group(self, pattern: str, who: Person) -> bool | None:
        name = pattern[1:]
        if name.startswith(":"):
            return None  # non-Unix group: needs sudo's group plugin, unknown here
        if name.startswith("#"):
            gid = int_or_none(name[1:])
            return gid is not None and gid in who.gids
        if self.ci_group:
            return name.casefold() in {g.casefold() for g in who.groups}
        return name in who.groups

    def user_matches(self, member: Member, who: Person, seen: tuple[str, ...] = ()) -> MemberMatch:
        if member.kind == "ALL":
            return not member.negated
        if member.kind == "ALIAS":
            return self._alias(
                "User_Alias", member, seen, lambda m: self.user_matches(m, who, (*seen, member.name))
            )
        if member.kind == "WORD":
            return _flip(member, self._same_user(member.name, who))
        if member.kind == "USERGROUP":
            return _flip(member, self._in_group(member.name, who) is True)
        return None  # netgroups: not evaluated

    def host_matches(self, member: Member, seen: tuple[str, ...] = ()) -> MemberMatch:
        if member.kind == "ALL":
            return not member.negated
        if member.kind == "ALIAS":
            return self._alias(
                "Host_Alias", member, seen, lambda m: self.host_matches(m, (*seen, member.name))
            )
        if member.kind == "NTWKADDR":
            return _flip(member, self._address_matches(member.name))
        if member.kind == "WORD":
            target = self.host.long if "." in member.name else self.host.short
            if _META.search(member.name):
                return _flip(member, _glob(member.name, target, pathname=False, casefold=True))
            return _flip(member, member.name.casefold() == target.casefold())
        return None

    def _address_matches(self, text: str) -> bool:
        try:
            if "/" in text:
                address, mask = text.split("/", 1)
                network = ipaddress.ip_network(f"{address}/{mask}", strict=False)
                return any(i.ip in network for i in self.host.interfaces)
            wanted = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(i.ip == wanted or i.network.network_address == wanted for i in self.host.interfaces)

    def runas_user_matches(
        self, member: Member, target: Person, who: Person, seen: tuple[str, ...] = ()
    ) -> MemberMatch:
        if member.kind == "ALL":
            return not member.negated
        if member.kind == "ALIAS":
            return self._alias(
                "Runas_Alias",
                member,
                seen,
                lambda m: self.runas_user_matches(m, target, who, (*seen, member.name)),
            )
        if member.kind == "WORD":
            return _flip(member, self._same_user(member.name, target))
        if member.kind == "USERGROUP":
            return _flip(member, self._in_group(member.name, target) is True)
        if member.kind == "MYSELF":
            return _flip(member, target.name == who.name)
        return None

    def runas_ok(self, spec: CmndSpec, target: Person, who: Person, invoker: Person | None = None) -> bool:
        """Whether `spec` lets `who` run as `target`. An empty Runas_Spec, "()", means the
        user running sudo, which for root's `sudo -l -U who` is root (`invoker`), not `who`
        (observed with sudo 1.9.13; a "(:group)" spec compares with `who` either way)."""
        if spec.runas_users is None and spec.runas_groups is None:
            default = self.setting("runas_default", who).value
            return isinstance(default, str) and self._same_user(default, target)
        if spec.runas_users is None:
            return target.name == who.name  # (:group) runs as the listed user only
        myself = invoker or who
        return last_match(spec.runas_users, lambda m: self.runas_user_matches(m, target, myself)) is True

    def cmnd_matches(self, member: Member, probe: Probe, seen: tuple[str, ...] = ()) -> MemberMatch:
        if member.kind == "ALL":
            return not member.negated
        if member.kind == "ALIAS":
            return self._alias(
                "Cmnd_Alias", member, seen, lambda m: self.cmnd_matches(m, probe, (*seen, member.name))
            )
        if member.command is not None:
            return _flip(member, command_matches(member.command.path, member.command.args, probe))
        return None

    # ---- Defaults

    def setting(
        self, name: str, who: Person | None = None, target: Person | None = None, probe: Probe | None = None
    ) -> Setting:
        """The value sudo would use: global/host/user/runas Defaults in file order, then
        command Defaults (sudoers.c: update_defaults() passes)."""
        current = self.compiled.get(name, Setting(None, "unset"))
        value, source = current.value, current.source
        for entry in self.defaults:
            if entry.name == name and entry.scope != "cmnd" and self.binds(entry, who, target, probe):
                value, source = apply_default(value, entry), str(entry.where)
        for entry in self.defaults:
            if entry.name == name and entry.scope == "cmnd" and self.binds(entry, who, target, probe):
                value, source = apply_default(value, entry), str(entry.where)
        return Setting(value, source)

    def binds(
        self, entry: DefaultsEntry, who: Person | None, target: Person | None, probe: Probe | None
    ) -> bool:
        if entry.scope == "global":
            return True
        if entry.scope == "host":
            return last_match(entry.binding, self.host_matches) is True
        if entry.scope == "user":
            return who is not None and last_match(entry.binding, lambda m: self.user_matches(m, who)) is True
        if entry.scope == "runas":
            return (
                who is not None
                and target is not None
                and last_match(entry.binding, lambda m: self.runas_user_matches(m, target, who)) is True
            )
        return probe is not None and last_match(entry.binding, lambda m: self.cmnd_matches(m, probe)) is True

    # ---- decisions

    def decide(self, who: Person, target: Person, probe: Probe, invoker: Person | None = None) -> Decision:
        """What `sudo -u target probe` does for `who`: the last matching spec decides.
        `invoker` answers for `sudo -l -U who` run by someone else (see runas_ok)."""
        for spec_user in reversed(self.policy.userspecs):
            if last_match(spec_user.users, lambda m: self.user_matches(m, who)) is not True:
                continue
            for priv in reversed(spec_user.privileges):
                if last_match(priv.hosts, self.host_matches) is not True:
                    continue
                for spec in reversed(priv.cmndspecs):
                    if not self.runas_ok(spec, target, who, invoker):
                        continue
                    verdict = self.cmnd_matches(spec.command, probe)
                    if verdict is None:
                        continue
                    if not verdict:
                        return Decision(False, None, spec, f"denied by {spec.where}")
                    return self._authenticate(spec, who, target, probe)
        return Decision(False, None, None, "no rule matches")

    def _authenticate(self, spec: CmndSpec, who: Person, target: Person, probe: Probe) -> Decision:
        exempt = self.setting("exempt_group", who, target, probe)
        if isinstance(exempt.value, str) and exempt.value:
            group = exempt.value if exempt.value.startswith("%") else "%" + exempt.value
            if self._in_group(group, who):
                return Decision(
                    True, False, spec, f"{spec.where}; {who.name} is in exempt_group ({exempt.source})"
                )
        tag = spec.tag("NOPASSWD")
        if tag is not None:
            word = "NOPASSWD" if tag else "PASSWD"
            return Decision(True, not tag, spec, f"{spec.where} ({word} tag)")
        auth = self.setting("authenticate", who, target, probe)
        needs = auth.value is not False
        why = "" if needs else f", !authenticate from {auth.source}"
        return Decision(True, needs, spec, f"{spec.where}{why}")

    def may_list(self, who: Person) -> bool:
        """Whether `sudo -l -U who` finds any entry for this host."""
        return any(
            last_match(spec.users, lambda m: self.user_matches(m, who)) is True
            and any(last_match(priv.hosts, self.host_matches) is True for priv in spec.privileges)
            for spec in self.policy.userspecs
        )
