"""DirectMail's sending-data APIs (SPEC §9): windows, paging and the typed rows of each answer.

The five calls go through the account's ``DirectMailClient`` (V3-signed, parameters in the
query, retries, limits and the quotas declared in ``directmail.QUOTAS``). This module adds
what is particular to them:

- windows: a long window is split into consecutive calls of at most each API's span, and a
  window reaching further back than the 30-day horizon is refused before any call (except for
  the summary API, whose newer limits are left to the provider);
- paging to the end: ``PageNumber``/``TotalPages`` for the tracking APIs, the opaque
  ``NextStart`` cursor (echoed exactly) for the other two, where a repeated cursor is an error;
- every field parsed with its documented type: numbers that arrive as strings, ``%`` suffixes,
  the misspelt ``faildCount``, ``CreateTime`` or ``createTime``, ``TotalPages`` and
  ``UtcLastUpdateTime`` as a string or an int. A value of another type is a ``BadAnswer``.

Pages are yielded as they arrive, so a caller can print them without holding them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from reconciler.errors import InputError
from reconciler.providers.answers import MAX_ENTRIES, Checker
from reconciler.providers.directmail import PROVIDER, DirectMailClient

# The provider's days are UTC+8 (SPEC §9).
ZONE = timezone(timedelta(hours=8), "UTC+8")
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
STATUS_CODES: Mapping[str, int] = {"ok": 0, "invalid": 2, "spam": 3, "failed": 4}
STATUS_NAMES: Mapping[int, str] = {code: name for name, code in STATUS_CODES.items()}
TAG_NEEDS_SENDER = (
    f"tracking by tag needs the sender too: {TRACK_BY} takes TagName only with AccountName "
    "(give --sender with --tag)"
)
_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%?\s*")


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


def within_horizon(window: Window, moment: datetime | None = None) -> bool:
    """Whether the window starts within the 30 days the APIs keep (SPEC §9)."""
    return window.start.date() >= (moment or now()).astimezone(ZONE).date() - HORIZON


def check_horizon(window: Window, api: str, moment: datetime | None = None) -> None:
    """Refuse, before any call, a window that reaches further back than the 30-day horizon of
    ``api``; the summary API's newer limits are left to the provider (SPEC §9)."""
    if api == SUMMARY:
        return
    today = (moment or now()).astimezone(ZONE).date()
    earliest = today - HORIZON
    if window.start.date() < earliest:
        raise InputError(
            f"the window starts on {window.start.date()}, further back than the 30 days "
            f"{api} keeps (the earliest day is {earliest}, UTC+8); nothing was called"
        )
    if window.end < window.start:
        raise InputError(f"the window ends ({window.end:%Y-%m-%d %H:%M}) before it starts")


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
            params = _given(
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
            params = _given(
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
            params = _given(StartTime=f"{first}", EndTime=f"{last}", KeyWord=keyword)
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
            params = _given(
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


# -- typed rows ----------------------------------------------------------------------------


def summary_row(check: Checker, record: Mapping[str, Any], where: str) -> dict[str, Any]:
    day = record.get("CreateTime", record.get("createTime"))
    return {
        "date": _day(check, day, f"{where}.CreateTime"),
        "requests": _count(check, record, "requestCount", where),
        "succeeded": _count(check, record, "successCount", where),
        "failed": _count(check, record, "faildCount", where, also="failedCount"),
        "invalid": _count(check, record, "unavailableCount", where),
        "success_percent": _percent(check, record.get("succeededPercent"), where),
        "invalid_percent": _percent(check, record.get("unavailablePercent"), where),
    }


TRACKING_FIELDS = (
    ("total", "TotalNumber"),
    ("opens", "RcptOpenCount"),
    ("open_rate", "RcptOpenRate"),
    ("unique_opens", "RcptUniqueOpenCount"),
    ("unique_open_rate", "RcptUniqueOpenRate"),
    ("clicks", "RcptClickCount"),
    ("click_rate", "RcptClickRate"),
    ("unique_clicks", "RcptUniqueClickCount"),
    ("unique_click_rate", "RcptUniqueClickRate"),
)


def tracking_row(check: Checker, record: Mapping[str, Any], where: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "time": check.text(record.get("CreateTime"), f"{where}.CreateTime"),
    }
    for name, key in TRACKING_FIELDS:
        if name.endswith("rate"):
            row[name] = _percent(check, record.get(key), f"{where}.{key}")
        else:
            row[name] = _count(check, record, key, where)
    return row


def invalid_row(check: Checker, record: Mapping[str, Any], where: str) -> dict[str, Any]:
    return {
        "time": check.text(record.get("LastUpdateTime"), f"{where}.LastUpdateTime"),
        "utc_time": _epoch(check, record.get("UtcLastUpdateTime"), f"{where}.UtcLastUpdateTime"),
        "address": check.text(record.get("ToAddress"), f"{where}.ToAddress"),
    }


_DETAIL_TEXT = ("AccountName", "ErrorClassification", "Message", "Subject")


def detail_row(check: Checker, record: Mapping[str, Any], where: str) -> dict[str, Any]:
    # The common case in one pass: a page of 100 records is read thousands of times in a long
    # read. Anything unexpected goes through the checks below, which say what is wrong.
    status = record.get("Status")
    stamp = record.get("LastUpdateTime")
    epoch = record.get("UtcLastUpdateTime")
    recipient = record.get("ToAddress")
    if (
        type(status) is int
        and type(stamp) is str
        and stamp.strip()
        and type(epoch) is str
        and epoch.isdigit()
        and len(epoch) < 13
        and type(recipient) is str
        and recipient.strip()
        and all(type(record.get(key, "")) is str for key in _DETAIL_TEXT)
    ):
        return {
            "time": stamp,
            "utc_time": int(epoch),
            "sender": record.get("AccountName", ""),
            "recipient": recipient,
            "status": STATUS_NAMES.get(status, str(status)),
            "classification": record.get("ErrorClassification", ""),
            "message": record.get("Message", ""),
            "subject": record.get("Subject", ""),
        }
    return _detail_row_checked(check, record, where)


def _detail_row_checked(check: Checker, record: Mapping[str, Any], where: str) -> dict[str, Any]:
    status = record.get("Status")
    if not isinstance(status, int) or isinstance(status, bool):
        raise check.bad(f"{where}.Status is {status!r}, not an int")
    return {
        "time": check.text(record.get("LastUpdateTime"), f"{where}.LastUpdateTime"),
        "utc_time": _epoch(check, record.get("UtcLastUpdateTime"), f"{where}.UtcLastUpdateTime"),
        "sender": check.text(record.get("AccountName"), f"{where}.AccountName", required=False),
        "recipient": check.text(record.get("ToAddress"), f"{where}.ToAddress"),
        "status": STATUS_NAMES.get(status, str(status)),
        "classification": check.text(
            record.get("ErrorClassification"), f"{where}.ErrorClassification", required=False
        ),
        "message": check.text(record.get("Message"), f"{where}.Message", required=False),
        "subject": check.text(record.get("Subject"), f"{where}.Subject", required=False),
    }


def _given(**params: str) -> dict[str, str]:
    return {key: value for key, value in params.items() if value}


def _container(data: Mapping[str, Any], key: str) -> Any:
    value = data.get(key)
    return {} if value is None else value


def _count(check: Checker, record: Mapping[str, Any], key: str, where: str, also: str = "") -> int:
    value = record.get(key)
    if value is None and also:
        value = record.get(also)
    return check.count(0 if value in (None, "") else value, f"{where}.{key}")


def _percent(check: Checker, value: Any, where: str) -> float:
    """``"100.00%"``, ``"0%"``, ``"12.5"`` or a number: a percentage from 0 to 100."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and (match := _NUMBER.fullmatch(value)):
        number = float(match[1])
    else:
        raise check.bad(f"{where} is {value!r}, not a percentage")
    if not 0 <= number <= 100:
        raise check.bad(f"{where} is {value!r}, not between 0 and 100 %")
    return number


def _day(check: Checker, value: Any, where: str) -> str:
    text = check.text(value, where)
    try:
        return date.fromisoformat(text.strip()[:10]).isoformat()
    except ValueError:
        raise check.bad(f"{where} is {text[:40]!r}, not a yyyy-MM-dd day") from None


def _epoch(check: Checker, value: Any, where: str) -> int:
    """Seconds since 1970: an int in ``QueryInvalidAddress``, its text in
    ``SenderStatisticsDetailByParam``."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**40:
        raise check.bad(f"{where} is {value!r}, not a time in seconds")
    return value
