"""An insertion-ordered collection of records with O(1) lookup and removal by key.

Provider lists are paged by offset and may hold 100,000 entries, so a page must be a slice of a
list, never a copy or a re-sort of everything. Removals leave holes that the next ordered read
closes in one pass: a batch of deletes costs O(n) once instead of O(n) each.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, Generic, TypeVar

Record = dict[str, Any]
K = TypeVar("K", bound=Hashable)


class DuplicateKeyError(ValueError):
    """Two records share a key."""


class RecordList(Generic[K]):
    def __init__(self, key: Callable[[Record], K], records: Iterable[Record] = ()) -> None:
        self._key = key
        self._slots: list[Record | None] = []
        self._positions: dict[K, int] = {}
        self._holes = 0
        for record in records:
            self.append(record)

    def __len__(self) -> int:
        return len(self._positions)

    def __iter__(self) -> Iterator[Record]:
        return (record for record in self._slots if record is not None)

    def __contains__(self, key: object) -> bool:
        return key in self._positions

    def get(self, key: K) -> Record | None:
        position = self._positions.get(key)
        return None if position is None else self._slots[position]

    def position(self, key: K) -> int:
        """Where the record with this key stands among the live records (0-based)."""
        self._compact()
        return self._positions[key]

    def append(self, record: Record, key: K | None = None) -> None:
        """Add a record at the end; ``key`` saves recomputing one the caller already has."""
        key = self._key(record) if key is None else key
        if key in self._positions:
            raise DuplicateKeyError(f"duplicate record key {key!r}")
        self._positions[key] = len(self._slots)
        self._slots.append(record)

    def remove(self, key: K) -> Record | None:
        position = self._positions.pop(key, None)
        if position is None:
            return None
        record = self._slots[position]
        self._slots[position] = None
        self._holes += 1
        return record

    def page(self, start: int, limit: int) -> list[Record]:
        """The live records ``start`` to ``start + limit``, in insertion order."""
        self._compact()
        return [record for record in self._slots[start : start + limit] if record is not None]

    def _compact(self) -> None:
        if not self._holes:
            return
        live = [record for record in self._slots if record is not None]
        self._positions = {self._key(record): i for i, record in enumerate(live)}
        self._slots = list(live)
        self._holes = 0
