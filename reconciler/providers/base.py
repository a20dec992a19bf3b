"""What every provider client offers, and the HTTP plumbing they share."""

from __future__ import annotations

import abc
import json
import logging
import threading
import time
from typing import Any

import requests

from reconciler import __version__
from reconciler.errors import ProviderError
from reconciler.model import Account, AccountDesired, AccountLive
from reconciler.plan import Change

# (connect, read) seconds: a provider that accepts the connection but never answers must not
# hang a CI job.
TIMEOUT = (5.0, 30.0)
USER_AGENT = f"reconciler/{__version__}"
# -v shows one line per call: action, status, time, request id. Never a parameter value.
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


class ProviderClient(abc.ABC):
    """Reads an account's live state and carries out one change at a time."""

    provider_name = "provider"  # as error messages name it

    def __init__(self, account: Account) -> None:
        self.account = account
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.limiter = RateLimiter(account.limits.requests_per_second)

    @abc.abstractmethod
    def read(self, desired: AccountDesired) -> AccountLive:
        """Read the live state of what ``desired`` manages (and nothing else)."""

    @abc.abstractmethod
    def apply(self, change: Change) -> str | None:
        """Carry out one change; return a short detail for the report (a new id), if any."""

    def post(
        self, action: str, url: str, data: bytes | dict[str, str], headers: dict[str, str]
    ) -> requests.Response:
        """POST once; a failure to get any answer becomes a retryable ``ProviderError``.

        The exception's text is not kept: it can quote the request, and a request may carry
        a credential.
        """
        self.limiter.wait()
        try:
            return self.session.post(url, data=data, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise ProviderError(
                f"network error: {type(exc).__name__}",
                provider=self.provider_name,
                action=action,
                retryable=True,
            ) from None

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode_json(response: requests.Response) -> dict[str, Any] | None:
    """The JSON object a provider answered, or ``None`` if the body is not one."""
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
