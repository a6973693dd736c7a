"""Site overlays: change a check's family arguments or severity without forking the catalogue.

An overlay is a small YAML file, written by the site and kept under review like the
inventory:

    overlay: acme-prod                       # the name reports show; default: the file stem
    checks:
      apiserver_audit_log_maxage_sufficient:
        args: {value: 90}                    # merged key by key over the check's own args
        reason: ACME keeps 90 days of audit logs (SEC-1234)   # optional, shown with the change
      kubelet_read_only_port_disabled:
        severity: high

What an overlay may change:
* `severity` of any check;
* `args` of a check whose assertion is a predicate family (`assert: {predicate: FAMILY,
  args: {...}}`). Each key given replaces that key of the check's args (a list or a
  mapping is replaced whole, never merged), and the result is validated again by the
  family's argument class, so an overlay can never hand a family a value the catalogue
  itself could not hold. A named predicate (`assert: {predicate: name}`) and a YAML
  comparison (`assert: {key, op, value}`) have no args: only their severity changes.

Where overlays come from, applied in this order (a later one sees the earlier ones'
result): every `overlays/*.yaml` (and `*.yml`) of `--catalog-dir`, sorted by file name,
then each `--overlay FILE` in the order given. There is deliberately no inventory
variable: one run judges every node against one catalogue, so a report never shows the
same check with two severities, and `nodeward checks --show` (which reads no inventory)
shows exactly what a scan judges.

All or nothing: every problem of every overlay is reported at once with file, line and
field (an unknown check id, an args override for a check without args, an unknown key, a
bad value), and then nothing is applied; the CLI exits 2 before contacting any node.
Every change that is applied is recorded on the check (`Check.overridden`) and travels
with its findings into every report.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from pydantic import ValidationError

from agent.errors import CatalogError, InputError, Problem
from agent.findings import Override, Severity
from agent.rules.families import FamilyArgs
from agent.rules.schema import Check
from agent.yamlsafe import PositionMap, load_yaml

OVERLAY_DIR = "overlays"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_OVERLAY_BYTES = 256 * 1024
MAX_REASON = 300
_TOP_KEYS = ("overlay", "checks")
_ENTRY_KEYS = ("args", "severity", "reason")

FieldPath = tuple[str | int, ...]


def overlay_files(catalog_dir: Path | None, given: Iterable[Path] = ()) -> list[Path]:
    """The overlays a run applies, in order: the catalogue's own, then the given ones."""
    found: list[Path] = []
    if catalog_dir is not None:
        folder = catalog_dir / OVERLAY_DIR
        if folder.is_dir():
            found.extend(sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
    found.extend(given)
    return found


def apply_overlays(
    checks: Sequence[Check], files: Sequence[Path], families: Mapping[str, type[FamilyArgs]]
) -> tuple[Check, ...]:
    """`checks` with every overlay applied in order, or CatalogError with every problem."""
    current = {check.id: check for check in checks}
    problems: list[Problem] = []
    names: dict[str, str] = {}
    for path in files:
        _apply_file(path, current, families, names, problems)
    if problems:
        raise CatalogError(problems)
    return tuple(current[check.id] for check in checks)


class _Reader:
    """One overlay file: its problems are reported against its own lines."""

    def __init__(self, file: str, positions: PositionMap, problems: list[Problem]) -> None:
        self.file = file
        self.positions = positions
        self.problems = problems

    def bad(self, path: FieldPath, message: str) -> None:
        field = ".".join(str(part) for part in path)
        self.problems.append(Problem(self.file, self.positions.line(path), field, message))

    def where(self, path: FieldPath) -> str:
        line = self.positions.line(path)
        return self.file if line is None else f"{self.file}:{line}"


def _apply_file(
    path: Path,
    current: dict[str, Check],
    families: Mapping[str, type[FamilyArgs]],
    names: dict[str, str],
    problems: list[Problem],
) -> None:
    loaded = _load(path)
    if isinstance(loaded, list):
        problems.extend(loaded)
        return
    data, positions = loaded
    reader = _Reader(str(path), positions, problems)
    if not isinstance(data, Mapping):
        reader.bad((), "an overlay must be a mapping with `checks` (and optionally `overlay`)")
        return
    for key in data:
        if key not in _TOP_KEYS:
            reader.bad((str(key),), f"unknown key (known: {', '.join(_TOP_KEYS)})")
    name = _name(data.get("overlay", path.stem), reader)
    if name is not None:
        if name in names:
            used = f"the name {name!r} is already used by {names[name]}: reports must tell them apart"
            reader.bad(("overlay",), used)
        names.setdefault(name, str(path))
    entries = data.get("checks")
    if not isinstance(entries, Mapping) or not entries:
        reader.bad(("checks",), "must be a non-empty mapping: check id -> {args, severity, reason}")
        return
    for check_id, entry in entries.items():
        check = current.get(str(check_id))
        if check is None:
            reader.bad(("checks", str(check_id)), _unknown_check(str(check_id), current))
            continue
        changed = _entry(check, entry, name or path.stem, reader, families)
        if changed is not None:
            current[check.id] = changed


def _load(path: Path) -> tuple[object, PositionMap] | list[Problem]:
    try:
        if path.stat().st_size > MAX_OVERLAY_BYTES:
            return [Problem(str(path), None, "", f"an overlay is at most {MAX_OVERLAY_BYTES} bytes")]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return [Problem(str(path), None, "", f"cannot read the overlay: {why}")]
    try:
        return load_yaml(text, str(path), strict=True)  # YAML 1.2: "0600" stays text, no duplicate ids
    except InputError as exc:
        return list(exc.problems)


def _name(raw: object, reader: _Reader) -> str | None:
    if not isinstance(raw, str) or not NAME_PATTERN.match(raw):
        reader.bad(("overlay",), "the overlay name is 1-64 letters, digits, '.', '_' or '-'")
        return None
    return raw


def _unknown_check(check_id: str, current: Mapping[str, Check]) -> str:
    close = difflib.get_close_matches(check_id, list(current), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"no check has the id {check_id!r}{hint}"


def _entry(
    check: Check,
    raw: object,
    overlay: str,
    reader: _Reader,
    families: Mapping[str, type[FamilyArgs]],
) -> Check | None:
    """The check with this entry applied, or None (problems recorded) when it is invalid."""
    at: FieldPath = ("checks", check.id)
    if not isinstance(raw, Mapping):
        reader.bad(at, "must be a mapping with `args` and/or `severity` (and an optional `reason`)")
        return None
    before = len(reader.problems)
    for key in raw:
        if key not in _ENTRY_KEYS:
            reader.bad((*at, str(key)), f"unknown key (an overlay may set: {', '.join(_ENTRY_KEYS)})")
    if "args" not in raw and "severity" not in raw:
        reader.bad(at, "changes nothing: give `args` and/or `severity`")
    reason = raw.get("reason", "")
    if not isinstance(reason, str) or ("reason" in raw and not reason.strip()):
        reader.bad((*at, "reason"), "must be a non-empty string")
        reason = ""
    reason = " ".join(reason.split())[:MAX_REASON]
    overrides: list[Override] = []
    severity = check.severity
    if "severity" in raw:
        try:
            severity = Severity.parse(str(raw["severity"]))
        except ValueError as exc:
            reader.bad((*at, "severity"), str(exc))
        else:
            if severity is not check.severity:
                overrides.append(
                    Override(
                        overlay, reader.where((*at, "severity")), "severity",
                        check.severity.label, severity.label, reason,
                    )
                )  # fmt: skip
    args = check.args
    args, args_yaml = check.args, check.args_yaml
    if "args" in raw:
        args = _args(check, raw["args"], (*at, "args"), reader, families)
        if args is not None and isinstance(raw["args"], Mapping):
            args_yaml = {**(check.args_yaml or {}), **raw["args"]}
            overrides.extend(_arg_changes(check, args, raw["args"], (*at, "args"), overlay, reason, reader))
    if len(reader.problems) > before:
        return None
    return dataclasses.replace(
        check, severity=severity, args=args, args_yaml=args_yaml, overridden=(*check.overridden, *overrides)
    )


def _args(
    check: Check,
    raw: object,
    at: FieldPath,
    reader: _Reader,
    families: Mapping[str, type[FamilyArgs]],
) -> FamilyArgs | None:
    if check.args is None or check.predicate is None or check.predicate not in families:
        kind = (
            f"the named predicate {check.predicate!r}" if check.predicate is not None else "a YAML comparison"
        )
        reader.bad(
            at,
            f"{check.id} is judged by {kind}, which takes no args: an overlay can change its "
            "severity only (args are overridable on predicate-family checks)",
        )
        return None
    if not isinstance(raw, Mapping) or not raw:
        reader.bad(at, f"must be a non-empty mapping of {check.predicate} arguments")
        return None
    # Over what the check's YAML wrote, so re-validation sees exactly what an author
    # could have written there (a validator that forbids two keys together still works).
    merged = {**(check.args_yaml or {}), **raw}
    try:
        return families[check.predicate].model_validate(merged)
    except ValidationError as exc:
        for error in exc.errors():
            location = tuple(part for part in error["loc"] if isinstance(part, str | int))
            mine = bool(location) and location[0] in raw
            message = error["msg"] if mine else f"{error['msg']} (with the check's own args)"
            reader.bad((*at, *location) if mine else at, f"{check.predicate}: {message}")
        return None


def _arg_changes(
    check: Check,
    new: FamilyArgs,
    raw: Mapping[str, object],
    at: FieldPath,
    overlay: str,
    reason: str,
    reader: _Reader,
) -> list[Override]:
    """One Override per key whose value really changed, compared as validated values (an
    overlay restating the catalogue's value changes nothing and is not reported), shown
    as written."""
    written = check.args_yaml or {}
    return [
        Override(overlay, reader.where((*at, str(key))), f"args.{key}",
                 _shown(written.get(str(key), getattr(check.args, str(key), None))), _shown(value), reason)
        for key, value in raw.items()
        if getattr(check.args, str(key), None) != getattr(new, str(key), None)
    ]  # fmt: skip


def _shown(value: object) -> str:
    """A value as YAML flow style would write it: 90, "0600", [a, b], {k: v}, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_shown(item)}" for key, item in value.items()) + "}"
    return str(value)
