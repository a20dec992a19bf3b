"""What became of one change an apply carried out (``reconciler.apply``): its status, the
provider's detail or error. The apply report, the progress line, the notice and a guard's
roll-back read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from reconciler.errors import ProviderError
from reconciler.model import Change

Status = Literal["applied", "failed", "skipped", "not attempted"]
STATUSES: tuple[Status, ...] = ("applied", "failed", "skipped", "not attempted")
# The detail of a delete whose entry was already gone: its goal holds.
ALREADY_GONE = "already gone"


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
