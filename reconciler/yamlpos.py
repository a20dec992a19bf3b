"""Read YAML into plain Python values, remembering where every value and mapping key came from.

PyYAML's composer expands aliases, silently keeps the last of duplicate keys and forgets
positions. This module builds values straight from the parser's events instead, so that:

- every value's (line, column) is recorded under its path in the document, and every mapping
  key's separately (an "unknown key" error points at the key, not at its value);
- duplicate keys, anchors, aliases, non-string keys and non-standard tags are errors (aliases are
  never expanded, so an alias bomb costs nothing);
- scalars resolve exactly as ``yaml.safe_load`` resolves them (YAML 1.1: ``yes`` is true).

Composition is iterative (no recursion limit on deep nesting) and linear in the input size.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from reconciler.errors import Position, Problem

try:
    _LOADER: type[Any] = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _LOADER = yaml.SafeLoader

PathKey = tuple[str | int, ...]
LineColumn = tuple[int, int]

_TAG = "tag:yaml.org,2002:"
_STR_TAG = _TAG + "str"
_SEQ_TAG = _TAG + "seq"
_MAP_TAG = _TAG + "map"
_SCALAR_TAGS = frozenset(
    _TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp", "binary")
)
_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", type(None): "null"}


@dataclass
class Document:
    """One YAML document: its value and the 1-based positions of its values and keys."""

    file: str
    index: int  # 0-based position of the document in its file
    data: Any
    positions: dict[PathKey, LineColumn] = field(default_factory=dict)
    key_positions: dict[PathKey, LineColumn] = field(default_factory=dict)
    # Paths where an alias stood; their value is None and already reported.
    aliases: set[PathKey] = field(default_factory=set)

    def position(self, path: Sequence[str | int] = ()) -> Position:
        """Where the value at ``path`` starts, or its nearest recorded ancestor."""
        key = tuple(path)
        while key not in self.positions and key:
            key = key[:-1]
        line, column = self.positions.get(key, (1, 1))
        return Position(self.file, line, column)

    def key_position(self, path: Sequence[str | int]) -> Position:
        """Where the mapping key introducing ``path`` is written (the value's place if none)."""
        key = tuple(path)
        if key in self.key_positions:
            line, column = self.key_positions[key]
            return Position(self.file, line, column)
        return self.position(key)

    def under_alias(self, path: Sequence[str | int]) -> bool:
        """True if ``path`` is at or below a rejected alias (its errors would only repeat that)."""
        key = tuple(path)
        return any(key[:n] in self.aliases for n in range(len(key) + 1))


# Sentinels for the key slot of an open mapping.
_NO_KEY: Any = object()  # the next node is a key
_SKIP_VALUE: Any = object()  # the key was rejected: compose the next node but drop it
_IN_COMPLEX_KEY: Any = object()  # a collection used as a key is being consumed


class _Frame:
    """An open mapping or sequence during composition."""

    __slots__ = ("container", "is_list", "key", "path")

    def __init__(self, container: dict[str, Any] | list[Any], path: PathKey | None) -> None:
        self.container = container
        self.is_list = isinstance(container, list)
        self.path = path  # None: the collection is being dropped (rejected key or its value)
        self.key: Any = _NO_KEY


class _Composer:
    """Builds documents from parser events; collects problems instead of stopping at the first."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.documents: list[Document] = []
        self._stack: list[_Frame] = []
        self._document: Document | None = None
        self._count = 0
        self._resolve: Any = Resolver().resolve
        self._constructor = SafeConstructor()
        # Plain scalars resolve by their text alone; manifests repeat keys and values a lot.
        self._plain: dict[str, Any] = {}

    def _problem(self, event: Any, message: str, hint: str | None = None) -> None:
        mark = event.start_mark
        position = Position(self.file, mark.line + 1, mark.column + 1)
        self.problems.append(Problem(position, message, hint))

    def run(self, text: str) -> None:
        loader = _LOADER(text)
        try:
            get_event = loader.get_event
            while loader.check_event():
                event = get_event()
                cls = type(event)
                if cls is ScalarEvent or cls is MappingStartEvent or cls is SequenceStartEvent:
                    if self._document is not None:
                        self._node(event, cls, self._document)
                elif cls is MappingEndEvent or cls is SequenceEndEvent:
                    self._end()
                elif cls is AliasEvent:
                    if self._document is not None:
                        self._node(event, cls, self._document)
                elif cls is DocumentStartEvent:
                    self._document = Document(self.file, self._count, None)
                    self._count += 1
                elif cls is DocumentEndEvent:
                    if self._document is not None and self._document.data is not None:
                        self.documents.append(self._document)
                    self._document = None
        finally:
            loader.dispose()

    def _end(self) -> None:
        self._stack.pop()
        if self._stack and self._stack[-1].key is _IN_COMPLEX_KEY:
            self._stack[-1].key = _SKIP_VALUE

    def _scalar(self, event: ScalarEvent) -> tuple[Any, bool]:
        """The value of a scalar as ``yaml.safe_load`` gives it, and whether that worked."""
        tag = event.tag
        plain = tag is None and event.implicit[0]
        if plain:
            cached = self._plain.get(event.value, _NO_KEY)
            if cached is not _NO_KEY:
                return cached, True
        if tag is None or tag == "!":
            tag = self._resolve(ScalarNode, event.value, event.implicit)
            if tag == _TAG + "merge":
                self._problem(event, "merge keys (<<) are not supported", "write the keys out")
                return None, False
            if tag == _TAG + "value":
                tag = _STR_TAG
        elif tag not in _SCALAR_TAGS:
            self._problem(event, f"unsupported tag {tag} on a scalar", "remove the tag")
            return None, False
        value: Any = event.value
        if tag != _STR_TAG:
            node = ScalarNode(tag, event.value, style=event.style)
            try:
                value = self._constructor.construct_object(node)
            except (ConstructorError, ValueError, TypeError):
                # The text is not echoed: it may sit where a secret does not belong.
                name = tag[len(_TAG) :]
                self._problem(event, f"this value cannot be read as {name}", "check the tag")
                return None, False
        if plain:
            self._plain[event.value] = value
        return value, True

    def _node(self, event: Any, cls: type[Event], document: Document) -> None:
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1)
        if event.anchor is not None:
            self._anchor(event, cls)

        stack = self._stack
        parent = stack[-1] if stack else None
        path: PathKey | None
        if parent is None:
            path = ()
        elif parent.is_list:
            path = None if parent.path is None else (*parent.path, len(parent.container))
        elif parent.key is _NO_KEY:
            self._key(event, cls, parent, document, where)
            return
        elif parent.key is _SKIP_VALUE or parent.path is None:
            path = None
        else:
            path = (*parent.path, parent.key)

        value: Any = None
        if cls is ScalarEvent:
            value = self._scalar(event)[0]
        elif cls is MappingStartEvent:
            if event.tag not in (None, "!", _MAP_TAG):
                self._problem(event, f"unsupported tag {event.tag} on a mapping", "remove the tag")
            value = {}
        elif cls is SequenceStartEvent:
            if event.tag not in (None, "!", _SEQ_TAG):
                self._problem(event, f"unsupported tag {event.tag} on a list", "remove the tag")
            value = []
        elif path is not None:  # an alias, already reported
            document.aliases.add(path)

        if path is not None:
            document.positions[path] = where
        if parent is None:
            document.data = value
        elif parent.is_list:
            parent.container.append(value)  # type: ignore[union-attr]
        else:
            if parent.key is not _SKIP_VALUE:
                parent.container[parent.key] = value
            parent.key = _NO_KEY
        if cls is MappingStartEvent or cls is SequenceStartEvent:
            stack.append(_Frame(value, path))

    def _anchor(self, event: Any, cls: type[Event]) -> None:
        if cls is AliasEvent:
            self._problem(
                event,
                f"YAML aliases are not supported (*{event.anchor})",
                "repeat the value instead of referring to an anchor",
            )
        else:
            self._problem(
                event,
                f"YAML anchors are not supported (&{event.anchor})",
                "repeat the value instead of anchoring it",
            )

    def _key(
        self, event: Any, cls: type[Event], parent: _Frame, document: Document, where: LineColumn
    ) -> None:
        parent.key = _SKIP_VALUE
        if cls is MappingStartEvent or cls is SequenceStartEvent:
            self._problem(event, "a mapping key must be a string, not a collection")
            parent.key = _IN_COMPLEX_KEY
            self._stack.append(_Frame({} if cls is MappingStartEvent else [], None))
            return
        if cls is not ScalarEvent:  # an alias as a key, already reported
            return
        key, ok = self._scalar(event)
        if not ok:
            return
        if not isinstance(key, str):
            name = _TYPE_NAMES.get(type(key), f"a {type(key).__name__}")
            self._problem(
                event,
                f"mapping key '{event.value}' is read as {name}, not as a string",
                f'quote it: "{event.value}"',
            )
            return
        assert isinstance(parent.container, dict)
        if key in parent.container:
            previous = None
            if parent.path is not None:
                previous = document.key_positions.get((*parent.path, key))
            first = f" (first at {self.file}:{previous[0]}:{previous[1]})" if previous else ""
            self._problem(event, f"duplicate key '{key}'{first}", "keep only one of them")
            return
        parent.key = key
        if parent.path is not None:
            path = (*parent.path, key)
            document.key_positions[path] = where


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector, re-enabling it only if it was enabled.

    Reading a manifest allocates millions of small containers, none of them cyclic garbage,
    and each collection walks them all: 100,000 entries took 7.5 s with the collector running
    and 2.2 s with it paused.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _error_position(error: yaml.YAMLError, file: str, text: str) -> Position | None:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        return Position(file, mark.line + 1, mark.column + 1)
    offset = getattr(error, "position", None)  # ReaderError: an offset into the text
    if isinstance(offset, int):
        line = text.count("\n", 0, offset) + 1
        return Position(file, line, offset - (text.rfind("\n", 0, offset) + 1) + 1)
    return None


def _error_hint(error: yaml.YAMLError, file: str, text: str) -> str | None:
    problem = getattr(error, "problem_mark", None)
    if problem is None:
        return None
    lines = text.splitlines()
    if (
        problem.line < len(lines)
        and lines[problem.line][problem.column : problem.column + 1] == "\t"
    ):
        return "indent with spaces: YAML does not allow tabs there"
    context = getattr(error, "context_mark", None)
    if context is None or (context.line, context.column) == (problem.line, problem.column):
        return None
    return f"the construct began at {Position(file, context.line + 1, context.column + 1)}"


def _error_message(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        parts = [part for part in (error.context, error.problem) if part]
        if parts:
            return "YAML syntax error: " + ", ".join(parts)
    if isinstance(error, yaml.reader.ReaderError):
        return f"unacceptable character #x{error.character:04x}: {error.reason}"
    return f"YAML error: {error}"


def parse_documents(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    """Parse every document of ``text``; ``file`` is the name positions carry.

    Returns the non-empty documents and the problems found. After a syntax error the documents
    completed before it are still returned; nothing after it is.
    """
    composer = _Composer(file)
    with paused_gc():
        try:
            composer.run(text)
        except yaml.YAMLError as error:
            position = _error_position(error, file, text)
            hint = _error_hint(error, file, text)
            composer.problems.append(Problem(position, _error_message(error), hint))
    return composer.documents, composer.problems


def load_file(
    path: str | os.PathLike[str], display: str | None = None
) -> tuple[list[Document], list[Problem]]:
    """Read and parse one file. ``display`` (default: ``path`` as given) names it in positions."""
    name = display if display is not None else os.fspath(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        return [], [Problem(None, f"cannot read {name}: {error.strerror or error}")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        return [], [Problem(Position(name, line, column), "the file is not valid UTF-8")]
    return parse_documents(text, name)
