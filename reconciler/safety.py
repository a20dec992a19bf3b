"""The safety rules of SPEC §5: which plans are refused, and why.

Rules 1–3 (mass deletion, emptying a list, lock-out) can be overridden with ``--force``;
rule 4 (incomplete live state) cannot: a list the provider did not return in full is never
written, because entries it left out would be created twice and entries it listed could be
deleted on a wrong premise.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.addresses import ip_entry_bounds
from reconciler.model import LIST_NAMES, AccountDesired, AccountLive, IpEntry, ListPolicy, Resource

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
    # Unintercept types changes, carried out as delete then add: rules 1 and 2 count their
    # delete half, since a failed add leaves the entry deleted until the next run.
    updates: int = 0

    @property
    def incomplete(self) -> bool:
        return self.total is not None and self.live < self.total

    @property
    def lost(self) -> int:
        """Entries deleted, updates included."""
        return self.deletes + self.updates

    @property
    def remaining(self) -> int:
        """Entries left if every delete goes through and the re-adds of updates do not."""
        return self.live - self.lost + self.creates


def list_change(
    resource: Resource,
    want: AccountDesired,
    have: AccountLive,
    creates: int,
    deletes: int,
    updates: int = 0,
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
    return ListChange(resource, len(live), total, creates, deletes, policy, updates)


def review(
    account: str,
    lists: Sequence[ListChange],
    protection_after: bool | None,
    touches_protection: bool,
    final_whitelist: Collection[str] | None = None,
    senders: Sequence[IpEntry] = (),
) -> list[Refusal]:
    """The refusals for one account, given what the plan does to each of its lists, whether
    IP protection ends up enabled (``None``: unknown) and the addresses the whitelist ends up
    holding (``None``: unknown, it was not read or not read in full).

    Rule 3 is judged on that final state whether or not the manifests manage the whitelist,
    but only for a plan that changes the switch or the whitelist: an account already in that
    state is not made worse by a plan that leaves both alone.
    """
    refusals: list[Refusal] = []
    for change in lists:
        refusals.extend(_list_rules(account, change))
    whitelist = next((c for c in lists if c.resource is Resource.IP_WHITELIST), None)
    touched = touches_protection or (
        whitelist is not None and bool(whitelist.creates or whitelist.deletes)
    )
    if protection_after and final_whitelist is not None and touched:
        refusals.extend(_lock_out(account, final_whitelist, senders))
    return refusals


def _lock_out(account: str, final: Collection[str], senders: Sequence[IpEntry]) -> list[Refusal]:
    protection = Resource.IP_PROTECTION.value
    if not final:
        message = (
            f"{account}: IP protection would be enabled with an empty IP whitelist, "
            "which blocks every sending IP"
        )
        return [Refusal(LOCK_OUT, message, account, protection)]
    bounds = [b for b in map(_bounds, final) if b is not None]
    refusals: list[Refusal] = []
    for sender in senders:
        first, last = ip_entry_bounds(sender.address)
        if any(low <= first and last <= high for low, high in bounds):
            continue
        where = f" (declared at {sender.position})" if sender.position else ""
        refusals.append(
            Refusal(
                LOCK_OUT,
                f"{account}: IP protection would be enabled while sender {sender.address}"
                f"{where} lies outside every entry of the final IP whitelist, which blocks "
                "its mail",
                account,
                protection,
            )
        )
    return refusals


def lock_out(account: str, final: Collection[str], senders: Sequence[IpEntry]) -> list[Refusal]:
    """Rule 3 on a final whitelist known another way: ``validate`` knows it from the manifests
    alone when they manage it whole (``prune``, nothing ignored) and switch protection on."""
    return _lock_out(account, final, senders)


def _bounds(address: str) -> tuple[int, int] | None:
    try:
        return ip_entry_bounds(address)
    except ValueError:  # a live entry in a form we cannot parse covers nothing we can prove
        return None


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
        return (
            f"{account}: the provider returned {self.returned} of the {self.total} "
            f"{'entry' if self.total == 1 else 'entries'} its {LIST_NAMES[self.resource]} says "
            "it holds"
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
