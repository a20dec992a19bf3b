"""Durations as users write them: ``90s``, ``30m``, ``12h``, ``7d`` (a number and one unit),
and a guard's watch (SPEC §11), one of them from 1m to 2h."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
MIN_WATCH = timedelta(minutes=1)
MAX_WATCH = timedelta(hours=2)
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd])")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``7d`` as a ``timedelta``; ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"expected a duration such as 30m, 12h or 7d, got {text!r}")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def watch_duration(text: str) -> timedelta:
    """``text`` as a guard's watch: a duration from 1m to 2h; ValueError naming the range
    otherwise."""
    watch = parse_duration(text)
    if not MIN_WATCH <= watch <= MAX_WATCH:
        raise ValueError(f"a guard watches from 1m to 2h, not {text}")
    return watch


def describe(age: timedelta) -> str:
    """The largest whole unit that writes ``age`` exactly: ``describe(timedelta(hours=24))``
    is ``1d``."""
    seconds = age.total_seconds()
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
