"""One POST to a webhook under the provider clients' rules: no redirect followed, the answer
read within a bound (``providers.body.read_bounded``), the whole post within a deadline, and a
failure described by its kind (``providers.network``), never by a text that could quote the
URL and its token."""

from __future__ import annotations

import time
import urllib.parse

import requests
import urllib3.exceptions

from reconciler.addresses import is_loopback
from reconciler.providers.body import UnreadableBody, read_bounded
from reconciler.providers.network import network_error

# The whole post: connecting, sending and reading the answer (seconds).
DEADLINE = 10.0
CONNECT = 5.0
# A webhook answers with a line of JSON; anything longer than this is not read.
MAX_ANSWER = 64 * 1024


class PostFailed(Exception):
    """The post got no usable answer; the message says why (never the URL)."""


def post(url: str, body: bytes, deadline: float | None = None) -> tuple[int, bytes]:
    """POST ``body`` as JSON to ``url`` within ``deadline`` seconds (``DEADLINE``): the
    answer's status and its body.

    Proxy variables are honoured (a CI runner may reach the chat platform only through one),
    except for a loopback URL; ``~/.netrc`` credentials are never sent.
    """
    deadline = DEADLINE if deadline is None else deadline
    session = requests.Session()
    try:
        settings = session.merge_environment_settings(url, {}, None, None, None)
        host = urllib.parse.urlsplit(url).hostname or ""
        if not is_loopback(host):
            session.proxies.update(settings["proxies"])
        session.verify = settings["verify"]
        session.trust_env = False
        started = time.monotonic()
        try:
            response = session.post(
                url,
                data=body,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Accept-Encoding": "gzip, deflate",
                },
                timeout=(min(CONNECT, deadline), deadline),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            raise PostFailed(_network(exc)) from None
        except OSError as exc:  # a CA bundle that cannot be read
            raise PostFailed(f"cannot set up TLS: {exc.strerror or type(exc).__name__}") from None
        try:
            if response.is_redirect or 300 <= response.status_code < 400:
                raise PostFailed(
                    f"it answered with a redirect (HTTP {response.status_code}), which is never "
                    "followed: check the URL"
                )
            encoding = response.headers.get("Content-Encoding", "").strip().lower()
            try:
                answer = read_bounded(
                    response.raw, encoding, started + deadline, deadline, limit=MAX_ANSWER
                )
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise PostFailed(_network(exc, sent=True)) from None
            except UnreadableBody as exc:
                raise PostFailed(f"HTTP {response.status_code}, then {exc}") from None
            return response.status_code, answer
        finally:
            response.close()
    finally:
        session.close()


def _network(exc: BaseException, sent: bool | None = None) -> str:
    """``connection refused``, ``timed out (ReadTimeout)``...: the kind, never the text."""
    error = network_error("webhook", "post", exc, sent=sent)
    return error.provider_message.removeprefix("network error: ")
