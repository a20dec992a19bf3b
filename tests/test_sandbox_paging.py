"""The sandbox serves a SendCloud list page in time proportional to the page, not the list."""

from __future__ import annotations

import random
from typing import Any

import pytest

from reconciler.sandbox import sendcloud
from reconciler.sandbox.credentials import API_KEY, API_USER
from reconciler.sandbox.records import RecordList
from reconciler.sandbox.state import SandboxState

AUTH = {"apiUser": API_USER, "apiKey": API_KEY}
USERS = ("alpha", "Beta", "")


def _state(size: int) -> SandboxState:
    records = [
        {
            "apiUserName": USERS[i % len(USERS)],
            "email": f"user{i}@example.com",
            "domain": "",
            "type": [1],
            "createTime": "2024-01-01 00:00:00",
        }
        for i in range(size)
    ]
    data: dict[str, Any] = {
        "directmail": {"ip_protection": "0", "ipfilters": []},
        "sendcloud": {"unintercepts": records},
    }
    return SandboxState(data)


def _list(state: SandboxState, **params: str) -> Any:
    reply = sendcloud.handle("unintercept/list", {**AUTH, **params}, state)
    assert reply.body["result"], reply.body
    return reply.body["info"]


def test_a_page_never_walks_the_whole_list(monkeypatch: pytest.MonkeyPatch) -> None:
    state = _state(3_000)

    def walked(self: RecordList[Any]) -> Any:
        raise AssertionError("the whole list was walked to serve one page")

    monkeypatch.setattr(RecordList, "__iter__", walked)
    last = _list(state, start="2900", limit="100")
    assert len(last["dataList"]) == 100 and last["count"] == 3_000
    mine = _list(state, start="900", limit="100", apiUserName="beta")
    assert [r["email"] for r in mine["dataList"]] == [
        f"user{i}@example.com" for i in range(1 + 3 * 900, 3_000, 3)
    ]
    assert mine["count"] == 1_000
    everyone = _list(state, start="0", limit="1", apiUserName="all")
    assert everyone["count"] == 1_000  # the records with an empty apiUserName


def test_pages_by_api_user_answer_what_filtering_the_list_would() -> None:
    rng = random.Random(13)
    state = _state(300)
    for step in range(400):
        user = rng.choice(USERS)
        address = f"user{rng.randrange(400)}@example.com"
        action = "unintercept/add" if rng.random() < 0.5 else "unintercept/delete"
        params = {**AUTH, "apiUserName": user, "email": address}
        assert sendcloud.handle(action, params, state).body["result"]
        if step % 40:
            continue
        for name in ("alpha", "BETA", "all", "nobody"):
            wanted = sendcloud._filtered(state, name.lower(), "", "")
            for start in range(0, 200, 37):
                page = _list(state, start=str(start), limit="37", apiUserName=name)
                assert page["dataList"] == wanted[start : start + 37]
                assert page["count"] == len(wanted)
