"""Carry out a Plan through provider clients: in order, with dependencies, into a report.

Each account's changes run in phases, make before break: whitelist additions, switching
protection on, unintercept changes, switching protection off, whitelist deletions. The changes
of one phase are independent of each other and run concurrently, within the account's limits
(its client bounds the calls in flight and their pace); a phase starts once the one before has
finished.

Independent changes go on after a failure; a change that depends on a failed one is skipped:
protection is not switched on if a whitelist addition failed, and no whitelist entry is deleted
once an addition or switching protection off failed (make before break).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from reconciler.errors import ProviderError
from reconciler.model import Account
from reconciler.plan import Action, Change, Plan, Resource
from reconciler.providers.base import ProviderClient

Status = Literal["applied", "failed", "skipped"]


class Phase(IntEnum):
    """When a change runs within its account, make before break."""

    WHITELIST_ADDITIONS = 1
    PROTECTION_ON = 2
    UNINTERCEPT_CHANGES = 3
    PROTECTION_OFF = 4
    WHITELIST_DELETIONS = 5


@dataclass(frozen=True)
class Outcome:
    change: Change
    status: Status
    detail: str | None = None
    error: ProviderError | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {**self.change.as_dict(), "status": self.status}
        if self.detail:
            data["detail"] = self.detail
        if self.error is not None:
            data["error"] = {
                "provider": self.error.provider,
                "action": self.error.action,
                "code": self.error.code,
                "message": self.error.provider_message,
                "request_id": self.error.request_id,
            }
            if self.error.uncertain:
                # The write may have taken effect: the next plan will show whether it did.
                data["error"]["uncertain"] = True
        return data


def execute(
    plan: Plan,
    clients: Mapping[str, ProviderClient],
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Apply every change of ``plan``; never raises for a provider failure.

    Returns the outcomes in plan order. ``on_outcome`` is called once per outcome as it is
    known, always from the calling thread.
    """
    outcomes: list[Outcome] = []
    for account in plan.accounts:
        outcomes.extend(
            _execute_account(
                account, plan.changes_for(account.name), clients.get(account.name), on_outcome
            )
        )
    return outcomes


def _execute_account(
    account: Account,
    changes: list[Change],
    client: ProviderClient | None,
    on_outcome: Callable[[Outcome], None] | None,
) -> list[Outcome]:
    done: dict[int, Outcome] = {}  # position in ``changes`` -> outcome
    failed: set[str] = set()  # dependency groups with a failure, see _depends_on

    def record(index: int, outcome: Outcome) -> None:
        done[index] = outcome
        if outcome.status == "failed":
            failed.add(_group(outcome.change))
        if on_outcome is not None:
            on_outcome(outcome)

    workers = max(1, account.limits.concurrency)
    with ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix=f"apply-{account.name}"
    ) as pool:
        for phase in Phase:
            running: dict[Future[Outcome], int] = {}
            for index, change in enumerate(changes):
                if _phase(change) is not phase:
                    continue
                # Every change this one depends on ran in an earlier phase: `failed` is final.
                blocker = _depends_on(change) & failed
                if client is None or blocker:
                    reason = f"skipped: {', '.join(sorted(blocker))} failed" if blocker else None
                    record(index, Outcome(change, "skipped", reason))
                else:
                    running[pool.submit(_apply_one, client, change)] = index
            for future in as_completed(running):
                record(running[future], future.result())
    return [done[index] for index in sorted(done)]


def _apply_one(client: ProviderClient, change: Change) -> Outcome:
    try:
        return Outcome(change, "applied", client.apply(change))
    except ProviderError as exc:
        if change.action is Action.UPDATE and not exc.action.endswith("delete"):
            # An update is carried out as delete then add: a failure after the delete means
            # the entry is gone until the next run re-adds it.
            return Outcome(change, "failed", f"deleted; re-adding failed: {exc}", exc)
        return Outcome(change, "failed", str(exc), exc)


def _phase(change: Change) -> Phase:
    match change.resource:
        case Resource.IP_WHITELIST:
            if change.action is Action.DELETE:
                return Phase.WHITELIST_DELETIONS
            return Phase.WHITELIST_ADDITIONS
        case Resource.IP_PROTECTION:
            return Phase.PROTECTION_ON if change.after is True else Phase.PROTECTION_OFF
    return Phase.UNINTERCEPT_CHANGES


def _group(change: Change) -> str:
    if change.resource is Resource.IP_WHITELIST and change.action is Action.CREATE:
        return "a whitelist addition"
    if change.resource is Resource.IP_PROTECTION and change.after is False:
        return "switching protection off"
    return "an independent change"


def _depends_on(change: Change) -> set[str]:
    if change.resource is Resource.IP_PROTECTION and change.after is True:
        return {"a whitelist addition"}
    if change.resource is Resource.IP_WHITELIST and change.action is Action.DELETE:
        return {"a whitelist addition", "switching protection off"}
    return set()
