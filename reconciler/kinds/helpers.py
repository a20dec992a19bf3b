"""Helpers the kinds share: the keyed diff of a list, and how a changed entry is described."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from reconciler.model import Action, Change, ListPolicy

if TYPE_CHECKING:
    from reconciler.kinds import Kind


def keyed_diff(
    kind: Kind,
    account: str,
    want: Mapping[str, Any],
    have: Iterable[Any],
    policy: ListPolicy,
) -> list[Change]:
    """Creates, updates and deletes of a list keyed by each entry's ``key``, each group in key
    order: one pass over the live list (a dict lookup per entry, never a deep diff of lists)."""
    resource = kind.resource
    updates: list[Change] = []
    deletes: list[Change] = []
    live: dict[str, Any] = {}
    matched = 0
    for entry in have:
        key = entry.key
        wanted = want.get(key)
        if wanted is None:
            if policy.sees_unnamed(*kind.ignore_texts(entry)):
                deletes.append(Change(account, resource, Action.DELETE, key, entry))
            continue
        live[key] = entry
        matched += 1
        if kind.differs(entry, wanted):
            updates.append(Change(account, resource, Action.UPDATE, key, entry, wanted))
    if matched != len(live):  # a key listed twice: its last live record is the one compared
        updates = [
            Change(account, resource, Action.UPDATE, key, current, want[key])
            for key, current in live.items()
            if kind.differs(current, want[key])
        ]
    creates = [
        Change(account, resource, Action.CREATE, key, None, want[key])
        for key in want.keys() - live.keys()
    ]
    for group in (creates, updates, deletes):
        group.sort(key=lambda c: c.key)
    return creates + updates + deletes


def presence(seen: Any, now: Any, describe: Callable[[Any], str]) -> str:
    """``was absent, now present (...)``: an entry that came, went or changed."""
    if seen is None:
        return f"was absent, now present ({describe(now)})"
    if now is None:
        return f"was present ({describe(seen)}), now absent"
    return f"was present ({describe(seen)}), now present ({describe(now)})"


def json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
