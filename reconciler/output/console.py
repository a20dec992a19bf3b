"""The terminal: where and how the commands print (``Output``), ANSI colors (``Style``), and
the progress line of a long write phase (``Progress``).

Results go to stdout, everything else to stderr; colors only on a terminal and never with
``--no-color`` or ``NO_COLOR``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from reconciler.output import redact

if TYPE_CHECKING:
    from reconciler.errors import Problem
    from reconciler.outcome import Outcome


# Everything but printable ASCII is looked at; of that, escaped: controls (C0, DEL, C1: an escape
# sequence could hide lines of a plan or retitle the terminal window), invisible format
# characters (bidirectional overrides and isolates, U+202A-U+202E and U+2066-U+2069, reorder
# what a line shows; zero-width ones hide in a name), line and paragraph separators, lone
# surrogates (they cannot even be printed) and unassigned code points (tomorrow's format
# characters). Categories per the running Python's Unicode database.
_SUSPECT = re.compile(r"[^\x20-\x7e]")
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})


def escape(text: str, keep: str = "") -> str:
    """``text`` with control and invisible format characters shown as ``\\xNN``, ``\\uNNNN``
    or ``\\UNNNNNNNN`` (those in ``keep`` left alone), and its e-mail addresses masked under
    ``--redact``."""
    return reveal(redact.text(text), keep)


def reveal(text: str, keep: str = "") -> str:
    """``text`` with control and invisible format characters escaped (see ``escape``)."""
    return _SUSPECT.sub(lambda m: _shown(m[0], keep), text)


def _shown(char: str, keep: str) -> str:
    if char in keep or unicodedata.category(char) not in _ESCAPED_CATEGORIES:
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def discard_stdout() -> None:
    """The reader of stdout went away (``| head``): send the rest to /dev/null, so that
    neither later writes nor Python at exit fail on it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``1 delivery check``, ``2 delivery checks``: a count and its noun, in the
    right number (``plural`` when adding an "s" is not how the word does it)."""
    if count == 1:
        return f"1 {singular}"
    return f"{count} {plural if plural is not None else singular + 's'}"


class Style:
    """ANSI colors, or none at all."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def bold(self, text: str) -> str:
        return self.paint(text, "1")


class Output:
    """Where and how to print: stdout for results, stderr for everything else."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quiet: bool = args.quiet
        self.verbose: bool = args.verbose
        no_color = args.no_color or bool(os.environ.get("NO_COLOR"))
        self.color = not no_color and sys.stdout.isatty()
        self.err_color = not no_color and sys.stderr.isatty()
        self.errors: list[str] = []  # as printed, for a notification (--notify)

    @property
    def style(self) -> Style:
        """The style of what goes to stdout."""
        return Style(self.color)

    def write(self, text: str, stream: TextIO | None = None) -> None:
        target = stream or sys.stdout
        text = redact.text(text)
        try:
            target.write(text)
            target.flush()
        except BrokenPipeError:
            # Nobody reads stdout any more (`| head`): the run goes on to its real exit code
            # (a closed stdout must never turn a failure into 0); what follows is dropped.
            if target is not sys.stdout:
                raise
            discard_stdout()

    def note(self, text: str) -> None:
        if not self.quiet:
            print(redact.text(text), file=sys.stderr)

    def problem(self, problem: Problem) -> None:
        if problem.warning and self.quiet:
            return
        label = "warning" if problem.warning else "error"
        text = redact.text(str(problem)).replace(f"{label}:", f"{self._label(label)}:", 1)
        print(text, file=sys.stderr)

    def warn(self, text: str) -> None:
        """A warning is shown even with --quiet: it says something was overridden or odd."""
        # Messages may quote provider data.
        print(f"{self._label('warning')}: {escape(text, keep=chr(10))}", file=sys.stderr)

    def error(self, text: str) -> None:
        self.errors.append(text)
        print(f"{self._label('error')}: {escape(text, keep=chr(10))}", file=sys.stderr)

    def progress(self, total: int) -> Progress:
        """The progress line of a write phase: on a terminal's stderr only, never with --quiet."""
        return Progress(total, sys.stderr, enabled=not self.quiet and sys.stderr.isatty())

    def _label(self, label: str) -> str:
        return Style(self.err_color).paint(label, "33" if label == "warning" else "31")


# -- the progress line ----------------------------------------------------------------------
#
# ``Applying: 123/1000 (12 failed)``, shown only on a terminal (never in a CI log or a file),
# only for an apply with more than ``MANY`` changes or one that has run for ``SLOW`` seconds, at
# most ``RATE`` times a second, and cleared when the phase ends so the report that follows
# starts on a clean line.

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

    def __exit__(self, *exc_info: object) -> None:
        self.close()
