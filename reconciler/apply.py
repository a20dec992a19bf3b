"""Carry out a Plan through provider clients: in order, with dependencies, into a report.

Independent changes go on after a failure; a change that depends on a failed one is skipped:
protection is not switched on if a whitelist addition failed, and no whitelist entry is deleted
once an addition or switching protection off failed (make before break).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.errors import ProviderError
from reconciler.plan import Action, Change, Plan, Resource
from reconciler.providers.base import ProviderClient

Status = Literal["applied", "failed", "skipped"]


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
        return data


def execute(
    plan: Plan,
    clients: Mapping[str, ProviderClient],
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Apply every change of ``plan`` in order; never raises for a provider failure."""
    outcomes: list[Outcome] = []
    for account in plan.accounts:
        client = clients.get(account.name)
        failed: set[str] = set()  # dependency groups with a failure, see _depends_on
        for change in plan.changes_for(account.name):
            blocker = _depends_on(change) & failed
            if client is None or blocker:
                reason = f"skipped: {', '.join(sorted(blocker))} failed" if blocker else None
                outcome = Outcome(change, "skipped", reason)
            else:
                try:
                    outcome = Outcome(change, "applied", client.apply(change))
                except ProviderError as exc:
                    outcome = Outcome(change, "failed", str(exc), exc)
                    failed.add(_group(change))
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    return outcomes


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
