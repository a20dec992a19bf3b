"""Read YAML into plain Python values, remembering where every value and mapping key came from.

PyYAML's composer expands aliases, silently keeps the last of duplicate keys and forgets
positions. This module builds values straight from the parser's events instead, so that:

- every value's (line, column) is recorded, and every mapping key's too (an "unknown key" error
  points at the key, not at its value), in a tree shaped like the value (``Marks``);
- duplicate keys, anchors, aliases, non-string keys and non-standard tags are errors (aliases are
  never expanded, so an alias bomb costs nothing);
- scalars resolve exactly as ``yaml.safe_load`` resolves them (YAML 1.1: ``yes`` is true), and
  the places of YAML 1.1 booleans that YAML 1.2 (and so an editor) reads as strings are kept in
  ``Document.yaml11_booleans``, for the caller to reject.

Composition is iterative (no recursion limit on deep nesting) and linear in the input size.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
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

from reconciler import files
from reconciler.document import Document, Marks, PathKey
from reconciler.errors import InputError, Position, Problem
from reconciler.manifests.yaml_errors import syntax_problem

try:
    _LOADER: type[Any] = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _LOADER = yaml.SafeLoader


_TAG = "tag:yaml.org,2002:"
_STR_TAG = _TAG + "str"
_SEQ_TAG = _TAG + "seq"
_MAP_TAG = _TAG + "map"
_SCALAR_TAGS = frozenset(
    _TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp", "binary")
)
# First characters of the plain scalars an implicit resolver may read as something other than a
# string (``yes``, ``1``, ``~``, ``<<``...); any other non-empty plain scalar is a string.
_RESOLVED_FIRST = frozenset(Resolver.yaml_implicit_resolvers)
_YAML12_BOOLEANS = frozenset(("true", "false"))
_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", type(None): "null"}


# Sentinels for the key slot of an open mapping.
_NO_KEY: Any = object()  # the next node is a key
_SKIP_VALUE: Any = object()  # the key was rejected: compose the next node but drop it
_IN_COMPLEX_KEY: Any = object()  # a collection used as a key is being consumed
_INVALID: Any = object()  # a scalar that could not be read (already reported)

# A manifest nests six levels deep; anything far deeper is an attack or an accident, and
# checking it would recurse without bound.
MAX_DEPTH = 64


class _TooDeep(Exception):
    """Stops composing a file nested deeper than ``MAX_DEPTH``; the problem is recorded."""


class _Frame:
    """An open mapping or sequence during composition."""

    __slots__ = ("container", "is_list", "key", "key_column", "key_line", "marks", "path")

    def __init__(
        self, container: dict[str, Any] | list[Any], path: PathKey | None, marks: Marks
    ) -> None:
        # Typed loosely: a mapping's frame holds dicts, a list's frame lists (see ``Marks``).
        self.container: Any = container
        self.is_list = isinstance(container, list)
        # None for both: the collection is being dropped (a rejected key or its value).
        self.path = path
        self.marks: Any = marks
        self.key: Any = _NO_KEY
        self.key_line = self.key_column = 0  # where the current key is written


class _Composer:
    """Builds documents from parser events; collects problems instead of stopping at the first.

    ``run`` handles the common event, an untagged scalar inside a collection, inline: a
    100,000-entry manifest is some 700,000 events and per-event calls dominated its cost.
    """

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
        stack = self._stack
        plain = self._plain
        keys: dict[str, str] = {}
        last_line = 0
        try:
            get_event = loader.get_event
            while (event := get_event()) is not None:
                cls = type(event)
                if cls is ScalarEvent and stack and event.anchor is None and event.tag is None:
                    value = event.value
                    # Quoted and block scalars are strings, and so are most plain ones: those
                    # starting with a character no resolver claims (a name, an address).
                    if event.implicit[0] and (not value or value[0] in _RESOLVED_FIRST):
                        value = plain.get(value, _INVALID)
                        if value is _INVALID:
                            value = self._scalar(event)
                    frame = stack[-1]
                    mark = event.start_mark
                    line = mark.line + 1
                    if line == last_line:
                        line = last_line  # one int object per line, not one per value
                    else:
                        last_line = line
                    if (
                        type(value) is bool
                        and event.value.lower() not in _YAML12_BOOLEANS
                        and self._document is not None
                        and (frame.is_list or frame.key is not _NO_KEY)
                    ):
                        self._document.yaml11_booleans.append((line, mark.column + 1, event.value))
                    if frame.is_list:
                        if frame.marks is not None:
                            column = mark.column + 1
                            frame.marks.append(
                                line << 10 | column if column < 1024 else (line, column, None)
                            )
                        frame.container.append(None if value is _INVALID else value)
                    elif frame.key is _NO_KEY:
                        if type(value) is str and value not in frame.container:
                            # One string per distinct key, not one per entry that writes it.
                            frame.key = keys.setdefault(value, value)
                            frame.key_line = line
                            frame.key_column = mark.column + 1
                        else:
                            self._key(event, value, frame)
                    else:
                        key = frame.key
                        if key is not _SKIP_VALUE:
                            frame.container[key] = None if value is _INVALID else value
                            if frame.marks is not None:
                                column = mark.column + 1
                                key_column = frame.key_column
                                if line == frame.key_line and column < 1024 and key_column < 1024:
                                    frame.marks[key] = line << 20 | key_column << 10 | column
                                else:
                                    frame.marks[key] = (
                                        frame.key_line,
                                        key_column,
                                        line,
                                        column,
                                        None,
                                    )
                        frame.key = _NO_KEY
                elif cls is MappingEndEvent or cls is SequenceEndEvent:
                    stack.pop()
                    if stack and stack[-1].key is _IN_COMPLEX_KEY:
                        stack[-1].key = _SKIP_VALUE
                elif cls is DocumentStartEvent:
                    self._document = Document(self.file, self._count, None)
                    self._count += 1
                elif cls is DocumentEndEvent:
                    if self._document is not None and self._document.data is not None:
                        self.documents.append(self._document)
                    self._document = None
                elif self._document is not None and cls in _NODE_EVENTS:
                    self._node(event, cls, self._document)
        finally:
            loader.dispose()

    def _scalar(self, event: ScalarEvent) -> Any:
        """The value of a scalar as ``yaml.safe_load`` gives it, or ``_INVALID`` (reported)."""
        tag = event.tag
        plain = tag is None and event.implicit[0]
        if plain:
            cached = self._plain.get(event.value, _INVALID)
            if cached is not _INVALID:
                return cached
        if tag is None or tag == "!":
            tag = self._resolve(ScalarNode, event.value, event.implicit)
            if tag == _TAG + "merge":
                self._problem(event, "merge keys (<<) are not supported", "write the keys out")
                return _INVALID
            if tag == _TAG + "value":
                tag = _STR_TAG
        elif tag not in _SCALAR_TAGS:
            self._problem(event, f"unsupported tag {tag} on a scalar", "remove the tag")
            return _INVALID
        value: Any = event.value
        if tag != _STR_TAG:
            node = ScalarNode(tag, event.value, style=event.style)
            try:
                value = self._constructor.construct_object(node)
            except (ConstructorError, ValueError, TypeError):
                # The text is not echoed: it may sit where a secret does not belong.
                name = tag[len(_TAG) :]
                self._problem(event, f"this value cannot be read as {name}", "check the tag")
                return _INVALID
        if plain:
            self._plain[event.value] = value
        return value

    def _node(self, event: Any, cls: type[Event], document: Document) -> None:
        """Any node but the common scalar ``run`` handles itself."""
        mark = event.start_mark
        line, column = mark.line + 1, mark.column + 1
        if event.anchor is not None:
            self._anchor(event, cls)

        stack = self._stack
        parent = stack[-1] if stack else None
        if parent is not None and not parent.is_list and parent.key is _NO_KEY:
            if cls is ScalarEvent:
                self._key(event, self._scalar(event), parent)
            else:
                self._collection_key(event, cls, parent)
            return

        value: Any = None
        if cls is ScalarEvent:
            value = self._scalar(event)
            if value is _INVALID:
                value = None
        elif cls is MappingStartEvent:
            if event.tag not in (None, "!", _MAP_TAG):
                self._problem(event, f"unsupported tag {event.tag} on a mapping", "remove the tag")
            value = {}
        elif cls is SequenceStartEvent:
            if event.tag not in (None, "!", _SEQ_TAG):
                self._problem(event, f"unsupported tag {event.tag} on a list", "remove the tag")
            value = []

        # The marks of this value, if it is a collection that is recorded.
        recorded = parent is None or parent.marks is not None
        marks: Marks = None
        if recorded and (cls is MappingStartEvent or cls is SequenceStartEvent):
            marks = {} if cls is MappingStartEvent else []
        path: PathKey | None = None
        if parent is None:
            path = ()
            document.data = value
            document.start = (line, column)
            document.marks = marks
        elif parent.is_list:
            if parent.path is not None:
                path = (*parent.path, len(parent.container))
                parent.marks.append((line, column, marks))
            parent.container.append(value)
        else:
            key = parent.key
            if key is not _SKIP_VALUE:
                parent.container[key] = value
                if parent.path is not None:
                    path = (*parent.path, key)
                    entry = (parent.key_line, parent.key_column, line, column, marks)
                    parent.marks[key] = entry
            parent.key = _NO_KEY

        if path is not None and cls is AliasEvent:  # already reported; its value is a hole
            document.aliases.add(path)
        if cls is MappingStartEvent or cls is SequenceStartEvent:
            if len(stack) >= MAX_DEPTH:
                self._problem(event, f"the document nests deeper than {MAX_DEPTH} levels")
                raise _TooDeep
            stack.append(_Frame(value, path, marks if path is not None else None))

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

    def _collection_key(self, event: Any, cls: type[Event], parent: _Frame) -> None:
        parent.key = _SKIP_VALUE
        if cls is MappingStartEvent or cls is SequenceStartEvent:
            self._problem(event, "a mapping key must be a string, not a collection")
            parent.key = _IN_COMPLEX_KEY
            self._stack.append(_Frame({} if cls is MappingStartEvent else [], None, None))
        # An alias as a key was reported with the alias.

    def _key(self, event: Any, key: Any, parent: _Frame) -> None:
        parent.key = _SKIP_VALUE
        if key is _INVALID:
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
            first = ""
            if isinstance(parent.marks, dict) and key in parent.marks:
                mark = parent.marks[key]
                line, column = (mark >> 20, (mark >> 10) & 1023) if type(mark) is int else mark[:2]
                first = f" (first at {self.file}:{line}:{column})"
            self._problem(event, f"duplicate key '{key}'{first}", "keep only one of them")
            return
        parent.key = key
        mark = event.start_mark
        parent.key_line, parent.key_column = mark.line + 1, mark.column + 1


_NODE_EVENTS = frozenset({ScalarEvent, MappingStartEvent, SequenceStartEvent, AliasEvent})


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


def parse_documents(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    """Parse every document of ``text``; ``file`` is the name positions carry.

    Returns the non-empty documents and the problems found. After a syntax error the documents
    completed before it are still returned; nothing after it is.
    """
    composer = _Composer(file)
    with paused_gc():
        try:
            composer.run(text)
        except _TooDeep:
            return [], composer.problems
        except yaml.YAMLError as error:
            composer.problems.append(syntax_problem(error, file, text))
    return composer.documents, composer.problems


def load_file(
    path: str | os.PathLike[str], display: str | None = None
) -> tuple[list[Document], list[Problem]]:
    """Read and parse one file. ``display`` (default: ``path`` as given) names it in positions."""
    name = display if display is not None else os.fspath(path)
    try:
        data = files.read_bytes(path, files.MANIFEST_LIMIT, "", name)
    except InputError as error:
        return [], [Problem(None, str(error))]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        return [], [Problem(Position(name, line, column), "the file is not valid UTF-8")]
    return parse_documents(text, name)
