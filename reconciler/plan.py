"""``diff(desired, live) -> Plan``: pure, no I/O.

Lists are compared as dicts keyed by each entry's ``key`` (never an order-insensitive deep diff
over whole lists, which is quadratic). Changes come out in execution order, per account: by
``kinds.slot`` ("make before break": the slot each kind gives its changes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.kinds import kinds, list_kinds, slot
from reconciler.model import (
    Account,
    AccountDesired,
    AccountLive,
    Action,
    Change,
    Resource,
    Value,
)
from reconciler.refusals import Refusal
from reconciler.safety import list_change, review

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

    def by_account(self) -> dict[str, list[Change]]:
        """The changes of each account that has any, in plan order: one pass over the plan
        (a fleet's plan is not searched account by account)."""
        grouped: dict[str, list[Change]] = {}
        for change in self.changes:
            grouped.setdefault(change.account, []).append(change)
        return grouped


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
    made = {kind.resource: kind.diff(name, want, have) for kind in kinds()}
    lists = [
        listed
        for kind in list_kinds()
        if (listed := list_change(kind, want, have, made[kind.resource])) is not None
    ]
    refusals = review(name, lists, want, have, made)
    for listed in lists:
        if listed.incomplete:
            made[listed.resource] = []
    changes = [change for found in made.values() for change in found]
    changes.sort(key=slot)  # stable: each slot keeps its own order
    return changes, refusals
