"""The whole sudo policy of a node, as sudo itself would read it, and who it makes root.

This is the fact's entry point (docs/extending.md): SCRIPT, parse() and SudoersFact with
its lookup(). The work is split by job:
* collect.py: the gather script and its records. It ships every file sudo could
  read — the main sudoers file, each include target and every entry of each include
  directory, recursively — with its stat, so names sudo skips (containing `.` or ending
  in `~`) can be reported as ignored (anchors.md: a `x.conf` drop-in is a classic "why
  does my rule not work" and a silent hole in naive scanners); alongside, `visudo -c`'s
  verdict, `sudo -V`, host names and addresses, nsswitch sources and `getent group`;
* parse_file.py: one file's text -> entries (a port of sudo's lexer and grammar);
* assemble.py: includes spliced in by sudo's rules (insecure main file disables
  sudo, insecure or missing include directories are skipped, strcmp order);
* identity.py, defaults.py, match.py: accounts and host, Defaults
  values, and match.c/parse.c semantics (the last matching item decides);
* privileges.py: the inventory of who may run what as root.
tests/fleet/test_sudo.py holds `sudo -l -U` and `visudo -c` as oracles over generated
policies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.facts.model import FactParseError, FactValue, Observation, RawSection, Unavailable
from agent.facts.sudoers.assemble import MAX_DEPTH, Ignored, IncludeUse, Policy, assemble, resolve_include
from agent.facts.sudoers.collect import (
    ADMIN_GROUPS,
    FACT,
    FILE_CAP,
    MAX_FILES,
    SCRIPT,
    FileInfo,
    Wire,
    int_or_none,
    parse_wire,
)
from agent.facts.sudoers.defaults import Setting, apply_default, compiled_defaults, sudo_version
from agent.facts.sudoers.identity import (
    Group,
    HostInfo,
    Person,
    parse_groups,
    parse_interfaces,
    parse_passwd,
    person,
)
from agent.facts.sudoers.match import Decision, MemberMatch, Probe, command_matches
from agent.facts.sudoers.privileges import Evaluator, Grant, RootPrivilege

__all__ = [
    "ADMIN_GROUPS",
    "FACT",
    "FILE_CAP",
    "MAX_DEPTH",
    "MAX_FILES",
    "SCRIPT",
    "Decision",
    "Evaluator",
    "FileInfo",
    "Grant",
    "Group",
    "HostInfo",
    "Ignored",
    "IncludeUse",
    "MemberMatch",
    "Person",
    "Policy",
    "Probe",
    "RootPrivilege",
    "Setting",
    "SudoersFact",
    "Visudo",
    "Wire",
    "apply_default",
    "assemble",
    "build",
    "command_matches",
    "compiled_defaults",
    "parse",
    "parse_groups",
    "parse_passwd",
    "parse_visudo",
    "parse_wire",
    "person",
    "resolve_include",
    "sudo_version",
]

# --------------------------------------------------------------------------- visudo


@dataclass(frozen=True, slots=True)
class Visudo:
    exit_code: int | None
    parsed_ok: tuple[str, ...]
    syntax: tuple[str, ...]  # "file:line:col: message" and other failures that are not about modes
    permissions: tuple[str, ...]  # "bad permissions" / "wrong owner" complaints
    warnings: tuple[str, ...]

    @property
    def syntax_ok(self) -> bool:
        return not self.syntax and (self.exit_code == 0 or bool(self.permissions))


def parse_visudo(text: str) -> Visudo:
    lines = text.splitlines()[:2000]
    code = None
    if lines and lines[-1].startswith("nodeward-rc="):
        code = int_or_none(lines.pop()[len("nodeward-rc=") :])
    parsed, syntax, perms, warnings = [], [], [], []
    for line in lines:
        line = line[:400]
        if line.endswith(": parsed OK"):
            parsed.append(line[: -len(": parsed OK")])
        elif line.startswith("Warning:") or "referenced but not defined" in line or "cycle in" in line:
            warnings.append(line)
        elif "bad permissions" in line or "wrong owner" in line or "is world writable" in line:
            perms.append(line)
        elif (
            re.match(r"^\S.*:\d+:\d+: ", line) or line.startswith(("visudo:", ">>>")) or "parse error" in line
        ):
            syntax.append(line)
    return Visudo(code, tuple(parsed), tuple(syntax), tuple(perms), tuple(warnings))


# --------------------------------------------------------------------------- the fact


@dataclass(frozen=True, slots=True)
class SudoersFact:
    installed: bool
    sudo_path: str
    version: str
    main: str
    policy: Policy
    files: Mapping[str, FileInfo]
    dirs: Mapping[str, FileInfo]
    visudo: Visudo | None  # None: visudo not installed
    host: HostInfo
    nsswitch: tuple[str, ...]  # sudoers sources other than files mean rules we cannot see
    scan_user: str
    scan_groups: tuple[str, ...]
    groups: Mapping[str, Group]
    accounts: tuple[tuple[str, int | None, int | None, int], ...]  # /etc/passwd rows
    compiled: Mapping[str, Setting]

    @property
    def source(self) -> str:
        return self.main

    def evaluator(self) -> Evaluator:
        return Evaluator(self.policy, self.host, self.compiled)

    def person(self, name: str) -> Person:
        row = next((r for r in self.accounts if r[0] == name), None)
        extra = self.scan_groups if name == self.scan_user else ()
        uid, gid = (row[1], row[2]) if row else (None, None)
        return person(name, uid, gid, self.groups, extra)

    @property
    def external_sources(self) -> tuple[str, ...]:
        return tuple(s for s in self.nsswitch if s not in ("files", "[NOTFOUND=return]"))

    def lookup(self, path: str) -> Observation | None:
        values: dict[str, object] = {
            "installed": self.installed,
            "version": self.version,
            "main": self.main,
            "files_read": len(self.policy.read),
            "ignored_files": tuple(i.path for i in self.policy.ignored),
            "visudo_ok": None if self.visudo is None else self.visudo.exit_code == 0,
        }
        if path not in values:
            return None
        source = "command -v sudo; sudo -V" if path in ("installed", "version") else self.main
        return Observation(values[path], source)


def parse(section: RawSection, context: Mapping[str, str]) -> FactValue:
    try:
        return build(parse_wire(section.text), context.get("user", ""))
    except FactParseError as exc:
        return Unavailable(str(exc))


def build(wire: Wire, scan_user: str) -> SudoersFact:
    scalars = wire.scalars
    uname = scalars.get("host", "")
    fqdn_line = scalars.get("fqdn", "").split()
    long_name = fqdn_line[1] if len(fqdn_line) > 1 else uname
    host_short = uname.split(".", 1)[0]
    policy = assemble(wire, host_short)
    host = HostInfo(host_short, long_name, parse_interfaces(scalars.get("addrs", "")))
    version_text = scalars.get("sudo_v", "")
    groups = parse_groups(wire.groups)
    accounts = tuple(parse_passwd(wire.passwd))
    compiled = _compiled_for(policy, host, version_text, groups, accounts)
    if compiled["fqdn"].value is not True:
        host = HostInfo(host_short, uname, host.interfaces)
    visudo = parse_visudo(scalars["visudo"]) if "visudo" in scalars else None
    nsswitch = tuple(scalars.get("nsswitch", "").split()[:16])
    return SudoersFact(
        installed=bool(scalars.get("sudo")),
        sudo_path=scalars.get("sudo", ""),
        version=sudo_version(scalars.get("sudo_v", ""))[0],
        main=scalars.get("main") or "/etc/sudoers",
        policy=policy,
        files=wire.files,
        dirs=wire.dirs,
        visudo=visudo,
        host=host,
        nsswitch=nsswitch,
        scan_user=scan_user,
        scan_groups=tuple(scalars.get("scan_groups", "").split()[:256]),
        groups=groups,
        accounts=accounts,
        compiled=compiled,
    )


def _compiled_for(
    policy: Policy,
    host: HostInfo,
    version_text: str,
    groups: Mapping[str, Group],
    accounts: Sequence[tuple[str, int | None, int | None, int]],
) -> dict[str, Setting]:
    """Which options a Defaults entry sets for `sudo -V` run by root (see compiled_defaults)."""
    upstream = compiled_defaults(version_text)
    evaluator = Evaluator(policy, host, upstream)

    def someone(name: str) -> Person:
        row = next((r for r in accounts if r[0] == name), None)
        return person(name, row[1] if row else None, row[2] if row else None, groups)

    root = someone("root")
    default_runas = evaluator.setting("runas_default", root).value
    target = someone(default_runas if isinstance(default_runas, str) else "root")

    def set_for_root(name: str) -> bool:
        return any(
            entry.name == name and entry.scope != "cmnd" and evaluator.binds(entry, root, target, None)
            for entry in policy.defaults
        )

    return compiled_defaults(version_text, set_for_root)
