"""Keys obtained at run time expire (STS keys after an hour by default): a long apply renews
them before they do.

``TemporaryKeys`` are the keys with their expiry, and how to obtain fresh ones (set by
``resolve``). A provider client signs every attempt with ``KeyHolder.current()``, which renews
the keys once they are within ``margin`` of their expiry: a quarter of their lifetime, at
most 15 minutes (what the official SDKs leave). Calls run concurrently: one renews while the
others wait for it, and a renewal that fails while the old keys are still valid keeps them.
Nothing here logs or prints a key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from reconciler.errors import ProviderError, ReconcilerError

log = logging.getLogger("reconciler.credentials.refresh")

MAX_MARGIN = 15 * 60.0  # seconds before expiry keys are renewed, at most
Renew = Callable[[], Mapping[str, str]]


class TemporaryKeys(dict[str, str]):
    """Keys (``accessKeyId``, ``accessKeySecret``, ``securityToken``) valid until ``expires``
    (UTC), or for an unknown time (None). ``renew`` obtains fresh ones, if it can."""

    def __init__(self, keys: Mapping[str, str], expires: datetime | None) -> None:
        super().__init__(keys)
        self.expires = expires
        # Seconds (on the monotonic clock) at which they expire, as seen when obtained: a
        # wall clock that jumps during a run does not move it.
        self.deadline: float | None = None
        self.lifetime = 0.0
        if expires is not None:
            left = (expires - datetime.now(timezone.utc)).total_seconds()
            self.deadline = time.monotonic() + left
            self.lifetime = max(0.0, left)
        self.renew: Renew | None = None

    def margin(self) -> float:
        return min(MAX_MARGIN, self.lifetime / 4) if self.deadline is not None else 0.0


class KeyHolder:
    """The keys a client signs with, renewed ahead of their expiry. Thread-safe.

    ``renewed`` is told of each new set of keys (a client registers their values with its
    scrubber)."""

    def __init__(
        self, keys: Mapping[str, str], renewed: Callable[[Mapping[str, str]], None] | None = None
    ) -> None:
        self._keys = keys
        self._renewed = renewed
        self._lock = threading.Lock()
        self.renewals = 0

    def current(self) -> Mapping[str, str]:
        """The keys to sign the next attempt with; renewed first if they are due."""
        keys = self._keys
        if not _due(keys):
            return keys
        with self._lock:
            if _due(self._keys):
                self._keys = self._renew(self._keys)
            return self._keys

    def refused(self, keys: Mapping[str, str]) -> bool:
        """The provider said ``keys`` expired (a clock ahead of ours): renew them now if they
        are still current and renewable. True if other keys are current now, to try again."""
        with self._lock:
            current = self._keys
            if current is keys and isinstance(current, TemporaryKeys) and current.renew:
                current.deadline = time.monotonic()
                self._keys = self._renew(current)
            return self._keys is not keys

    def _renew(self, old: Mapping[str, str]) -> Mapping[str, str]:
        assert isinstance(old, TemporaryKeys) and old.renew is not None
        try:
            fresh = old.renew()
        except ReconcilerError as exc:
            assert old.deadline is not None
            if time.monotonic() < old.deadline:
                # The code only: a message from STS is not scrubbed by any client.
                reason = getattr(exc, "code", None) or type(exc).__name__
                log.warning(
                    "could not renew temporary keys (%s); using them until they expire", reason
                )
                # Try again on a later call, not on every one.
                old.lifetime /= 2
                return old
            if isinstance(exc, ProviderError):
                raise
            raise ProviderError(str(exc), provider="sts", action="renew keys") from None
        if isinstance(fresh, TemporaryKeys) and fresh.renew is None:
            fresh.renew = old.renew
        self.renewals += 1
        log.debug("temporary keys renewed (%d so far)", self.renewals)
        if self._renewed is not None:
            self._renewed(fresh)
        return fresh


def _due(keys: Mapping[str, str]) -> bool:
    if not isinstance(keys, TemporaryKeys) or keys.renew is None or keys.deadline is None:
        return False
    return time.monotonic() >= keys.deadline - keys.margin()
