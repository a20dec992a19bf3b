"""The safety rules of SPEC §5: which plans are refused, and why.

Rules 1–3 (mass deletion, emptying a list, lock-out) can be overridden with ``--force``;
rule 4 (incomplete live state) cannot: a list the provider did not return in full is never
written, because entries it left out would be created twice and entries it listed could be
deleted on a wrong premise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.model import LIST_NAMES, AccountDesired, AccountLive, ListPolicy, Resource

MASS_DELETION = "mass-deletion"
EMPTYING = "emptying"
LOCK_OUT = "lock-out"
INCOMPLETE = "incomplete-live-state"


@dataclass(frozen=True)
class Refusal:
    """A safety rule that refuses the plan. ``overridable`` rules yield to ``--force``."""

    rule: str
    message: str
    account: str | None = None
    resource: str | None = None
    overridable: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "message": self.message,
            "account": self.account,
            "resource": self.resource,
            "overridable": self.overridable,
        }


@dataclass(frozen=True)
class ListChange:
    """What a plan does to one live list: enough to judge rules 1, 2 and 4."""

    resource: Resource
    live: int  # entries the provider returned
    total: int | None  # entries the provider says it holds
    creates: int
    deletes: int
    policy: ListPolicy

    @property
    def incomplete(self) -> bool:
        return self.total is not None and self.live < self.total

    @property
    def remaining(self) -> int:
        return self.live - self.deletes + self.creates


def list_change(
    resource: Resource, want: AccountDesired, have: AccountLive, creates: int, deletes: int
) -> ListChange | None:
    """What a plan does to one list of an account; None if the list is not managed or not read."""
    wanted: Mapping[str, object] | None
    live: Sequence[object] | None
    if resource is Resource.IP_WHITELIST:
        wanted, live, total = want.whitelist, have.whitelist, have.whitelist_total
        policy = want.whitelist_policy
    else:
        wanted, live, total = want.unintercepts, have.unintercepts, have.unintercept_total
        policy = want.unintercept_policy
    if wanted is None or live is None:
        return None
    return ListChange(resource, len(live), total, creates, deletes, policy)


def review(
    account: str,
    lists: Sequence[ListChange],
    protection_after: bool | None,
    touches_protection: bool,
) -> list[Refusal]:
    """The refusals for one account, given what the plan does to each of its lists and whether
    IP protection ends up enabled (``None``: unknown, it is not managed)."""
    refusals: list[Refusal] = []
    for change in lists:
        refusals.extend(_list_rules(account, change))
    whitelist = next((c for c in lists if c.resource is Resource.IP_WHITELIST), None)
    if (
        protection_after
        and whitelist is not None
        and not whitelist.incomplete
        and whitelist.remaining <= 0
        and (touches_protection or whitelist.creates or whitelist.deletes)
    ):
        refusals.append(
            Refusal(
                LOCK_OUT,
                f"{account}: IP protection would be enabled with an empty IP whitelist, "
                "which blocks every sending IP",
                account,
                Resource.IP_PROTECTION.value,
            )
        )
    return refusals


def _list_rules(account: str, change: ListChange) -> list[Refusal]:
    name = LIST_NAMES[change.resource]
    if change.incomplete:
        assert change.total is not None
        shortfall = Shortfall(change.resource, change.live, change.total)
        return [shortfall.refusal(account, "nothing will be written to this list")]
    refusals: list[Refusal] = []
    threshold = change.policy.deletion_threshold
    if (
        change.live
        and change.deletes >= threshold.entries
        and change.deletes * 100 > threshold.percent * change.live
    ):
        share = change.deletes * 100 / change.live
        refusals.append(
            Refusal(
                MASS_DELETION,
                f"{account}: would delete {change.deletes} of {change.live} live entries of "
                f"its {name} ({share:.0f} %; the limit is fewer than {threshold.entries} "
                f"entries or at most {threshold.percent:g} %, see deletionThreshold)",
                account,
                change.resource.value,
            )
        )
    if change.live and change.remaining <= 0:
        refusals.append(
            Refusal(
                EMPTYING,
                f"{account}: its {name} would be emptied (all {change.live} live entries deleted)",
                account,
                change.resource.value,
            )
        )
    return refusals


# -- rule 4 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shortfall:
    """A list the provider returned with fewer entries than it says it holds (rule 4)."""

    resource: Resource
    returned: int
    total: int

    def message(self, account: str) -> str:
        return (
            f"{account}: the provider returned {self.returned} of the {self.total} entries "
            f"its {LIST_NAMES[self.resource]} says it holds"
        )

    def refusal(self, account: str, consequence: str) -> Refusal:
        """Rule 4's refusal; ``consequence`` says what is not done because of it."""
        return Refusal(
            INCOMPLETE,
            f"{self.message(account)}; {consequence} (run again later; --force does not "
            "override this)",
            account,
            self.resource.value,
            overridable=False,
        )


def shortfalls(have: AccountLive) -> list[Shortfall]:
    """The lists of ``have`` that the provider returned incomplete (rule 4)."""
    return [
        Shortfall(resource, len(entries), total)
        for resource, entries, total in (
            (Resource.IP_WHITELIST, have.whitelist, have.whitelist_total),
            (Resource.UNINTERCEPT, have.unintercepts, have.unintercept_total),
        )
        if entries is not None and total is not None and len(entries) < total
    ]
