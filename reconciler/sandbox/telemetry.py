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

import hashlib
import hmac
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

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
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
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
    start, end = _days(SUMMARY, params, view, required=True)
    match = _filters(params, view)
    days: dict[date, list[int]] = {}
    for message in view.messages(start, end):
        if match(message):
            counts = days.setdefault(traffic.local_day(message.utc), [0, 0, 0, 0])
            status = view.guard.status(message)
            counts[0] += 1
            counts[1 if status == traffic.DELIVERED else 2 if status == traffic.INVALID else 3] += 1
    stat = [
        {
            "CreateTime": day.isoformat(),
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
    start, end = _days(action, params, view, required=True)
    number = _whole(params, "PageNumber", 1, None, "InvalidPageNumber.Malformed")
    size = _whole(params, "PageSize", DEFAULT_PAGE_SIZE, MAX_PAGE, "InvalidPageSize.Malformed")
    match = _filters(params, view)
    domain = params.get("Domain", "").lower()
    days: dict[date, list[int]] = {}
    for message in view.messages(start, end):
        if not match(message):
            continue
        sender = view.config.senders[message.sender].account.lower()
        if domain and not sender.endswith("@" + domain):
            continue
        counts = days.setdefault(traffic.local_day(message.utc), [0, 0, 0, 0, 0])
        if view.guard.status(message) == traffic.DELIVERED:
            counts[0] += 1
            counts[1] += message.opens
            counts[2] += message.opens > 0
            counts[3] += message.clicks
            counts[4] += message.clicks > 0
    rows = [_track_row(day, counts) for day, counts in sorted(days.items())]
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
    start, end = _days(INVALID, params, view, required=False)
    keyword = params.get("KeyWord", "").lower()
    length = _whole(params, "Length", DEFAULT_LENGTH, MAX_PAGE, "InvalidLength.Malformed")
    latest: dict[str, int] = {}
    for message in view.messages(start, end):
        if view.guard.status(message) == traffic.INVALID and keyword in message.to.lower():
            latest[message.to] = message.utc
    found = sorted(latest.items(), key=lambda item: (-item[1], item[0]))
    offset = 0
    cursor = params.get("NextStart", "")
    if cursor:
        if not cursor.isdigit() or int(cursor) > len(found):
            raise _bad_cursor()
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
    start, end = _minutes(params, view)
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
    length = _whole(params, "Length", DEFAULT_LENGTH, MAX_PAGE, "InvalidLength.Malformed")
    account = params.get("AccountName", "").lower()
    tag = params.get("TagName", "")
    to = params.get("ToAddress", "").lower()
    config, guard = view.config, view.guard
    fingerprint = _fingerprint(config, params)

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
        resume = _open_cursor(config, fingerprint, cursor)
        start = max(start, resume[0] * 3600)
    rows: list[dict[str, Any]] = []
    next_start = ""
    for position, message in traffic.positioned(config, start, end, view.now):
        if position < resume or not match(message):
            continue
        if len(rows) == length:
            next_start = _cursor(fingerprint, position, message, config)
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


def _days(action: str, params: dict[str, str], view: View, required: bool) -> tuple[int, int]:
    """The window as epoch seconds [start, end), from whole days."""
    back, span = WINDOWS[action]
    first = _parse(params, "StartTime", "%Y-%m-%d", _DAY, required)
    last = _parse(params, "EndTime", "%Y-%m-%d", _DAY, required)
    start_day = first.date() if first else view.today - timedelta(days=back)
    end_day = last.date() if last else view.today
    _check_window(start_day, end_day, view.today, back, span)
    return traffic.day_start(start_day), traffic.day_start(end_day + timedelta(days=1))


def _minutes(params: dict[str, str], view: View) -> tuple[int, int]:
    back, span = DETAIL_WINDOW
    first = _parse(params, "StartTime", "%Y-%m-%d %H:%M", _MINUTE, True)
    last = _parse(params, "EndTime", "%Y-%m-%d %H:%M", _MINUTE, True)
    assert first is not None and last is not None  # required
    _check_window(first.date(), last.date(), view.today, back, span)
    if last - first > timedelta(days=span):
        raise _between(span)
    return int(first.timestamp()), int(last.timestamp()) + 60  # the end minute included


def _parse(
    params: dict[str, str], name: str, form: str, shape: re.Pattern[str], required: bool
) -> datetime | None:
    text = params.get(name, "")
    if not text:
        if required:
            raise AcsError("InvalidDate.NotFound", f"{name} is required.")
        return None
    try:
        if not shape.fullmatch(text):
            raise ValueError(text)
        moment = datetime.strptime(text, form).replace(tzinfo=UTC8)
    except ValueError:
        raise AcsError(
            "InvalidDate.Malformed", f'Specified {name} "{text}" is not a valid date.'
        ) from None
    if moment.year < 2015:
        raise AcsError("InvalidYear.Malformed", f'Specified {name} "{text}" has an invalid year.')
    return moment


def _check_window(first: date, last: date, today: date, back: int, span: int) -> None:
    if first < today - timedelta(days=back):
        raise AcsError(
            "InvalidStartTime.Malformed",
            f"StartTime {first.isoformat()} is more than {back} days before today (UTC+8).",
        )
    if last < first or (last - first).days > span:
        raise _between(span)


def _between(span: int) -> AcsError:
    return AcsError(
        "InvalidBetweenTime.Malformed",
        f"EndTime must not be before StartTime nor more than {span} days after it.",
    )


def _whole(params: dict[str, str], name: str, default: int, most: int | None, code: str) -> int:
    text = params.get(name, "")
    if text == "":
        return default
    if not text.isdigit() or int(text) < 1 or (most is not None and int(text) > most):
        limit = f" to {most}" if most else " or more"
        raise AcsError(code, f'Specified {name} "{text}" is not a whole number from 1{limit}.')
    return int(text)


# --- cursors ----------------------------------------------------------------------------------
# A detail cursor names the next message: fingerprint#index-in-hour#masked-recipient-utc#mac.
# The fingerprint ties it to the query, the mac to this sandbox's seed: a cursor that was not
# issued for the same query is refused, never read as an offset.


def _fingerprint(config: TrafficConfig, params: dict[str, str]) -> str:
    names = ("StartTime", "EndTime", "AccountName", "TagName", "ToAddress", "Status", "Length")
    text = "|".join([str(config.seed), *(params.get(name, "") for name in names)])
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _cursor(
    fingerprint: str, position: tuple[int, int], message: Message, config: TrafficConfig
) -> str:
    user, _, domain = message.to.partition("@")
    body = f"{fingerprint}#{position[1]}#{user[:1]}***@{domain}-{message.utc}"
    return f"{body}#{_mac(config, body)}"


def _open_cursor(config: TrafficConfig, fingerprint: str, cursor: str) -> tuple[int, int]:
    body, _, mac = cursor.rpartition("#")
    parts = body.split("#")
    if len(parts) != 3 or not hmac.compare_digest(mac, _mac(config, body)):
        raise _bad_cursor()
    if parts[0] != fingerprint:
        raise _bad_cursor()
    utc = int(parts[2].rsplit("-", 1)[1])
    return utc // 3600, int(parts[1])


def _mac(config: TrafficConfig, body: str) -> str:
    key = f"sandbox-cursor-{config.seed}".encode()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:12]


def _bad_cursor() -> AcsError:
    return AcsError(
        "InvalidNextStart.Malformed",
        "Specified NextStart is not valid: it was not returned by this query.",
    )


def _rid() -> str:
    return str(uuid.uuid4()).upper()
