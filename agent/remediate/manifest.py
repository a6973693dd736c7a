"""Remediation manifests: `remediations/<id>.yaml`, validated, with typed parameters.

A manifest says what a reusable fix is, so that an operator can judge it before it
runs and nodeward can refuse what it must not do:

    id: sshd_option                     # == file stem; the template is <id>.sh.j2
    title: ...
    params:                             # every value a template may print, typed
      keyword: {type: enum, values: [PermitRootLogin, ...]}
      value: {type: word, pattern: '^[A-Za-z0-9,:@._-]{1,64}$'}
      keep_users: {type: list, items: {type: user}, auto: keep_users}
    writes: [/etc/ssh/sshd_config.d/00-nodeward.conf]
    validate: /usr/sbin/sshd -t, then sshd -T -C for the operator's own connection
    reload: sshd                        # sshd | sudo | kubelet | sysctl | nftables | apt | none
    disruption: low                     # none | low | medium | high
    lockout_risk: high                  # none | low | medium | high
    needs_reboot: false
    opt_in: false                       # true: only where the inventory opts in
    order: 50                           # fixes run in this order on a node
    checks:                             # check id -> parameters for that check
      sshd_permit_root_login_disabled: {keyword: PermitRootLogin, value: "no"}

Parameters are validated before any rendering (reliability.md I2): a value that does
not fit its type never reaches a template. `auto` parameters are filled by the planner
from what it knows about the node (the accounts whose access must survive, the
bastion's address as the node sees it, the SSH port, the node's roles).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import CatalogError, InputError, Problem
from agent.rules.schema import LineLookup
from agent.yamlsafe import load_yaml

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{2,60}$")
RELOADS = ("sshd", "sudo", "kubelet", "sysctl", "nftables", "apt", "none")
LEVELS = ("none", "low", "medium", "high")
AUTO_SOURCES = (
    "keep_users",
    "bastion_addresses",
    "ssh_port",
    "roles",
    "login_user",
    "sudo_nopasswd_allowed",
    "process_files",  # files trusted processes name (agent/remediate/process_paths.py)
    "kubelet_config",  # the trusted running kubelet's --config
)
PARAM_TYPES = ("word", "text", "enum", "int", "bool", "path", "mode", "user", "group", "cidr", "port", "list")

_MAX_MANIFEST_BYTES = 128 * 1024
_MAX_LIST = 256
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\$?$")
_GROUP = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
_MODE = re.compile(r"^0?[0-7]{3,4}$")
# Paths are shell words and config text: no whitespace, quotes, backslashes or `$`.
_PATH = re.compile(r"^/[A-Za-z0-9._/@+-]*$")
_GLOB_PATH = re.compile(r"^/[A-Za-z0-9._/@+*?\[\]-]*$")
_TOP_KEYS = frozenset(
    {
        "id",
        "title",
        "description",
        "template",
        "params",
        "writes",
        "validate",
        "reload",
        "disruption",
        "lockout_risk",
        "needs_reboot",
        "order",
        "checks",
        "examples",
        "opt_in",
    }
)
_SPEC_KEYS = frozenset(
    {
        "type",
        "values",
        "pattern",
        "min",
        "max",
        "max_length",
        "items",
        "min_items",
        "max_items",
        "default",
        "auto",
        "glob",
        "description",
    }
)

ParamValue = str | int | bool | tuple["ParamValue", ...]


class ParamError(ValueError):
    """A parameter value that its type does not allow; the message says which and why."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    type: str
    values: tuple[str, ...] = ()  # enum
    pattern: re.Pattern[str] | None = None  # word, text, path
    minimum: int | None = None  # int, port
    maximum: int | None = None
    max_length: int = 256  # word, text
    items: ParamSpec | None = None  # list
    min_items: int = 0
    max_items: int = 64
    default: object = None
    has_default: bool = False
    auto: str | None = None  # filled by the planner (AUTO_SOURCES)
    glob: bool = False  # path: may hold * ? [ ] (expanded on the node)
    description: str = ""

    def coerce(self, value: object) -> ParamValue:
        """The typed value, or ParamError. Never trusts `value`'s origin."""
        kind = self.type
        if kind == "list":
            if not isinstance(value, list | tuple):
                raise ParamError(f"{self.name}: expected a list, got {_kind(value)}")
            if not self.min_items <= len(value) <= min(self.max_items, _MAX_LIST):
                raise ParamError(
                    f"{self.name}: needs {self.min_items}..{self.max_items} items, got {len(value)}"
                )
            items = self.items
            if items is None:  # validate_manifest never builds a list spec without items
                raise ParamError(f"{self.name}: list without an item type")
            return tuple(items.coerce(item) for item in value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise ParamError(f"{self.name}: expected true or false, got {_kind(value)}")
            return value
        if kind in ("int", "port"):
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ParamError(f"{self.name}: expected an integer, got {_kind(value)}")
            try:
                number = int(value, 10) if isinstance(value, str) else value
            except ValueError:
                raise ParamError(f"{self.name}: {value!r} is not an integer") from None
            low, high = (1, 65535) if kind == "port" else (self.minimum, self.maximum)
            if (low is not None and number < low) or (high is not None and number > high):
                raise ParamError(f"{self.name}: {number} is outside {low}..{high}")
            return number
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ParamError(f"{self.name}: expected a string, got {_kind(value)}")
        text = str(value)
        _no_controls(self.name, text)
        return _check_text(self, text)


def _check_text(spec: ParamSpec, text: str) -> str:
    kind, name = spec.type, spec.name
    if kind == "enum":
        if text not in spec.values:
            raise ParamError(f"{name}: {text!r} is not one of {', '.join(spec.values)}")
        return text
    if len(text) > spec.max_length:
        raise ParamError(f"{name}: longer than {spec.max_length} characters")
    if kind == "word" and (not text or any(ch.isspace() for ch in text)):
        raise ParamError(f"{name}: must be one non-empty word")
    if kind == "path":
        pattern = _GLOB_PATH if spec.glob else _PATH
        if not pattern.match(text) or os.path.normpath(text) != text or "/../" in f"{text}/":
            raise ParamError(f"{name}: {text!r} is not a normalised absolute path of safe characters")
    elif kind == "mode":
        if not _MODE.match(text):
            raise ParamError(f"{name}: {text!r} is not an octal mode like 0640")
        text = text.zfill(4)
    elif kind == "user":
        if not _USER.match(text):
            raise ParamError(f"{name}: {text!r} is not a user name")
    elif kind == "group":
        if not _GROUP.match(text):
            raise ParamError(f"{name}: {text!r} is not a group name")
    elif kind == "cidr":
        try:
            text = str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ParamError(f"{name}: {text!r} is not an IP address or network") from None
    if spec.pattern is not None and not spec.pattern.fullmatch(text):
        raise ParamError(f"{name}: {text!r} does not match {spec.pattern.pattern}")
    return text


def _no_controls(name: str, text: str) -> None:
    # A newline in a value would end a config line and start another one.
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ParamError(f"{name}: contains a control character (newline, tab, NUL, ...)")


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


@dataclass(frozen=True, slots=True)
class Manifest:
    id: str
    title: str
    description: str
    template: str  # file name inside the remediations directory
    params: Mapping[str, ParamSpec]
    writes: tuple[str, ...]
    validate: str
    reload: str
    disruption: str
    lockout_risk: str
    needs_reboot: bool
    opt_in: bool  # applied only where the inventory opts in (nodeward_remediate_opt_in)
    order: int
    checks: Mapping[str, tuple[Mapping[str, object], ...]]  # check id -> params, one mapping per fix
    examples: tuple[Mapping[str, object], ...]
    source: str
    template_path: Path = field(default_factory=Path)

    def validate_params(self, raw: Mapping[str, object]) -> dict[str, ParamValue]:
        """Every parameter typed and present (defaults applied), or ParamError."""
        unknown = sorted(set(raw) - set(self.params))
        if unknown:
            raise ParamError(f"{self.id}: unknown parameters {', '.join(unknown)}")
        values: dict[str, ParamValue] = {}
        for name, spec in self.params.items():
            if name in raw and raw[name] is not None:
                values[name] = spec.coerce(raw[name])
            elif spec.has_default:
                values[name] = spec.coerce(spec.default)
            else:
                raise ParamError(f"{self.id}: parameter {name} is required")
        return values


def _spec(name: str, raw: object, path: tuple[str | int, ...], bad: _Bad) -> ParamSpec | None:
    if not isinstance(raw, Mapping):
        bad(path, "a parameter is a mapping with at least `type`")
        return None
    for key in raw:
        if key not in _SPEC_KEYS:
            bad((*path, str(key)), f"unknown key (known: {', '.join(sorted(_SPEC_KEYS))})")
    kind = raw.get("type")
    if kind not in PARAM_TYPES:
        bad((*path, "type"), f"must be one of {', '.join(PARAM_TYPES)}")
        return None
    items = None
    if kind == "list":
        items = _spec(f"{name}[]", raw.get("items"), (*path, "items"), bad)
        if items is None:
            return None
    values = raw.get("values", [])
    if kind == "enum" and (
        not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values)
    ):
        bad((*path, "values"), "an enum needs a non-empty list of strings")
        return None
    pattern = None
    if "pattern" in raw:
        try:
            pattern = re.compile(str(raw["pattern"]))
        except re.error as exc:
            bad((*path, "pattern"), f"not a regular expression: {exc}")
            return None
    auto = raw.get("auto")
    if auto is not None and auto not in AUTO_SOURCES:
        bad((*path, "auto"), f"must be one of {', '.join(AUTO_SOURCES)}")
        return None
    ints = {}
    for key in ("min", "max", "max_length", "min_items", "max_items"):
        if key in raw and (isinstance(raw[key], bool) or not isinstance(raw[key], int)):
            bad((*path, key), "must be an integer")
            return None
        ints[key] = raw.get(key)
    spec = ParamSpec(
        name=name,
        type=str(kind),
        values=tuple(str(v) for v in values) if kind == "enum" else (),
        pattern=pattern,
        minimum=ints["min"],
        maximum=ints["max"],
        max_length=ints["max_length"] if ints["max_length"] is not None else 256,
        items=items,
        min_items=ints["min_items"] or 0,
        max_items=ints["max_items"] if ints["max_items"] is not None else 64,
        default=raw.get("default"),
        has_default="default" in raw,
        auto=str(auto) if auto is not None else None,
        glob=raw.get("glob") is True,
        description=str(raw.get("description", "")),
    )
    if spec.has_default:
        try:
            spec.coerce(spec.default)
        except ParamError as exc:
            bad((*path, "default"), str(exc))
            return None
    return spec


class _Bad:
    """Collects every problem of one manifest with its line (rules/schema.py's way)."""

    def __init__(self, file: str, line_of: LineLookup) -> None:
        self.file = file
        self.line_of = line_of
        self.problems: list[Problem] = []

    def __call__(self, path: tuple[str | int, ...], message: str) -> None:
        line = self.line_of(path)
        self.problems.append(Problem(self.file, line, ".".join(str(p) for p in path), message))


def validate_manifest(
    raw: object, *, file: str, stem: str, line_of: LineLookup, directory: Path
) -> Manifest | list[Problem]:
    """One loaded YAML document -> Manifest, or every problem with its line."""
    bad = _Bad(file, line_of)
    if not isinstance(raw, Mapping):
        return [Problem(file, 1, "", "a remediation manifest must be a mapping")]
    for key in raw:
        if key not in _TOP_KEYS:
            bad((str(key),), f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    ident = raw.get("id")
    if not isinstance(ident, str) or not ID_PATTERN.match(ident):
        bad(("id",), "must be snake_case")
    elif ident != stem:
        bad(("id",), f"must equal the file name {stem!r}")
    for key in ("title", "validate"):
        if not isinstance(raw.get(key), str) or not str(raw.get(key)).strip():
            bad((key,), "must be a non-empty string")
    template = raw.get("template", f"{stem}.sh.j2")
    if not isinstance(template, str) or "/" in template or not (directory / template).is_file():
        bad(("template",), f"template {template!r} not found next to the manifest")
    params_raw = raw.get("params", {})
    params: dict[str, ParamSpec] = {}
    if not isinstance(params_raw, Mapping):
        bad(("params",), "must be a mapping of name -> spec")
    else:
        for name, spec_raw in params_raw.items():
            if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                bad(("params", str(name)), "parameter names are snake_case")
                continue
            spec = _spec(name, spec_raw, ("params", name), bad)
            if spec is not None:
                params[name] = spec
    for key, allowed in (("reload", RELOADS), ("disruption", LEVELS), ("lockout_risk", LEVELS)):
        if raw.get(key) not in allowed:
            bad((key,), f"must be one of {', '.join(allowed)}")
    writes = raw.get("writes", [])
    if not isinstance(writes, list) or not all(isinstance(w, str) for w in writes):
        bad(("writes",), "must be a list of paths (or descriptions) the fix changes")
        writes = []
    needs_reboot = raw.get("needs_reboot", False)
    opt_in = raw.get("opt_in", False)
    for key, flag in (("needs_reboot", needs_reboot), ("opt_in", opt_in)):
        if not isinstance(flag, bool):
            bad((key,), "must be true or false")
    order = raw.get("order", 50)
    if isinstance(order, bool) or not isinstance(order, int):
        bad(("order",), "must be an integer")
        order = 50
    checks = _bindings(raw.get("checks", {}), params, bad, "checks")
    examples_raw = raw.get("examples", [])
    examples: list[Mapping[str, object]] = []
    if not isinstance(examples_raw, list):
        bad(("examples",), "must be a list of parameter mappings")
    else:
        for index, example in enumerate(examples_raw):
            if not isinstance(example, Mapping):
                bad(("examples", index), "must be a mapping of parameters")
                continue
            examples.append(dict(example))
    if bad.problems or not isinstance(ident, str):
        return bad.problems
    manifest = Manifest(
        id=ident,
        title=str(raw["title"]).strip(),
        description=" ".join(str(raw.get("description", "")).split()),
        template=str(template),
        params=params,
        writes=tuple(writes),
        validate=" ".join(str(raw["validate"]).split()),
        reload=str(raw["reload"]),
        disruption=str(raw["disruption"]),
        lockout_risk=str(raw["lockout_risk"]),
        needs_reboot=bool(needs_reboot),
        opt_in=bool(opt_in),
        order=order,
        checks=checks,
        examples=tuple(examples),
        source=file,
        template_path=directory / str(template),
    )
    # Bindings and examples must validate once `auto` parameters are supplied, for
    # every role a by_role choice names.
    samples: list[tuple[tuple[str | int, ...], Mapping[str, object]]] = [
        (("checks", check_id, index), binding)
        for check_id, bindings in checks.items()
        for index, binding in enumerate(bindings)
    ]
    samples += [(("examples", index), example) for index, example in enumerate(examples)]
    for where, sample in samples:
        for roles in _role_sets(sample):
            try:
                manifest.validate_params({**auto_samples(manifest), **resolve_roles(sample, roles)})
            except ParamError as exc:
                bad(where, f"{exc} (roles {', '.join(roles) or 'none'})")
    return bad.problems or manifest


def _bindings(
    raw: object, params: Mapping[str, ParamSpec], bad: _Bad, key: str
) -> dict[str, tuple[Mapping[str, object], ...]]:
    """check id -> one parameter mapping, or a list of them (one fix each)."""
    if not isinstance(raw, Mapping):
        bad((key,), "must map check ids to parameter mappings")
        return {}
    out: dict[str, tuple[Mapping[str, object], ...]] = {}
    for check_id, values in raw.items():
        items = values if isinstance(values, list) else [values]
        if not items or not all(isinstance(v, Mapping) for v in items):
            bad((key, str(check_id)), "must be a mapping of parameters, or a list of them")
            continue
        out[str(check_id)] = tuple(dict(v) for v in items)
    return out


def resolve_roles(raw: Mapping[str, object], roles: Sequence[str]) -> dict[str, object]:
    """Bindings may choose a value per node role: `{by_role: {worker: 1, default: 0}}`.

    Scalars take the first role of the node the mapping names (else `default`); lists
    are the union over every role the node has, so a control-plane + worker node gets
    the ports of both.
    """
    out: dict[str, object] = {}
    for name, value in raw.items():
        if not (
            isinstance(value, Mapping) and set(value) == {"by_role"} and isinstance(value["by_role"], Mapping)
        ):
            out[name] = value
            continue
        choices = value["by_role"]
        hits = [choices[r] for r in roles if r in choices]
        if not hits:
            hits = [choices["default"]] if "default" in choices else []
        if hits and all(isinstance(h, list) for h in hits):
            merged: list[object] = []
            for hit in hits:
                merged += [item for item in hit if isinstance(hit, list) and item not in merged]
            out[name] = merged
        elif hits:
            out[name] = hits[0]
    return out


def _role_sets(sample: Mapping[str, object]) -> list[tuple[str, ...]]:
    roles: set[str] = set()
    for value in sample.values():
        if isinstance(value, Mapping) and isinstance(value.get("by_role"), Mapping):
            roles |= {str(r) for r in value["by_role"] if r != "default"}
    return [(), *((r,) for r in sorted(roles))]


def auto_samples(manifest: Manifest) -> dict[str, object]:
    """Plausible values for `auto` parameters, to validate bindings at load time."""
    samples: dict[str, object] = {
        "keep_users": ["scanner"],
        "login_user": "scanner",
        "bastion_addresses": ["192.0.2.10/32"],
        "ssh_port": 22,
        "roles": ["worker"],
        "sudo_nopasswd_allowed": ["%automation"],
        "process_files": ["/var/lib/kubelet/config.yaml"],
        "kubelet_config": "/var/lib/kubelet/config.yaml",
    }
    return {name: samples[spec.auto] for name, spec in manifest.params.items() if spec.auto is not None}


@dataclass(frozen=True, slots=True)
class Remediations:
    root: Path
    manifests: Mapping[str, Manifest]


def remediations_dir(catalog_dir: str | None = None) -> Path:
    from agent.catalog import catalog_root

    return catalog_root(catalog_dir) / "remediations"


def load_remediations(catalog_dir: str | None = None, *, directory: Path | None = None) -> Remediations:
    """Every manifest in the catalogue's remediations/ directory, validated together."""
    root = directory or remediations_dir(catalog_dir)
    problems: list[Problem] = []
    manifests: dict[str, Manifest] = {}
    if not root.is_dir():
        raise CatalogError([Problem(str(root), None, "", "no remediations directory here")])
    for path in sorted(root.iterdir()):
        if path.suffix not in (".yaml", ".yml"):
            continue
        if path.stat().st_size > _MAX_MANIFEST_BYTES:
            problems.append(Problem(str(path), None, "", "manifest is too large"))
            continue
        try:
            data, positions = load_yaml(path.read_text(encoding="utf-8"), str(path), strict=True)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        result = validate_manifest(
            data, file=str(path), stem=path.stem, line_of=positions.line, directory=root
        )
        if isinstance(result, list):
            problems.extend(result)
        else:
            manifests[result.id] = result
    if problems:
        raise CatalogError(problems)
    return Remediations(root=root, manifests=manifests)
