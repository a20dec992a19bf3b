"""What every provider client offers, and the HTTP plumbing they share.

Every call goes through ``ProviderClient.call``: retried by the account's ``RetryPolicy`` (see
``retry``), and each attempt through ``post``, the single HTTP path, which keeps the account's
limits: at most ``concurrency`` calls in flight, starts paced to ``requestsPerSecond``, and the
provider's per-action quotas.
"""

from __future__ import annotations

import abc
import email.utils
import functools
import json
import logging
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import BaseAdapter, HTTPAdapter

from reconciler import __version__
from reconciler.addresses import is_loopback
from reconciler.errors import ProviderError
from reconciler.model import Account, AccountDesired, AccountLive
from reconciler.plan import Change
from reconciler.providers.limits import RateLimiter, SlidingWindow
from reconciler.providers.retry import Retrier

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
# Most bytes of one answer, after decompression (SPEC §6).
MAX_BODY = 16 * 1024 * 1024
# Bytes read from the socket at a time; at most 1,024 times as many once decompressed.
READ_CHUNK = 16 * 1024
USER_AGENT = f"reconciler/{__version__}"
# -v shows one line per call: action, status, time, request id. Never a parameter value.
log = logging.getLogger("reconciler.providers")

TookEffect = Callable[[], dict[str, Any] | None]
T = TypeVar("T")


_Client = TypeVar("_Client", bound="ProviderClient")


Method = TypeVar("Method", bound=Callable[..., Any])


def naming_errors(method: Method) -> Method:
    """For ``read`` and ``apply``: a ``ProviderError`` raised anywhere in them (an answer
    checked after its call, a list that stays short) names the account and its host."""

    @functools.wraps(method)
    def wrapper(self: ProviderClient, *args: Any) -> Any:
        try:
            return method(self, *args)
        except ProviderError as exc:
            raise self._scrubbed(exc) from None

    return cast(Method, wrapper)


class ProviderClient(abc.ABC):
    """Reads an account's live state and carries out one change at a time.

    A client is safe to use from several threads: that is how list pages and the changes of
    one apply phase run concurrently, within the account's limits.

    ``transport`` replaces the HTTP adapter for every URL: tests give one that answers from an
    in-process sandbox (``tests/inprocess.py``), without a socket.
    """

    provider_name = "provider"  # as error messages name it

    def __init__(self, account: Account, transport: BaseAdapter | None = None) -> None:
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
        settings = self.session.merge_environment_settings(account.endpoint, {}, None, None, None)
        self.endpoint_host = urlsplit(account.endpoint).hostname or ""
        if not is_loopback(self.endpoint_host):
            self.session.proxies.update(settings["proxies"])
        self.session.verify = settings["verify"]
        self.session.trust_env = False
        self.limiter = RateLimiter(account.limits.requests_per_second)
        self.in_flight = threading.BoundedSemaphore(concurrency)
        self.quotas: dict[str, SlidingWindow] = {}  # action -> its documented quota
        self.retrier = Retrier(self.provider_name, account.retry)
        self.deadline = min(CALL_DEADLINE, account.retry.max_seconds)
        self._secret_values: tuple[str, ...] = ()

    @property
    def secret_values(self) -> tuple[str, ...]:
        """What ``scrub`` removes: set by each provider from its credentials."""
        return self._secret_values

    @secret_values.setter
    def secret_values(self, values: Iterable[str]) -> None:
        self._secret_values = tuple(v for v in values if v)
        _SECRETS.add(self._secret_values)

    def scrub(self, text: str) -> str:
        """``text`` without any of this client's secret values, in any encoding.

        A provider's error message may quote the request it refused: DirectMail's
        ``SignatureDoesNotMatch`` quotes its canonical request, security token included.
        """
        return scrub_secrets(text, (*self._secret_values, *_SECRETS.values))

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

        def once() -> dict[str, Any]:
            try:
                return self.call_once(action, given)
            except ProviderError as exc:
                raise self._scrubbed(exc) from None

        if took_effect is None:
            return self.retrier.call(action, once)
        return self.retrier.write(action, once, took_effect)

    def _scrubbed(self, exc: ProviderError) -> ProviderError:
        """``exc`` with every field a provider wrote scrubbed of secrets, and the account named."""
        exc.provider_message = self.scrub(exc.provider_message)
        if exc.code is not None:
            exc.code = self.scrub(exc.code)
        if exc.request_id is not None:
            exc.request_id = self.scrub(str(exc.request_id))
        if exc.account is None:
            exc.account = self.account.name
        if exc.host is None:
            exc.host = self._where(self.account.endpoint)
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
                raise ProviderError(
                    f"the {name} header cannot be sent: a credential holds a character outside "
                    "ISO-8859-1 (check the account's credentials for a typing or copy error)",
                    provider=self.provider_name,
                    action=action,
                    account=self.account.name,
                )
        quota = self.quotas.get(action)
        with self.in_flight:
            if quota is not None:
                quota.acquire()
            self.limiter.wait()
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
                raise ProviderError(
                    f"cannot set up TLS: {exc.strerror or type(exc).__name__} "
                    "(check REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE)",
                    provider=self.provider_name,
                    action=action,
                    account=self.account.name,
                ) from None
            try:
                if response.is_redirect or 300 <= response.status_code < 400:
                    raise ProviderError(
                        "the provider answered with a redirect, which is never followed: "
                        "check the account's endpoint",
                        provider=self.provider_name,
                        action=action,
                        code=f"HTTP{response.status_code}",
                        http_status=response.status_code,
                        account=self.account.name,
                    )
                self._read_body(action, response, started + self.deadline, url)
            finally:
                response.close()
            return response

    def _read_body(
        self, action: str, response: requests.Response, deadline: float, url: str
    ) -> None:
        """Read the answer into ``response`` within ``MAX_BODY`` and ``deadline``."""
        raw = response.raw
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        decoder = _decoder(encoding)
        if decoder is None:
            raise ProviderError(
                f"the answer is in an encoding this client did not ask for ({encoding[:40]!r})",
                provider=self.provider_name,
                action=action,
                http_status=response.status_code,
                account=self.account.name,
                uncertain=True,
                retryable=True,
            )
        read = getattr(raw, "read1", None) or raw.read
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raise self._unbounded(action, response, f"took over {self.deadline:g} s")
                chunk = read(READ_CHUNK, decode_content=False)
                if not chunk:
                    break
                pending = chunk
                while pending:
                    out = decoder.decompress(pending, MAX_BODY + 1 - size)
                    pending = decoder.unconsumed_tail
                    size += len(out)
                    if size > MAX_BODY:
                        raise self._unbounded(
                            action, response, f"is larger than {MAX_BODY // 2**20} MiB"
                        )
                    parts.append(out)
            parts.append(decoder.flush())
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise network_error(
                self.provider_name,
                action,
                exc,
                self._where(url),
                self.account.name,
                sent=True,
            ) from None
        except zlib.error:
            raise ProviderError(
                "the answer's compressed body is corrupt",
                provider=self.provider_name,
                action=action,
                http_status=response.status_code,
                account=self.account.name,
                retryable=True,
                uncertain=True,
            ) from None
        response._content = b"".join(parts)
        response._content_consumed = True  # type: ignore[attr-defined]

    def _unbounded(self, action: str, response: requests.Response, what: str) -> ProviderError:
        # Not retried: the same provider is likely to answer the same way again.
        return ProviderError(
            f"the answer {what}; it was not read to the end",
            provider=self.provider_name,
            action=action,
            http_status=response.status_code,
            account=self.account.name,
            uncertain=True,
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


def network_error(
    provider: str,
    action: str,
    exc: BaseException,
    where: str = "",
    account: str | None = None,
    *,
    sent: bool | None = None,
) -> ProviderError:
    """The ``ProviderError`` for a call that got no answer, saying what kind of failure it was
    (DNS, refused, timeout, TLS) and with which ``host:port``.

    Failing to connect means nothing was sent: any call may simply be tried again. Any later
    failure (a read timeout, a connection reset or closed without an answer, an answer cut
    short) may come after the provider received the call: ``uncertain``. A TLS failure is
    neither retried nor uncertain: nothing was sent, and trying again meets the same
    certificate.
    """
    kind = _kind(exc)
    if sent is None:
        sent = _maybe_sent(exc)
    if kind == "TLS":
        sent = False
    what = "no answer after sending" if sent else "could not connect"
    to = f" to {where}" if where else ""
    return ProviderError(
        f"network error: {_describe(kind, exc)}{to}, {what}",
        provider=provider,
        action=action,
        # A malformed URL is a bug or a bad endpoint, and a certificate that fails
        # verification fails again: trying again cannot help.
        retryable=not isinstance(exc, ValueError) and kind != "TLS",
        uncertain=sent,
        account=account,
    )


def _kind(exc: BaseException) -> str:
    """``DNS``, ``refused``, ``timeout``, ``TLS`` or ``other``."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, requests.exceptions.SSLError | ssl.SSLError):
            return "TLS"
        if isinstance(current, urllib3.exceptions.SSLError):
            return "TLS"
        if isinstance(current, socket.gaierror) or type(current).__name__ == (
            "NameResolutionError"
        ):
            return "DNS"
        if isinstance(current, ConnectionRefusedError):
            return "refused"
        if isinstance(
            current,
            requests.Timeout | socket.timeout | urllib3.exceptions.TimeoutError | TimeoutError,
        ):
            return "timeout"
        todo.extend([current.__cause__, current.__context__])
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        if "Name or service not known" in str(current) or "nodename nor servname" in str(current):
            return "DNS"
        if "Connection refused" in str(current):
            return "refused"
    return "other"


def _describe(kind: str, exc: BaseException) -> str:
    return {
        "DNS": "DNS lookup failed",
        "refused": "connection refused",
        "timeout": f"timed out ({type(exc).__name__})",
        "TLS": "TLS failed (certificate not trusted, expired or for another host)",
    }.get(kind, type(exc).__name__)


def _maybe_sent(exc: BaseException) -> bool:
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


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class _Identity:
    """The ``zlib`` decompressor interface for a body sent as it is."""

    unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def _decoder(encoding: str) -> Any:
    """A decompressor whose output can be bounded (``max_length``), or None if unknown."""
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    return None


class _SecretSet:
    """Every secret value of every client in this process, for the log filter."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            self.values = self.values | set(values)  # readers iterate without the lock


_SECRETS = _SecretSet()


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
        if _SECRETS.values:
            message = record.getMessage()
            clean = scrub_secrets(message, _SECRETS.values)
            if clean != message:
                record.msg, record.args = clean, None
        return True


log.addFilter(_ScrubLog())


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
    """The JSON object a provider answered, or ``None`` if the body is not one."""
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
