"""Why a delivery check failed, for ``check --notify``: the failed messages' classifications
and senders, read from the per-message detail API (``SenderStatisticsDetailByParam``).

The summary API counts failures; only the detail says what they were: each failed message's
classification and the provider's own words for it, grouped and counted here. The read is
bounded: the most recent failures first (a cause that has just started, such as a switch
turned on an hour ago, is what the on-call person needs), at most ``SAMPLE`` messages of each
failing status and ``MAX_PAGES`` pages in all, so a large window costs a few calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Mapping, Sequence
from contextlib import closing
from datetime import datetime, timedelta
from itertools import product
from typing import Any, cast

from reconciler.errors import ReconcilerError
from reconciler.model import DeliveryCheck
from reconciler.providers.base import ProviderClient
from reconciler.providers.directmail import DirectMailClient
from reconciler.providers.telemetry import ZONE, Telemetry, Window

SAMPLE = 200  # messages of one status read at most
MAX_PAGES = 8  # detail pages read at most for one check
TOP = 3  # classifications and senders listed
# The window is read backwards in these slices: the last hour, then the 5 before...
SLICES = (timedelta(hours=1), timedelta(hours=6), timedelta(hours=24))
Page = list[dict[str, Any]]
# The summary's "failed" counts spam rejections too; "invalid" has its own status.
STATUSES = {"failed": ("failed", "spam"), "invalid": ("invalid",)}


def explain(
    checks: Sequence[DeliveryCheck],
    results: Sequence[Mapping[str, Any]],
    clients: Mapping[str, ProviderClient],
) -> dict[tuple[str, str], list[str]]:
    """For each failed check, ``(name, account)``: the lines that say why."""
    causes: dict[tuple[str, str], list[str]] = {}
    failed = {(r["name"], r["account"]): r for r in results if r["status"] == "fail"}
    for check in checks:
        result = failed.get((check.name, check.account))
        if result is None:
            continue
        client = clients[check.account]
        assert isinstance(client, DirectMailClient)
        causes[(check.name, check.account)] = _lines(check, result, Telemetry(client))
    return causes


def _lines(check: DeliveryCheck, result: Mapping[str, Any], telemetry: Telemetry) -> list[str]:
    measured, thresholds = result["measured"], result["thresholds"]
    kinds = [
        kind
        for kind, limit in (("failed", "maxFailedPercent"), ("invalid", "maxInvalidPercent"))
        if measured.get(f"{kind}_percent", 0) > thresholds[limit]
    ]
    if not kinds:
        return []  # failed on opens: the detail has no cause to give
    try:
        window = _window(result["window"])
        rows = _sample(check, telemetry, window, kinds)
    except (ReconcilerError, KeyError, ValueError) as exc:
        return [f"causes not read: {exc}"]
    if not rows:
        return ["causes: the detail API listed none of these messages"]
    classes = Counter(str(r["classification"] or r["status"]) for r in rows)
    example: dict[str, str] = {}
    for row in rows:
        example.setdefault(str(row["classification"] or row["status"]), str(row["message"]))
    shown = [
        f"{name} {count}" + (f" ({_clip(example[name])})" if example[name] else "")
        for name, count in classes.most_common(TOP)
    ]
    senders = Counter(str(r["sender"] or "?") for r in rows).most_common(TOP)
    counted = sum(measured.get(kind, 0) for kind in kinds)
    return [
        f"causes ({len(rows)} of {counted} {' and '.join(kinds)} read, the latest first): "
        + "; ".join(shown),
        "senders: " + ", ".join(f"{sender} {count}" for sender, count in senders),
    ]


def _sample(
    check: DeliveryCheck, telemetry: Telemetry, window: Window, kinds: Sequence[str]
) -> list[dict[str, Any]]:
    """At most ``SAMPLE`` failed messages of each kind, the latest slice of the window first,
    within ``MAX_PAGES`` pages in all."""
    rows: list[dict[str, Any]] = []
    pages_left = MAX_PAGES
    for kind in kinds:
        taken: list[dict[str, Any]] = []
        for part, status in product(_slices(window), STATUSES[kind]):
            if len(taken) >= SAMPLE or not pages_left:
                break
            filters = {"sender": check.sender or "", "tag": check.tag or "", "status": status}
            read = cast(Generator[Page, None, None], telemetry.deliveries(part, **filters))
            with closing(read) as pages:
                for page in pages:
                    pages_left -= 1
                    taken += page
                    if len(taken) >= SAMPLE or not pages_left:
                        break
        rows += taken[:SAMPLE]
    return rows


def _slices(window: Window) -> list[Window]:
    """The window cut at 1 h, 6 h and 24 h before its end, the most recent slice first."""
    parts: list[Window] = []
    end = window.end
    for back in SLICES:
        start = max(window.end - back, window.start)
        if start < end:
            parts.append(Window(start, end))
        end = start
    if window.start < end:
        parts.append(Window(window.start, end))
    return parts


def _window(shown: Mapping[str, Any]) -> Window:
    """The window a result says was counted (``from`` / ``to``; UTC+8 unless they say)."""
    return Window(_moment(str(shown["from"])), _moment(str(shown["to"])))


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=ZONE) if moment.tzinfo is None else moment.astimezone(ZONE)


def _clip(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
