"""What a check counts: an account's messages over a window, and which window that is (SPEC §9;
the guard of SPEC §11 builds on ``count_since``).

Two sources, chosen by the window's length:

- under a day: the per-message detail (``SenderStatisticsDetailByParam``, minute resolution,
  paged by ``NextStart`` within its quota of 500 calls a minute). The window is whole minutes,
  ending at the start of the current minute, and each message is counted by its own time
  (``UtcLastUpdateTime``), so the counts are those of exactly the window printed;
- a day or more: the daily totals (``SenderStatisticsByTagNameAndBatchID``), which count whole
  days in the provider's zone (UTC+8). The window is widened to the days it touches: from
  midnight (UTC+8) of the day it starts to now. Reading a day or more message by message would
  cost a call per hundred messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.durations import DAY, MINUTE
from reconciler.errors import InputError
from reconciler.providers.directmail import DirectMailClient
from reconciler.providers.telemetry import DETAIL, SUMMARY, Telemetry, Window, now
from reconciler.providers.telemetry_rows import ZONE


@dataclass(frozen=True)
class Counts:
    """Messages by outcome: ``delivered`` (status 0), ``invalid`` (2, an invalid address) and
    ``failed`` (3, spam, and 4, any other failure; a status no source documents counts as
    failed: the message was not delivered)."""

    requests: int = 0
    delivered: int = 0
    failed: int = 0
    invalid: int = 0

    @property
    def failed_percent(self) -> float:
        return share(self.failed, self.requests)

    @property
    def invalid_percent(self) -> float:
        return share(self.invalid, self.requests)


def share(part: int, whole: int) -> float:
    """``part`` in percent of ``whole``, two decimals; 0 when there is nothing to divide."""
    return round(100.0 * part / whole, 2) if whole else 0.0


@dataclass(frozen=True)
class Measured:
    """A check's window as counted: its bounds and the API that counted it."""

    window: Window
    api: str

    @property
    def per_message(self) -> bool:
        return self.api == DETAIL


def crossed(
    failed_percent: float, invalid_percent: float, max_failed: float, max_invalid: float
) -> list[str]:
    """The failure and invalid thresholds the shares cross, worded alike for ``check`` and a
    guard (``failed 5.00% > maxFailedPercent 2``)."""
    reasons = []
    if failed_percent > max_failed:
        reasons.append(f"failed {failed_percent:.2f}% > maxFailedPercent {max_failed:g}")
    if invalid_percent > max_invalid:
        reasons.append(f"invalid {invalid_percent:.2f}% > maxInvalidPercent {max_invalid:g}")
    return reasons


def check_window(duration: timedelta, moment: datetime | None = None) -> Measured:
    """The window a check of ``duration`` counts at ``moment`` (see the module docstring).

    A window under a day must be whole minutes: the detail has no finer resolution.
    """
    moment = (moment or now()).astimezone(ZONE)
    if duration < DAY:
        if duration < MINUTE or duration % MINUTE:
            raise InputError(
                f"a window of {duration.total_seconds():g} s cannot be measured: a window "
                "under a day is read message by message, to the minute (use whole minutes, "
                "such as 30m or 90m, or 1d and more)"
            )
        end = moment.replace(second=0, microsecond=0)
        return Measured(Window(end - duration, end), DETAIL)
    first = (moment - duration).replace(hour=0, minute=0, second=0, microsecond=0)
    return Measured(Window(first, moment), SUMMARY)


def count_since(
    client: DirectMailClient,
    start: datetime,
    end: datetime | None = None,
    *,
    tag: str = "",
    sender: str = "",
) -> Counts:
    """The messages of one account sent from ``start`` (included) until ``end`` (excluded;
    default now), filtered by at most one of ``tag`` and ``sender``, read one by one from the
    per-message detail: each page as its cursor allows, within the API's quota.

    ``start`` may lie inside a minute: the detail is asked for whole minutes and each
    message is counted by its own time.
    """
    # The detail's times are wall-clock times in the provider's zone: a moment given in
    # another zone (UTC, say) must be read there, not written as its own clock time.
    window = Window(start.astimezone(ZONE), (end or now()).astimezone(ZONE))
    return count_messages(Telemetry(client), window, tag=tag, sender=sender)


def count_messages(
    telemetry: Telemetry, window: Window, *, tag: str = "", sender: str = ""
) -> Counts:
    """``count_since`` over a ``Telemetry`` already at hand."""
    if tag and sender:
        raise InputError("the per-message detail filters by one of tag and sender, not both")
    start, end = window.start.timestamp(), window.end.timestamp()
    # The detail's EndTime is a minute; ask for the minute that holds the end, whichever way
    # the service reads it (its own minute included or not), and drop what lies beyond.
    last = window.end.replace(second=0, microsecond=0)
    if last < window.end:
        last += MINUTE
    pages = telemetry.deliveries(Window(window.start, last), tag=tag, sender=sender)
    return tally(row for page in pages for row in page if start <= row["utc_time"] < end)


def tally(rows: Iterable[Mapping[str, Any]]) -> Counts:
    """Per-message rows (``telemetry_rows.detail_row``) counted by outcome."""
    requests = delivered = failed = invalid = 0
    for row in rows:
        requests += 1
        status = row["status"]
        if status == "ok":
            delivered += 1
        elif status == "invalid":
            invalid += 1
        else:
            failed += 1
    return Counts(requests, delivered, failed, invalid)
