"""Roll-back of a failed guard (SPEC §11): undo what an apply did to one account.

The roll-back is a plan like any other, carried out by the ordinary apply engine
(``apply.execute``), not a second writer. Its desired state is the live state read before the
writes, for the resources the apply wrote; live state is read again, diffed against it
(``plan.diff_account``), and only the entries the apply touched are kept: what someone else
changed meanwhile is left alone. So entries the apply deleted are added again, entries it added
are deleted (by their new ids, read back), updates and the switch go back.

Order: the engine runs an account's changes make before break, and the inverse of a plan in
that order comes out in the reverse order: what an apply switched on goes off before the
additions that allowed it are deleted, deleted entries are back before it goes on again. That is
"undone last first". Each kind says what its part of the state before the writes is
(``Kind.undo``).

Safety: rules 1–2 (mass deletion, emptying) do not apply, since the roll-back restores a state
that existed; rules 3–4 (lock-out, incomplete live state) do, and ``--force`` overrides rule 3
as it does for any plan.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler.apply import Outcome, execute
from reconciler.errors import ProviderError
from reconciler.kinds import kinds
from reconciler.live import read_one, to_read
from reconciler.model import AccountDesired, AccountLive, Change
from reconciler.plan import Plan, diff_account
from reconciler.providers.base import ProviderClient
from reconciler.refusals import INCOMPLETE, LOCK_OUT, Refusal

# The rules a roll-back answers to (SPEC §11).
RULES = (LOCK_OUT, INCOMPLETE)


@dataclass
class Rollback:
    """What became of one account's roll-back."""

    account: str
    plan: Plan
    touched: list[Change]  # what the apply did (or may have done), in its order
    outcomes: list[Outcome] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)  # the rules that stopped it
    error: str | None = None  # live state could not be read again

    @property
    def left(self) -> list[Change]:
        """What is left to undo: the inverse changes not carried out, or, when none could be
        tried, every change of the apply, last first."""
        if self.error is not None or self.refusals:
            return list(reversed(self.touched))
        return [o.change for o in self.outcomes if o.status != "applied"]

    @property
    def complete(self) -> bool:
        return self.error is None and not self.refusals and not self.left


def inverse_desired(
    want: AccountDesired, before: AccountLive, touched: Sequence[Change]
) -> AccountDesired:
    """The desired state that undoes ``touched``: the live state ``before`` the writes, for the
    resources they wrote; the lock-out rule's declared senders stay those of ``want``."""
    resources = {change.resource for change in touched}
    inverse = AccountDesired(want.account, senders=want.senders)
    for kind in kinds():
        if kind.resource in resources:
            kind.undo(inverse, before)
    return inverse


def roll_back(
    want: AccountDesired,
    before: AccountLive,
    touched: Sequence[Change],
    client: ProviderClient,
    *,
    force: bool,
    stop: threading.Event | None = None,
) -> Rollback:
    """Undo ``touched`` (the changes an apply made, or may have made, to ``want``'s account)
    and report how far it got; never raises for a provider failure."""
    inverse = inverse_desired(want, before, touched)
    plan = Plan(accounts=[want.account])
    result = Rollback(want.account.name, plan, list(touched))
    try:
        now = read_one(client, to_read(inverse))
    except ProviderError as exc:
        result.error = f"live state could not be read again: {exc}"
        return result
    keys = {(change.resource, change.key) for change in touched}
    changes, refusals = diff_account(inverse, now)
    plan.changes = [c for c in changes if (c.resource, c.key) in keys]
    plan.refusals = [r for r in refusals if r.rule in RULES]
    result.refusals = [r for r in plan.refusals if not (force and r.overridable)]
    if result.refusals or not plan.changes:
        return result
    result.outcomes = execute(plan, {want.account.name: client}, stop=stop)
    return result
