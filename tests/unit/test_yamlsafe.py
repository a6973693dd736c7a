"""agent.yamlsafe: the two YAML dialects, positions, and refusal of hostile documents."""

from __future__ import annotations

import pytest

from agent.errors import InputError, Problem
from agent.yamlsafe import PositionMap, UnsafeText, load_yaml


def problems_of(text: str, *, strict: bool, **kwargs: int) -> tuple[Problem, ...]:
    with pytest.raises(InputError) as caught:
        load_yaml(text, "doc.yaml", strict=strict, **kwargs)
    return caught.value.problems


@pytest.mark.parametrize(
    ("scalar", "strict_value", "lenient_value"),
    [
        ("no", "no", False),  # PermitRootLogin: no
        ("yes", "yes", True),
        ("off", "off", False),
        ("On", "On", True),
        ("true", True, True),
        ("FALSE", False, False),
        ("TrUe", True, "TrUe"),  # YAML 1.2 here: any case; PyYAML knows three spellings
        ("0644", "0644", 420),  # a file mode: never silently octal (or decimal)
        ("22:22", "22:22", 1342),  # sexagesimal in YAML 1.1
        ("1_000", "1_000", 1000),
        ("2222", 2222, 2222),
        ("-7", -7, -7),
        ("0", 0, 0),
        ("0x1f", 31, 31),
        ("0o17", 15, "0o17"),
        ("1.5", 1.5, 1.5),
        ("1e3", 1000.0, "1e3"),
        ("2001-12-14", "2001-12-14", "date"),
        ("~", None, None),
        ("=", "=", "="),  # PyYAML's `value` tag would crash SafeLoader
    ],
)
def test_scalars_follow_the_dialect(scalar: str, strict_value: object, lenient_value: object) -> None:
    strict, _ = load_yaml(f"key: {scalar}\n", "doc.yaml", strict=True)
    lenient, _ = load_yaml(f"key: {scalar}\n", "doc.yaml", strict=False)
    assert isinstance(strict, dict) and isinstance(lenient, dict)
    assert strict["key"] == strict_value
    assert type(strict["key"]) is type(strict_value)
    if lenient_value == "date":
        assert type(lenient["key"]).__name__ == "date"
    else:
        assert lenient["key"] == lenient_value
        assert type(lenient["key"]) is type(lenient_value)


def test_strict_reports_every_duplicate_key_with_line_and_path() -> None:
    text = "a: 1\nb:\n  c: 2\n  c: 3\na: 4\n"
    found = problems_of(text, strict=True)
    assert [(p.file, p.line, p.field) for p in found] == [
        ("doc.yaml", 4, "b.c"),
        ("doc.yaml", 5, "a"),
    ]
    assert "first defined on line 3" in found[0].message


def test_strict_duplicates_compare_constructed_keys() -> None:
    # 1 and "1" are different keys; `true` and `True` are the same one.
    data, _ = load_yaml('1: a\n"1": b\n', "doc.yaml", strict=True)
    assert data == {1: "a", "1": "b"}
    assert problems_of("true: a\nTrue: b\n", strict=True)[0].line == 2


def test_lenient_duplicate_keeps_last_value_and_its_line() -> None:
    data, positions = load_yaml("a: 1\nb: 2\na: 3\n", "doc.yaml", strict=False)
    assert data == {"a": 3, "b": 2}
    assert positions.line(("a",)) == 3


def test_positions_point_at_keys_and_fall_back_to_ancestors() -> None:
    text = "all:\n  hosts:\n    node1:\n      port: 22\n    node2:\n  list:\n    - x\n    - y\n"
    _, positions = load_yaml(text, "doc.yaml", strict=True)
    assert positions.line(("all", "hosts", "node1", "port")) == 4
    assert positions.line(("all", "hosts", "node2")) == 5  # null value: the key's line
    assert positions.line(("all", "list", 1)) == 8
    assert positions.line(("all", "hosts", "node1", "missing")) == 3
    assert positions.line(("nothing", "here")) == 1  # the document itself
    assert PositionMap().line(("a",)) is None


def test_merge_keys_keep_explicit_values_and_positions() -> None:
    text = "base: &b {x: 1, y: 2}\nnode:\n  <<: *b\n  y: 3\n"
    data, positions = load_yaml(text, "doc.yaml", strict=True)
    assert data == {"base": {"x": 1, "y": 2}, "node": {"x": 1, "y": 3}}
    assert positions.line(("node", "y")) == 4
    assert positions.line(("node", "x")) == 1  # inherited from the anchor's line


def test_syntax_error_has_the_line_of_the_problem() -> None:
    (problem,) = problems_of("a: 1\nb: [1, 2\nc: 3\n", strict=False)
    assert problem.file == "doc.yaml"
    assert problem.line == 3
    assert "invalid YAML" in problem.message


def test_alias_bomb_is_refused_before_construction() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        prev, name = chr(96 + level), chr(97 + level)
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    (problem,) = problems_of("\n".join(lines), strict=False, max_nodes=100_000)
    assert "alias" in problem.message


def test_node_cap_counts_expanded_aliases() -> None:
    text = "a: &a [1, 2, 3, 4]\nb: [*a, *a, *a]\n"
    load_yaml(text, "doc.yaml", strict=True, max_nodes=30)
    problems_of(text, strict=True, max_nodes=15)  # 1 + 5 + 1 + 3 * 5 = 22 > 15


def test_recursive_alias_is_an_error() -> None:
    (problem,) = problems_of("a: &a [1, *a]\n", strict=False)
    assert problem.line == 1
    assert "contains it" in problem.message


def test_size_cap() -> None:
    (problem,) = problems_of("a: 1\n" * 100, strict=True, max_bytes=100)
    assert "larger than 100 bytes" in problem.message


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    assert "nesting" in problems_of("[" * 5000, strict=False)[0].message
    assert "nesting" in problems_of("a: " + "[" * 80 + "]" * 80, strict=False)[0].message


def test_control_characters_are_refused_with_their_line() -> None:
    (problem,) = problems_of("a: 1\nb: x\x00y\n", strict=True)
    assert problem.line == 2
    assert "#x0000" in problem.message


def test_vault_values_get_a_way_out() -> None:
    (problem,) = problems_of("pw: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n", strict=False)
    assert problem.line == 1
    assert "ansible-inventory" in problem.message


def test_unsafe_tag_marks_literal_strings_in_lenient_mode_only() -> None:
    data, _ = load_yaml("a: !unsafe '{{ not a template }}'\n", "doc.yaml", strict=False)
    assert isinstance(data, dict)
    assert isinstance(data["a"], UnsafeText)
    assert data["a"] == "{{ not a template }}"
    problems_of("a: !unsafe x\n", strict=True)


def test_python_tags_are_never_constructed() -> None:
    problems_of("a: !!python/object/apply:os.system ['true']\n", strict=False)


def test_explicit_int_tag_on_leading_zero_is_refused_in_strict_mode() -> None:
    assert "0644" in problems_of("mode: !!int 0644\n", strict=True)[0].message


def test_one_document_only_and_empty_is_none() -> None:
    problems_of("a: 1\n---\nb: 2\n", strict=True)
    data, positions = load_yaml("# only a comment\n", "doc.yaml", strict=True)
    assert data is None
    assert positions.line(()) is None
