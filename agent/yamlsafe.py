"""The one place nodeward turns YAML text into Python data.

Everything goes through `yaml.SafeLoader` (never `yaml.load`/`full_load`), in two steps:
compose the node tree, walk it once, then construct. The walk is what buys safety and
good messages:

* it counts nodes *after* alias expansion, so a "billion laughs" document is refused
  before anything downstream iterates over the expanded data;
* it records the line of every value, so callers can report `file:line: field` for a
  problem they find long after parsing (`PositionMap`);
* in strict mode it rejects duplicate mapping keys, which PyYAML otherwise resolves
  silently by keeping the last one.

Two dialects, chosen by the caller:

* ``strict=True`` for our own files (native inventory, check catalogue): YAML 1.2
  scalars. Only ``true``/``false`` are booleans, so ``PermitRootLogin: no`` stays the
  string ``"no"``; no sexagesimal numbers (``22:22`` is a string, not 1342); a leading-zero
  number such as ``0644`` stays a string instead of silently becoming octal 420 (YAML
  1.1) or decimal 644 (YAML 1.2); dates stay strings; duplicate keys are errors.
* ``strict=False`` for Ansible's files: plain PyYAML YAML 1.1, because that is what
  Ansible itself uses (``ansible_become: yes`` is ``True``). Duplicate keys: last wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from agent.errors import InputError, Problem

Path = tuple[str | int, ...]

DEFAULT_MAX_NODES = 500_000  # after alias expansion; an inventory of 5 000 hosts is ~100 000
DEFAULT_MAX_DEPTH = 64  # nesting levels; real inventories and checks use fewer than 20

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_VALUE = "tag:yaml.org,2002:value"
_MERGE = "tag:yaml.org,2002:merge"


class UnsafeText(str):
    """A string Ansible marked `!unsafe`: a literal that must never be templated.

    Only the lenient (Ansible) dialect produces it. nodeward never templates anything,
    but the inventory reader uses the marker to accept `{{` inside such values.
    """

    __slots__ = ()


class PositionMap:
    """Line numbers of the values in a loaded document, addressed by key/index path."""

    __slots__ = ("_lines",)

    def __init__(self, lines: Mapping[Path, int] | None = None) -> None:
        self._lines: dict[Path, int] = dict(lines or {})

    def line(self, path: Path) -> int | None:
        """1-based line of the value (for a mapping entry: of its key) at `path`.

        Falls back to the nearest ancestor that has a position, so a problem about a
        key that does not exist (a missing field) still points into the right block.
        """
        for end in range(len(path), -1, -1):
            found = self._lines.get(path[:end])
            if found is not None:
                return found
        return None

    def __len__(self) -> int:
        return len(self._lines)


# --- the two dialects --------------------------------------------------------------


def _without(tags: set[str]) -> dict[str | None, list[tuple[str, re.Pattern[str]]]]:
    """SafeLoader's implicit resolvers minus `tags` (a fresh dict, never shared)."""
    base = yaml.SafeLoader.yaml_implicit_resolvers
    return {first: [(t, rx) for t, rx in rules if t not in tags] for first, rules in base.items()}


class _LenientLoader(yaml.SafeLoader):
    """PyYAML's YAML 1.1 SafeLoader, as Ansible reads inventories.

    One deviation: a bare `=` is a string. PyYAML resolves it to the `value` tag that
    SafeLoader cannot construct, so `key: =` would otherwise be a confusing crash.
    """

    yaml_implicit_resolvers = _without({_VALUE})

    def construct_unsafe(self, node: Node) -> UnsafeText:
        if not isinstance(node, ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "!unsafe is only supported on plain strings", node.start_mark
            )
        return UnsafeText(self.construct_scalar(node))


_LenientLoader.add_constructor("!unsafe", _LenientLoader.construct_unsafe)


class _StrictLoader(yaml.SafeLoader):
    """YAML 1.2 core-schema scalars on top of SafeLoader (see the module docstring)."""

    yaml_implicit_resolvers = _without({_BOOL, _INT, _FLOAT, _TIMESTAMP, _VALUE})

    def construct_strict_int(self, node: Node) -> int:
        text = str(self.construct_scalar(node))  # type: ignore[arg-type]
        try:
            # base 0 accepts 12, -3, 0x1f, 0o17 and rejects 0644: exactly the 1.2 core set.
            return int(text, 0)
        except ValueError:
            raise yaml.constructor.ConstructorError(
                None, None, f"{text!r} is not a YAML 1.2 integer", node.start_mark
            ) from None


_StrictLoader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|false)$", re.I), list("tTfF"))
_StrictLoader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_StrictLoader.add_implicit_resolver(
    _FLOAT,
    # A dot or an exponent is required, so ints and leading-zero strings never land here.
    re.compile(
        r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+.0123456789"),
)
_StrictLoader.add_constructor(_INT, _StrictLoader.construct_strict_int)


# --- loading ------------------------------------------------------------------------


class _Abort(Exception):
    """Stops the walk at the first problem that makes going on pointless."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Walker:
    """One pass over the composed tree: positions, node budget, recursion, duplicates."""

    def __init__(self, loader: yaml.SafeLoader, source: str, *, strict: bool, max_nodes: int) -> None:
        self._loader = loader
        self._source = source
        self._strict = strict
        self._max_nodes = max_nodes
        self._count = 0
        self._open: set[int] = set()  # ids of collections on the current path: cycle guard
        self.lines: dict[Path, int] = {}
        self.problems: list[Problem] = []

    def walk(self, node: Node, path: Path) -> None:
        self._count += 1
        if self._count > self._max_nodes:
            raise _Abort(
                None,
                f"document has more than {self._max_nodes} values once aliases are "
                "expanded (alias bomb?); refusing to load it",
            )
        if len(path) > DEFAULT_MAX_DEPTH:
            raise _Abort(_line_of(node), f"nesting deeper than {DEFAULT_MAX_DEPTH} levels")
        if isinstance(node, ScalarNode):
            return
        if id(node) in self._open:
            raise _Abort(_line_of(node), "an alias refers to a collection that contains it")
        self._open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                for index, item in enumerate(node.value):
                    self._visit(item, (*path, index), _line_of(item), keep_first=False)
            elif isinstance(node, MappingNode):
                self._walk_mapping(node, path)
        finally:
            self._open.discard(id(node))

    def _visit(self, node: Node, path: Path, line: int, *, keep_first: bool) -> None:
        if keep_first:
            self.lines.setdefault(path, line)
        else:
            self.lines[path] = line  # lenient duplicates: the last one wins, as in the data
        self.walk(node, path)

    def _walk_mapping(self, node: MappingNode, path: Path) -> None:
        seen: dict[object, int] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            key = self._key(key_node)
            first = seen.get(key)
            if first is not None and self._strict:
                self.problems.append(
                    Problem(
                        self._source,
                        _line_of(key_node),
                        _dotted((*path, _path_part(key))),
                        f"duplicate key {key!r} (first defined on line {first}); remove one of them",
                    )
                )
            seen.setdefault(key, _line_of(key_node))
            self._visit(value_node, (*path, _path_part(key)), _line_of(key_node), keep_first=False)
        # `<<: *defaults` entries: explicit keys above win, so merged ones never overwrite.
        for merged in merges:
            sources = merged.value if isinstance(merged, SequenceNode) else [merged]
            for source in sources:
                self._walk_merged(source, path)

    def _walk_merged(self, node: Node, path: Path) -> None:
        if not isinstance(node, MappingNode):
            self.walk(node, path)  # the constructor reports the type error with its mark
            return
        self._count += 1
        for key_node, value_node in node.value:
            part = _path_part(self._key(key_node))
            self._visit(value_node, (*path, part), _line_of(key_node), keep_first=True)

    def _key(self, key_node: Node) -> object:
        """The key as the constructor will build it, so `1` and `"1"` stay different."""
        if not isinstance(key_node, ScalarNode):
            return ("<complex key>", _line_of(key_node))
        try:
            value: object = self._loader.construct_object(key_node, deep=True)
        except yaml.YAMLError:
            return str(key_node.value)
        try:
            hash(value)
        except TypeError:
            return str(key_node.value)
        return value


def _path_part(key: object) -> str | int:
    if isinstance(key, str):
        return str(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    return str(key)


def _syntax_problem(source: str, text: str, error: yaml.YAMLError) -> Problem:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line = None if mark is None else int(mark.line) + 1
        what = error.problem or error.context or "invalid YAML"
        if error.context and error.problem:
            at = "" if error.context_mark is None else f" (line {error.context_mark.line + 1})"
            what = f"{error.context}{at}: {error.problem}"
        if "!vault" in what:
            what = (
                "vault-encrypted values cannot be read by nodeward; export a plain inventory "
                f"with `ansible-inventory -i <inventory> --list --yaml` ({what})"
            )
        return Problem(source, line, "", f"invalid YAML: {what}")
    if isinstance(error, yaml.reader.ReaderError):
        position = int(error.position)
        line = text.count("\n", 0, position) + 1
        return Problem(source, line, "", f"unacceptable character #x{error.character:04x}")
    return Problem(source, None, "", f"YAML error: {error}")


def load_yaml(
    text: str,
    source: str,
    *,
    strict: bool,
    max_bytes: int = 8 << 20,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> tuple[object, PositionMap]:
    """Parse one YAML document safely; return the data and the line of every value.

    `source` names the text in messages (normally the file path). An empty document
    gives `None`. Raises `InputError` for oversized or malformed input, for alias
    bombs and cyclic aliases, and (strict only) for duplicate keys, with every
    duplicate reported at once.
    """
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise InputError([Problem(source, None, "", f"file is larger than {max_bytes} bytes; refusing it")])
    loader_class = _StrictLoader if strict else _LenientLoader
    try:
        loader = loader_class(text)  # the reader rejects control characters right here
        try:
            return _compose_walk_construct(loader, source, strict=strict, max_nodes=max_nodes)
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise InputError([_syntax_problem(source, text, error)]) from None
    except RecursionError:
        # The composer recurses per nesting level: thousands of `[` end up here.
        raise InputError([Problem(source, None, "", "nesting too deep to be a sensible document")]) from None


def _compose_walk_construct(
    loader: yaml.SafeLoader, source: str, *, strict: bool, max_nodes: int
) -> tuple[object, PositionMap]:
    node = loader.get_single_node()
    if node is None:
        return None, PositionMap()
    walker = _Walker(loader, source, strict=strict, max_nodes=max_nodes)
    walker.lines[()] = _line_of(node)
    try:
        walker.walk(node, ())
    except _Abort as abort:
        raise InputError([Problem(source, abort.line, "", abort.message)]) from None
    if walker.problems:
        raise InputError(walker.problems)
    data: object = loader.construct_document(node)
    return data, PositionMap(walker.lines)
