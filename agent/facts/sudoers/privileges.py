"""The privilege inventory: who the policy lets run what, as root or anyone, on this host.

Aliases are expanded and exclusions kept ("!cmd"), so a report can name every principal
and command behind a privilege and the file:line it comes from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.facts.sudoers.identity import Person
from agent.facts.sudoers.match import Matcher, Probe, last_match
from agent.facts.sudoers.syntax_tree import CmndSpec, Member, UserSpec


class Evaluator(Matcher):
    """sudo's matching rules over one assembled policy and host, and the inventory they give."""

    def expand(self, kind: str, members: Sequence[Member], negate: bool = False, depth: int = 0) -> list[str]:
        out: list[str] = []
        for member in members:
            flipped = member.negated != negate
            if member.kind == "ALIAS" and depth < 16:
                alias = self.policy.aliases.get((kind, member.name))
                if alias is not None:
                    out.extend(self.expand(kind, alias.members, flipped, depth + 1))
                    continue
                out.append(("!" if flipped else "") + member.name + " (undefined alias)")
                continue
            out.append(Member(member.kind, member.name, flipped, member.command).text())
        return out

    def positive(self, member: Member, depth: int = 0) -> bool:
        """Whether a command item allows at least one command (not only negations)."""
        if member.kind == "ALIAS":
            alias = self.policy.aliases.get(("Cmnd_Alias", member.name))
            if alias is None or depth > 16:
                return False
            inner = any(self.positive(m, depth + 1) for m in alias.members)
            return inner and not member.negated
        return not member.negated

    def root_privileges(self) -> list[RootPrivilege]:
        """Per rule and host part: the commands (allowed and excluded) that run as root."""
        root = Person("root", 0, 0, frozenset({"root"}), frozenset({0}))
        nobody = Person("\0nobody", None, None, frozenset(), frozenset())
        found = []
        for spec_user in self.policy.userspecs:
            for priv in spec_user.privileges:
                if last_match(priv.hosts, self.host_matches) is False:
                    continue
                commands = [
                    text
                    for spec in priv.cmndspecs
                    if self.runas_ok(spec, root, nobody)
                    for text in self.expand("Cmnd_Alias", (spec.command,))
                ]
                if commands:
                    users = tuple(self.expand("User_Alias", spec_user.users))
                    found.append(RootPrivilege(users, tuple(commands), str(spec_user.where)))
        return found

    def grants(self, root_only: bool = True) -> list[Grant]:
        """Every command spec that lets someone run something (as root, with `root_only`) on
        this host. A host list nodeward cannot evaluate (netgroups) counts as matching:
        better one privilege too many in a report than one missed."""
        root = Person("root", 0, 0, frozenset({"root"}), frozenset({0}))
        nobody = Person("\0nobody", None, None, frozenset(), frozenset())  # never "myself"
        found: list[Grant] = []
        for spec_user in self.policy.userspecs:
            for priv in spec_user.privileges:
                if last_match(priv.hosts, self.host_matches) is False:
                    continue
                for spec in priv.cmndspecs:
                    if root_only and not self.runas_ok(spec, root, nobody):
                        continue
                    if not self.positive(spec.command):
                        continue
                    commands = self.expand("Cmnd_Alias", (spec.command,))
                    found.append(
                        Grant(
                            principals=tuple(self.expand("User_Alias", spec_user.users)),
                            runas=_runas_text(spec),
                            commands=tuple(commands),
                            all_commands=self.cmnd_matches(spec.command, Probe("/nodeward/any/command"))
                            is True,
                            nopasswd=spec.tag("NOPASSWD") is True,
                            source=str(spec_user.where),
                            spec=spec,
                            userspec=spec_user,
                        )
                    )
        return found


@dataclass(frozen=True, slots=True)
class RootPrivilege:
    """One `host = commands` part of a rule, as far as it concerns running as root."""

    principals: tuple[str, ...]
    commands: tuple[str, ...]  # aliases expanded, "!cmd" for exclusions
    source: str


def _runas_text(spec: CmndSpec) -> str:
    if spec.runas_users is None and spec.runas_groups is None:
        return "root (runas_default)"
    users = ", ".join(m.text() for m in spec.runas_users or ())
    groups = ", ".join(m.text() for m in spec.runas_groups or ())
    return f"({users}{' : ' + groups if groups else ''})"


@dataclass(frozen=True, slots=True)
class Grant:
    """One command spec that lets its principals run commands as root on this host."""

    principals: tuple[str, ...]  # aliases expanded: "alice", "%sudo", "!bob", "ALL"
    runas: str
    commands: tuple[str, ...]
    all_commands: bool  # any command at all: as good as a root shell
    nopasswd: bool  # NOPASSWD tag on this spec (inherited within its line, as sudo does)
    source: str  # file:line of the rule
    spec: CmndSpec = field(repr=False, compare=False)
    userspec: UserSpec = field(repr=False, compare=False)

    def summary(self) -> str:
        what = "ALL commands" if self.all_commands else ", ".join(self.commands)[:160]
        auth = "without a password" if self.nopasswd else "with a password"
        return f"{', '.join(self.principals)} may run {what} as {self.runas} {auth}"
