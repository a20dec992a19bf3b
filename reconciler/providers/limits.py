"""Client-side bounds on an account's calls (SPEC §6): pacing and per-action quotas.

``RateLimiter`` spaces call starts (``limits.requestsPerSecond``); ``SlidingWindow`` keeps an
action within a documented quota such as DirectMail's 60 ``GetIpfilterList`` calls per minute.
The number of calls in flight (``limits.concurrency``) is a plain semaphore in the client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("reconciler.providers")


class RateLimiter:
    """Spaces call starts at least ``1 / rate`` seconds apart; safe across threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class SlidingWindow:
    """At most ``limit`` call starts in any ``window`` seconds; safe across threads.

    A provider counts its quota over a rolling minute, so a fixed bucket that resets on the
    minute could let twice the quota through around the boundary. ``clock`` and ``sleep`` are
    replaceable so that a quota can be checked without waiting for it.
    """

    def __init__(
        self,
        name: str,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a quota needs a limit of at least 1 and a positive window")
        self.name = name
        self.limit = limit
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait until one more call fits in the window, record it; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                while self._starts and self._starts[0] <= now - self.window:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return waited
                delay = self._starts[0] + self.window - now
            log.info(
                "%s: quota of %d calls per %g s reached; waiting %.1f s",
                self.name,
                self.limit,
                self.window,
                delay,
            )
            self.sleep(delay)
            waited += delay


class SharedLimits:
    """The limits of one credential, kept by every client that uses it.

    A provider throttles per key, not per account of a manifest: two accounts with the same
    AccessKeyId (or apiUser) at the same endpoint are one caller to it, so they share one pace,
    one bound on calls in flight and one window per quota. When their accounts declare
    different limits, the strictest hold.
    """

    def __init__(self, requests_per_second: float, concurrency: int) -> None:
        self.requests_per_second = requests_per_second
        self.concurrency = concurrency
        self.limiter = RateLimiter(requests_per_second)
        self.in_flight = threading.BoundedSemaphore(concurrency)


def share_limits(groups: dict[object, list[Any]]) -> dict[object, SharedLimits]:
    """Give the clients of each group (keyed by credential) one set of limits and quotas.

    Each client is a ``ProviderClient``; its ``limiter``, ``in_flight`` and ``quotas`` are
    replaced by the group's. Returns the limits by group.
    """
    shared = {}
    for key, clients in groups.items():
        limits = [client.account.limits for client in clients]
        group = SharedLimits(
            min(limit.requests_per_second for limit in limits),
            min(limit.concurrency for limit in limits),
        )
        quotas = clients[0].quotas
        for client in clients:
            client.limiter = group.limiter
            client.in_flight = group.in_flight
            client.quotas = quotas
        shared[key] = group
    return shared
