"""The live state a saved plan depends on, in a compact keyed form, and what changed in it.

A snapshot holds, per account, what the plan could depend on: the protection switch, and every
live entry of a managed list the plan does not ignore (``ignore`` patterns, or ``prune: false``
for entries the manifests do not name) — a whitelist address with the record ids holding it,
an unintercept entry with its types — and the half of IP protection read only for the lock-out
rule (the switch when only the whitelist is managed; the whole whitelist when only the switch is,
and switched on). Two snapshots are compared entry by entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.dataclass_json import to_json
from reconciler.model import AccountDesired, AccountLive, Resource, id_order

PROTECTION = Resource.IP_PROTECTION.value
WHITELIST = Resource.IP_WHITELIST.value
UNINTERCEPT = Resource.UNINTERCEPT.value
LISTS = (WHITELIST, UNINTERCEPT)


def snapshot(
    want: AccountDesired, have: AccountLive, keep: Mapping[str, Collection[str]]
) -> dict[str, Any]:
    """One account's live state in the saved plan's compact keyed form.

    A list entry the plan would not see (it matches ``ignore``, or ``prune`` is off) is left
    out unless its key is in ``keep`` for that list: the manifests' keys when the plan is made;
    the keys the plan saw or changes when it is applied.
    """
    data: dict[str, Any] = {}
    # The half of IP protection read only for rule 3 (SPEC §5, judged on the final state) is
    # recorded too: the switch whenever it was read; the whole unmanaged whitelist when the
    # manifests switch protection on, for its entries decide whether that locks mail out.
    if have.protection is not None and (want.protection is not None or want.whitelist is not None):
        data[PROTECTION] = {"enabled": have.protection}
    unmanaged = want.whitelist is None and want.protection is True
    if have.whitelist is not None and (want.whitelist is not None or unmanaged):
        addresses: dict[str, list[str]] = {}
        for ip in have.whitelist:
            if (
                unmanaged
                or ip.key in keep[WHITELIST]
                or want.whitelist_policy.sees_unnamed(ip.address, ip.raw)
            ):
                addresses.setdefault(ip.key, []).append(ip.id or "")
        data[WHITELIST] = {a: sorted(ids, key=id_order) for a, ids in sorted(addresses.items())}
    if want.unintercepts is not None and have.unintercepts is not None:
        entries: dict[str, Any] = {}
        for entry in have.unintercepts:
            policy = want.unintercept_policy
            if entry.key in keep[UNINTERCEPT] or policy.sees_unnamed(entry.value, entry.api_user):
                entries[entry.key] = entry.as_dict()  # the last of equal keys, as diff does
        data[UNINTERCEPT] = dict(sorted(entries.items()))
    return data


def seen_keys(want: AccountDesired) -> dict[str, Collection[str]]:
    """The keys of the entries a plan sees whatever the policies say: the manifests' own."""
    return {WHITELIST: want.whitelist or {}, UNINTERCEPT: want.unintercepts or {}}


def policies(want: AccountDesired) -> dict[str, Any]:
    """The saved form of the policies of ``want``'s managed lists, by resource."""
    saved: dict[str, Any] = {}
    if want.whitelist is not None:
        saved[WHITELIST] = to_json(want.whitelist_policy)
    if want.unintercepts is not None:
        saved[UNINTERCEPT] = to_json(want.unintercept_policy)
    return saved


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
        """``prod-dm  ip_whitelist 203.0.113.7: was absent, now present (id 10090)``."""
        entry = self.now if self.now is not None else self.seen
        match self.resource:
            case Resource.IP_PROTECTION.value:
                subject = PROTECTION
                what = f"enabled {_bool(self.seen)} -> {_bool(self.now)}"
            case Resource.IP_WHITELIST.value:
                subject = f"{WHITELIST} {self.key}"
                what = _presence(self.seen, self.now, _ids)
            case _:
                target = "email" if "email" in entry else "domain"
                subject = f"{UNINTERCEPT} {target}:{entry[target]} apiUser={entry['apiUser']}"
                if self.seen is not None and self.now is not None:
                    what = f"types {_types(self.seen)} -> {_types(self.now)}"
                    if self.seen["types"] == self.now["types"]:  # the spelling changed
                        what = f"was {_json(self.seen)}, now {_json(self.now)}"
                else:
                    what = _presence(self.seen, self.now, lambda e: f"types {_types(e)}")
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


def _bool(value: Any) -> str:
    return "unknown" if value is None else ("true" if value["enabled"] else "false")


def _ids(ids: list[str]) -> str:
    return f"id{'s' if len(ids) != 1 else ''} {', '.join(ids)}"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _types(entry: Mapping[str, Any]) -> str:
    return ",".join(entry["types"]) or "(none)"


def _presence(seen: Any, now: Any, describe: Any) -> str:
    if seen is None:
        return f"was absent, now present ({describe(now)})"
    if now is None:
        return f"was present ({describe(seen)}), now absent"
    return f"was present ({describe(seen)}), now present ({describe(now)})"


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
    # The protection switch is one entry, under its own key; a list is its entries by key.
    compared = [(PROTECTION, {PROTECTION: seen.get(PROTECTION)}, {PROTECTION: now.get(PROTECTION)})]
    compared += [(r, seen.get(r) or {}, now.get(r) or {}) for r in LISTS]
    return [
        StaleEntry(
            account, resource, key, before.get(key), after.get(key), planned.get((resource, key))
        )
        for resource, before, after in compared
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
