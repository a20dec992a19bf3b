"""What every provider client offers, and the HTTP plumbing they share.

Every call goes through ``ProviderClient.call``: retried by the account's ``RetryPolicy`` (see
``retry``), and each attempt through ``post``, the single HTTP path, which keeps the account's
limits: at most ``concurrency`` calls in flight, starts paced to ``requestsPerSecond``, and the
provider's per-action quotas.
"""

from __future__ import annotations

import abc
import email.utils
import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from reconciler import __version__
from reconciler.errors import ProviderError
from reconciler.model import Account, AccountDesired, AccountLive
from reconciler.plan import Change
from reconciler.providers.limits import RateLimiter, SlidingWindow
from reconciler.providers.retry import Retrier

__all__ = [
    "TIMEOUT",
    "ProviderClient",
    "RateLimiter",
    "SlidingWindow",
    "decode_json",
    "incomplete_list",
    "log",
    "network_error",
    "retry_after",
]

# (connect, read) seconds: a provider that accepts the connection but never answers must not
# hang a CI job.
TIMEOUT = (5.0, 30.0)
USER_AGENT = f"reconciler/{__version__}"
# -v shows one line per call: action, status, time, request id. Never a parameter value.
log = logging.getLogger("reconciler.providers")

TookEffect = Callable[[], dict[str, Any] | None]


_Client = TypeVar("_Client", bound="ProviderClient")


class ProviderClient(abc.ABC):
    """Reads an account's live state and carries out one change at a time.

    A client is safe to use from several threads: that is how list pages and the changes of
    one apply phase run concurrently, within the account's limits.
    """

    provider_name = "provider"  # as error messages name it

    def __init__(self, account: Account) -> None:
        self.account = account
        concurrency = account.limits.concurrency
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # One kept-alive connection per call in flight; the default pool keeps 10 and would
        # open and drop extra connections above that.
        adapter = HTTPAdapter(pool_maxsize=concurrency)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # requests reads the proxy variables and ~/.netrc again on every call (trust_env):
        # 0.2-0.3 s over the 1,000 pages of a 100,000-entry list. Resolve them once for this
        # endpoint instead; a CA bundle named by REQUESTS_CA_BUNDLE is kept, netrc credentials
        # are never sent.
        settings = self.session.merge_environment_settings(account.endpoint, {}, None, None, None)
        self.session.proxies.update(settings["proxies"])
        self.session.verify = settings["verify"]
        self.session.trust_env = False
        self.limiter = RateLimiter(account.limits.requests_per_second)
        self.in_flight = threading.BoundedSemaphore(concurrency)
        self.quotas: dict[str, SlidingWindow] = {}  # action -> its documented quota
        self.retrier = Retrier(self.provider_name, account.retry)
        self.secret_values: tuple[str, ...] = ()  # set by each provider: what `scrub` removes

    def scrub(self, text: str) -> str:
        """``text`` without any of this client's secret values.

        A provider's error message may quote the request it refused: DirectMail's
        ``SignatureDoesNotMatch`` quotes its canonical request, security token included.
        """
        for secret in self.secret_values:
            text = text.replace(secret, "***")
        return text

    @abc.abstractmethod
    def read(self, desired: AccountDesired) -> AccountLive:
        """Read the live state of what ``desired`` manages (and nothing else)."""

    @abc.abstractmethod
    def apply(self, change: Change) -> str | None:
        """Carry out one change; return a short detail for the report (a new id), if any."""

    @abc.abstractmethod
    def call_once(self, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        """Make one attempt at a call: build, sign and ``post`` it, decode the answer."""

    def call(
        self,
        action: str,
        params: Mapping[str, str] | None = None,
        *,
        took_effect: TookEffect | None = None,
    ) -> dict[str, Any]:
        """One call with retries. A write passes ``took_effect``: it reads live state and
        returns what the write would have answered if it took effect, else ``None``; it runs
        before a write is repeated after an attempt that may have reached the provider."""
        given = dict(params or {})
        if took_effect is None:
            return self.retrier.call(action, lambda: self.call_once(action, given))
        return self.retrier.write(action, lambda: self.call_once(action, given), took_effect)

    def post(
        self, action: str, url: str, data: bytes | dict[str, str], headers: dict[str, str]
    ) -> requests.Response:
        """POST once within the account's limits; no answer at all becomes a ``ProviderError``.

        The exception's text is not kept: it can quote the request, and a request may carry
        a credential.
        """
        quota = self.quotas.get(action)
        with self.in_flight:
            if quota is not None:
                quota.acquire()
            self.limiter.wait()
            try:
                return self.session.post(url, data=data, headers=headers, timeout=TIMEOUT)
            except requests.RequestException as exc:
                raise network_error(self.provider_name, action, exc) from None

    def close(self) -> None:
        self.session.close()

    def __enter__(self: _Client) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def network_error(provider: str, action: str, exc: requests.RequestException) -> ProviderError:
    """The ``ProviderError`` for a call that got no answer.

    Failing to connect means nothing was sent: any call may simply be tried again. Any later
    failure (a read timeout, a connection reset or closed without an answer, an answer cut
    short) may come after the provider received the call: ``uncertain``.
    """
    sent = _maybe_sent(exc)
    what = "no answer after sending" if sent else "could not connect"
    return ProviderError(
        f"network error: {type(exc).__name__}, {what}",
        provider=provider,
        action=action,
        # A malformed URL is a bug or a bad endpoint: trying it again cannot help.
        retryable=not isinstance(exc, ValueError),
        uncertain=sent,
    )


def _maybe_sent(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.InvalidURL):
        return False
    if isinstance(exc, ValueError):  # MissingSchema, InvalidSchema, ...: never sent
        return False
    if isinstance(exc, requests.ConnectionError) and not isinstance(
        exc, requests.exceptions.SSLError
    ):
        # requests wraps urllib3's failure to open a connection (refused, unreachable, name
        # not resolved) in MaxRetryError; a connection lost later arrives as ProtocolError.
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, urllib3.exceptions.MaxRetryError):
            reason = reason.reason
        if isinstance(
            reason,
            urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError,
        ):
            return False
    return True


def incomplete_list(
    provider: str, action: str, got: int, total: int, attempts: int = 1
) -> ProviderError:
    """The error for a list that stayed shorter than the provider's own total."""
    return ProviderError(
        f"the list came back with {got} of the {total} entries it counts",
        provider=provider,
        action=action,
        attempts=attempts,
    )


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait, in seconds, a provider asked for: ``x-acs-retry-after`` (milliseconds, as
    Alibaba Cloud sends it) or ``Retry-After`` (seconds or an HTTP date)."""
    raw = headers.get("x-acs-retry-after")
    if raw:
        try:
            return max(0.0, float(raw) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def decode_json(response: requests.Response) -> dict[str, Any] | None:
    """The JSON object a provider answered, or ``None`` if the body is not one."""
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
