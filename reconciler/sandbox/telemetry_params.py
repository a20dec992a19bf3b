"""Parameters of the sending-data calls: day and minute windows, whole numbers, and the
opaque ``NextStart`` cursors of ``SenderStatisticsDetailByParam`` (error codes in
``telemetry``'s docstring)."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date, datetime, timedelta

from reconciler.sandbox import traffic
from reconciler.sandbox.directmail_auth import AcsError
from reconciler.sandbox.traffic import UTC8, Message, TrafficConfig

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def days(
    params: dict[str, str], today: date, back: int, span: int, required: bool
) -> tuple[int, int]:
    """The window as epoch seconds [start, end), from whole days in UTC+8: ``back`` days
    before today at most, ``span`` days long at most."""
    first = _parse(params, "StartTime", "%Y-%m-%d", _DAY, required)
    last = _parse(params, "EndTime", "%Y-%m-%d", _DAY, required)
    start_day = first.date() if first else today - timedelta(days=back)
    end_day = last.date() if last else today
    _check_window(start_day, end_day, today, back, span)
    return traffic.day_start(start_day), traffic.day_start(end_day + timedelta(days=1))


def minutes(params: dict[str, str], today: date, back: int, span: int) -> tuple[int, int]:
    """The window as epoch seconds [start, end), from ``yyyy-MM-dd HH:mm`` times, the end
    minute included."""
    first = _parse(params, "StartTime", "%Y-%m-%d %H:%M", _MINUTE, True)
    last = _parse(params, "EndTime", "%Y-%m-%d %H:%M", _MINUTE, True)
    assert first is not None and last is not None  # required
    _check_window(first.date(), last.date(), today, back, span)
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


def whole(params: dict[str, str], name: str, default: int, most: int | None, code: str) -> int:
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


def fingerprint(config: TrafficConfig, params: dict[str, str]) -> str:
    names = ("StartTime", "EndTime", "AccountName", "TagName", "ToAddress", "Status")
    text = "|".join([str(config.seed), *(params.get(name, "") for name in names)])
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def cursor(
    fingerprint: str, position: tuple[int, int], message: Message, config: TrafficConfig
) -> str:
    user, _, domain = message.to.partition("@")
    body = f"{fingerprint}#{position[1]}#{user[:1]}***@{domain}-{message.utc}"
    return f"{body}#{_mac(config, body)}"


def open_cursor(config: TrafficConfig, fingerprint: str, cursor: str) -> tuple[int, int]:
    body, _, mac = cursor.rpartition("#")
    parts = body.split("#")
    if len(parts) != 3 or not hmac.compare_digest(mac.encode(), _mac(config, body).encode()):
        raise bad_cursor()
    if parts[0] != fingerprint:
        raise bad_cursor()
    utc = int(parts[2].rsplit("-", 1)[1])
    return utc // 3600, int(parts[1])


def _mac(config: TrafficConfig, body: str) -> str:
    key = f"sandbox-cursor-{config.seed}".encode()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:12]


def bad_cursor() -> AcsError:
    return AcsError(
        "InvalidNextStart.Malformed",
        "Specified NextStart is not valid: it was not returned by this query.",
    )
