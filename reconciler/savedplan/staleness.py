"""The live state a saved plan depends on, in a compact keyed form, and what changed in it.

A snapshot holds, per account and kind, what the plan could depend on (``Kind.snapshot``):
every live entry of a managed list the plan does not ignore (``ignore`` patterns, or
``prune: false`` for entries the manifests do not name), and what the lock-out rule read.
Two snapshots are compared entry by entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.dataclass_json import to_json
from reconciler.kinds import kind_of, kinds, list_kinds
from reconciler.model import AccountDesired, AccountLive, Resource


def snapshot(
    want: AccountDesired, have: AccountLive, keep: Mapping[str, Collection[str]]
) -> dict[str, Any]:
    """One account's live state in the saved plan's compact keyed form, kind by kind
    (``Kind.snapshot``).

    A list entry the plan would not see (it matches ``ignore``, or ``prune`` is off) is left
    out unless its key is in ``keep`` for that list: the manifests' keys when the plan is made;
    the keys the plan saw or changes when it is applied.
    """
    data: dict[str, Any] = {}
    for kind in kinds():
        part = kind.snapshot(want, have, keep.get(kind.resource.value, ()))
        if part is not None:
            data[kind.resource.value] = part
    return data


def seen_keys(want: AccountDesired) -> dict[str, Collection[str]]:
    """The keys of the entries a plan sees whatever the policies say: the manifests' own."""
    return {kind.resource.value: kind.wanted(want) or {} for kind in list_kinds()}


def policies(want: AccountDesired) -> dict[str, Any]:
    """The saved form of the policies of ``want``'s managed lists, by resource."""
    return {
        kind.resource.value: to_json(kind.policy(want))
        for kind in list_kinds()
        if kind.wanted(want) is not None
    }


def digest(data: Any) -> str:
    """``sha256:...`` of ``data`` as canonical JSON (sorted keys, no white space)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- what changed ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StaleEntry:
    """One entry of live state that differs from what a saved plan saw."""

    account: str
    resource: str
    key: str
    seen: Any  # the snapshot form; None: absent
    now: Any
    planned: str | None  # the action of the plan's change on this entry, if any

    def message(self) -> str:
        """``prod-dm  <resource> <entry>: was absent, now present (...)``."""
        subject, what = kind_of(Resource(self.resource)).stale_text(self.key, self.seen, self.now)
        planned = f" (the plan would {self.planned} it)" if self.planned else ""
        return f"{self.account}  {subject}: {what}{planned}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "resource": self.resource,
            "key": self.key,
            "seen": self.seen,
            "now": self.now,
            "planned": self.planned,
            "message": self.message(),
        }


def differences(
    account: str,
    seen: Mapping[str, Any],
    now: Mapping[str, Any],
    planned: Mapping[tuple[str, str], str],
) -> list[StaleEntry]:
    """The entries of two snapshots of ``account`` that differ, in a stable order.

    ``planned`` maps ``(resource, key)`` to the action a plan takes on that entry.
    """
    if digest(now) == digest(seen):
        return []
    # A single-valued kind (the switch) is one entry under its own key; a list is its entries.
    compared = [
        (r, {r: seen.get(r)}, {r: now.get(r)})
        if kind.single
        else (r, seen.get(r) or {}, now.get(r) or {})
        for kind in kinds()
        for r in (kind.resource.value,)
    ]
    return [
        StaleEntry(
            account, resource, key, before.get(key), after.get(key), planned.get((resource, key))
        )
        for resource, before, after in compared
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
