"""A progress line for long write phases: ``Applying: 123/1000 (12 failed)`` on a terminal.

Shown only on a terminal (never in a CI log or a file), only for an apply with more than
``MANY`` changes or one that has run for ``SLOW`` seconds, at most ``RATE`` times a second, and
cleared when the phase ends so the report that follows starts on a clean line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from reconciler.apply import Outcome

MANY = 20  # changes
SLOW = 2.0  # seconds
RATE = 10  # updates per second, at most
CLEAR = "\r\033[K"


class Progress:
    """Counts outcomes as ``execute`` reports them and redraws one line on ``stream``.

    Use as a context manager around the write phase and pass ``update`` as ``on_outcome``.
    Safe to call from several threads. Does nothing at all when ``enabled`` is false.
    """

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        enabled: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled
        self.done = 0
        self.failed = 0
        self._clock = clock
        self._started = clock()
        self._last_draw: float | None = None
        self._shown = False
        self._lock = threading.Lock()

    def update(self, outcome: Outcome) -> None:
        with self._lock:
            self.done += 1
            if outcome.status == "failed":
                self.failed += 1
            if not self.enabled:
                return
            now = self._clock()
            if self.total <= MANY and now - self._started < SLOW:
                return
            if self._last_draw is not None and now - self._last_draw < 1 / RATE:
                return
            self._last_draw = now
            self._shown = True
            self.stream.write(f"{CLEAR}{self.line()}")
            self.stream.flush()

    def line(self) -> str:
        failed = f" ({self.failed} failed)" if self.failed else ""
        return f"Applying: {self.done}/{self.total}{failed}"

    def close(self) -> None:
        """Erase the line, if one was drawn."""
        with self._lock:
            if self._shown:
                self.stream.write(CLEAR)
                self.stream.flush()
                self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
