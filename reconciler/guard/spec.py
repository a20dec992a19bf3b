"""Guards: the guards a plan would run (``DeliveryCheck.spec.guard``, read from a manifest by
``manifests.delivery``).

A ``Guard`` is everything an apply needs to watch one check: the check's thresholds and filter
with the guard's ``watch``, ``minRequests`` and ``rollback``. It is what ``plan`` lists (text,
JSON ``guards``, Markdown) and what a saved plan carries, sealed by its digest and MAC, so that
``apply --plan`` watches exactly what was reviewed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.durations import watch_duration
from reconciler.model import DeliveryCheck

if TYPE_CHECKING:
    from reconciler.plan import Plan

MIN_INTERVAL = 10.0  # seconds between polls, at least
ROLLBACKS = ("auto", "never")


@dataclass(frozen=True)
class Guard:
    """One guard an apply runs: check ``name`` watched on ``account`` for ``watch_seconds``."""

    name: str
    account: str
    watch_seconds: float
    watch_text: str
    min_requests: int
    rollback: str
    max_failed_percent: float
    max_invalid_percent: float
    tag: str = ""
    sender: str = ""

    @property
    def interval(self) -> float:
        """Seconds between polls: a tenth of ``watch``, at least ``MIN_INTERVAL``."""
        return max(self.watch_seconds / 10, MIN_INTERVAL)

    def line(self) -> str:
        """``Guard: prod-health watches prod-dm for 15m, rollback auto``."""
        return (
            f"Guard: {self.name} watches {self.account} for {self.watch_text}, "
            f"rollback {self.rollback}"
        )

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "account": self.account,
            "watch": self.watch_text,
            "min_requests": self.min_requests,
            "rollback": self.rollback,
            "max_failed_percent": self.max_failed_percent,
            "max_invalid_percent": self.max_invalid_percent,
        }
        if self.tag:
            data["tag"] = self.tag
        if self.sender:
            data["sender"] = self.sender
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Guard:
        """A guard from its JSON form (schema-valid); ValueError if ``watch`` is out of range."""
        watch = watch_duration(str(data["watch"]))
        return cls(
            name=str(data["name"]),
            account=str(data["account"]),
            watch_seconds=watch.total_seconds(),
            watch_text=str(data["watch"]),
            min_requests=int(data["min_requests"]),
            rollback=str(data["rollback"]),
            max_failed_percent=float(data["max_failed_percent"]),
            max_invalid_percent=float(data["max_invalid_percent"]),
            tag=str(data.get("tag", "")),
            sender=str(data.get("sender", "")),
        )

    def watching(self, seconds: float, text: str) -> Guard:
        """This guard with another ``watch`` (``apply --watch``)."""
        return Guard(**{**self.__dict__, "watch_seconds": seconds, "watch_text": text})


def planned(checks: Iterable[DeliveryCheck], plan: Plan) -> list[Guard]:
    """The guards an apply of ``plan`` would run: those of the checks on accounts it changes,
    in manifest order."""
    changed = {c.account for c in plan.changes}
    return [
        Guard(
            name=check.name,
            account=check.account,
            watch_seconds=check.guard.watch_seconds,
            watch_text=check.guard.watch_text,
            min_requests=check.guard.min_requests,
            rollback=check.guard.rollback,
            max_failed_percent=check.max_failed_percent,
            max_invalid_percent=check.max_invalid_percent,
            tag=check.tag,
            sender=check.sender,
        )
        for check in checks
        if check.guard is not None and check.account in changed
    ]
