"""``providers.environ``: the proxies and CA bundle a client takes from the environment, worked
out once per endpoint and environment, are always requests' own answer for the current
environment (a changed variable is never answered from an older one)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from reconciler.providers import environ

ENDPOINTS = ("http://127.0.0.1:5/apiv2", "https://dm.example.com/", "https://sc.example.org:8443/a")


def _requests_answer(endpoint: str) -> tuple[dict[str, str], Any]:
    with requests.Session() as session:
        settings = session.merge_environment_settings(endpoint, {}, None, None, None)
    return dict(settings["proxies"]), settings["verify"]


def _agree() -> None:
    for endpoint in ENDPOINTS:
        for _ in range(2):  # the second time from the cache, where it is kept
            assert environ.environment_settings(endpoint) == _requests_answer(endpoint)


@pytest.mark.parametrize("cached", [True, False])
def test_the_answer_follows_the_environment(monkeypatch: pytest.MonkeyPatch, cached: bool) -> None:
    monkeypatch.setattr(environ, "CACHED", cached)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    _agree()
    assert environ.environment_settings(ENDPOINTS[1])[0] == {}
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.net:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/bundle.pem")
    _agree()
    assert environ.environment_settings(ENDPOINTS[1]) == (
        {"https": "http://proxy.example.net:3128"},
        "/etc/bundle.pem",
    )
    monkeypatch.setenv("no_proxy", "sc.example.org")
    _agree()
    assert environ.environment_settings(ENDPOINTS[2])[0] == {}
    monkeypatch.delenv("HTTPS_PROXY")
    _agree()
    assert "https" not in environ.environment_settings(ENDPOINTS[1])[0]


def test_a_caller_cannot_change_the_kept_answer() -> None:
    proxies, _ = environ.environment_settings(ENDPOINTS[1])
    proxies["https"] = "http://changed.example:1"
    assert environ.environment_settings(ENDPOINTS[1]) == _requests_answer(ENDPOINTS[1])
