"""``stats PATH... --account NAME``: one view of a DirectMail account's sending data (SPEC §9).

Rows are written as pages arrive: a long ``deliveries`` read prints as it goes and holds one
page at a time. On a terminal, a progress line on stderr counts the pages of a long read.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from reconciler import live
from reconciler.commands.common import load, sandbox_state, unknown_account
from reconciler.errors import ExitCode, InputError
from reconciler.measure import share
from reconciler.model import AccountDesired, DesiredState, Provider
from reconciler.output.console import CLEAR, Output
from reconciler.output.telemetry import StatsWriter
from reconciler.providers.directmail import DirectMailClient
from reconciler.providers.telemetry import (
    DETAIL,
    INVALID,
    SUMMARY,
    TRACK,
    TRACK_BY,
    Telemetry,
    Window,
    check_horizon,
    earliest_day,
    now,
    since,
    within_horizon,
)
from reconciler.providers.telemetry_rows import ZONE, local_time

# The progress line appears once a read has taken this long.
SLOW = 1.0
# The tracking counts the summary joins to each day.
TRACKED = ("opens", "unique_opens", "clicks", "unique_clicks")


def run(args: argparse.Namespace, out: Output) -> int:
    split_to(args)
    window = window_of(args)
    _check_filters(args)
    refuse_unservable(args.view, window)
    state = load(args.paths, out)
    want = directmail_account(state, args.account)
    with live.connect([want], sandbox_state=sandbox_state(args), announce=not out.quiet) as (
        _,
        clients,
    ):
        client = clients[want.account.name]
        assert isinstance(client, DirectMailClient)
        telemetry = Telemetry(client)
        pages = _pages(telemetry, args, window, out)
        # Deliveries are asked for by the minute, the other views by the day (UTC+8).
        minutes = args.view == "deliveries"
        writer = StatsWriter(
            out.write,
            args.format,
            account=want.account.name,
            view=args.view,
            start=local_time(window.start) if minutes else f"{window.start.date()}",
            end=local_time(window.end) if minutes else f"{window.end.date()}",
        )
        show = not out.quiet and sys.stderr.isatty()
        # The first page is read before anything is written: bad input or a provider error
        # then leaves stdout empty rather than holding half a document.
        first = next(pages, None)
        writer.begin()
        with _Progress(show) as progress:
            for page in _chain(first, pages):
                writer.page(page)
                progress.update(len(page))
        writer.end()
    return ExitCode.OK


_DATE = re.compile(r"\s*\d{4}-\d{2}-\d{2}(\s+\d{1,2}:\d{2})?\s*")


def split_to(args: argparse.Namespace) -> None:
    """``--to`` is both the window's end (SPEC §3: ``--from DATE --to DATE``) and the recipient
    filter (``--to ADDR``): a value shaped like a date is the end, anything else the filter."""
    dates = [v for v in args.to_values if _DATE.fullmatch(v)]
    others = [v for v in args.to_values if not _DATE.fullmatch(v)]
    if len(dates) > 1 or len(others) > 1:
        raise InputError("--to takes at most one date (the window's end) and one address")
    args.end = dates[0] if dates else None
    args.to = others[0] if others else ""


def window_of(args: argparse.Namespace, moment: datetime | None = None) -> Window:
    """The window of ``--since`` or ``--from``/``--to``, in UTC+8."""
    if args.start or args.end:
        if args.since is not None:
            raise InputError("give either --since or --from/--to, not both")
        if not (args.start and args.end):
            raise InputError("--from and --to go together")
        return Window(_moment(args.start, "--from"), _moment(args.end, "--to", end=True))
    return since(args.since or timedelta(days=7), moment)


def _moment(text: str, flag: str, *, end: bool = False) -> datetime:
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
        if pattern == "%Y-%m-%d" and end:
            parsed = parsed.replace(hour=23, minute=59)
        return parsed.replace(tzinfo=ZONE)
    raise InputError(f"{flag} {text!r} is not a date: use YYYY-MM-DD or 'YYYY-MM-DD HH:MM'")


def _check_filters(args: argparse.Namespace) -> None:
    allowed = {
        "summary": {"tag", "sender", "esp"},
        "tracking": {"tag", "sender", "esp"},
        "invalid": {"to"},
        "deliveries": {"tag", "sender", "to", "status"},
    }[args.view]
    for name in ("tag", "sender", "to", "status", "esp"):
        if getattr(args, name) and name not in allowed:
            raise InputError(f"--{name} does not apply to --view {args.view}")
    if (
        args.view == "deliveries"
        and sum(bool(getattr(args, n)) for n in ("tag", "sender", "to")) > 1
    ):
        raise InputError("--view deliveries takes at most one of --tag, --sender and --to")


def directmail_account(state: DesiredState, name: str) -> AccountDesired:
    want = state.accounts.get(name)
    if want is None:
        raise unknown_account(name, list(state.accounts))
    if want.account.provider is not Provider.ALIYUN_DM:
        raise InputError(
            f"--account {name!r} is a {want.account.provider.value} account; the sending-data "
            "APIs are DirectMail's"
        )
    return want


def _pages(
    telemetry: Telemetry, args: argparse.Namespace, window: Window, out: Output
) -> Iterator[Any]:
    match args.view:
        case "summary":
            yield summary(
                telemetry,
                window,
                tag=args.tag,
                sender=args.sender,
                esp=args.esp,
                tracked=_tracked(args, window, out),
            )
        case "tracking":
            yield from telemetry.tracking(window, tag=args.tag, sender=args.sender, esp=args.esp)
        case "invalid":
            yield from telemetry.invalid(window, keyword=args.to)
        case "deliveries":
            yield from telemetry.deliveries(
                window, sender=args.sender, tag=args.tag, to=args.to, status=args.status
            )


def _tracked(args: argparse.Namespace, window: Window, out: Output) -> Window | None:
    """The part of the summary's window whose opens and clicks can be joined, saying on stderr
    which days are left without them and why: all of them for a tag without its sender, the
    days older than the tracking APIs keep (30) otherwise."""
    if args.tag and not args.sender:
        out.note(
            "Opens and clicks are left empty: tracking by tag needs the sender too "
            "(give --sender with --tag)."
        )
        return None
    moment = now()
    tracked = within_horizon(window, moment)
    first = window.start.date()
    if tracked is None or tracked.start.date() > first:
        last = window.end.date() if tracked is None else tracked.start.date() - timedelta(days=1)
        days = f"{first}" if last == first else f"{first} to {last}"
        api = TRACK_BY if args.sender else TRACK
        out.note(
            f"Opens and clicks are left empty for {days} (UTC+8): {api} keeps 30 days "
            f"(its earliest day is {earliest_day(moment)})."
        )
    return tracked


def refuse_unservable(view: str, window: Window) -> None:
    """Refuse, before any call, a window that the view's APIs cannot serve (SPEC §9): one that
    ends before it starts, and one starting further back than the 30 days that the tracking,
    invalid-address and delivery APIs keep (exit 3, naming the limit). The summary's daily
    totals reach further, their limits left to the provider; its opens and clicks are joined
    for the days within the tracking APIs' 30 (``_tracked``)."""
    api = {"summary": SUMMARY, "tracking": TRACK, "invalid": INVALID, "deliveries": DETAIL}[view]
    check_horizon(window, api)


def summary(
    telemetry: Telemetry,
    window: Window,
    *,
    tag: str = "",
    sender: str = "",
    esp: str = "",
    tracked: Window | None,
) -> list[dict[str, Any]]:
    """Daily totals joined with that day's opens and clicks, total and unique (SPEC §9,
    ``--view summary``), read from the tracking APIs over ``tracked``, a part of ``window``.

    A day outside ``tracked`` (older than the tracking APIs keep, or every day when ``tracked``
    is ``None``) has opens and clicks ``None``.
    """
    days: dict[str, dict[str, Any]] = {}
    for row in telemetry.summary(window, tag=tag, sender=sender, esp=esp):
        known = days.get(row["date"])
        if known is None:
            days[row["date"]] = {**row, **dict.fromkeys(TRACKED)}
        else:  # one day split over two answers: add the counts, recompute the shares
            for key in ("requests", "succeeded", "failed", "invalid"):
                known[key] += row[key]
            known["success_percent"] = share(known["succeeded"], known["requests"])
            known["invalid_percent"] = share(known["invalid"], known["requests"])
    if tracked is None:
        return [days[key] for key in sorted(days)]
    first, last = f"{tracked.start.date()}", f"{tracked.end.date()}"
    for key, totals in days.items():
        if first <= key <= last:
            totals.update(dict.fromkeys(TRACKED, 0))
    for page in telemetry.tracking(tracked, tag=tag, sender=sender, esp=esp):
        for record in page:
            day = days.get(str(record["time"])[:10])
            if day is not None and day["opens"] is not None:
                for key in TRACKED:
                    day[key] += record[key]
    return [days[key] for key in sorted(days)]


def _chain(first: Any, rest: Iterator[Any]) -> Iterable[Any]:
    if first is None:
        return
    yield first
    yield from rest


class _Progress:
    """``Reading: 120 pages, 12,000 rows`` on a terminal's stderr, for a read that takes a
    while; cleared when it ends, at most ten updates a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self.pages = self.rows = 0
        self.shown = 0.0

    def update(self, rows: int) -> None:
        self.pages += 1
        self.rows += rows
        moment = time.monotonic()
        if self.enabled and moment - self.started > SLOW and moment - self.shown > 0.1:
            self.shown = moment
            shown = f"{self.pages:,} page" + ("" if self.pages == 1 else "s")
            shown += f", {self.rows:,} row" + ("" if self.rows == 1 else "s")
            sys.stderr.write(f"{CLEAR}Reading: {shown}")
            sys.stderr.flush()

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self.shown:
            sys.stderr.write(CLEAR)
            sys.stderr.flush()
