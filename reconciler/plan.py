"""``diff(desired, live) -> Plan``: pure, no I/O.

Lists are compared as dicts keyed by each entry's ``key`` (never an order-insensitive deep diff
over whole lists, which is quadratic). Changes come out in execution order, per account: by
``model.phase`` ("make before break": whitelist additions, protection on, unintercept changes
(creates, updates, deletes), protection off, whitelist deletions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler import safety
from reconciler.addresses import ip_entry_bounds
from reconciler.model import (
    PROTECTION_KEY,
    Account,
    AccountDesired,
    AccountLive,
    Action,
    Change,
    IpEntry,
    ListPolicy,
    Resource,
    UninterceptEntry,
    Value,
    id_order,
    phase,
)
from reconciler.safety import Refusal

# Change and its parts live in model; they are named here too, where a plan is made of them.
__all__ = [
    "Action",
    "Change",
    "Plan",
    "Refusal",
    "Resource",
    "Value",
    "diff",
    "diff_account",
]


@dataclass
class Plan:
    accounts: list[Account]
    changes: list[Change] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    # Account name -> ``cost.AccountCost``, when the plan was made from a provider's answers.
    cost: dict[str, Any] = field(default_factory=dict)
    # guard hook (SPEC §11): the ``guard.spec.Guard``s an apply of this plan would run.
    guards: list[Any] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        counts = {action.value: 0 for action in Action}
        for change in self.changes:
            counts[change.action.value] += 1
        return counts

    def changes_for(self, account: str) -> list[Change]:
        return [c for c in self.changes if c.account == account]


def diff(desired: Iterable[AccountDesired], live: Mapping[str, AccountLive]) -> Plan:
    """Compare desired with live state, account by account, and return the ordered plan with
    the safety rules that refuse it (SPEC §5)."""
    plan = Plan(accounts=[])
    for want in desired:
        name = want.account.name
        plan.accounts.append(want.account)
        changes, refusals = diff_account(want, live.get(name, AccountLive()))
        plan.changes.extend(changes)
        plan.refusals.extend(refusals)
    return plan


def diff_account(want: AccountDesired, have: AccountLive) -> tuple[list[Change], list[Refusal]]:
    """The changes of one account in execution order, and the refusals they meet.

    A list the provider did not return in full (rule 4) gets no changes at all.
    """
    name = want.account.name
    wl_add: list[Change] = []
    wl_del: list[Change] = []
    if want.whitelist is not None and have.whitelist is not None:
        wl_add, wl_del = _diff_whitelist(
            name, want.whitelist, have.whitelist, want.whitelist_policy
        )
    on: list[Change] = []
    off: list[Change] = []
    if None not in (want.protection, have.protection) and want.protection != have.protection:
        change = Change(
            name, Resource.IP_PROTECTION, Action.UPDATE, PROTECTION_KEY,
            have.protection, want.protection,
        )  # fmt: skip
        (on if want.protection else off).append(change)
    unintercept: list[Change] = []
    if want.unintercepts is not None and have.unintercepts is not None:
        unintercept = _diff_unintercepts(
            name, want.unintercepts, have.unintercepts, want.unintercept_policy
        )
    lists = [
        listed
        for listed in (
            # Collapsing a live duplicate loses no address: it is not counted as a deletion.
            safety.list_change(
                Resource.IP_WHITELIST,
                want,
                have,
                len(wl_add),
                sum(1 for c in wl_del if c.key not in (want.whitelist or {})),
            ),
            safety.list_change(
                Resource.UNINTERCEPT,
                want,
                have,
                *_count(unintercept, Action.CREATE, Action.DELETE, Action.UPDATE),
            ),
        )
        if listed is not None
    ]
    protection_after = want.protection if want.protection is not None else have.protection
    refusals = safety.review(
        name,
        lists,
        protection_after,
        bool(on or off),
        _final_whitelist(want, have, wl_del),
        want.senders,
    )
    for listed in lists:
        if listed.incomplete and listed.resource is Resource.IP_WHITELIST:
            wl_add, wl_del = [], []
        elif listed.incomplete:
            unintercept = []
    changes = wl_add + on + unintercept + off + wl_del
    changes.sort(key=phase)  # stable: each phase keeps its own order
    return changes, refusals


def _final_whitelist(
    want: AccountDesired, have: AccountLive, deletes: Iterable[Change]
) -> set[str] | None:
    """The addresses the whitelist holds once the plan is carried out; ``None`` when that is
    unknown (it was not read, or not in full). An unmanaged whitelist stays as it is."""
    if have.whitelist is None:
        return None
    if have.whitelist_total is not None and len(have.whitelist) < have.whitelist_total:
        return None
    final = {entry.key for entry in have.whitelist}
    if want.whitelist is not None:
        final -= {c.key for c in deletes}
        final |= set(want.whitelist)
    return final


def _count(changes: Iterable[Change], *actions: Action) -> list[int]:
    return [sum(1 for c in changes if c.action is action) for action in actions]


def _diff_whitelist(
    account: str, want: Mapping[str, IpEntry], have: Iterable[IpEntry], policy: ListPolicy
) -> tuple[list[Change], list[Change]]:
    seen: set[str] = set()
    kept_ids: set[str | None] = set()
    deletes: list[Change] = []
    for entry in have:
        if entry.key in want and entry.key not in seen:
            seen.add(entry.key)
            kept_ids.add(entry.id)
            continue
        # A second live id for an address already kept is a live duplicate: collapse it.
        duplicate = entry.key in seen
        if not duplicate and not policy.sees_unnamed(entry.address, entry.raw):
            continue
        deletes.append(Change(account, Resource.IP_WHITELIST, Action.DELETE, entry.key, entry))
    # An id that holds a wanted address is never deleted, whatever else it is listed with.
    deletes = [
        c for c in deletes if not (isinstance(c.before, IpEntry) and c.before.id in kept_ids)
    ]
    creates = [
        Change(account, Resource.IP_WHITELIST, Action.CREATE, key, None, entry)
        for key, entry in want.items()
        if key not in seen
    ]
    creates.sort(key=lambda c: _ip_order(c.key))
    deletes.sort(key=lambda c: (_ip_order(c.key), _record_id(c.before)))
    return creates, deletes


def _ip_order(address: str) -> tuple[int, int, str]:
    try:
        first, last = ip_entry_bounds(address)
    except ValueError:  # a live entry the provider holds in a form we cannot parse: last
        return (1 << 32, 0, address)
    return (first, last, address)


def _record_id(entry: Value) -> tuple[int, str]:
    return id_order(entry.id if isinstance(entry, IpEntry) else None)


def _diff_unintercepts(
    account: str,
    want: Mapping[str, UninterceptEntry],
    have: Iterable[UninterceptEntry],
    policy: ListPolicy,
) -> list[Change]:
    updates: list[Change] = []
    deletes: list[Change] = []
    live: dict[str, UninterceptEntry] = {}
    matched = 0
    # One pass over the live list finds the updates too; the creates are the wanted keys it
    # does not hold. (Each group is sorted below: the order they are found in does not matter.)
    for entry in have:
        key = entry.key
        wanted = want.get(key)
        if wanted is None:
            if policy.sees_unnamed(entry.value, entry.api_user):
                deletes.append(Change(account, Resource.UNINTERCEPT, Action.DELETE, key, entry))
            continue
        live[key] = entry
        matched += 1
        if entry.types != wanted.types:
            updates.append(Change(account, Resource.UNINTERCEPT, Action.UPDATE, key, entry, wanted))
    if matched != len(live):  # a key listed twice: its last live record is the one compared
        updates = [
            Change(account, Resource.UNINTERCEPT, Action.UPDATE, key, current, want[key])
            for key, current in live.items()
            if current.types != want[key].types
        ]
    creates = [
        Change(account, Resource.UNINTERCEPT, Action.CREATE, key, None, want[key])
        for key in want.keys() - live.keys()
    ]
    for group in (creates, updates, deletes):
        group.sort(key=lambda c: c.key)
    return creates + updates + deletes
