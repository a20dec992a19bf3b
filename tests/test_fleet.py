"""Many accounts: one credential is one caller to its provider, and threads stay bounded."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler import live
from reconciler.model import AccountDesired, Limits
from reconciler.providers import pools
from reconciler.providers.sendcloud import SendCloudClient
from tests.builders import DM, SC


def _dm(index: int, rate: float = 10.0, concurrency: int = 4) -> AccountDesired:
    account = replace(DM, name=f"dm{index}", limits=Limits(rate, concurrency))
    return AccountDesired(account, protection=True, whitelist={})


def _sc(index: int, concurrency: int = 4) -> AccountDesired:
    account = replace(SC, name=f"sc{index}", limits=Limits(100.0, concurrency))
    return AccountDesired(account, unintercepts={})


def test_accounts_with_one_credential_share_its_limits(tmp_path: Path) -> None:
    # In the sandbox every DirectMail account uses its one AccessKeyId, every SendCloud
    # account its one apiUser: two callers, whatever the number of accounts.
    wants = [_dm(0, rate=5, concurrency=3), _dm(1, rate=2), _sc(0), _sc(1)]
    with live.connect(wants, sandbox_state=tmp_path / "s.json", announce=False) as (_, clients):
        dm0, dm1, sc0, sc1 = (clients[w.account.name] for w in wants)
        assert dm0.limiter is dm1.limiter and dm0.in_flight is dm1.in_flight
        assert dm0.quotas is dm1.quotas
        assert sc0.limiter is sc1.limiter
        assert dm0.limiter is not sc0.limiter
        assert dm0.limiter.interval == pytest.approx(1 / 2)  # the strictest of the two
        assert dm0.in_flight._value == 3


def test_different_keys_or_endpoints_are_different_callers() -> None:
    one = pools.caller(DM, {"accessKeyId": "AK1", "accessKeySecret": "s"})
    assert one == pools.caller(replace(DM, name="other"), {"accessKeyId": "AK1"})
    assert one != pools.caller(DM, {"accessKeyId": "AK2"})
    assert one != pools.caller(
        replace(DM, endpoint="https://dm.us-east-1.aliyuncs.com"), {"accessKeyId": "AK1"}
    )
    assert pools.caller(SC, {"apiUser": "u1"}) != pools.caller(SC, {"apiUser": "u2"})


def test_a_shared_key_is_paced_as_one_caller(tmp_path: Path) -> None:
    # Four accounts at 4 calls per second each, two calls each: paced apart, they would take
    # a quarter of a second; as the one caller they are, 8 calls take at least 7 / 4 s.
    wants = [_dm(i, rate=4) for i in range(4)]
    with live.connect(wants, sandbox_state=tmp_path / "s.json", announce=False) as (
        used,
        clients,
    ):
        started: list[float] = []
        # Each account's own limiter, shared or not, records when it lets a call start.
        for limiter in {id(c.limiter): c.limiter for c in clients.values()}.values():
            wait = limiter.wait

            def timed(wait=wait) -> None:
                wait()
                started.append(time.monotonic())

            limiter.wait = timed  # type: ignore[method-assign]
        live.read(used, clients)
    started.sort()
    assert len(started) == 8
    per_second = max(sum(1 for t in started if first <= t < first + 1.0) for first in started)
    assert per_second <= 5  # 4 per second, one more at the edge of the window
    assert started[-1] - started[0] >= 7 / 4 - 0.05


def test_threads_stay_bounded_whatever_the_number_of_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    page = SendCloudClient.list_page

    def counting(self, *args, **kwargs):
        names = [t.name for t in threading.enumerate()]
        seen.append(sum(1 for n in names if n.startswith(("read", "pages", "sendcloud-list"))))
        return page(self, *args, **kwargs)

    monkeypatch.setattr(SendCloudClient, "list_page", counting)
    wants = [_sc(i, concurrency=8) for i in range(100)]
    with live.connect(wants, sandbox_state=tmp_path / "s.json", announce=False) as (
        used,
        clients,
    ):
        read = live.read(used, clients)
    assert len(read) == 100
    assert max(seen) <= live.ACCOUNT_WORKERS + live.PAGE_WORKERS
