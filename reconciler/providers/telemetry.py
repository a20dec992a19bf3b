"""DirectMail's sending-data APIs (SPEC §9): windows, paging and the typed rows of each answer.

The five calls go through the account's ``DirectMailClient`` (V3-signed, parameters in the
query, retries, limits and the quotas declared in ``directmail.QUOTAS``). This module adds
what is particular to them:

- windows: a long window is split into consecutive calls of at most each API's span, and a
  window reaching further back than the 30-day horizon is refused before any call (except for
  the summary API, whose newer limits are left to the provider; ``within_horizon`` gives the
  part of a window the 30-day APIs serve);
- paging to the end: ``PageNumber``/``TotalPages`` for the tracking APIs, the opaque
  ``NextStart`` cursor (echoed exactly) for the other two, where a repeated cursor is an error;
- every field parsed with its documented type (``telemetry_rows``; ``TotalPages`` here): a
  value of another type is a ``BadAnswer``.

Pages are yielded as they arrive, so a caller can print them without holding them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from reconciler.errors import InputError
from reconciler.providers.answers import MAX_ENTRIES, Checker
from reconciler.providers.base import given
from reconciler.providers.directmail import PROVIDER, DirectMailClient
from reconciler.providers.telemetry_rows import (
    STATUS_CODES,
    detail_row,
    invalid_row,
    local_time,
    summary_row,
    tracking_row,
)
from reconciler.providers.telemetry_rows import ZONE as ZONE

HORIZON = timedelta(days=30)

SUMMARY = "SenderStatisticsByTagNameAndBatchID"
TRACK_BY = "GetTrackListByMailFromAndTagName"
TRACK = "GetTrackList"
INVALID = "QueryInvalidAddress"
DETAIL = "SenderStatisticsDetailByParam"

# The longest window one call may ask for (SPEC §9: the seed's spans; the tracking APIs at the
# stricter of their two documented figures).
SPAN: Mapping[str, timedelta] = {
    SUMMARY: timedelta(days=7),
    TRACK_BY: timedelta(days=7),
    TRACK: timedelta(days=7),
    INVALID: timedelta(days=30),
    DETAIL: timedelta(days=30),
}
# Page sizes: no source gives a maximum; 100 is the largest any example or SDK default uses.
PAGE_SIZE = 100
TAG_NEEDS_SENDER = (
    f"tracking by tag needs the sender too: {TRACK_BY} takes TagName only with AccountName "
    "(give --sender with --tag)"
)


@dataclass(frozen=True)
class Window:
    """From ``start`` to ``end`` in the provider's zone (UTC+8)."""

    start: datetime
    end: datetime


def now() -> datetime:
    return datetime.now(ZONE)


def since(duration: timedelta, moment: datetime | None = None) -> Window:
    end = (moment or now()).astimezone(ZONE)
    return Window(end - duration, end)


def earliest_day(moment: datetime | None = None) -> date:
    """The first day (UTC+8) the 30-day APIs still serve."""
    return (moment or now()).astimezone(ZONE).date() - HORIZON


def check_horizon(window: Window, api: str, moment: datetime | None = None) -> None:
    """Refuse, before any call, a window that ends before it starts, or that reaches further
    back than the 30-day horizon of ``api``; the summary API's newer limits are left to the
    provider (SPEC §9)."""
    earliest = earliest_day(moment)
    if api != SUMMARY and window.start.date() < earliest:
        raise InputError(
            f"the window starts on {window.start.date()}, further back than the 30 days "
            f"{api} keeps (the earliest day is {earliest}, UTC+8); nothing was called"
        )
    if window.end < window.start:
        raise InputError(
            f"the window ends ({local_time(window.end)}) before it starts "
            f"({local_time(window.start)})"
        )


def within_horizon(window: Window, moment: datetime | None = None) -> Window | None:
    """The part of ``window`` the 30-day APIs serve: its start moved up to midnight (UTC+8) of
    the earliest day they keep, or ``None`` when the whole window is older."""
    earliest = earliest_day(moment)
    if window.end.date() < earliest:
        return None
    if window.start.date() >= earliest:
        return window
    start = datetime(earliest.year, earliest.month, earliest.day, tzinfo=ZONE)
    return Window(start, window.end)


def day_chunks(window: Window, span: timedelta) -> list[tuple[date, date]]:
    """Consecutive inclusive day ranges of at most ``span`` days covering the window."""
    first, last = window.start.date(), window.end.date()
    days = span.days
    chunks: list[tuple[date, date]] = []
    while first <= last:
        end = min(first + timedelta(days=days - 1), last)
        chunks.append((first, end))
        first = end + timedelta(days=1)
    return chunks


def time_chunks(window: Window, span: timedelta) -> list[tuple[datetime, datetime]]:
    """Consecutive ``(start, end)`` minute ranges of at most ``span`` covering the window."""
    start = window.start.replace(second=0, microsecond=0)
    end = window.end.replace(second=0, microsecond=0)
    chunks: list[tuple[datetime, datetime]] = []
    while True:
        stop = min(start + span, end)
        chunks.append((start, stop))
        if stop >= end:
            return chunks
        start = stop


class Telemetry:
    """The five sending-data calls of one DirectMail account, paged and typed."""

    def __init__(self, client: DirectMailClient) -> None:
        self.client = client

    # -- daily totals and tracking -------------------------------------------------------

    def summary(
        self, window: Window, *, tag: str = "", sender: str = "", esp: str = ""
    ) -> list[dict[str, Any]]:
        """Daily totals (``SenderStatisticsByTagNameAndBatchID``), one call per 7 days."""
        check_horizon(window, SUMMARY)
        rows: list[dict[str, Any]] = []
        for first, last in day_chunks(window, SPAN[SUMMARY]):
            params = given(
                StartTime=f"{first}", EndTime=f"{last}", TagName=tag, AccountName=sender, Esp=esp
            )
            data = self.client.call(SUMMARY, params)
            check = Checker(PROVIDER, SUMMARY, data.get("RequestId"))
            container = check.mapping(_container(data, "data"), "data")
            for index, record in enumerate(check.records(container.get("stat"), "data.stat")):
                rows.append(summary_row(check, record, f"data.stat[{index}]"))
        return rows

    def tracking(
        self, window: Window, *, tag: str = "", sender: str = "", esp: str = ""
    ) -> Iterator[list[dict[str, Any]]]:
        """Tracking records, a page at a time: by sender and tag when either is given
        (``GetTrackListByMailFromAndTagName``), else account-wide (``GetTrackList``)."""
        api = TRACK_BY if tag or sender else TRACK
        if tag and not sender:
            raise InputError(TAG_NEEDS_SENDER)
        check_horizon(window, api)
        for first, last in day_chunks(window, SPAN[api]):
            params = given(
                StartTime=f"{first}", EndTime=f"{last}", TagName=tag, AccountName=sender, Esp=esp
            )
            yield from self._pages(api, params)

    def _pages(self, api: str, params: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
        number = 1
        while True:
            data = self.client.call(
                api, {**params, "PageNumber": str(number), "PageSize": str(PAGE_SIZE)}
            )
            check = Checker(PROVIDER, api, data.get("RequestId"))
            key, inner = ("TrackList", "Stat") if api == TRACK_BY else ("data", "stat")
            container = check.mapping(_container(data, key), key)
            records = check.records(container.get(inner), f"{key}.{inner}")
            yield [tracking_row(check, r, f"{key}.{inner}[{i}]") for i, r in enumerate(records)]
            pages = check.count(data.get("TotalPages", 1), "TotalPages")
            if pages > MAX_ENTRIES // PAGE_SIZE:
                raise check.bad(
                    f"TotalPages is {pages:,}: more than the {MAX_ENTRIES:,} records that "
                    "could be read"
                )
            if "PageNo" in data and check.count(data["PageNo"], "PageNo") != number:
                raise check.bad(f"PageNo is {data['PageNo']!r}, but page {number} was asked for")
            if number >= pages:
                return
            number += 1

    # -- cursors -------------------------------------------------------------------------

    def invalid(self, window: Window, *, keyword: str = "") -> Iterator[list[dict[str, Any]]]:
        """Invalid recipient addresses (``QueryInvalidAddress``), a page at a time."""
        check_horizon(window, INVALID)
        for first, last in day_chunks(window, SPAN[INVALID]):
            params = given(StartTime=f"{first}", EndTime=f"{last}", KeyWord=keyword)
            params["Length"] = str(PAGE_SIZE)
            for check, records in self._cursor(INVALID, params):
                yield [invalid_row(check, r, f"data.mailDetail[{i}]") for i, r in records]

    def deliveries(
        self,
        window: Window,
        *,
        sender: str = "",
        tag: str = "",
        to: str = "",
        status: str = "",
    ) -> Iterator[list[dict[str, Any]]]:
        """Per-message detail (``SenderStatisticsDetailByParam``), a page at a time."""
        if sum(bool(v) for v in (sender, tag, to)) > 1:
            raise InputError(f"{DETAIL} takes at most one of --sender, --tag and --to")
        check_horizon(window, DETAIL)
        for start, end in time_chunks(window, SPAN[DETAIL]):
            params = given(
                StartTime=f"{start:%Y-%m-%d %H:%M}",
                EndTime=f"{end:%Y-%m-%d %H:%M}",
                AccountName=sender,
                TagName=tag,
                ToAddress=to,
            )
            if status:
                params["Status"] = str(STATUS_CODES[status])
            params["Length"] = str(PAGE_SIZE)
            for check, records in self._cursor(DETAIL, params):
                yield [detail_row(check, r, f"data.mailDetail[{i}]") for i, r in records]

    def _cursor(
        self, api: str, params: dict[str, str]
    ) -> Iterator[tuple[Checker, list[tuple[int, Mapping[str, Any]]]]]:
        """Pages of ``api`` following ``NextStart`` until it is empty or absent; the cursor is
        opaque and sent back exactly as given. A cursor seen before is an error: following it
        would loop.

        The next page is asked for as soon as a page's cursor is known, while the caller
        handles that page: a long read then costs the network time, not network plus
        handling. At most two pages are held at once.
        """
        seen: set[str] = set()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=api)
        try:
            pending = pool.submit(self.client.call, api, params)
            while True:
                data = pending.result()
                check = Checker(PROVIDER, api, data.get("RequestId"))
                container = check.mapping(_container(data, "data"), "data")
                records = check.records(container.get("mailDetail"), "data.mailDetail")
                cursor = check.text(data.get("NextStart"), "NextStart", required=False)
                more = bool(cursor.strip())
                if more:
                    if cursor in seen:
                        raise check.bad(
                            f"NextStart {cursor[:60]!r} was answered before: following it "
                            "would read the same pages again"
                        )
                    seen.add(cursor)
                    pending = pool.submit(self.client.call, api, {**params, "NextStart": cursor})
                yield check, list(enumerate(records))
                if not more:
                    return
        finally:
            # An error or Ctrl-C is reported at once; a page still on its way is dropped.
            pool.shutdown(wait=False, cancel_futures=True)


def _container(data: Mapping[str, Any], key: str) -> Any:
    value = data.get(key)
    return {} if value is None else value
