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
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter

__all__ = ["SharedPool", "origin"]


def origin(endpoint: str) -> tuple[str, str, int | None]:
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
