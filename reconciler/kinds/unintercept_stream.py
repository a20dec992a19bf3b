"""An unintercept list exported in bounded memory, whatever its length (``Kind.stream_export``;
``reconciler.export_stream`` drives it).

``export`` writes a list sorted by key (``in_order``), so it cannot write an entry before
it has read them all; holding a million entries to sort them took ten times the memory of ten
thousand. Instead each page goes, as it arrives, into a ``Spool``: a line per record, kept in
memory up to ``RUN`` records, which are then sorted and written to a file of their own in a
temporary directory. Once the list is read in full, the runs are merged in order, and each
key's first record (as the plan keeps it) is written; a key listed again with other types is
rule 4 (``InconsistentAnswer``). Nothing of it reaches the export's file unless every list
proved complete: the caller writes into a temporary file and renames it only at the end.

A line holds the sort key's parts, then what the entry needs to be written again, separated
by NUL: ``flag, apiUser (lower case), target, value (lower case), value, sequence, apiUser,
types``. The flag is ``0`` for apiUser ``all``, which sorts first. Characters up to line feed
are escaped (``\\x01`` and the character moved above them), which keeps the order of the
fields as strings and keeps NUL and line feed out of them.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from reconciler.export_document import document, literal_pattern
from reconciler.export_yaml import Streamed
from reconciler.kinds.unintercept_export import (
    LIST_NAME,
    _unintercept_item,
    _unwritable_unintercept,
    unwritable_warning,
)
from reconciler.model import ALL_API_USERS, AccountDesired, Target, UninterceptEntry
from reconciler.providers.base import ProviderClient
from reconciler.providers.sendcloud import Page, SendCloudClient
from reconciler.refusals import shortfall_message

RUN = 50_000  # records sorted in memory before they go to a file
_ESCAPED = re.compile("[\x00-\x0a]")
_UNESCAPE = re.compile("\x01(.)", re.DOTALL)
_SHIFT = 0x0B
_TARGETS = {target.value: target for target in Target}
# The type sets by the sum of their bits, as a line writes it: sixteen, each kept once.
_TYPES = {str(bits): frozenset(bit for bit in (1, 2, 4, 8) if bits & bit) for bits in range(16)}


def _escape(text: str) -> str:
    if _ESCAPED.search(text) is None:
        return text
    return _ESCAPED.sub(lambda found: "\x01" + chr(ord(found.group()) + _SHIFT), text)


def _unescape(text: str) -> str:
    if "\x01" not in text:
        return text
    return _UNESCAPE.sub(lambda found: chr(ord(found.group(1)) - _SHIFT), text)


def _line(entry: UninterceptEntry, sequence: int) -> str:
    api_user, value = entry.api_user, entry.value
    # Nearly every record has nothing to escape (lower case adds no control character).
    plain = _ESCAPED.search(api_user) is None and _ESCAPED.search(value) is None
    escape = _same if plain else _escape
    return (
        "\x00".join(
            (
                "0" if api_user == ALL_API_USERS else "1",
                escape(api_user.lower()),
                entry.target._value_,
                escape(value.lower()),
                escape(value),
                f"{sequence:010d}",
                escape(api_user),
                str(sum(entry.types)),
            )
        )
        + "\n"
    )


def _same(text: str) -> str:
    return text


@dataclass
class Record:
    """A line read back: the entry and where it was in the list."""

    entry: UninterceptEntry
    sequence: int


def _record(line: str) -> tuple[list[str], Record]:
    parts = line[:-1].split("\x00")
    types = _TYPES[parts[7]]
    entry = UninterceptEntry(_unescape(parts[6]), _TARGETS[parts[2]], _unescape(parts[4]), types)
    return parts[:4], Record(entry, int(parts[5]))


@dataclass
class Spool:
    """The records of one list, in sorted runs under ``directory`` (a ``Sink``)."""

    directory: Path
    name: str
    records: int = 0
    _buffer: list[str] = field(default_factory=list)
    _runs: list[Path] = field(default_factory=list)

    def add(self, page: Page) -> Page:
        """Spool the records of ``page`` (the page after those added before it)."""
        buffer = self._buffer
        for entry in page[0]:
            buffer.append(_line(entry, self.records))
            self.records += 1
            if len(buffer) >= RUN:
                self._flush()
                buffer = self._buffer
        return page

    def _flush(self) -> None:
        self._buffer.sort()
        path = self.directory / f"{self.name}.{len(self._runs)}"
        with path.open("w", encoding="utf-8", newline="\n") as stream:
            stream.writelines(self._buffer)
        self._runs.append(path)
        self._buffer = []

    def groups(self) -> Iterator[list[Record]]:
        """The records in key order, a key's records together (most keys have one)."""
        self._buffer.sort()
        streams: list[IO[str]] = []
        try:
            for run in self._runs:
                streams.append(run.open(encoding="utf-8", newline="\n"))
            group: list[Record] = []
            head: list[str] = []
            for line in heapq.merge(self._buffer, *streams):
                parts, record = _record(line)
                if group and parts != head:
                    yield group
                    group = []
                head = parts
                group.append(record)
            if group:
                yield group
        finally:
            for stream in streams:
                stream.close()


# -- the list read into a spool, its document written as it is merged ------------------------


@dataclass
class Listed:
    """A list read into ``spool`` through ``client``: the records read and the total to
    judge them by (a ``StreamedExport``)."""

    client: SendCloudClient
    spool: Spool
    rows: int
    total: int

    def document(self, name: str, warnings: list[str], problems: list[str]) -> Streamed:
        return _list_document(name, self, self.client, warnings, problems)


def spooled(
    client: ProviderClient, want: AccountDesired, directory: Path, name: str
) -> Listed | None:
    """The account's unintercept list read into a ``Spool`` named ``name`` under
    ``directory`` (``None``: not a SendCloud account managing one)."""
    if not isinstance(client, SendCloudClient) or want.unintercepts is None:
        return None
    spool = Spool(directory, name)
    return Listed(client, spool, *client.list_into(spool))


def _list_document(
    name: str, listed: Listed, client: SendCloudClient, warnings: list[str], problems: list[str]
) -> Streamed:
    """The UninterceptList of a spooled list: its entries by key, each key's first record; what
    no manifest can hold under ``ignore``, in the order read (SPEC §5 rule 4 as ``list_all``
    and ``shortfalls`` judge it)."""
    ignored: list[tuple[int, UninterceptEntry, str]] = []
    seen = {"keys": 0, "repeats": 0}
    conflicts: list[Record] = []

    def entries() -> Iterator[dict[str, Any]]:
        for group in listed.spool.groups():
            kept = min(group, key=lambda record: record.sequence)
            seen["keys"] += 1
            for record in group:
                if record is kept:
                    continue
                if record.entry.types != kept.entry.types:
                    conflicts.append(record)
                else:
                    seen["repeats"] += 1
            reason = _unwritable_unintercept(kept.entry)
            if reason is None:
                yield _unintercept_item(kept.entry)
            else:
                ignored.append((kept.sequence, kept.entry, reason))

    def later() -> dict[str, Any]:
        if conflicts:
            client.refuse_twice(min(conflicts, key=lambda record: record.sequence).entry)
        total = listed.total - seen["repeats"]
        if seen["keys"] < total:
            problems.append(shortfall_message(name, seen["keys"], total, LIST_NAME))
        ignore: dict[str, None] = {}
        for _, entry, reason in sorted(ignored, key=lambda item: item[0]):
            if entry.value not in ignore:
                ignore[entry.value] = None
                warnings.append(unwritable_warning(name, entry, reason))
        return {"ignore": [literal_pattern(value) for value in ignore]} if ignore else {}

    head = document("UninterceptList", name, {})
    return Streamed(head, "entries", entries(), later)
