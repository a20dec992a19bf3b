"""What the safety rules (SPEC §5, ``reconciler.safety``) speak in, below the kinds: the rules'
names, a refusal, what a plan does to one list, and how a list returned short is described.

A kind's own rules refuse with a ``Refusal`` and its streamed export reports a short list in
rule 4's words, so these live here, where the kinds can import them without the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.model import ListPolicy, Resource

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
