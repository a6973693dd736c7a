"""The import graph of agent/: no cycles, and none of the edges docs/architecture.md forbids.

Every `import` and `from ... import` in every module under agent/ counts, at module level,
inside a function, or under `if TYPE_CHECKING:`: a function-level import is still a
dependency, it only hides a cycle until the function runs (issue #11 found two that way).
An import of `agent.a.b` is an edge to `agent.a.b` alone; the parent package's
`__init__` runs too, but counting that would call every package whose `__init__` gathers
its own modules a cycle.

FORBIDDEN is the one list of forbidden edges; docs/architecture.md shows the same list,
and a test below fails when the two differ, so the map cannot drift from what is enforced.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARCHITECTURE = REPO / "docs" / "architecture.md"


@dataclass(frozen=True, slots=True)
class Rule:
    """Modules matching `source` (except `unless`) must not import modules matching `target`.

    A pattern is one or more alternatives joined by `|`; an alternative matches a module
    when fnmatch does, or when the module lies below it (`agent.facts` covers
    `agent.facts.sshd.walk`). Why each rule exists is written in docs/architecture.md.
    """

    source: str
    target: str
    unless: str = ""


def any_of(*patterns: str) -> str:
    return "|".join(patterns)


# The engine: gather composes and runs the script, inspection judges one node, scan a fleet.
ENGINE = ("agent.gather", "agent.inspection", "agent.scan")
ABOVE_FACTS = ("agent.rules", "agent.findings", "agent.report", "agent.remediate", "agent.catalog", *ENGINE)

FORBIDDEN: tuple[Rule, ...] = (
    Rule("agent.facts", any_of("agent.transport", "agent.inventory", *ABOVE_FACTS)),
    Rule("agent.rules", any_of("agent.transport", "agent.report", "agent.remediate", *ENGINE)),
    Rule(
        "agent.findings",
        any_of("agent.transport", "agent.facts", "agent.rules", "agent.report", "agent.remediate", *ENGINE),
    ),
    Rule("agent.report", any_of("agent.transport", *ENGINE)),
    Rule("agent.transport", any_of("agent.facts", *ABOVE_FACTS)),
    Rule("agent.inspection", any_of("agent.scan", "agent.remediate", "agent.report")),
    Rule("agent.remediate", "agent.scan"),
    Rule("agent", "agent.cli*", unless=any_of("agent.cli*", "agent.__main__")),
)


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    where: str  # path:line of the import statement


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path, package: str = "agent") -> dict[str, Path]:
    return {module_name(root, p): p for p in sorted((root / package).rglob("*.py"))}


def imports(root: Path, package: str = "agent") -> tuple[dict[str, Path], list[Edge]]:
    """Every module of `package` under `root`, and every import edge inside the package."""
    found = modules(root, package)
    edges: list[Edge] = []
    for name, path in found.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        where = path.relative_to(root)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import sub` imports the module pkg.sub when there is one.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in found else base for a in node.names]
            else:
                continue
            edges += [
                Edge(name, t, f"{where}:{node.lineno}")
                for t in targets
                if t == package or t.startswith(package + ".")
            ]
    return found, edges


def matching(pattern: str, module: str) -> str | None:
    """The alternative of `pattern` that covers `module`, if any."""
    for alternative in filter(None, pattern.split("|")):
        if fnmatchcase(module, alternative) or module.startswith(alternative + "."):
            return alternative
    return None


def violations(edges: Iterable[Edge], rules: Iterable[Rule]) -> list[str]:
    found = []
    for rule in rules:
        for e in edges:
            target = matching(rule.target, e.target)
            if target and matching(rule.source, e.source) and not matching(rule.unless, e.source):
                found.append(f"{e.where}: {e.source} -> {e.target} (forbidden: {rule.source} -> {target})")
    return sorted(found)


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One concrete cycle per strongly connected component with more than one module
    (or a module importing itself), found with Tarjan's algorithm, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(_path_within(graph, set(component)))
    return found


def _path_within(graph: Mapping[str, Iterable[str]], component: set[str]) -> list[str]:
    """A readable cycle a -> b -> ... -> a inside one strongly connected component."""
    first = min(component)
    previous: dict[str, str] = {}
    frontier = [first]
    while frontier:  # breadth first: the shortest way back to `first`
        following = []
        for node in frontier:
            for child in sorted(graph.get(node, ())):
                if child == first:
                    path = [node]
                    while path[-1] != first:
                        path.append(previous[path[-1]])
                    return [first, *reversed(path[:-1]), first]
                if child in component and child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"not a cycle: {sorted(component)}")


def graph_of(edges: Iterable[Edge]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
    return graph


def documented_rules(text: str) -> set[Rule]:
    """The rows of the table under "## Forbidden edges" in docs/architecture.md: the
    backticked names of each cell are the alternatives of that pattern."""
    section = text.split("## Forbidden edges", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        source, target, unless = ("|".join(re.findall(r"`([^`]+)`", c)) for c in line.split("|")[1:4])
        rows.add(Rule(source, target, unless))
    return rows


# --- the real tree ------------------------------------------------------------------------


def test_every_import_of_agent_names_a_module_that_exists() -> None:
    found, edges = imports(REPO)
    missing = sorted(f"{e.where}: {e.target}" for e in edges if e.target not in found)
    assert not missing, "imports of agent modules that do not exist:\n" + "\n".join(missing)


def test_agent_has_no_import_cycle() -> None:
    _, edges = imports(REPO)
    found = cycles(graph_of(edges))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_agent_has_no_forbidden_edge() -> None:
    _, edges = imports(REPO)
    bad = violations(edges, FORBIDDEN)
    assert not bad, "forbidden imports (docs/architecture.md):\n" + "\n".join(bad)


def _alternatives(rules: Iterable[Rule]) -> set[tuple[frozenset[str], ...]]:
    # Order inside a cell does not matter; which names it holds does.
    return {
        tuple(frozenset(filter(None, p.split("|"))) for p in (r.source, r.target, r.unless)) for r in rules
    }


def test_architecture_doc_lists_exactly_the_enforced_edges() -> None:
    documented = _alternatives(documented_rules(ARCHITECTURE.read_text(encoding="utf-8")))
    enforced = _alternatives(FORBIDDEN)
    assert documented == enforced, (
        f"in docs/architecture.md only: {sorted(map(str, documented - enforced))}\n"
        f"enforced by this test only: {sorted(map(str, enforced - documented))}"
    )


def test_architecture_doc_names_only_modules_that_exist() -> None:
    # The map names modules three ways; a move that forgets the map fails here.
    text = ARCHITECTURE.read_text(encoding="utf-8")
    # `agent/...` paths anywhere,
    named = set(re.findall(r"`(agent/[\w/]*\w(?:\.py)?)/?`", text))
    # paths relative to agent/ in the Parts block,
    parts = text.split("## Parts", 1)[1].split("```")[1]
    named |= {
        f"agent/{p}" for p in re.findall(r"(?<![\w/.])(\w+(?:/\w+)*(?:\.py|/))", parts) if p != "agent/"
    }
    # and bare module names in the bullet of the package that holds them.
    for package, bullet in re.findall(r"^- `(agent/\w+)/`:(.*?)(?=^- |^#)", text, re.M | re.S):
        for module in re.findall(r"`(\w+\.(?:py|sh))`", bullet):
            if not any((REPO / package).rglob(module)):
                named.add(f"{package}/{module}")
    assert len(named) > 30, "the map names the parts by their paths"
    gone = sorted(p for p in named if not (REPO / p).exists())
    assert not gone, f"docs/architecture.md names paths that do not exist: {gone}"


def test_architecture_doc_names_every_part() -> None:
    # The other direction: a new top-level module or package must get its line on the map.
    parts = ARCHITECTURE.read_text(encoding="utf-8").split("## Parts", 1)[1].split("```")[1]
    named = set(re.findall(r"(?<![\w/.])(\w+\.py|\w+/)", parts))
    agent = REPO / "agent"
    present = {p.name for p in agent.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    present |= {f"{p.name}/" for p in agent.iterdir() if (p / "__init__.py").is_file()}
    missing = sorted(present - named)
    assert not missing, f"parts of agent/ missing from docs/architecture.md's Parts: {missing}"


# --- the checker itself, on small synthetic trees: each must be able to fail ---------------


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_cycle_hidden_in_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "agent/__init__.py": "",
            "agent/facts/__init__.py": "",
            "agent/facts/firewall.py": "def lookup():\n    from agent.facts.status import managers\n",
            "agent/facts/status.py": "from agent.facts import firewall\n",
            "agent/facts/plain.py": "from agent.facts.status import x\n",
        },
    )
    _, edges = imports(root)
    assert cycles(graph_of(edges)) == [["agent.facts.firewall", "agent.facts.status", "agent.facts.firewall"]]


def test_relative_and_type_checking_imports_count(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "agent/__init__.py": "",
            "agent/transport/__init__.py": "",
            "agent/transport/base.py": "",
            "agent/findings.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .transport import base\n"
            ),
            "agent/report/__init__.py": "",
            "agent/report/table.py": "from ..transport.base import Thing\n",
        },
    )
    _, edges = imports(root)
    assert violations(edges, FORBIDDEN) == [
        "agent/findings.py:3: agent.findings -> agent.transport.base "
        "(forbidden: agent.findings -> agent.transport)",
        "agent/report/table.py:1: agent.report.table -> agent.transport.base "
        "(forbidden: agent.report -> agent.transport)",
    ]


def test_only_the_cli_may_import_the_cli(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "agent/__init__.py": "",
            "agent/__main__.py": "from agent.cli import main\n",
            "agent/cli.py": "from agent import cli_support\n",
            "agent/cli_support.py": "",
            "agent/scan.py": "def f():\n    import agent.cli_support\n",
        },
    )
    _, edges = imports(root)
    assert violations(edges, FORBIDDEN) == [
        "agent/scan.py:2: agent.scan -> agent.cli_support (forbidden: agent -> agent.cli*)"
    ]


def test_the_doc_table_parser_reads_every_row() -> None:
    text = (
        "## Forbidden edges\n\n| from | to | except | why |\n|---|---|---|---|\n"
        "| `agent.facts` | `agent.transport`, `agent.rules` | | pure |\n"
        "| `agent` | `agent.cli*` | `agent.cli*`, `agent.__main__` | exit codes |\n\n## Next\n"
        "| `agent.x` | `agent.y` | | not in the section |\n"
    )
    assert documented_rules(text) == {
        Rule("agent.facts", "agent.transport|agent.rules"),
        Rule("agent", "agent.cli*", "agent.cli*|agent.__main__"),
    }
