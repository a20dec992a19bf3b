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
    lock_out,
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
    "lock_out",
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
    (rules 1, 2 and 4) and the changes of each kind (rule 3)."""
    refusals: list[Refusal] = []
    for change in lists:
        refusals.extend(_list_rules(account, change))
    refusals.extend(_rule_3(account, lists, want, have, changes))
    for kind in kinds():  # the kinds' own rules (a sending domain still in use, ...)
        refusals.extend(kind.refusals(account, want, have, changes))
    return refusals


# -- rule 3: the one rule that joins two kinds, DirectMail's switch and its whitelist --------


def _rule_3(
    account: str,
    lists: Sequence[ListChange],
    want: AccountDesired,
    have: AccountLive,
    changes: Mapping[Resource, Sequence[Change]],
) -> list[Refusal]:
    """Rule 3 is judged on the final state (protection on, the addresses the whitelist ends up
    holding) whether or not the manifests manage the whitelist, but only for a plan that
    changes the switch or the whitelist: an account already in that state is not made worse by
    a plan that leaves both alone."""
    protection_after = want.protection if want.protection is not None else have.protection
    whitelist = next((c for c in lists if c.resource is Resource.IP_WHITELIST), None)
    touched = bool(changes.get(Resource.IP_PROTECTION)) or (
        whitelist is not None and bool(whitelist.creates or whitelist.deletes)
    )
    deletes = [c for c in changes.get(Resource.IP_WHITELIST, ()) if c.action is Action.DELETE]
    final = _final_whitelist(want, have, deletes)
    if protection_after and final is not None and touched:
        return lock_out(account, final, want.senders)
    return []


def _final_whitelist(
    want: AccountDesired, have: AccountLive, deletes: Sequence[Change]
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
    return (
        f", counting {change.updates} types change{'s' if change.updates > 1 else ''} "
        "carried out as delete then add"
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
