"""Connections shared by the clients of one run: one pool per endpoint origin.

A fleet of a thousand accounts on two providers' endpoints needs no more connections than
calls in flight at once, not one pool per account (a thousand sockets against a default limit
of 1,024 descriptors). The clients of accounts at the same origin (scheme, host and port) send
their calls through one ``HTTPAdapter``, whose pool keeps as many connections as the accounts'
credentials may have calls in flight there. Nothing an account owns travels with a connection:
DirectMail signs each request and SendCloud carries its credentials in each body, and every
client keeps its own ``requests.Session`` (its cookies, headers, proxies, CA bundle); the
adapter only holds sockets. Redirects, body bounds and deadlines are the client's, per call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter

from reconciler.model import Account

__all__ = ["SharedPool", "caller", "origin", "sized"]

Caller = tuple[str, str, str]
Origin = tuple[str, str, int | None]


def caller(account: Account, secrets: Mapping[str, str]) -> Caller:
    """Who the provider sees calling for ``account``: the provider, the endpoint's host and
    the key (AccessKeyId or apiUser). The provider throttles each one as a whole."""
    key = secrets.get("accessKeyId") or secrets.get("apiUser") or account.name
    host = (urlsplit(account.endpoint).netloc or account.endpoint).lower()
    return (account.provider.value, host, key)


def sized(
    accounts: Sequence[Account], callers: Mapping[str, Caller], most: int
) -> dict[Origin, SharedPool]:
    """One pool of connections per endpoint origin, as large as the calls its accounts'
    callers (``callers``, by account name) may have in flight at once (the strictest
    ``concurrency`` of each caller, as ``limits.share_limits`` gives it), and never larger
    than ``most``, the threads that make calls."""
    in_flight: dict[Caller, int] = {}
    for account in accounts:
        key = callers[account.name]
        in_flight[key] = min(
            in_flight.get(key, account.limits.concurrency), account.limits.concurrency
        )
    sizes: dict[Origin, int] = {}
    counted: set[tuple[Origin, Caller]] = set()
    for account in accounts:
        where, key = origin(account.endpoint), callers[account.name]
        if (where, key) not in counted:
            counted.add((where, key))
            sizes[where] = sizes.get(where, 0) + in_flight[key]
    return {where: SharedPool(min(size, most)) for where, size in sizes.items()}


def origin(endpoint: str) -> Origin:
    """``(scheme, host, port)`` of ``endpoint``, lower case: the connections it can use."""
    parts = urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.scheme.lower(), (parts.hostname or endpoint).lower(), port)


class SharedPool:
    """The connections to one origin: an ``HTTPAdapter`` keeping at most ``size`` of them.

    ``release`` closes the idle ones (those in use close as they come back): once every
    account at the origin has been read, a plan of many endpoints does not keep a socket open
    to each. A later call opens a connection again.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.size)
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            self.adapter.close()
