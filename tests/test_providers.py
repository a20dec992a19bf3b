"""Provider clients against the real sandbox: parsing, errors, pacing."""

from __future__ import annotations

import time

import pytest

from reconciler.errors import ProviderError
from reconciler.model import Account, Provider, Target, UninterceptEntry
from reconciler.providers.base import RateLimiter
from reconciler.providers.directmail import DirectMailClient
from reconciler.sandbox import Sandbox
from tests.list_clients import DM_SECRETS, FAST, QUICK, dm_client, sc_client


def test_directmail_calls_round_trip(sandbox: Sandbox) -> None:
    with dm_client(sandbox) as client:
        assert client.get_ip_protection() is False
        client.update_ip_protection(True)
        assert client.get_ip_protection() is True
        new_id = client.add_ipfilter("192.0.2.0/24")
        entries, total = client.get_ipfilter_list()
        assert total == len(entries) == 3
        assert (new_id, "192.0.2.0/24") in [(e.id, e.address) for e in entries]
        client.delete_ipfilter(new_id)
        assert client.get_ipfilter_list()[1] == 2


def test_directmail_live_entries_are_normalized_but_keep_their_raw_text(sandbox: Sandbox) -> None:
    state = sandbox.snapshot()
    state["directmail"]["ipfilters"] = [
        {"Id": "1", "IpAddress": "192.0.2.0-192.0.2.255", "CreateTime": "1653547140"},
        {"Id": "2", "IpAddress": "203.0.113.7/32", "CreateTime": "1653547140"},
    ]
    sandbox.set_state(state)
    with dm_client(sandbox) as client:
        entries, _ = client.get_ipfilter_list()
    assert [(e.address, e.raw) for e in entries] == [
        ("192.0.2.0/24", "192.0.2.0-192.0.2.255"),
        ("203.0.113.7", "203.0.113.7/32"),
    ]


def test_directmail_error_carries_code_and_request_id(sandbox: Sandbox) -> None:
    with dm_client(sandbox) as client, pytest.raises(ProviderError) as caught:
        client.delete_ipfilter("999999")
    error = caught.value
    assert error.code == "InvalidIpfilterId.NotFound"
    assert error.http_status == 404
    assert error.request_id and len(error.request_id) == 36
    assert not error.retryable


def test_directmail_wrong_secret_is_refused_without_echoing_it(sandbox: Sandbox) -> None:
    client = dm_client(sandbox, accessKeySecret="s3cr3t-value")
    with client, pytest.raises(ProviderError) as caught:
        client.get_ip_protection()
    assert caught.value.code == "SignatureDoesNotMatch"
    assert "s3cr3t-value" not in str(caught.value)


def test_directmail_network_error_is_a_provider_error() -> None:
    account = Account("dm", Provider.ALIYUN_DM, "http://127.0.0.1:9", limits=FAST, retry=QUICK)
    with DirectMailClient(account, DM_SECRETS) as client, pytest.raises(ProviderError) as caught:
        client.get_ip_protection()
    assert caught.value.retryable
    assert "network error" in str(caught.value)
    assert caught.value.attempts == 3


def test_sendcloud_pages_until_count(sandbox: Sandbox) -> None:
    state = sandbox.snapshot()
    state["sendcloud"]["unintercepts"] = [
        {"apiUserName": "all", "domain": "", "email": f"u{i}@example.com", "type": [1],
         "createTime": "2024-01-01 00:00:00"}
        for i in range(205)
    ]  # fmt: skip
    sandbox.set_state(state)
    sandbox.reset_calls()
    with sc_client(sandbox) as client:
        entries, count = client.list_all()
    assert count == len(entries) == 205
    assert len({e.key for e in entries}) == 205
    assert sandbox.calls["unintercept/list"] == 3


def test_sendcloud_add_and_delete_send_one_entry_per_call(sandbox: Sandbox) -> None:
    entry = UninterceptEntry("marketing", Target.DOMAIN, "Reseller.Example", frozenset({2, 8}))
    with sc_client(sandbox) as client:
        client.add(entry)
        stored = [r for r in sandbox.unintercepts() if r["domain"] == "Reseller.Example"]
        assert stored == [
            {"apiUserName": "marketing", "domain": "Reseller.Example", "email": "",
             "type": [2, 8], "createTime": stored[0]["createTime"]}
        ]  # fmt: skip
        client.delete(entry)
    assert not [r for r in sandbox.unintercepts() if r["domain"] == "Reseller.Example"]


def test_sendcloud_failure_is_result_false(sandbox: Sandbox) -> None:
    with sc_client(sandbox, apiKey="not-the-key") as client, pytest.raises(ProviderError) as caught:
        client.list_all()
    assert caught.value.code == "40005"
    assert "not-the-key" not in str(caught.value)


def test_rate_limiter_spaces_calls() -> None:
    limiter = RateLimiter(50)  # one call every 20 ms
    started = time.monotonic()
    for _ in range(6):
        limiter.wait()
    assert time.monotonic() - started >= 5 * 0.02 * 0.95  # a lower bound: never flaky
