"""What every provider client offers, and the HTTP plumbing they share.

Every call goes through ``ProviderClient.call``: retried by the account's ``RetryPolicy`` (see
``retry``), and each attempt through ``post``, the single HTTP path, which keeps the account's
limits: at most ``concurrency`` calls in flight, starts paced to ``requestsPerSecond``, and the
provider's per-action quotas. Beside it: ``body`` reads an answer within its bounds,
``network`` says what a call that got no answer failed of, ``scrub`` keeps secrets out of
errors and logs.
"""

from __future__ import annotations

import abc
import email.utils
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from datetime import datetime, timezone
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import BaseAdapter, HTTPAdapter

from reconciler import __version__, strictjson
from reconciler.addresses import is_loopback
from reconciler.errors import ProviderError
from reconciler.model import Account
from reconciler.providers.blame import blame
from reconciler.providers.body import MAX_BODY, UnreadableBody, read_bounded
from reconciler.providers.environ import environment_settings
from reconciler.providers.limits import RateLimiter, SlidingWindow
from reconciler.providers.network import network_error
from reconciler.providers.retry import Retrier
from reconciler.providers.scrub import SECRETS, scrub_secrets

__all__ = [
    "CALL_DEADLINE",
    "MAX_BODY",
    "TIMEOUT",
    "ProviderClient",
    "RateLimiter",
    "SlidingWindow",
    "decode_json",
    "incomplete_list",
    "log",
    "network_error",
    "retry_after",
    "scrub_secrets",
]

# (connect, read) seconds: a provider that accepts the connection but never answers must not
# hang a CI job.
TIMEOUT = (5.0, 30.0)
# Most seconds one attempt may take from sending to the last byte of the answer, however the
# provider paces it; an account's ``retry.maxSeconds`` lowers it.
CALL_DEADLINE = 60.0
USER_AGENT = f"reconciler/{__version__}"
# -v shows one line per call: action, status, time, request id. Never a parameter value.
log = logging.getLogger("reconciler.providers")

TookEffect = Callable[[], dict[str, Any] | None]
T = TypeVar("T")


_Client = TypeVar("_Client", bound="ProviderClient")


Method = TypeVar("Method", bound=Callable[..., Any])


def naming_errors(method: Method) -> Method:
    """For what reads an account or carries out a change through a client (``live.read_one``,
    ``apply.carry_out``, a client's own list reads): a ``ProviderError`` raised anywhere in
    them (an answer checked after its call, a list that stays short) names the account and
    its host. The wrapped function takes the client first."""

    @functools.wraps(method)
    def wrapper(self: ProviderClient, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ProviderError as exc:
            raise self._scrubbed(exc) from None

    return cast(Method, wrapper)


class ProviderClient(abc.ABC):
    """The calls through which an account's live state is read and its changes are carried out,
    one at a time: each kind reads and writes through them (``live.read_one``,
    ``apply.carry_out``).

    A client is safe to use from several threads: that is how list pages and the changes of
    one apply phase run concurrently, within the account's limits.

    ``transport`` replaces the HTTP adapter for every URL: tests give one that answers from an
    in-process sandbox (``tests/inprocess.py``), without a socket.
    """

    provider_name = "provider"  # as error messages name it

    def __init__(
        self, account: Account, secrets: Mapping[str, str], transport: BaseAdapter | None = None
    ) -> None:
        self.account = account
        concurrency = account.limits.concurrency
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # Only encodings this client can decompress within its bound (see ``_read_body``).
        self.session.headers["Accept-Encoding"] = "gzip, deflate"
        # One kept-alive connection per call in flight; the default pool keeps 10 and would
        # open and drop extra connections above that.
        adapter = transport or HTTPAdapter(pool_maxsize=concurrency)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # requests reads the proxy variables and ~/.netrc again on every call (trust_env):
        # 0.2-0.3 s over the 1,000 pages of a 100,000-entry list. Resolve them once for this
        # endpoint instead; a CA bundle named by REQUESTS_CA_BUNDLE is kept, netrc credentials
        # are never sent. A loopback endpoint (the sandbox) never goes through a proxy.
        proxies, verify = environment_settings(account.endpoint)
        self.endpoint_host = urlsplit(account.endpoint).hostname or ""
        if not is_loopback(self.endpoint_host):
            self.session.proxies.update(proxies)
        self.session.verify = verify
        self.session.trust_env = False
        self.limiter = RateLimiter(account.limits.requests_per_second)
        self.in_flight: threading.BoundedSemaphore = threading.BoundedSemaphore(concurrency)
        self.quotas: dict[str, SlidingWindow] = {}  # action -> its documented quota
        # Where list pages are fetched when set: ``live.connect`` shares one pool (and gives
        # clients of one credential one set of limits, see ``limits.share_limits``).
        self.executor: Executor | None = None
        # The connections this client's adapter shares with other accounts at its endpoint
        # origin, when ``live.connect`` made it (``pools.SharedPool``); None: its own.
        self.pool: Any = None
        self.calls = 0  # attempts sent, for the cost a plan shows
        self._calls_lock = threading.Lock()
        self.retrier = Retrier(self.provider_name, account.retry)
        self.deadline = min(CALL_DEADLINE, account.retry.max_seconds)
        self._secret_values: tuple[str, ...] = ()
        self._configure(secrets)

    @abc.abstractmethod
    def _configure(self, secrets: Mapping[str, str]) -> None:
        """What this provider needs beyond the shared client: its credentials (and with them
        ``secret_values``), the parts of its endpoint, its quotas."""

    @property
    def secret_values(self) -> tuple[str, ...]:
        """What ``scrub`` removes: set by each provider from its credentials."""
        return self._secret_values

    @secret_values.setter
    def secret_values(self, values: Iterable[str]) -> None:
        self._secret_values = tuple(v for v in values if v)
        SECRETS.add(self._secret_values)

    def scrub(self, text: str) -> str:
        """``text`` without any of this client's secret values, in any encoding.

        A provider's error message may quote the request it refused: DirectMail's
        ``SignatureDoesNotMatch`` quotes its canonical request, security token included.
        """
        return scrub_secrets(text, (*self._secret_values, *SECRETS.values))

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

        def once() -> dict[str, Any]:
            try:
                return self.call_once(action, given)
            except ProviderError as exc:
                raise self._scrubbed(exc) from None

        if took_effect is None:
            return self.retrier.call(action, once)
        return self.retrier.write(action, once, took_effect)

    def _scrubbed(self, exc: ProviderError) -> ProviderError:
        """``exc`` with every field a provider wrote scrubbed of secrets, the account named,
        and, if the provider refused the keys, the credential references to fix."""
        exc.provider_message = self.scrub(exc.provider_message)
        if exc.code is not None:
            exc.code = self.scrub(exc.code)
        if exc.request_id is not None:
            exc.request_id = self.scrub(str(exc.request_id))
        if exc.account is None:
            exc.account = self.account.name
        if exc.host is None:
            exc.host = self._where(self.account.endpoint)
        blame(self.account, exc)
        exc.args = (str(exc),)
        return exc

    def read_until_complete(
        self,
        what: str,
        read: Callable[[], tuple[list[T], int]],
        due: Callable[[list[T], int], int],
    ) -> tuple[list[T], int]:
        """``read()`` again while it gives fewer entries than ``due(entries, total)``, up to
        ``retry.attempts`` reads in all; the longest read and the largest total seen.

        A provider may answer a list short of its own total while it is being written; a list
        that stays short is returned as it is, so that the plan refuses to touch it (SPEC §5,
        rule 4) rather than this reading it forever.
        """
        entries, total = read()
        reads = 1
        while len(entries) < due(entries, total) and reads < self.account.retry.attempts:
            log.info(
                "%s %s: %d of %d entries; fetching again",
                self.provider_name,
                what,
                len(entries),
                due(entries, total),
            )
            again, total_again = read()
            reads += 1
            if len(again) >= due(again, total_again):
                return again, total_again
            if len(again) > len(entries):
                entries = again
            total = max(total, total_again)
        return entries, total

    def post(
        self,
        action: str,
        url: str,
        data: bytes | dict[str, str] | None,
        headers: dict[str, str],
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """POST once within the account's limits and read the whole answer; no answer at all
        becomes a ``ProviderError``.

        A redirect is an error (nothing is re-sent anywhere), the answer is read within
        ``MAX_BODY`` bytes once decompressed, and the attempt within ``deadline`` seconds
        however slowly the provider sends it. The exception's text is not kept: it can quote
        the request, and a request may carry a credential.
        """
        for name, value in headers.items():
            if not _latin1(value):
                raise self._error(
                    f"the {name} header cannot be sent: a credential holds a character outside "
                    "ISO-8859-1 (check the account's credentials for a typing or copy error)",
                    action,
                )
        quota = self.quotas.get(action)
        with self.in_flight:
            if quota is not None:
                quota.acquire()
            self.limiter.wait()
            with self._calls_lock:
                self.calls += 1
            started = time.monotonic()
            timeout = (TIMEOUT[0], min(TIMEOUT[1], self.deadline))
            try:
                response = self.session.post(
                    url,
                    data=data,
                    params=params,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=True,
                )
            except requests.RequestException as exc:
                raise network_error(
                    self.provider_name, action, exc, self._where(url), self.account.name
                ) from None
            except OSError as exc:  # a CA bundle that cannot be read
                raise self._error(
                    f"cannot set up TLS: {exc.strerror or type(exc).__name__} "
                    "(check REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE)",
                    action,
                ) from None
            try:
                if response.is_redirect or 300 <= response.status_code < 400:
                    raise self._error(
                        "the provider answered with a redirect, which is never followed: "
                        "check the account's endpoint",
                        action,
                        code=f"HTTP{response.status_code}",
                        http_status=response.status_code,
                    )
                self._read_body(action, response, started + self.deadline, url)
            finally:
                response.close()
            return response

    def _read_body(
        self, action: str, response: requests.Response, deadline: float, url: str
    ) -> None:
        """Read the answer into ``response`` within ``MAX_BODY`` and ``deadline``."""
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        try:
            body = read_bounded(response.raw, encoding, deadline, self.deadline)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise network_error(
                self.provider_name,
                action,
                exc,
                self._where(url),
                self.account.name,
                sent=True,
            ) from None
        except UnreadableBody as exc:
            raise self._error(
                str(exc),
                action,
                http_status=response.status_code,
                uncertain=True,
                retryable=exc.retryable,
            ) from None
        response._content = body
        response._content_consumed = True  # type: ignore[attr-defined]

    def _error(self, message: str, action: str, **details: Any) -> ProviderError:
        """A ``ProviderError`` of this client's provider and account."""
        return ProviderError(
            message,
            provider=self.provider_name,
            action=action,
            account=self.account.name,
            **details,
        )

    @staticmethod
    def _where(url: str) -> str:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        port = port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or "?"
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def close(self) -> None:
        self.session.close()

    def __enter__(self: _Client) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def incomplete_list(
    provider: str, action: str, got: int, total: int, attempts: int = 1
) -> ProviderError:
    """The error for a list that stayed shorter than the provider's own total."""
    return ProviderError(
        f"the list came back with {got} of the {total} "
        f"{'entry' if total == 1 else 'entries'} it counts",
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
    """The JSON object a provider answered, or ``None`` if the body is not one: strict JSON
    (``strictjson``), so that a lone surrogate or deep nesting is a bad answer, not a traceback
    (in the saved plan's digest, in the parser)."""
    try:
        data = response.json(**strictjson.HOOKS)
        strictjson.check(data)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def given(**params: str) -> dict[str, str]:
    """The optional request parameters that have a value (an empty one is not sent)."""
    return {name: value for name, value in params.items() if value}
