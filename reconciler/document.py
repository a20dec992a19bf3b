"""A parsed YAML document: its value, and where each of its values and mapping keys is written.

``yamlpos`` builds these; the checks use ``position`` and ``key_position`` to point at the line
and column of a problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import Position

PathKey = tuple[str | int, ...]
LineColumn = tuple[int, int]


# Where each value of a document was written, in a tree shaped like the value: a mapping's marks
# map each key to (key line, key column, value line, value column, the value's marks); a list's
# marks hold (line, column, the item's marks) per item; a scalar has no marks (None). Positions
# are 1-based. One small tuple per value, instead of a path tuple per value and per key.
# The common scalar is packed into one int instead (a million-entry list holds millions):
# ``line << 20 | key column << 10 | column`` for a value on its key's line, ``line << 10 |
# column`` for a list item, when the columns are below 1024.
Marks = dict[str, tuple[int, int, int, int, Any] | int] | list[tuple[int, int, Any] | int] | None


@dataclass
class Document:
    """One YAML document: its value and the 1-based positions of its values and keys."""

    file: str
    index: int  # 0-based position of the document in its file
    data: Any
    start: LineColumn = (1, 1)  # where the value begins
    marks: Marks = None  # see ``Marks``
    # Paths where an alias stood; their value is None and already reported.
    aliases: set[PathKey] = field(default_factory=set)
    # (line, column, text) of plain values such as ``yes`` or ``off`` that PyYAML reads as
    # booleans while YAML 1.2, JSON Schema editors and GitHub read them as strings.
    yaml11_booleans: list[tuple[int, int, str]] = field(default_factory=list)

    def _find(self, path: Sequence[str | int]) -> tuple[int, LineColumn, LineColumn | None]:
        """How many parts of ``path`` are recorded, where the value there starts, and where
        its key is written (None unless the last recorded part is a mapping key)."""
        where, key_where = self.start, None
        marks = self.marks
        depth = 0
        for part in path:
            mark: Any
            if type(marks) is dict and type(part) is str and part in marks:
                mark = marks[part]
                if type(mark) is int:  # a scalar written on its key's line, see ``Marks``
                    key_line, key_column = mark >> 20, (mark >> 10) & 1023
                    where, key_where = (key_line, mark & 1023), (key_line, key_column)
                    marks = None
                else:
                    key_line, key_column, line, column, marks = mark
                    where, key_where = (line, column), (key_line, key_column)
            elif type(marks) is list and type(part) is int and 0 <= part < len(marks):
                mark = marks[part]
                if type(mark) is int:  # a scalar item, see ``Marks``
                    where, marks = (mark >> 10, mark & 1023), None
                else:
                    line, column, marks = mark
                    where = (line, column)
                key_where = None
            else:
                break
            depth += 1
        return depth, where, key_where

    def position(self, path: Sequence[str | int] = ()) -> Position:
        """Where the value at ``path`` starts, or its nearest recorded ancestor."""
        _, (line, column), _ = self._find(path)
        return Position(self.file, line, column)

    def key_position(self, path: Sequence[str | int]) -> Position:
        """Where the mapping key introducing ``path`` is written (the value's place if none)."""
        depth, where, key_where = self._find(path)
        line, column = key_where if key_where is not None and depth == len(path) else where
        return Position(self.file, line, column)

    def under_alias(self, path: Sequence[str | int]) -> bool:
        """True if ``path`` is at or below a rejected alias (its errors would only repeat that)."""
        key = tuple(path)
        return any(key[:n] in self.aliases for n in range(len(key) + 1))
