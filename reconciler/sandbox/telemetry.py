"""DirectMail's five sending-data APIs over the synthetic traffic of ``traffic`` (SPEC §9).

Windows are days (``yyyy-MM-dd``) or minutes (``yyyy-MM-dd HH:mm``) in UTC+8. The seed's codes
where it has them; the rest chosen to look like the gateway's, all HTTP 400 except where said:

- ``StartTime``/``EndTime`` absent where required: ``InvalidDate.NotFound``; not a date in the
  API's format: ``InvalidDate.Malformed``; before 2015: ``InvalidYear.Malformed``.
- ``StartTime`` further back than the API allows (90 days for
  ``SenderStatisticsByTagNameAndBatchID``, as SDK 1.11.1 says; 30 for the others, as the seed
  says): ``InvalidStartTime.Malformed``.
- ``EndTime`` before ``StartTime``, or a span (``EndTime - StartTime``) over the API's (31 days,
  7 for ``GetTrackList``, 15 for ``GetTrackListByMailFromAndTagName`` per the Chinese page, 30
  for the other two): ``InvalidBetweenTime.Malformed``.
- ``AccountName`` not a mail address: ``InvalidMailAddressName.Malformed``; a sender the account
  does not have (statistics and tracking calls): ``InvalidMailAddress.NotFound``, HTTP 404;
  ``TagName`` malformed: ``InvalidTagName.Malformed``; ``TagName`` without ``AccountName`` on
  ``GetTrackListByMailFromAndTagName``: ``MissingParameter``.
- ``Esp`` not one of the five: ``InvalidEsp.Malformed``; ``PageNumber``/``PageSize`` not a
  whole number from 1 (``PageSize`` at most 100): ``InvalidPageNumber.Malformed`` /
  ``InvalidPageSize.Malformed``; ``Length`` outside 1-100: ``InvalidLength.Malformed``;
  ``Status`` not 0, 2, 3 or 4: ``InvalidStatus.Malformed``; more than one of ``AccountName``,
  ``TagName``, ``ToAddress`` on ``SenderStatisticsDetailByParam``: ``InvalidParameter.Conflict``.
- A ``NextStart`` this sandbox did not issue for the same query: ``InvalidNextStart.Malformed``.
- Over a quota (50 calls a minute, 500, 60; see ``QUOTAS``): ``Throttling.User``.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from reconciler.sandbox import telemetry_params as tp
from reconciler.sandbox import traffic
from reconciler.sandbox.directmail_auth import AcsError, missing
from reconciler.sandbox.traffic import UTC8, Message, Protection, TrafficConfig

SUMMARY = "SenderStatisticsByTagNameAndBatchID"
TRACK_BY_SENDER = "GetTrackListByMailFromAndTagName"
TRACK = "GetTrackList"
INVALID = "QueryInvalidAddress"
DETAIL = "SenderStatisticsDetailByParam"
ACTIONS = frozenset({SUMMARY, TRACK_BY_SENDER, TRACK, INVALID, DETAIL})
QUOTAS = {SUMMARY: 50, DETAIL: 500, TRACK_BY_SENDER: 60}  # calls a minute
# (days back, span in days) each API accepts.
WINDOWS = {SUMMARY: (90, 31), TRACK_BY_SENDER: (30, 15), TRACK: (30, 7), INVALID: (30, 30)}
DETAIL_WINDOW = (30, 30)
DEFAULT_PAGE_SIZE = 20
DEFAULT_LENGTH = 20
MAX_PAGE = 100
_TAG = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Quotas:
    """Calls a minute per action, over a sliding window."""

    def __init__(self, limits: dict[str, int], clock: Callable[[], float] = time.monotonic):
        self._limits = limits
        self._clock = clock
        self._calls: dict[str, deque[float]] = {action: deque() for action in limits}
        self._lock = threading.Lock()

    def spend(self, action: str) -> None:
        if action not in self._limits:
            return
        with self._lock:
            now = self._clock()
            calls = self._calls[action]
            while calls and calls[0] <= now - 60:
                calls.popleft()
            if len(calls) >= self._limits[action]:
                raise AcsError("Throttling.User", "Request was denied due to user flow control.")
            calls.append(now)


class View:
    """What the handlers need from the sandbox state, read once per call."""

    def __init__(self, config: TrafficConfig, guard: Protection, now: datetime) -> None:
        self.config = config
        self.guard = guard
        self.now = now
        self.today = now.astimezone(UTC8).date()

    def messages(self, start: int, end: int) -> Iterator[Message]:
        return iter(traffic.messages(self.config, start, end, self.now))


def perform(action: str, params: dict[str, str], view: View) -> dict[str, Any]:
    match action:
        case "SenderStatisticsByTagNameAndBatchID":
            return _summary(params, view)
        case "GetTrackListByMailFromAndTagName" | "GetTrackList":
            return _tracking(action, params, view)
        case "QueryInvalidAddress":
            return _invalid(params, view)
        case "SenderStatisticsDetailByParam":
            return _detail(params, view)
    raise AssertionError(f"unrouted action {action}")


# --- the five calls ---------------------------------------------------------------------------


def _summary(params: dict[str, str], view: View) -> dict[str, Any]:
    start, end = tp.days(params, view.today, *WINDOWS[SUMMARY], required=True)
    match = _filters(params, view)
    days: dict[int, list[int]] = {}
    for message in view.messages(start, end):
        if match(message):
            counts = days.setdefault(traffic.local_day_number(message.utc), [0, 0, 0, 0])
            status = view.guard.status(message)
            counts[0] += 1
            counts[1 if status == traffic.DELIVERED else 2 if status == traffic.INVALID else 3] += 1
    stat = [
        {
            "CreateTime": traffic.local_day(day).isoformat(),
            "faildCount": str(failed),
            "requestCount": str(total),
            "succeededPercent": _percent(ok, total),
            "successCount": str(ok),
            "unavailableCount": str(invalid),
            "unavailablePercent": _percent(invalid, total),
        }
        for day, (total, ok, invalid, failed) in sorted(days.items())
    ]
    return {"RequestId": _rid(), "TotalCount": len(stat), "data": {"stat": stat}}


def _tracking(action: str, params: dict[str, str], view: View) -> dict[str, Any]:
    if action == TRACK_BY_SENDER and params.get("TagName") and not params.get("AccountName"):
        raise missing("AccountName")
    start, end = tp.days(params, view.today, *WINDOWS[action], required=True)
    number = tp.whole(params, "PageNumber", 1, None, "InvalidPageNumber.Malformed")
    size = tp.whole(params, "PageSize", DEFAULT_PAGE_SIZE, MAX_PAGE, "InvalidPageSize.Malformed")
    match = _filters(params, view)
    domain = params.get("Domain", "").lower()
    days: dict[int, list[int]] = {}
    for message in view.messages(start, end):
        if not match(message):
            continue
        sender = view.config.senders[message.sender].account.lower()
        if domain and not sender.endswith("@" + domain):
            continue
        counts = days.setdefault(traffic.local_day_number(message.utc), [0, 0, 0, 0, 0])
        if view.guard.status(message) == traffic.DELIVERED:
            counts[0] += 1
            counts[1] += message.opens
            counts[2] += message.opens > 0
            counts[3] += message.clicks
            counts[4] += message.clicks > 0
    rows = [_track_row(traffic.local_day(day), counts) for day, counts in sorted(days.items())]
    pages = (len(rows) + size - 1) // size
    page = rows[(number - 1) * size : number * size]
    body: dict[str, Any] = {
        "RequestId": _rid(),
        "PageNo": number,
        "PageSize": size,
        "Total": len(rows),
        "OffsetCreateTime": "",
        "OffsetCreateTimeDesc": "",
    }
    if action == TRACK:
        return {**body, "TotalPages": pages, "data": {"stat": page}}
    return {**body, "TotalPages": str(pages), "TrackList": {"Stat": page}}


def _invalid(params: dict[str, str], view: View) -> dict[str, Any]:
    start, end = tp.days(params, view.today, *WINDOWS[INVALID], required=False)
    keyword = params.get("KeyWord", "").lower()
    length = tp.whole(params, "Length", DEFAULT_LENGTH, MAX_PAGE, "InvalidLength.Malformed")
    latest: dict[str, int] = {}
    for message in view.messages(start, end):
        if view.guard.status(message) == traffic.INVALID and keyword in message.to.lower():
            latest[message.to] = message.utc
    found = sorted(latest.items(), key=lambda item: (-item[1], item[0]))
    offset = 0
    cursor = params.get("NextStart", "")
    if cursor:
        if not cursor.isdigit() or int(cursor) > len(found):
            raise tp.bad_cursor()
        offset = int(cursor)
    page = found[offset : offset + length]
    after = offset + len(page)
    return {
        "RequestId": _rid(),
        "TotalCount": len(found),
        "NextStart": str(after) if after < len(found) else "",
        "data": {
            "mailDetail": [
                {
                    "LastUpdateTime": traffic.local_minute(utc),
                    "ToAddress": to,
                    "UtcLastUpdateTime": utc,
                }
                for to, utc in page
            ]
        },
    }


def _detail(params: dict[str, str], view: View) -> dict[str, Any]:
    start, end = tp.minutes(params, view.today, *DETAIL_WINDOW)
    given = [name for name in ("AccountName", "TagName", "ToAddress") if params.get(name)]
    if len(given) > 1:
        raise AcsError(
            "InvalidParameter.Conflict",
            "Give at most one of AccountName, TagName and ToAddress; got " + ", ".join(given),
        )
    wanted = None
    if params.get("Status", "") != "":
        text = params["Status"]
        if text not in ("0", "2", "3", "4"):
            raise AcsError("InvalidStatus.Malformed", f'Specified Status "{text}" is not valid.')
        wanted = int(text)
    length = tp.whole(params, "Length", DEFAULT_LENGTH, MAX_PAGE, "InvalidLength.Malformed")
    account = params.get("AccountName", "").lower()
    tag = params.get("TagName", "")
    to = params.get("ToAddress", "").lower()
    config, guard = view.config, view.guard
    fingerprint = tp.fingerprint(config, params)

    def match(message: Message) -> bool:
        return (
            (not account or config.senders[message.sender].account.lower() == account)
            and (not tag or message.tag == tag)
            and (not to or message.to.lower() == to)
            and (wanted is None or guard.status(message) == wanted)
        )

    cursor = params.get("NextStart", "")
    resume = (0, 0)
    if cursor:
        resume = tp.open_cursor(config, fingerprint, cursor)
        start = max(start, resume[0] * 3600)
    rows: list[dict[str, Any]] = []
    next_start = ""
    for position, message in traffic.positioned(config, start, end, view.now):
        if position < resume or not match(message):
            continue
        if len(rows) == length:
            next_start = tp.cursor(fingerprint, position, message, config)
            break
        rows.append(_detail_row(message, view))
    body: dict[str, Any] = {"RequestId": _rid(), "data": {"mailDetail": rows}}
    if next_start:  # the last page has no NextStart at all
        body["NextStart"] = next_start
    return body


# --- rows -----------------------------------------------------------------------------------


def _track_row(day: date, counts: list[int]) -> dict[str, str]:
    delivered, opens, unique_opens, clicks, unique_clicks = counts

    def rate(count: int) -> str:
        return f"{100 * count / delivered:.2f}" if delivered else "0"

    return {
        "CreateTime": f"{day.isoformat()}T00:00Z",
        "RcptClickCount": str(clicks),
        "RcptClickRate": rate(clicks),
        "RcptOpenCount": str(opens),
        "RcptOpenRate": rate(opens),
        "RcptUniqueClickCount": str(unique_clicks),
        "RcptUniqueClickRate": rate(unique_clicks),
        "RcptUniqueOpenCount": str(unique_opens),
        "RcptUniqueOpenRate": rate(unique_opens),
        "TotalNumber": str(delivered),
    }


def _detail_row(message: Message, view: View) -> dict[str, Any]:
    sender = view.config.senders[message.sender]
    status, classification, text = view.guard.outcome(message, view.config)
    return {
        "AccountName": sender.account,
        "ErrorClassification": classification,
        "LastUpdateTime": traffic.local_minute(message.utc),
        "Message": text,
        "Status": status,
        "Subject": sender.subjects.get(message.tag, f"Message from {sender.account}"),
        "ToAddress": message.to,
        "UtcLastUpdateTime": str(message.utc),
        "ConfigSetId": "",
        "ConfigSetName": "",
        "IpPoolId": "",
        "IpPoolName": "",
    }


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole and part else "0%"


# --- parameters -----------------------------------------------------------------------------


def _filters(params: dict[str, str], view: View) -> Callable[[Message], bool]:
    """The AccountName / TagName / Esp filter the statistics and tracking calls share."""
    account = params.get("AccountName", "")
    index = None
    if account:
        if not _ADDRESS.fullmatch(account):
            raise AcsError(
                "InvalidMailAddressName.Malformed",
                f'Specified AccountName "{account}" is not valid.',
            )
        sender = view.config.sender(account)
        if sender is None:
            raise AcsError(
                "InvalidMailAddress.NotFound",
                f'Specified AccountName "{account}" does not exist.',
                404,
            )
        index = view.config.senders.index(sender)
    tag = params.get("TagName", "")
    if tag and not _TAG.fullmatch(tag):
        raise AcsError("InvalidTagName.Malformed", f'Specified TagName "{tag}" is not valid.')
    esp = params.get("Esp", "")
    if esp and esp not in traffic.ESPS:
        raise AcsError("InvalidEsp.Malformed", f'Specified Esp "{esp}" is not valid.')
    return lambda m: (
        (index is None or m.sender == index)
        and (not tag or m.tag == tag)
        and (not esp or m.esp == esp)
    )


def _rid() -> str:
    return str(uuid.uuid4()).upper()
