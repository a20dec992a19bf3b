"""What requests takes from the environment for an endpoint (proxy variables, CA bundle),
worked out once per endpoint and environment.

``Session.merge_environment_settings`` scans every environment variable twice per call (the
proxy variables may have any case): about 1 ms a client, 0.2 s before the first read of a fleet
of 200 accounts. The answer depends only on the endpoint and the environment (on Linux; macOS
and Windows also consult system proxy settings, so they are asked every time), so it is kept
per (endpoint, environment): a changed variable gives a new key, never a stale answer.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

import requests

CACHED = sys.platform.startswith("linux")


def environment_settings(endpoint: str) -> tuple[dict[str, str], Any]:
    """The proxies and the ``verify`` setting that ``merge_environment_settings(endpoint, {},
    None, None, None)`` of a new session gives."""
    if not CACHED:
        return _merged(endpoint)
    proxies, verify = _settings(endpoint, tuple(os.environ.items()))
    return dict(proxies), verify


@functools.lru_cache(maxsize=256)
def _settings(
    endpoint: str, environment: tuple[tuple[str, str], ...]
) -> tuple[tuple[tuple[str, str], ...], Any]:
    proxies, verify = _merged(endpoint)
    return tuple(proxies.items()), verify


def _merged(endpoint: str) -> tuple[dict[str, str], Any]:
    with requests.Session() as session:
        settings = session.merge_environment_settings(endpoint, {}, None, None, None)
    return dict(settings["proxies"]), settings["verify"]
