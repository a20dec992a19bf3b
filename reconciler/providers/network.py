"""What a call that got no answer failed of (DNS, refused, timeout, TLS), where, and whether
the provider may have received it."""

from __future__ import annotations

import socket
import ssl

import requests
import urllib3.exceptions

from reconciler.errors import ProviderError

__all__ = ["network_error"]


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
