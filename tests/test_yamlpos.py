from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import Position
from reconciler.manifests.yamlpos import MAX_DEPTH, load_file, parse_documents

SAMPLE = """\
apiVersion: reconciler/v1
kind: IpWhitelist
metadata: {name: prod}
spec:
  account: prod-dm
  entries:
    - 203.0.113.7
    -   198.51.100.0/24
  flow: [a, {b: c}]
"""


def parse_one(text: str) -> Any:
    documents, problems = parse_documents(text, "m.yaml")
    assert problems == []
    assert len(documents) == 1
    return documents[0]


@pytest.mark.parametrize(
    ("path", "line", "column"),
    [
        ((), 1, 1),
        (("apiVersion",), 1, 13),
        (("metadata",), 3, 11),
        (("metadata", "name"), 3, 18),
        (("spec",), 5, 3),
        (("spec", "entries"), 7, 5),
        (("spec", "entries", 0), 7, 7),
        (("spec", "entries", 1), 8, 9),
        (("spec", "flow", 1), 9, 13),
        (("spec", "flow", 1, "b"), 9, 17),
        # No position of its own: the nearest recorded ancestor's.
        (("spec", "entries", 7), 7, 5),
        (("spec", "missing", "deeper"), 5, 3),
    ],
)
def test_value_positions(path: tuple[str | int, ...], line: int, column: int) -> None:
    assert parse_one(SAMPLE).position(path) == Position("m.yaml", line, column)


@pytest.mark.parametrize(
    ("path", "line", "column"),
    [
        (("apiVersion",), 1, 1),
        (("metadata", "name"), 3, 12),
        (("spec",), 4, 1),
        (("spec", "entries"), 6, 3),
        (("spec", "flow", 1, "b"), 9, 14),
        # A list item has no key: the value's own position.
        (("spec", "entries", 1), 8, 9),
    ],
)
def test_key_positions(path: tuple[str | int, ...], line: int, column: int) -> None:
    assert parse_one(SAMPLE).key_position(path) == Position("m.yaml", line, column)


def test_values() -> None:
    assert parse_one(SAMPLE).data == {
        "apiVersion": "reconciler/v1",
        "kind": "IpWhitelist",
        "metadata": {"name": "prod"},
        "spec": {
            "account": "prod-dm",
            "entries": ["203.0.113.7", "198.51.100.0/24"],
            "flow": ["a", {"b": "c"}],
        },
    }


@pytest.mark.parametrize(
    "scalar",
    [
        "yes",
        "No",
        "on",
        "off",
        "true",
        "~",
        "null",
        "",
        "1_000",
        "010",
        "0x1f",
        "0b101",
        "1:30",
        "1.5",
        "1e3",
        ".inf",
        "-.Inf",
        "2024-01-02",
        "2024-01-02 03:04:05",
        "'quoted'",
        '"double \\t quoted"',
        "!!str 123",
        "!!int '7'",
        "!!float 1",
        "! 123",
        "!!binary aGVsbG8=",
        "=",
        "plain text",
        "|\n  block\n  text\n",
    ],
)
def test_scalars_resolve_like_safe_load(scalar: str) -> None:
    text = f"value: {scalar}\n"
    assert parse_one(text).data == yaml.safe_load(text.replace("value: =", "value: '='"))


def test_nan_resolves_to_nan() -> None:
    value = parse_one("value: .nan\n").data["value"]
    assert value != value


def test_duplicate_key_names_both_positions() -> None:
    documents, problems = parse_documents("a: 1\nb:\n  c: 2\n  c: 3\na: 4\n", "d.yaml")
    assert [str(problem) for problem in problems] == [
        "d.yaml:4:3: error: duplicate key 'c' (first at d.yaml:3:3) (keep only one of them)",
        "d.yaml:5:1: error: duplicate key 'a' (first at d.yaml:1:1) (keep only one of them)",
    ]
    assert documents[0].data == {"a": 1, "b": {"c": 2}}  # the first one is kept


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &x 1\n", ["x.yaml:1:4: error: YAML anchors are not supported (&x)"]),
        (
            "a: &x 1\nb: *x\n",
            [
                "x.yaml:1:4: error: YAML anchors are not supported (&x)",
                "x.yaml:2:4: error: YAML aliases are not supported (*x)",
            ],
        ),
        ("base: &b {k: 1}\n", ["x.yaml:1:7: error: YAML anchors are not supported (&b)"]),
        ("- &i [1]\n", ["x.yaml:1:3: error: YAML anchors are not supported (&i)"]),
        ("<<: {k: 1}\n", ["x.yaml:1:1: error: merge keys (<<) are not supported"]),
        ("1: a\n", ["x.yaml:1:1: error: mapping key '1' is read as an integer, not as a string"]),
        ("on: a\n", ["x.yaml:1:1: error: mapping key 'on' is read as a boolean, not as a string"]),
        ("~: a\n", ["x.yaml:1:1: error: mapping key '~' is read as null, not as a string"]),
        ("? [a, b]\n: c\n", ["x.yaml:1:3: error: a mapping key must be a string"]),
        ("? {a: b}\n: c\nd: e\n", ["x.yaml:1:3: error: a mapping key must be a string"]),
        ("a: !custom 1\n", ["x.yaml:1:4: error: unsupported tag !custom on a scalar"]),
        ("a: !!python/name:os.system x\n", ["x.yaml:1:4: error: unsupported tag"]),
        ("a: !!set {b}\n", ["x.yaml:1:4: error: unsupported tag tag:yaml.org,2002:set"]),
        ("a: !!omap [b: 1]\n", ["x.yaml:1:4: error: unsupported tag tag:yaml.org,2002:omap"]),
        ("a: !!int x\n", ["x.yaml:1:4: error: this value cannot be read as int"]),
    ],
)
def test_rejected_constructs(text: str, expected: list[str]) -> None:
    _, problems = parse_documents(text, "x.yaml")
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert str(problem).startswith(start)


def test_rejected_key_drops_its_value_and_parsing_goes_on() -> None:
    documents, problems = parse_documents("? [x]\n: {deep: [1]}\n1: z\nok: yes\nok: no\n", "k.yaml")
    assert documents[0].data == {"ok": True}
    assert len(problems) == 3


def test_alias_is_recorded_and_never_expanded() -> None:
    documents, _ = parse_documents("a: &x [1, 2]\nb: *x\n", "a.yaml")
    assert documents[0].data == {"a": [1, 2], "b": None}
    assert documents[0].under_alias(("b",))
    assert documents[0].under_alias(("b", 0, "c"))
    assert not documents[0].under_alias(("a",))


def test_alias_bomb_is_rejected_fast() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{', '.join([f'*{previous}'] * 9)}]")
    bomb = "\n".join(lines) + "\n"
    # The floor: the same lines with plain values where the anchors and aliases stand.
    plain = bomb.replace("&", "").replace("*", "")

    def parsing(text: str) -> float:  # the quickest of five: a stall counts once
        times = []
        for _ in range(5):
            started = time.perf_counter()
            parse_documents(text, "bomb.yaml")
            times.append(time.perf_counter() - started)
        return min(times)

    floor, rejected = parsing(plain), parsing(bomb)
    # Rejecting it costs about five times what the plain text does (81 problems to write);
    # expanding it would take minutes.
    assert rejected < 100 * floor, (rejected, floor)
    _, problems = parse_documents(bomb, "bomb.yaml")
    assert len(problems) == 9 + 8 * 9  # nine anchors, seventy-two aliases
    assert all("not supported" in problem.message for problem in problems)


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("a: b\n c: d: e\n", "s.yaml:2:3", "mapping values are not allowed"),
        ("a: [1, 2\nb: 3\n", "s.yaml:2:2", "did not find expected ',' or ']'"),
        ("a:\n\t- b\n", "s.yaml:2:1", "cannot start any token"),
        ('a: "unterminated\n', "s.yaml:2:1", "found unexpected end of stream"),
        ("a: b\x01\n", "s.yaml:1:5", "unacceptable character #x0001"),
    ],
)
def test_syntax_error_position(text: str, position: str, fragment: str) -> None:
    _, problems = parse_documents(text, "s.yaml")
    assert len(problems) == 1
    assert str(problems[0].position) == position
    assert fragment in problems[0].message


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("a:\n\t- b\n", "indent with spaces: YAML does not allow tabs there"),
        ("a: [1, 2\nb: 3\n", "the construct began at s.yaml:1:4"),
    ],
)
def test_syntax_error_hint(text: str, hint: str) -> None:
    _, problems = parse_documents(text, "s.yaml")
    assert problems[0].hint == hint


def test_documents_before_a_syntax_error_are_kept() -> None:
    documents, problems = parse_documents("a: 1\n---\nb: [\n", "s.yaml")
    assert [document.data for document in documents] == [{"a": 1}]
    assert len(problems) == 1


def test_multiple_documents_and_empty_ones_skipped() -> None:
    text = "---\n# only a comment\n---\na: 1\n---\n~\n---\n- x\n...\n---\nb: 2\n"
    documents, problems = parse_documents(text, "multi.yaml")
    assert problems == []
    assert [(d.index, d.data) for d in documents] == [(1, {"a": 1}), (3, ["x"]), (4, {"b": 2})]
    assert documents[1].position((0,)) == Position("multi.yaml", 8, 3)
    assert documents[2].key_position(("b",)) == Position("multi.yaml", 11, 1)


def test_deep_nesting_stops_at_a_limit_with_a_position() -> None:
    # Composing is iterative, but what comes after (schema checks) would recurse: stop early.
    # libyaml (PyYAML >= 6.0.3) refuses 1,000 levels on its own; stay below that so the test
    # checks our limit, whichever PyYAML is installed.
    depth = 999
    documents, problems = parse_documents("[" * depth + "]" * depth + "\n", "deep.yaml")
    assert documents == []
    assert [str(p) for p in problems] == [
        f"deep.yaml:1:{MAX_DEPTH + 1}: error: the document nests deeper than {MAX_DEPTH} levels"
    ]


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = MAX_DEPTH
    documents, problems = parse_documents("[" * depth + "]" * depth + "\n", "deep.yaml")
    assert problems == []
    value = documents[0].data
    for _ in range(depth - 1):
        value = value[0]
    assert value == []


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collector_state_is_restored(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        parse_documents("a: 1\n", "g.yaml")
        parse_documents("a: [\n", "g.yaml")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes("\ufeffname: Bücher\n".encode())
    documents, problems = load_file(path, "shown.yaml")
    assert problems == []
    assert documents[0].data == {"name": "Bücher"}
    assert documents[0].position(("name",)) == Position("shown.yaml", 1, 7)


def test_load_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    _, problems = load_file(path, "latin1.yaml")
    assert [str(problem) for problem in problems] == [
        "latin1.yaml:2:7: error: the file is not valid UTF-8"
    ]


def test_load_file_missing(tmp_path: Path) -> None:
    _, problems = load_file(tmp_path / "nope.yaml", "nope.yaml")
    assert problems[0].position is None
    assert "cannot read nope.yaml" in problems[0].message
