"""The safety rules of SPEC §5: which plans are refused, and why.

Rules 1–3 (mass deletion, emptying a list, lock-out) can be overridden with ``--force``;
rule 4 (incomplete live state) cannot: a list the provider did not return in full is never
written, because entries it left out would be created twice and entries it listed could be
deleted on a wrong premise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.kinds import Kind, kind_of, kinds, list_kinds
from reconciler.model import (
    AccountDesired,
    AccountLive,
    Action,
    Change,
    Resource,
)
from reconciler.refusals import (
    EMPTYING,
    INCOMPLETE,
    LOCK_OUT,
    MASS_DELETION,
    ListChange,
    Refusal,
    shortfall_message,
)

# The rules' names and their refusal live in ``refusals``, below the kinds; named here too,
# where the rules are judged.
__all__ = [
    "EMPTYING",
    "INCOMPLETE",
    "LOCK_OUT",
    "MASS_DELETION",
    "ListChange",
    "Refusal",
    "Shortfall",
    "list_change",
    "review",
    "shortfalls",
]


def list_change(
    kind: Kind, want: AccountDesired, have: AccountLive, changes: Sequence[Change]
) -> ListChange | None:
    """What ``changes`` do to one list of an account; None if it is not managed or not read."""
    wanted, (live, total) = kind.wanted(want), kind.live(have)
    if wanted is None or live is None:
        return None
    creates = sum(1 for c in changes if c.action is Action.CREATE)
    updates = sum(1 for c in changes if c.action is Action.UPDATE and kind.update_deletes(c))
    deletes = kind.deletes_counted(changes, want)
    return ListChange(kind.resource, len(live), total, creates, deletes, kind.policy(want), updates)


def review(
    account: str,
    lists: Sequence[ListChange],
    want: AccountDesired,
    have: AccountLive,
    changes: Mapping[Resource, Sequence[Change]],
) -> list[Refusal]:
    """The refusals for one account, given what the plan does to each of its lists
    (rules 1, 2 and 4) and the changes of each kind (the kinds' own rules: rule 3 is the
    switch kind's, ``kinds.lockout``)."""
    refusals: list[Refusal] = []
    for change in lists:
        refusals.extend(_list_rules(account, change))
    for kind in kinds():  # the kinds' own rules (lock-out, a sending domain still in use, ...)
        refusals.extend(kind.refusals(account, want, have, changes))
    return refusals


def _list_rules(account: str, change: ListChange) -> list[Refusal]:
    name = kind_of(change.resource).list_name
    if change.incomplete:
        assert change.total is not None
        shortfall = Shortfall(change.resource, change.live, change.total)
        return [shortfall.refusal(account, "nothing will be written to this list")]
    refusals: list[Refusal] = []
    threshold = change.policy.deletion_threshold
    if (
        change.live
        and change.lost >= threshold.entries
        and change.lost * 100 > threshold.percent * change.live
    ):
        share = change.lost * 100 / change.live
        refusals.append(
            Refusal(
                MASS_DELETION,
                f"{account}: would delete {change.lost} of {change.live} live "
                f"{_entries(change.live)} of its {name}{_updates(change)} ({share:.0f} %; the "
                f"limit is fewer than {threshold.entries} {_entries(threshold.entries)} or at "
                f"most {threshold.percent:g} %, "
                "see deletionThreshold)",
                account,
                change.resource.value,
            )
        )
    if change.live and change.remaining <= 0:
        refusals.append(
            Refusal(
                EMPTYING,
                f"{account}: its {name} would be emptied (all {change.live} live entries "
                f"deleted{_updates(change)})",
                account,
                change.resource.value,
            )
        )
    return refusals


def _entries(count: int) -> str:
    return "entry" if count == 1 else "entries"


def _updates(change: ListChange) -> str:
    if not change.updates:
        return ""
    nouns = kind_of(change.resource).replace_nouns
    return (
        f", counting {change.updates} {nouns[change.updates != 1]} carried out as delete then add"
    )


# -- rule 4 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shortfall:
    """A list the provider returned with fewer entries than it says it holds (rule 4)."""

    resource: Resource
    returned: int
    total: int

    def message(self, account: str) -> str:
        name = kind_of(self.resource).list_name
        return shortfall_message(account, self.returned, self.total, f"{name}")

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
    found = []
    for kind in list_kinds():
        entries, total = kind.live(have)
        if entries is not None and total is not None and len(entries) < total:
            found.append(Shortfall(kind.resource, len(entries), total))
    return found
