"""How ``export`` writes an account's unintercept list (``unintercept_stream`` streams the same).

The plan compares an account's entries by key and keeps the last live entry of a key; so does
the export. An entry no manifest can express (no types, an address that would load as another
key) is listed under ``ignore`` instead, with a warning.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.addresses import canonical_domain, canonical_email
from reconciler.export_document import document, literal_pattern
from reconciler.export_yaml import Flow, Items
from reconciler.model import ALL_API_USERS, ALL_TYPES, Target, UninterceptEntry

# How the safety rules name the list (``Unintercept.list_name``; rule 4 of a streamed export).
LIST_NAME = "unintercept list"


def unintercept_document(
    account: str, live: Iterable[UninterceptEntry], warnings: list[str]
) -> dict[str, Any]:
    # The plan compares an account's entries by key and keeps the last live entry of a key;
    # so does the export.
    kept: dict[str, UninterceptEntry] = {}
    ignore: dict[str, None] = {}
    for entry in live:
        reason = _unwritable_unintercept(entry)
        if reason is None:
            kept[entry.key] = entry
        elif entry.value not in ignore:
            ignore[entry.value] = None
            warnings.append(unwritable_warning(account, entry, reason))
    written = list(kept.values())
    del kept  # a million keys: not needed to sort
    ordered = in_order(written)
    # Each entry's mapping is made only as it is written (a million of them would not fit).
    spec: dict[str, Any] = {"entries": Items(ordered, _unintercept_item)}
    if ignore:
        spec["ignore"] = [literal_pattern(value) for value in ignore]
    return document("UninterceptList", account, spec)


def unwritable_warning(account: str, entry: UninterceptEntry, reason: str) -> str:
    return (
        f"{account}: unintercept {entry.target.value} {entry.value!r} (apiUser "
        f"{entry.api_user}) cannot be written in a manifest ({reason}); it is listed "
        "under ignore, so plans leave it alone"
    )


def in_order(entries: Iterable[UninterceptEntry]) -> list[UninterceptEntry]:
    """``entries`` sorted by the key (apiUser ``all`` first, apiUser, target, value without
    case, value), stably; a group of one apiUser and target at a time, by stable sorts on one
    key each: a key tuple and two lowered strings for each of a million entries at once would
    take half as much memory as the entries themselves."""
    groups: dict[tuple[bool, str, str], list[UninterceptEntry]] = {}
    for entry in entries:
        group = (entry.api_user != ALL_API_USERS, entry.api_user.lower(), entry.target.value)
        members = groups.get(group)
        if members is None:
            groups[group] = members = []
        members.append(entry)
    ordered: list[UninterceptEntry] = []
    for group in sorted(groups):
        members = groups.pop(group)
        members.sort(key=lambda entry: entry.value)
        members.sort(key=lambda entry: entry.value.lower())  # ties keep the order by value
        ordered.extend(members)
    return ordered


def _unwritable_unintercept(entry: UninterceptEntry) -> str | None:
    """Why loading the entry from a manifest would not give back the same key and types."""
    if not entry.types:
        return "it has no types; a manifest entry has at least one"
    try:
        value = (
            canonical_email(entry.value)
            if entry.target is Target.EMAIL
            else canonical_domain(entry.value)
        )
    except ValueError as error:
        return str(error)
    if value.lower() != entry.value.lower():
        return f"a manifest would read it as {value!r}"
    return None


def _unintercept_item(entry: UninterceptEntry) -> dict[str, Any]:
    item: dict[str, Any] = {entry.target.value: entry.value}
    if entry.api_user != ALL_API_USERS:
        item["apiUser"] = entry.api_user
    if entry.types != ALL_TYPES:
        item["types"] = Flow(entry.type_names)
    return item
