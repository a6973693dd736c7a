"""Find and load the check catalogue (and, later, remediation manifests).

Where the catalogue comes from, first match wins:
1. `--catalog-dir DIR` (a directory with `checks/` and `remediations/`),
2. the copy bundled in the wheel at `agent/_catalog` (hatchling force-include),
3. the source checkout (`<repo>/checks`) when running from a git clone.
The bundled copy is why a pip-installed nodeward never hits kube-bench's "config
files missing" class of bugs.

Site overlays (agent/overlay.py) are applied after every check file loaded cleanly:
the `overlays/` folder of `--catalog-dir`, then each `--overlay FILE`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from agent.errors import CatalogError, InputError, Problem
from agent.facts.registry import FACTS
from agent.overlay import apply_overlays, overlay_files
from agent.rules.predicates import FAMILIES, PREDICATES
from agent.rules.schema import Check, validate_check
from agent.yamlsafe import load_yaml

_MAX_CHECK_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Catalog:
    root: Path
    checks: tuple[Check, ...]

    def select(self, patterns: Iterable[str] = ()) -> tuple[Check, ...]:
        """Checks whose id matches any glob (all when no pattern is given)."""
        wanted = [p for p in patterns if p]
        if not wanted:
            return self.checks
        return tuple(c for c in self.checks if any(fnmatch.fnmatchcase(c.id, p) for p in wanted))

    def facts_needed(self, checks: Iterable[Check]) -> set[str]:
        return {name for check in checks for name in (check.fact, *check.needs)}


def catalog_root(catalog_dir: str | None = None) -> Path:
    if catalog_dir is not None:
        return Path(catalog_dir)
    bundled = Path(str(resources.files("agent") / "_catalog"))
    if (bundled / "checks").is_dir():
        return bundled
    return Path(__file__).resolve().parent.parent  # a source checkout


def load_catalog(catalog_dir: str | None = None, *, overlays: Sequence[Path] = ()) -> Catalog:
    """The checks, with the site overlays applied; CatalogError lists every problem."""
    root = catalog_root(catalog_dir)
    checks_dir = root / "checks"
    if not checks_dir.is_dir():
        raise CatalogError([Problem(str(checks_dir), None, "", "no checks directory here")])
    problems: list[Problem] = []
    checks: list[Check] = []
    seen: dict[str, str] = {}
    for path in sorted(checks_dir.rglob("*")):
        if path.is_dir():
            continue
        if path.suffix not in (".yaml", ".yml"):
            problems.append(Problem(str(path), None, "", "only .yaml check files belong in checks/"))
            continue
        result = _load_one(path)
        if isinstance(result, list):
            problems.extend(result)
            continue
        if result.id in seen:
            problems.append(Problem(str(path), None, "id", f"duplicate id, also in {seen[result.id]}"))
            continue
        seen[result.id] = str(path)
        checks.append(result)
    if problems:
        raise CatalogError(problems)
    files = overlay_files(root if catalog_dir is not None else None, overlays)
    families = {name: family.args for name, family in FAMILIES.items()}
    ordered = apply_overlays(sorted(checks, key=lambda c: c.id), files, families)
    return Catalog(root=root, checks=ordered)


def _load_one(path: Path) -> Check | list[Problem]:
    if path.stat().st_size > _MAX_CHECK_BYTES:
        return [Problem(str(path), None, "", "check file is too large")]
    try:
        data, positions = load_yaml(path.read_text(encoding="utf-8"), str(path), strict=True)
    except InputError as exc:  # syntax errors, duplicate keys: keep going, report all files
        return list(exc.problems)
    return validate_check(
        data,
        file=str(path),
        stem=path.stem,
        line_of=positions.line,
        facts=frozenset(FACTS),
        predicates=frozenset(PREDICATES),
        families={name: family.args for name, family in FAMILIES.items()},
    )
