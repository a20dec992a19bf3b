"""Redaction of e-mail addresses in what is shown (``--redact``).

Managed lists hold customers' e-mail addresses, and a plan posted as a pull-request comment
shows them to everyone who can read the repository. With ``--redact`` every address shown, in
text, Markdown, JSON on stdout, messages and ``-v`` logs, becomes ``v**@example.com#3f9a1c``:
the first character of the local part, the domain, and the first 6 hex digits of the SHA-256 of
the lowercased address, so that two entries stay distinguishable and the same address looks the
same in every run. Files written (``plan --out``) stay complete: apply needs them.

One function masks (``text``); the escaping functions of the renderers call it before they
escape, so that columns stay aligned and Markdown stays intact, and ``Output`` calls it on all it
prints. It does nothing unless a command turned redaction on (``redacting``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

HASH_DIGITS = 6


class _Switch:
    """Whether redaction is on: one per process (not per context), so that the worker threads
    of an apply, which log too, see it."""

    on = False


_SWITCH = _Switch()

# An address as it may appear in output: the local part may carry the backslash Markdown
# escaping puts before ``_``; ``*`` is not part of a local part here, so that a masked address
# (``v**@...``, or ``v\*\*@...`` in Markdown) is never masked again.
_ADDRESS = re.compile(
    r"(?<![\w.%+\-\\])((?:\\_|[\w.%+\-])+)@([A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+)"
)


def enabled() -> bool:
    return _SWITCH.on


@contextmanager
def redacting(on: bool = True) -> Iterator[None]:
    """Redact what is shown while the block runs (when ``on``)."""
    before, _SWITCH.on = _SWITCH.on, on
    try:
        yield
    finally:
        _SWITCH.on = before


def mask(address: str) -> str:
    """``v**@example.com#3f9a1c`` for ``victor@example.com`` (always, whatever the switch)."""
    local, _, domain = address.rpartition("@")
    digest = hashlib.sha256(address.lower().encode("utf-8")).hexdigest()[:HASH_DIGITS]
    return f"{local[:1]}**@{domain}#{digest}"


def _masked(match: re.Match[str]) -> str:
    local = match[1].replace("\\", "")  # undo Markdown escaping before hashing
    return mask(f"{local}@{match[2]}")


def text(value: str) -> str:
    """``value`` with every e-mail address in it masked, when redaction is on."""
    if not _SWITCH.on or "@" not in value:
        return value
    return _ADDRESS.sub(_masked, value)


class LogFilter(logging.Filter):
    """Masks the addresses in log records (``-v``) while redaction is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SWITCH.on:
            message = record.getMessage()
            record.msg, record.args = text(message), None
        return True
