"""Calls to a running sandbox over HTTP, and checks of its error answers, shared by the
sandbox's test modules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests

from reconciler import signing
from reconciler.sandbox import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Sandbox, telemetry
from reconciler.sandbox.traffic import UTC8

EMPTY_STATE: dict[str, Any] = {
    "directmail": {"ip_protection": "0", "next_id": 1, "ipfilters": []},
    "sendcloud": {"unintercepts": []},
}
REQUEST_ID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
ERROR_FIELDS = {"RequestId", "HostId", "Code", "Message", "Recommend"}


def directmail(
    http: requests.Session,
    sandbox: Sandbox,
    action: str,
    params: dict[str, str] | None = None,
    *,
    secret: str = ACCESS_KEY_SECRET,
    access_key_id: str = ACCESS_KEY_ID,
    version: str = "2015-11-23",
    now: datetime | None = None,
    nonce: str | None = None,
    in_query: bool = False,
    tamper: dict[str, str] | None = None,
) -> requests.Response:
    """One V3-signed call; parameters in the form body, or in the URL query."""
    params = params or {}
    body = b"" if in_query else urlencode(params).encode()
    query = params if in_query else {}
    headers = signing.v3_headers(
        host=f"127.0.0.1:{sandbox.port}",
        action=action,
        version=version,
        body=body,
        access_key_id=access_key_id,
        access_key_secret=secret,
        query=query,
        now=now,
        nonce=nonce,
    )
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers.update(tamper or {})
    url = sandbox.directmail_endpoint + "/"
    if query:
        url += "?" + signing.canonical_query(query)
    return http.post(url, data=body, headers=headers)


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_FIELDS
    assert body["Code"] == code
    assert REQUEST_ID.fullmatch(body["RequestId"])
    assert ACCESS_KEY_SECRET not in response.text
    return body


# -- the sending-data APIs ----------------------------------------------------------------

NOTIFY = "notify@mail.example.com"


def today() -> date:
    return datetime.now(UTC8).date()


def day(back: int) -> str:
    return (today() - timedelta(days=back)).isoformat()


def call(http: requests.Session, sandbox: Sandbox, action: str, **params: Any) -> Any:
    """One V3 call, parameters in the query as the SDK sends them; the answer's body."""
    response = directmail(
        http, sandbox, action, {k: str(v) for k, v in params.items()}, in_query=True
    )
    assert response.status_code == 200, response.text
    return response.json()


def deliveries(http: requests.Session, sandbox: Sandbox, **params: Any) -> Iterator[dict[str, Any]]:
    cursors: set[str] = set()
    cursor = ""
    while True:
        extra = {"NextStart": cursor} if cursor else {}
        body = call(http, sandbox, telemetry.DETAIL, Length=100, **params, **extra)
        yield from body["data"]["mailDetail"]
        cursor = body.get("NextStart", "")
        if not cursor:
            return
        assert cursor not in cursors
        cursors.add(cursor)
