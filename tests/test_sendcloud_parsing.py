"""SendCloud answers the documentation does not promise: types in other shapes, no ``count``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from reconciler.model import ALL_TYPES, Account, Limits, Provider, RetryPolicy
from reconciler.providers import sendcloud
from reconciler.providers.answers import BadAnswer, Checker, InconsistentAnswer
from reconciler.providers.sendcloud import PAGE_SIZE, SendCloudClient

# The documented shape is a list of ints (1 bounce, 2 block, 4 complaint, 8 unsubscribe).
# Other spellings of the same bits are read; anything that is not a type is refused (None),
# since a record whose types cannot be known must not be the basis of an update or a delete.
TYPES: dict[str, tuple[Any, set[int] | None]] = {
    "documented list": ([1, 4], {1, 4}),
    "unknown bits in a list": ([1, 16], None),
    "a bit mask": (5, {1, 4}),
    "a mask with unknown bits": (16 | 2, None),
    "semicolon string": ("1;8", {1, 8}),
    "comma string": ("2,4", {2, 4}),
    "string with blanks": (" 1 ;  ;; 8 ", {1, 8}),
    "string with junk": ("1;x", None),
    "list of strings": (["1", "2"], {1, 2}),
    "list with junk": (["1", None, "x", 4], None),
    "a boolean": (True, None),
    "empty string": ("", set()),
    "missing": (None, set(ALL_TYPES)),
    "an object": ({"bounce": True}, None),
}


@pytest.mark.parametrize(("raw", "expected"), TYPES.values(), ids=list(TYPES))
def test_types_are_read_leniently_or_refused(raw: Any, expected: set[int] | None) -> None:
    assert sendcloud._types(raw) == (None if expected is None else frozenset(expected))


RECORDS = {
    "empty apiUser is all": (
        {"apiUserName": "", "email": "A@Example.com", "type": [1]},
        "all:email:a@example.com",
    ),
    "ALL is all, blanks dropped": (
        {"apiUserName": "ALL", "domain": " partner.example "},
        "all:domain:partner.example",
    ),
    "null email means a domain": (
        {"apiUserName": "mkt", "email": None, "domain": "x.example"},
        "mkt:domain:x.example",
    ),
}


@pytest.mark.parametrize(("record", "expected"), RECORDS.values(), ids=list(RECORDS))
def test_records_are_keyed_like_manifest_entries(record: Mapping[str, Any], expected: str) -> None:
    assert sendcloud._entry(Checker("SendCloud", "unintercept/list"), 0, record).key == expected


class _Scripted(SendCloudClient):
    """A client whose ``unintercept/list`` answers come from a list, and never a ``count``."""

    def __init__(self, total: int) -> None:
        account = Account(
            "sc",
            Provider.SENDCLOUD,
            "http://127.0.0.1:9/apiv2",
            limits=Limits(requests_per_second=1000),
            retry=RetryPolicy(attempts=3, max_seconds=5, base_delay=0.001),
        )
        super().__init__(account, {"apiUser": "u", "apiKey": "k"})
        self.records = [
            {"apiUserName": "all", "email": f"u{i}@example.com", "type": [1]} for i in range(total)
        ]
        self.starts: list[int] = []

    def call(
        self, action: str, params: Mapping[str, str] | None = None, **_: Any
    ) -> dict[str, Any]:
        assert action == "unintercept/list" and params is not None
        start, limit = int(params["start"]), int(params["limit"])
        self.starts.append(start)
        return {"dataList": self.records[start : start + limit]}


@pytest.mark.parametrize("total", [0, 5, PAGE_SIZE, 2 * PAGE_SIZE + 7])
def test_without_count_pages_until_a_short_page(total: int) -> None:
    client = _Scripted(total)
    entries, count = client.list_all()
    assert count == len(entries) == total
    assert len({e.key for e in entries}) == total
    assert client.starts[-1] == (total // PAGE_SIZE) * PAGE_SIZE  # the short (or empty) page
    assert client.starts == sorted(set(client.starts))  # each page once, in order


def test_without_count_paging_stops_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sendcloud, "MAX_PAGES", 3)
    client = _Scripted(10 * PAGE_SIZE)
    with pytest.raises(BadAnswer, match="no short page after 3 pages"):
        client.list_all()
    assert len(client.starts) == 3


def test_a_record_listed_again_on_a_later_page_is_one_entry() -> None:
    client = _Scripted(PAGE_SIZE + 5)
    client.records[PAGE_SIZE + 2] = dict(client.records[3])
    entries, count = client.list_all()
    assert count == len(entries) == PAGE_SIZE + 4
    assert [e.value for e in entries[:5]] == [f"u{i}@example.com" for i in range(5)]


def test_a_record_listed_again_with_other_types_is_the_first_contradiction() -> None:
    client = _Scripted(PAGE_SIZE + 5)
    client.records[PAGE_SIZE + 2] = {**client.records[3], "type": [2]}
    client.records[PAGE_SIZE + 4] = {**client.records[4], "type": [4]}
    with pytest.raises(
        InconsistentAnswer, match=r"email u3@example\.com \(apiUser all\) is listed"
    ):
        client.list_all()
