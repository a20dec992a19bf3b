"""Secret values kept out of everything a provider client shows: errors and the ``-v`` log.

Each client registers its credentials' values in ``SECRETS``; ``scrub_secrets`` replaces them,
as they are and in every encoding a provider may echo them in, by ``***``; a filter on the
providers' logger does the same for every log line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["SECRETS", "scrub_secrets"]


class _SecretSet:
    """Every secret value of every client in this process, for the log filter."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            self.values = self.values | set(values)  # readers iterate without the lock


SECRETS = _SecretSet()


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret replaced by ``***`` as it is, percent-encoded (either case of
    hex digits, ``/`` kept or not) and form-encoded (a space as ``+``)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if not secret:
            continue
        text = text.replace(secret, "***")
        for form in _encoded_forms(secret):
            if form in text:
                text = text.replace(form, "***")
            lowered = _lower_hex(form)
            if lowered in text:
                text = text.replace(lowered, "***")
    return text


def _encoded_forms(secret: str) -> set[str]:
    forms = {
        quote(secret),
        quote(secret, safe=""),
        quote(secret, safe="~"),
        quote(secret).replace("%20", "+"),
        quote(secret, safe="").replace("%20", "+"),
    }
    forms.discard(secret)
    return forms


def _lower_hex(text: str) -> str:
    out = []
    index = 0
    while index < len(text):
        if text[index] == "%" and index + 2 < len(text):
            out.append(text[index : index + 3].lower())
            index += 3
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


class _ScrubLog(logging.Filter):
    """Removes every client's secret values from what the providers log (``-v``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if SECRETS.values:
            message = record.getMessage()
            clean = scrub_secrets(message, SECRETS.values)
            if clean != message:
                record.msg, record.args = clean, None
        return True


logging.getLogger("reconciler.providers").addFilter(_ScrubLog())
