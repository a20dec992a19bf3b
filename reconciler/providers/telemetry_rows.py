"""The typed rows of DirectMail's sending-data answers (SPEC §9).

Every field is parsed with its documented type: numbers that arrive as strings, ``%``
suffixes, the misspelt ``faildCount``, ``CreateTime`` or ``createTime``, ``UtcLastUpdateTime``
as a string or an int. A value of another type is a ``BadAnswer``.

Times. The service writes ``LastUpdateTime`` and ``CreateTime`` as its own wall-clock time,
UTC+8, followed by a ``Z`` that is not true (the seed: ``LastUpdateTime`` ``2021-04-28T17:11Z``
beside ``UtcLastUpdateTime`` 1619601108, which is 09:11 UTC). A row's ``time`` is therefore
written here with its real offset, ``2021-04-28T17:11+08:00``: from the epoch where the answer
has one, else the wall-clock text read as UTC+8.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from reconciler.providers.answers import Checker

# The provider's days and wall-clock times are UTC+8 (SPEC §9).
ZONE = timezone(timedelta(hours=8), "UTC+8")
STATUS_CODES: Mapping[str, int] = {"ok": 0, "invalid": 2, "spam": 3, "failed": 4}
STATUS_NAMES: Mapping[int, str] = {code: name for name, code in STATUS_CODES.items()}
_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%?\s*")
_WALL_CLOCK = re.compile(r"\s*(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::\d{2})?)?Z?\s*")


def local_time(moment: datetime) -> str:
    """A moment as the provider's local time with its offset, to the minute:
    ``2026-12-08T03:40+08:00``."""
    return moment.astimezone(ZONE).isoformat(timespec="minutes")


def epoch_time(epoch: int) -> str:
    """Seconds since 1970 as ``local_time`` writes them."""
    return local_time(datetime.fromtimestamp(epoch, ZONE))


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
    row: dict[str, Any] = {"time": _wall_clock(check, record.get("CreateTime"), where)}
    for name, key in TRACKING_FIELDS:
        if name.endswith("rate"):
            row[name] = _percent(check, record.get(key), f"{where}.{key}")
        else:
            row[name] = _count(check, record, key, where)
    return row


def invalid_row(check: Checker, record: Mapping[str, Any], where: str) -> dict[str, Any]:
    check.text(record.get("LastUpdateTime"), f"{where}.LastUpdateTime")
    epoch = _epoch(check, record.get("UtcLastUpdateTime"), f"{where}.UtcLastUpdateTime")
    return {
        "time": epoch_time(epoch),
        "utc_time": epoch,
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
            "time": epoch_time(int(epoch)),
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
    check.text(record.get("LastUpdateTime"), f"{where}.LastUpdateTime")
    epoch = _epoch(check, record.get("UtcLastUpdateTime"), f"{where}.UtcLastUpdateTime")
    return {
        "time": epoch_time(epoch),
        "utc_time": epoch,
        "sender": check.text(record.get("AccountName"), f"{where}.AccountName", required=False),
        "recipient": check.text(record.get("ToAddress"), f"{where}.ToAddress"),
        "status": STATUS_NAMES.get(status, str(status)),
        "classification": check.text(
            record.get("ErrorClassification"), f"{where}.ErrorClassification", required=False
        ),
        "message": check.text(record.get("Message"), f"{where}.Message", required=False),
        "subject": check.text(record.get("Subject"), f"{where}.Subject", required=False),
    }


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


def _wall_clock(check: Checker, value: Any, where: str) -> str:
    """``CreateTime`` of a tracking record, the provider's UTC+8 wall-clock time (a day, or a
    day and a time with a false ``Z``), with its real offset."""
    text = check.text(value, f"{where}.CreateTime")
    match = _WALL_CLOCK.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        day = date.fromisoformat(match[1])
        hour, minute = (int(match[2]), int(match[3])) if match[2] else (0, 0)
        moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)
    except ValueError:
        raise check.bad(
            f"{where}.CreateTime is {text[:40]!r}, not a yyyy-MM-dd or yyyy-MM-ddTHH:mmZ time"
        ) from None
    return local_time(moment)


def _epoch(check: Checker, value: Any, where: str) -> int:
    """Seconds since 1970: an int in ``QueryInvalidAddress``, its text in
    ``SenderStatisticsDetailByParam``."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**40:
        raise check.bad(f"{where} is {value!r}, not a time in seconds")
    return value
