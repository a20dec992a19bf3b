"""The watch loop of guarded apply (SPEC §11).

Each guard polls every ``Guard.interval`` (a tenth of its watch, at least 10 s) until its watch
ends, counting the messages of its account sent since the first write of the apply
(``measure.count_since``: the per-message detail, to the minute, within the API's quota, each
message counted by its own time) and judging them as ``check`` judges a check:

- ``fail`` as soon as failed % or invalid % is above the check's threshold with at least
  ``minRequests`` messages;
- ``pass`` at the end of the watch with enough messages and no threshold crossed;
- ``insufficient-data`` at the end with fewer messages;
- ``unmeasured`` after ``UNMEASURED_AFTER`` failed polls in a row (each after the client's
  usual retries): the statistics API is down, which must neither undo a correct change nor
  pass silently.

Guards of one account end together once one of them fails (its roll-back, if any, makes the
others moot). The loop waits on ``stop`` between polls, so Ctrl-C ends it at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from reconciler.errors import ProviderError
from reconciler.guard.spec import Guard
from reconciler.measure import Counts, count_since, crossed
from reconciler.output.console import counted
from reconciler.providers.base import ProviderClient
from reconciler.providers.directmail import DirectMailClient

Status = Literal["watching", "pass", "fail", "insufficient-data", "unmeasured", "ended"]
UNMEASURED_AFTER = 3  # failed polls in a row


@dataclass
class Poll:
    """One reading: when (seconds after the watch began) and what it counted, or its error."""

    at: float
    counts: Counts | None
    error: str | None = None


@dataclass
class Watched:
    """One guard's watch as it goes."""

    guard: Guard
    deadline: float  # clock time its watch ends
    next_poll: float
    status: Status = "watching"
    counts: Counts = field(default_factory=Counts)
    reasons: list[str] = field(default_factory=list)
    polls: list[Poll] = field(default_factory=list)
    failures_in_row: int = 0
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status != "watching"

    def crossed(self) -> list[str]:
        """The thresholds the counts cross, as ``check`` words them."""
        counts, guard = self.counts, self.guard
        return crossed(
            counts.failed_percent,
            counts.invalid_percent,
            guard.max_failed_percent,
            guard.max_invalid_percent,
        )

    def figures(self) -> str:
        """``42 messages, 12 failed (28.57%), 1 invalid (2.38%)``."""
        c = self.counts
        return (
            f"{c.requests} messages, {c.failed} failed ({c.failed_percent:g}%), "
            f"{c.invalid} invalid ({c.invalid_percent:g}%)"
        )


CountFn = Callable[[DirectMailClient, datetime, Guard], Counts]


def _count(client: DirectMailClient, start: datetime, guard: Guard) -> Counts:
    return count_since(client, start, tag=guard.tag, sender=guard.sender)


def watch(
    guards: Sequence[Guard],
    clients: Mapping[str, ProviderClient],
    since: datetime,
    stop: threading.Event,
    *,
    on_poll: Callable[[Watched], None] | None = None,
    on_end: Callable[[Watched], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    wait: Callable[[float], bool] | None = None,
    count: CountFn = _count,
) -> list[Watched]:
    """Watch ``guards`` from now, over the messages sent since ``since`` (the first write).

    ``on_poll`` is called after each reading, ``on_end`` once when a guard's account is
    decided (its first failure, or its last guard's end) with the guard that decided it. Returns
    every guard's watch (those still ``watching`` when ``stop`` was set were cut short).
    ``clock``, ``wait`` (``stop.wait`` by default: true once stopped) and ``count`` are
    replaceable, so that the loop's logic can be tested without waiting.
    """
    wait = wait or stop.wait
    started = clock()
    watched = [
        Watched(g, started + g.watch_seconds, started + min(g.interval, g.watch_seconds))
        for g in guards
    ]
    while not stop.is_set():
        active = [w for w in watched if not w.done]
        if not active:
            break
        moment = min(w.next_poll for w in active)
        if wait(max(0.0, moment - clock())):
            break
        for item in active:
            if item.done or item.next_poll > clock():
                continue
            client = clients.get(item.guard.account)
            _poll(item, client, since, clock() - started, clock(), count)
            if on_poll is not None:
                on_poll(item)
            if item.status == "fail":
                # The account is decided: its other guards end with it.
                for other in watched:
                    same = other.guard.account == item.guard.account
                    if other is not item and same and not other.done:
                        other.status = "ended"
                        other.reasons = [f"ended with {item.guard.name}, which failed"]
            if item.status != "watching" and on_end is not None:
                on_end(item)
    return watched


def _poll(
    item: Watched,
    client: ProviderClient | None,
    since: datetime,
    elapsed: float,
    now: float,
    count: CountFn,
) -> None:
    guard = item.guard
    try:
        if not isinstance(client, DirectMailClient):
            raise TypeError(f"{guard.account} is not a DirectMail account")
        counts = count(client, since, guard)
    except ProviderError as exc:
        item.failures_in_row += 1
        item.polls.append(Poll(elapsed, None, str(exc)))
        if item.failures_in_row >= UNMEASURED_AFTER or now >= item.deadline - 0.5:
            item.status = "unmeasured"
            item.error = str(exc)
            polls = counted(item.failures_in_row, "poll")
            tail = "" if item.failures_in_row >= UNMEASURED_AFTER else " up to the end of the watch"
            item.reasons = [f"{polls} in a row could not read the sending data{tail}: {exc}"]
        else:
            item.next_poll = min(now + guard.interval, item.deadline)
        return
    item.failures_in_row = 0
    item.counts = counts
    item.polls.append(Poll(elapsed, counts))
    crossed = item.crossed()
    if counts.requests >= guard.min_requests and crossed:
        item.status, item.reasons = "fail", crossed
    elif now >= item.deadline - 0.5:  # the last poll is at the deadline
        if counts.requests >= guard.min_requests:
            item.status, item.reasons = "pass", []
        else:
            item.status = "insufficient-data"
            item.reasons = [
                f"{counts.requests} messages in {guard.watch_text}, fewer than "
                f"minRequests {guard.min_requests}: the change was not judged"
            ]
    else:
        item.next_poll = min(item.next_poll + guard.interval, item.deadline)
