"""One HTTP exchange of the credential chain (STS, the ECS metadata service), under the rules
of every provider answer (SPEC §6): a redirect is never followed, the body is read within a
size bound (decompressed size included) and the whole exchange within a deadline, however
slowly the other side sends it. The provider clients' bounded reader does the reading.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from reconciler.providers.body import UnreadableBody, read_bounded

__all__ = ["Answer", "Redirected", "UnreadableBody", "exchange"]


class Redirected(Exception):
    """The other side answered with a redirect (never followed)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}: a redirect, which is never followed")
        self.status = status


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def exchange(
    session: requests.Session,
    method: str,
    url: str,
    *,
    limit: int,
    until: float,
    seconds: float,
    timeout: tuple[float, float],
    **kwargs: Any,
) -> Answer:
    """``method url`` through ``session``; its body at most ``limit`` bytes, read before the
    monotonic time ``until`` (``seconds`` after the exchange began).

    Raises ``Redirected``, ``UnreadableBody`` (too large, too slow, corrupt) or what
    ``requests`` and the connection raise. Each wait for the connection or the answer's
    head is bounded by ``timeout`` and by what is left of the deadline.
    """
    left = until - time.monotonic()
    if left <= 0:
        raise UnreadableBody(f"no answer within {seconds:g} s")
    bounded = (min(timeout[0], left), min(timeout[1], left))
    response = session.request(
        method, url, timeout=bounded, allow_redirects=False, stream=True, **kwargs
    )
    with response:
        if response.is_redirect or 300 <= response.status_code < 400:
            raise Redirected(response.status_code)
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        body = read_bounded(response.raw, encoding, until, seconds, limit=limit)
    return Answer(response.status_code, body)
