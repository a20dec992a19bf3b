"""What the safety rules (SPEC §5, ``reconciler.safety``) speak in, below the kinds: the rules'
names, a refusal, what a plan does to one list, how a list returned short is described, and
rule 3 on a final whitelist (``lock_out``), which ``validate`` also judges from the manifests.

A kind's own rules refuse with a ``Refusal`` and its streamed export reports a short list in
rule 4's words, so these live here, where the kinds can import them without the engine.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.addresses import ip_entry_bounds
from reconciler.model import IpEntry, ListPolicy, Resource

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
    # Updates carried out as delete then add (``Kind.update_deletes``): rules 1 and 2 count their
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


def shortfall_message(account: str, returned: int, total: int, list_name: str) -> str:
    """Rule 4's words for ``account``'s ``list_name`` returned with ``returned`` of the
    ``total`` entries the provider says it holds."""
    return (
        f"{account}: the provider returned {returned} of the {total} "
        f"{'entry' if total == 1 else 'entries'} its {list_name} says it holds"
    )


# -- rule 3 on a final whitelist ------------------------------------------------------------


def lock_out(account: str, final: Collection[str], senders: Sequence[IpEntry]) -> list[Refusal]:
    """Rule 3 on the final whitelist ``final``: the plan's, or the one ``validate`` knows from
    the manifests alone when they manage it whole (``prune``, nothing ignored) and switch
    protection on."""
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


def _bounds(address: str) -> tuple[int, int] | None:
    try:
        return ip_entry_bounds(address)
    except ValueError:  # a live entry in a form we cannot parse covers nothing we can prove
        return None
