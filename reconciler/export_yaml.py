"""The YAML that ``reconciler export`` writes, made piece by piece as it is written.

A million-entry list must not be held three times over (the entries, their
dictionaries, the whole text), so ``chunks`` yields the text a document at a time, and a long
list (``Items``, made item by item as it is written) a thousand entries at a time. The bytes
are PyYAML's: ``to_yaml`` is the same text joined, and the documents, pairs and list items are
rendered separately only where PyYAML renders each the same way alone as in its document (a
block mapping pair, a block sequence item: each starts on its own line at the same indent).
An entry whose every scalar is plain (``_plain``: no character YAML treats specially, nothing a
YAML 1.1 reader would take for another type) is written by a fast path, all else by PyYAML;
``tests/test_export_yaml.py`` holds both to PyYAML's rendering of the whole document.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import yaml

CHUNK = 1000  # list items per piece of text
WIDTH = 100
STR_TAG = "tag:yaml.org,2002:str"
# Characters no plain scalar of these has to be quoted for, the first not an indicator either.
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+/-]*")
_resolve: Callable[[type[yaml.Node], str, tuple[bool, bool]], str] = (
    yaml.resolver.Resolver().resolve
)
# The first characters for which the resolver tries a pattern (bool, int, float, null, ...);
# for any other it answers str at once (it has no pattern tried whatever the first character).
_RESOLVED = frozenset(yaml.resolver.Resolver.yaml_implicit_resolvers)
_FLOW_KEYS = ("env", "file")  # a mapping of only one of these is written on one line


class Flow(list[str]):
    """A short list written on one line: ``types: [bounce, complaint]``."""


class Items(Sequence[Any]):
    """The list ``make(item) for item in base``, made only as it is read: a million entries are
    never all dictionaries at once. ``make`` gives a new object each time (PyYAML writes an
    object met twice in a document as an anchor and an alias)."""

    def __init__(self, base: Sequence[Any], make: Callable[[Any], Any] = lambda item: item) -> None:
        self.base = base
        self.make = make

    def __len__(self) -> int:
        return len(self.base)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self.make(item) for item in self.base[index]]
        return self.make(self.base[index])

    def __iter__(self) -> Iterator[Any]:
        return map(self.make, self.base)


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, with sequences indented under their key as the examples are."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _flow_list(dumper: yaml.SafeDumper, data: Flow) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _items(dumper: yaml.SafeDumper, data: Items) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data)


def _secret_ref(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    # {env: NAME} on one line, as credentials are written in the examples.
    flow = len(data) == 1 and next(iter(data)) in _FLOW_KEYS
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flow or None)


_Dumper.add_representer(Flow, _flow_list)
_Dumper.add_representer(Items, _items)
_Dumper.add_representer(dict, _secret_ref)


def _dump(data: Mapping[str, Any]) -> str:
    return yaml.dump(
        dict(data),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=WIDTH,
    )


def to_yaml(documents: Iterable[Mapping[str, Any]], schema: str) -> str:
    """YAML documents separated by ``---``, each starting with a modeline naming ``schema``
    (the YAML language server applies a modeline only to its own document).

    PyYAML's safe dumper quotes every string a YAML 1.1 reader would take for something else
    (``on``, ``yes``, ``1.5``, ``null``, dates), so each value reads back as it was.
    """
    return "".join(chunks(documents, schema))


class Streamed:
    """A document whose one long list is made while it is written: ``document`` (its ``spec``
    holding what comes before the list), the list ``spec.<name>`` (``items``), then the keys
    ``later()`` gives, known only once the list is written. The text is the same as that of
    the whole document rendered with the list as ``Items``."""

    def __init__(
        self,
        document: Mapping[str, Any],
        name: str,
        items: Iterable[Any],
        later: Callable[[], Mapping[str, Any]],
    ) -> None:
        assert _plain(name)
        self.document, self.name, self.items, self.later = document, name, items, later

    def pieces(self) -> Iterator[str]:
        for key, value in self.document.items():
            if key != "spec":
                yield _dump({key: value})
                continue
            yield "spec:\n"
            for name, inner in value.items():
                yield _nested({name: inner}, "spec:\n")
            items = iter(self.items)
            first = next(items, _NOTHING)
            if first is _NOTHING:
                yield _nested({self.name: []}, "spec:\n")
            else:
                yield f"  {self.name}:\n"
                yield from _list(self.name, itertools.chain([first], items))
            for name, inner in self.later().items():
                yield _nested({name: inner}, "spec:\n")


_NOTHING = object()


def chunks(documents: Iterable[Mapping[str, Any] | Streamed], schema: str) -> Iterator[str]:
    """The text of ``to_yaml`` in pieces, each ending with a line break."""
    modeline = f"# yaml-language-server: $schema={schema}\n"
    for number, document in enumerate(documents):
        yield ("---\n" if number else "") + modeline
        yield from document.pieces() if isinstance(document, Streamed) else _document(document)


def _document(document: Mapping[str, Any]) -> Iterator[str]:
    spec = document.get("spec")
    streamed = (
        isinstance(spec, dict)
        and any(isinstance(value, Items) for value in spec.values())
        and not any(key in _FLOW_KEYS for key in (*document, *spec))
    )
    if not streamed:
        yield _dump(document)
        return
    for key, value in document.items():
        if key != "spec":
            yield _dump({key: value})
            continue
        yield "spec:\n"
        for name, inner in value.items():
            if isinstance(inner, Items) and inner and _plain(name):
                yield f"  {name}:\n"
                yield from _list(name, inner)
            else:
                yield _nested({name: inner}, "spec:\n")


def _nested(data: Mapping[str, Any], head: str) -> str:
    """The rendering of ``data`` as the value of ``spec``, less the ``head`` lines above it."""
    text = _dump({"spec": data})
    assert text.startswith(head), text
    return text[len(head) :]


def _list(name: str, items: Iterable[Any]) -> Iterator[str]:
    """The items of ``spec.<name>``, ``CHUNK`` to a piece."""
    head = f"spec:\n  {name}:\n"
    piece: list[str] = []
    for item in items:
        piece.append(_item(item) or _nested({name: [item]}, head))
        if len(piece) == CHUNK:
            yield "".join(piece)
            piece.clear()
    if piece:
        yield "".join(piece)


def _item(item: Any) -> str | None:
    """A list item (indented under ``spec.<name>``) as PyYAML writes it, or None unless all its
    scalars are plain."""
    if type(item) is str:
        return f"    - {item}\n" if _plain(item) else None
    if type(item) is not dict or not item or (len(item) == 1 and next(iter(item)) in _FLOW_KEYS):
        return None
    lines = []
    for key, value in item.items():
        shown = _flow(value) if type(value) is Flow else value if _plain(value) else None
        if shown is None or not _plain_name(key):
            return None
        line = f"      {key}: {shown}"
        if len(line) > WIDTH:  # PyYAML would fold a long flow list
            return None
        lines.append(line)
    lines[0] = "    - " + lines[0][6:]
    lines.append("")
    return "\n".join(lines)


def _flow(values: Flow) -> str | None:
    if not all(_plain_name(value) for value in values):
        return None
    return f"[{', '.join(values)}]"


def _plain(value: object) -> bool:
    """Whether PyYAML writes ``value`` as it is, unquoted, wherever it stands in a line."""
    return (
        type(value) is str
        and _PLAIN.fullmatch(value) is not None
        and (
            value[0] not in _RESOLVED or _resolve(yaml.ScalarNode, value, (True, False)) == STR_TAG
        )
    )


@functools.lru_cache(maxsize=256)
def _plain_name(value: object) -> bool:
    """``_plain`` for the few strings that repeat (keys, type names)."""
    return _plain(value)
