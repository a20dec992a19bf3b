"""Reliability (SPEC §6): retries, writes whose answer was lost, quotas, limits, concurrency.

Clients run against the real sandbox with injected faults; the end-to-end tests drive the CLI.
Retry waits are kept tiny through each account's ``retry.baseDelaySeconds``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3.exceptions

from reconciler import sandbox as sb
from reconciler.apply import Outcome, execute
from reconciler.errors import ProviderError
from reconciler.live import read_one
from reconciler.manifests.load import load_manifests
from reconciler.model import (
    Account,
    AccountDesired,
    IpEntry,
    Limits,
    Provider,
    RetryPolicy,
    Target,
    UninterceptEntry,
)
from reconciler.plan import Action, Change, Plan, Resource, diff
from reconciler.providers.base import network_error, retry_after
from reconciler.providers.directmail import DirectMailClient
from reconciler.providers.limits import SlidingWindow
from reconciler.providers.sendcloud import SendCloudClient
from reconciler.sandbox import Faults, Sandbox
from reconciler.sandbox.wire import Reply
from tests.cli_helpers import run_cli, write
from tests.inprocess import ENDPOINT, InProcess

FAST = Limits(requests_per_second=1000, concurrency=8)
QUICK = RetryPolicy(attempts=4, max_seconds=10, base_delay=0.001)
DM_SECRETS = {"accessKeyId": sb.ACCESS_KEY_ID, "accessKeySecret": sb.ACCESS_KEY_SECRET}
SC_SECRETS = {"apiUser": sb.API_USER, "apiKey": sb.API_KEY}
SECRETS = (sb.ACCESS_KEY_SECRET, sb.API_KEY)
CREATED = "2024-01-01 00:00:00"


def _record(email: str, types: list[int]) -> dict[str, Any]:
    return {
        "apiUserName": "all",
        "domain": "",
        "email": email,
        "type": types,
        "createTime": CREATED,
    }


STATE: dict[str, Any] = {
    "directmail": {
        "ip_protection": "0",
        "next_id": 3,
        "ipfilters": [
            {"Id": "1", "IpAddress": "198.51.100.1", "CreateTime": "1653547140"},
            {"Id": "2", "IpAddress": "198.51.100.2", "CreateTime": "1653547141"},
        ],
    },
    "sendcloud": {
        "unintercepts": [
            _record("keep@example.com", [1, 2, 4, 8]),
            _record("change@example.com", [1]),
            _record("old@example.com", [8]),
        ]
    },
}


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def server(tmp_path: Path, faults: Faults) -> Iterator[Sandbox]:
    """A sandbox with ``STATE`` and the test's ``faults``."""
    with Sandbox(tmp_path / "sandbox.json", faults=faults, initial_state=STATE) as running:
        running.reset_calls()
        yield running


@pytest.fixture
def sandbox(tmp_path: Path, faults: Faults) -> Sandbox:
    """Like ``server``, but never started: clients reach it in-process, without a socket."""
    return Sandbox(tmp_path / "sandbox.json", faults=faults, initial_state=STATE)


def _wire(server: Sandbox) -> tuple[str, str, InProcess | None]:
    """The endpoints of ``server`` and, if it is not running, the transport that reaches it."""
    try:
        return server.directmail_endpoint, server.sendcloud_endpoint, None
    except RuntimeError:
        return ENDPOINT, f"{ENDPOINT}/apiv2", InProcess(server)


def dm_client(
    server: Sandbox, retry: RetryPolicy = QUICK, limits: Limits = FAST, **secrets: str
) -> DirectMailClient:
    endpoint, _, transport = _wire(server)
    account = Account("dm", Provider.ALIYUN_DM, endpoint, limits=limits, retry=retry)
    return DirectMailClient(account, {**DM_SECRETS, **secrets}, transport)


def sc_client(
    server: Sandbox, retry: RetryPolicy = QUICK, limits: Limits = FAST, **secrets: str
) -> SendCloudClient:
    _, endpoint, transport = _wire(server)
    account = Account("sc", Provider.SENDCLOUD, endpoint, limits=limits, retry=retry)
    return SendCloudClient(account, {**SC_SECRETS, **secrets}, transport)


def set_unintercepts(server: Sandbox, count: int) -> None:
    state = server.snapshot()
    state["sendcloud"]["unintercepts"] = [_record(f"u{i}@example.com", [1]) for i in range(count)]
    server.set_state(state)
    server.reset_calls()


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["throttling", "5xx", "drop-before", "drop-after"])
def test_a_read_is_retried_after_each_retryable_kind(
    server: Sandbox, faults: Faults, kind: str
) -> None:
    faults.script("GetIpProtection", kind)
    faults.script("unintercept/list", kind)
    with dm_client(server) as dm, sc_client(server) as sc:
        assert dm.get_ip_protection() is False
        entries, count = sc.list_all()
    assert count == len(entries) == 3
    assert faults.injected[kind] == 2
    assert server.calls == Counter({"GetIpProtection": 2, "unintercept/list": 2})


def test_a_refused_connection_is_retried_up_to_the_attempts_allowed() -> None:
    with refusing_port() as port:
        account = Account(
            "dm", Provider.ALIYUN_DM, f"http://127.0.0.1:{port}", limits=FAST, retry=QUICK
        )
        with DirectMailClient(account, DM_SECRETS) as client, pytest.raises(ProviderError) as e:
            client.get_ip_protection()
    assert e.value.retryable and not e.value.uncertain  # nothing was sent
    assert e.value.attempts == 4
    assert "after 4 attempts" in str(e.value)


@pytest.mark.parametrize(
    ("make", "code", "secret"),
    [
        (dm_client, "SignatureDoesNotMatch", {"accessKeySecret": "not-the-secret"}),
        (sc_client, "40005", {"apiKey": "not-the-key"}),
    ],
)
def test_a_non_retryable_error_is_not_retried(
    server: Sandbox, make: Any, code: str, secret: dict[str, str]
) -> None:
    with make(server, **secret) as client, pytest.raises(ProviderError) as caught:
        read_one(client, want(client.account))
    assert caught.value.code == code
    assert caught.value.attempts == 1
    assert sum(server.calls.values()) == 1
    assert "not-the-" not in str(caught.value)


def test_attempts_are_bounded_and_the_error_says_how_many(server: Sandbox, faults: Faults) -> None:
    faults.script("GetIpfilterList", *["5xx"] * 10)
    client = dm_client(server, RetryPolicy(3, 10, 0.001))
    with client, pytest.raises(ProviderError) as caught:
        client.get_ipfilter_list()
    assert server.calls["GetIpfilterList"] == 3
    assert caught.value.code == "ServiceUnavailable"
    assert "(HTTP 503, request id " in str(caught.value)
    assert str(caught.value).endswith("after 3 attempts)")


def test_total_time_is_bounded(tmp_path: Path) -> None:
    faults = Faults(error_rate=1.0, kinds=("5xx",), actions=frozenset({"GetIpProtection"}))
    with Sandbox(tmp_path / "s.json", faults=faults) as server:
        client = dm_client(server, RetryPolicy(attempts=100, max_seconds=0.4, base_delay=0.05))
        started = time.monotonic()
        with client, pytest.raises(ProviderError) as caught:
            client.get_ip_protection()
        elapsed = time.monotonic() - started
        attempts = caught.value.attempts
        # The floor: the same failing attempts, as many, without a wait between them, on this
        # machine now (a loaded runner makes both slower alike).
        floor = dm_client(server, RetryPolicy(attempts=attempts, max_seconds=60, base_delay=0))
        started = time.monotonic()
        with floor, pytest.raises(ProviderError):
            floor.get_ip_protection()
        calls = time.monotonic() - started
    assert 2 <= attempts < 100
    # 0.4 s of retrying plus the last call, twice over; 100 attempts would not fit.
    assert elapsed < 2 * (0.4 + calls), (elapsed, calls)


def test_a_wait_longer_than_the_time_left_is_not_started(server: Sandbox, faults: Faults) -> None:
    faults.retry_after = 30.0
    faults.script("GetIpProtection", "throttling")
    client = dm_client(server, RetryPolicy(attempts=5, max_seconds=2, base_delay=0.001))
    started = time.monotonic()
    with client, pytest.raises(ProviderError) as caught:
        client.get_ip_protection()
    elapsed = time.monotonic() - started
    assert server.calls["GetIpProtection"] == 1
    assert caught.value.code == "Throttling.User"
    assert caught.value.retry_after == 30.0
    # The floor: the same call from a new client, answered at once, on this machine now.
    with dm_client(server) as again:
        started = time.monotonic()
        again.get_ip_protection()
        call = time.monotonic() - started
    # Below half the 2 s left, which a wait would use up, beyond twice the call itself (the
    # 30 s asked for would not fit at all).
    assert elapsed < 2 / 2 + 2 * call, (elapsed, call)


@pytest.mark.parametrize(
    ("make", "action", "hint"),
    [(dm_client, "GetIpfilterList", 2.5), (sc_client, "unintercept/list", 3.0)],
)
def test_the_providers_retry_hint_is_honoured(
    server: Sandbox, faults: Faults, make: Any, action: str, hint: float
) -> None:
    faults.retry_after = hint
    faults.script(action, "throttling")
    slept: list[float] = []
    with make(server) as client:
        client.retrier.sleep = slept.append  # tenacity's sleep hook: record, do not wait
        read_one(client, want(client.account))
    assert len(slept) == 1
    assert hint <= slept[0] < hint + 0.01  # the hint wins over a backoff of about 1 ms


def test_retries_are_logged_without_parameter_values(
    server: Sandbox, faults: Faults, caplog: pytest.LogCaptureFixture
) -> None:
    faults.script("AddIpfilter", "throttling")
    caplog.set_level(logging.INFO, logger="reconciler.providers")
    with dm_client(server) as client:
        client.add_ipfilter("203.0.113.77")
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 1
    assert retries[0].startswith("DirectMail AddIpfilter: Throttling.User (HTTP 400); retry 1 of 3")
    assert "203.0.113.77" not in caplog.text


# -- error classification -------------------------------------------------------------------------


def response(status: int, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body
    answer.headers.update(headers or {})
    return answer


def directmail_error(
    action: str, answer: requests.Response, data: dict[str, Any] | None
) -> ProviderError:
    with dm_client(Sandbox()) as client:
        return client._answer_error(action, answer, data)


def sendcloud_error(
    action: str, answer: requests.Response, data: dict[str, Any] | None
) -> ProviderError:
    with sc_client(Sandbox()) as client:
        return client._answer_error(action, answer, data)


@pytest.mark.parametrize(
    ("status", "code", "retryable", "uncertain"),
    [
        (400, "Throttling.User", True, False),
        (400, "Throttling.Api", True, False),
        (400, "Throttling", True, False),
        (503, "ServiceUnavailable", True, False),
        (500, "InternalError", True, True),
        (400, "SignatureDoesNotMatch", False, False),
        (404, "InvalidAccessKeyId.NotFound", False, False),
        (400, "InvalidTimeStamp.Expired", False, False),
        (403, "Forbidden.RAM", False, False),
    ],
)
def test_directmail_errors_are_classified_by_code(
    status: int, code: str, retryable: bool, uncertain: bool
) -> None:
    body = f'{{"RequestId": "r", "Code": "{code}", "Message": "m"}}'.encode()
    error = directmail_error("AddIpfilter", response(status, body), {"Code": code, "Message": "m"})
    assert (error.code, error.retryable, error.uncertain) == (code, retryable, uncertain)


@pytest.mark.parametrize(
    ("http", "status", "retryable", "uncertain"),
    [
        (200, 501, True, True),
        (500, 501, True, True),
        (429, 429, True, False),
        (503, 503, True, False),
        (200, 40005, False, False),
        (200, 40012, False, False),
    ],
)
def test_sendcloud_errors_are_classified_by_status(
    http: int, status: int, retryable: bool, uncertain: bool
) -> None:
    data = {"result": False, "statusCode": status, "message": "m", "info": {}}
    error = sendcloud_error("unintercept/add", response(http, b"{}"), data)
    assert (error.code, error.retryable, error.uncertain) == (str(status), retryable, uncertain)


def test_an_answer_cut_short_is_retryable_and_uncertain() -> None:
    error = directmail_error("AddIpfilter", response(200, b'{"RequestId": "r", "IpFil'), None)
    assert error.retryable and error.uncertain


def _refused() -> requests.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "uncertain"),
    [
        (requests.ConnectTimeout(), False),
        (_refused(), False),
        (requests.ReadTimeout(), True),
        (requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.")), True),
        (requests.exceptions.ChunkedEncodingError(), True),
    ],
)
def test_network_errors_say_whether_the_call_may_have_been_sent(
    exc: requests.RequestException, uncertain: bool
) -> None:
    error = network_error("DirectMail", "AddIpfilter", exc)
    assert error.retryable
    assert error.uncertain is uncertain


def test_retry_hints_are_read_from_either_header() -> None:
    later = datetime.now(timezone.utc) + timedelta(seconds=120)
    assert retry_after({"x-acs-retry-after": "1500"}) == 1.5
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert 110 < (retry_after({"Retry-After": format_datetime(later, usegmt=True)}) or 0) <= 120
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None


# -- writes whose answer was lost ---------------------------------------------------------------

DM_WRITES = [
    ("AddIpfilter", lambda c: c.add_ipfilter("203.0.113.7"), "GetIpfilterList"),
    ("DeleteIpfilterByEdmId", lambda c: c.delete_ipfilter("2"), "GetIpfilterList"),
    ("UpdateIpProtection", lambda c: c.update_ip_protection(True), "GetIpProtection"),
]
NEW = UninterceptEntry("all", Target.EMAIL, "new@example.com", frozenset({1, 4}))
OLD = UninterceptEntry("all", Target.EMAIL, "old@example.com", frozenset({8}))
SC_WRITES = [
    ("unintercept/add", lambda c: c.add(NEW)),
    ("unintercept/delete", lambda c: c.delete(OLD)),
]


@pytest.mark.parametrize(("kind", "writes"), [("drop-after", 1), ("drop-before", 2)])
@pytest.mark.parametrize(("action", "write", "check"), DM_WRITES, ids=[w[0] for w in DM_WRITES])
def test_a_directmail_write_is_checked_before_it_is_repeated(
    sandbox: Sandbox, faults: Faults, kind: str, writes: int, action: str, write: Any, check: str
) -> None:
    faults.script(action, kind)
    with dm_client(sandbox) as client:
        write(client)
    assert sandbox.calls == Counter({action: writes, check: 1})
    assert sandbox.ip_protection() == ("1" if action == "UpdateIpProtection" else "0")
    addresses = [r["IpAddress"] for r in sandbox.ipfilters()]
    assert len(addresses) == len(set(addresses))  # never a duplicate
    if action == "AddIpfilter":
        assert "203.0.113.7" in addresses
    if action == "DeleteIpfilterByEdmId":
        assert "198.51.100.2" not in addresses


def test_an_addition_that_took_effect_reports_the_id_found(
    sandbox: Sandbox, faults: Faults
) -> None:
    faults.script("AddIpfilter", "drop-after")
    with dm_client(sandbox) as client:
        ident = client.add_ipfilter("203.0.113.7")
    assert {"Id": ident, "IpAddress": "203.0.113.7"}.items() <= sandbox.ipfilters()[-1].items()


@pytest.mark.parametrize(("kind", "writes"), [("drop-after", 1), ("drop-before", 2)])
@pytest.mark.parametrize(("action", "write"), SC_WRITES, ids=[w[0] for w in SC_WRITES])
def test_a_sendcloud_write_is_checked_before_it_is_repeated(
    sandbox: Sandbox, faults: Faults, kind: str, writes: int, action: str, write: Any
) -> None:
    faults.script(action, kind)
    with sc_client(sandbox) as client:
        write(client)
    assert sandbox.calls == Counter({action: writes, "unintercept/list": 1})
    emails = {r["email"]: r["type"] for r in sandbox.unintercepts()}
    if action == "unintercept/add":
        assert emails["new@example.com"] == [1, 4]
    else:
        assert "old@example.com" not in emails


def test_a_server_error_on_a_write_is_checked_too(sandbox: Sandbox, faults: Faults) -> None:
    faults.script("unintercept/add", "5xx")  # SendCloud's 501: it may have been carried out
    with sc_client(sandbox) as client:
        client.add(NEW)
    assert sandbox.calls == Counter({"unintercept/add": 2, "unintercept/list": 1})


def test_throttling_on_a_write_repeats_it_without_a_check(sandbox: Sandbox, faults: Faults) -> None:
    faults.script("AddIpfilter", "throttling", "5xx")  # both turn the call away
    with dm_client(sandbox) as client:
        client.add_ipfilter("203.0.113.7")
    assert sandbox.calls == Counter({"AddIpfilter": 3})


def test_the_last_attempt_is_checked_before_reporting_a_failure(
    sandbox: Sandbox, faults: Faults
) -> None:
    faults.script("UpdateIpProtection", "drop-before", "drop-after")
    with dm_client(sandbox, RetryPolicy(2, 10, 0.001)) as client:
        client.update_ip_protection(True)  # the second and last attempt did take effect
    assert sandbox.ip_protection() == "1"
    assert sandbox.calls == Counter({"UpdateIpProtection": 2, "GetIpProtection": 2})


def test_a_short_list_is_never_taken_as_proof(sandbox: Sandbox, faults: Faults) -> None:
    # A filtered list of one record, truncated, comes back empty: that must not read as
    # "the delete took effect". Fetched again in full, it shows the delete did not.
    faults.script("unintercept/delete", "drop-before")
    faults.script("unintercept/list", "truncate")
    with sc_client(sandbox) as client:
        client.delete(OLD)
    assert sandbox.calls == Counter({"unintercept/delete": 2, "unintercept/list": 2})
    assert "old@example.com" not in {r["email"] for r in sandbox.unintercepts()}


def test_a_list_that_stays_short_leaves_the_outcome_unknown(
    sandbox: Sandbox, faults: Faults
) -> None:
    # The check reads a short list again, up to retry.attempts (4) reads in all.
    faults.script("AddIpfilter", "drop-before")
    faults.script("GetIpfilterList", *["truncate"] * 4)
    with dm_client(sandbox) as client, pytest.raises(ProviderError) as caught:
        client.add_ipfilter("203.0.113.7")
    assert caught.value.uncertain
    assert "1 of the 2 entries it counts (after 4 attempts)" in str(caught.value)
    assert sandbox.calls == Counter({"AddIpfilter": 1, "GetIpfilterList": 4})


def test_a_check_reads_a_short_list_again(sandbox: Sandbox, faults: Faults) -> None:
    faults.script("AddIpfilter", "drop-before")
    faults.script("GetIpfilterList", "truncate", "truncate")
    with dm_client(sandbox) as client:
        client.add_ipfilter("203.0.113.7")
    assert sandbox.calls == Counter({"AddIpfilter": 2, "GetIpfilterList": 3})
    assert [r["IpAddress"] for r in sandbox.ipfilters()].count("203.0.113.7") == 1


def test_a_write_whose_check_fails_is_reported_as_uncertain(
    server: Sandbox, faults: Faults
) -> None:
    faults.script("AddIpfilter", "drop-after")
    faults.script("GetIpfilterList", *["5xx"] * 2)
    account = Account(
        "dm", Provider.ALIYUN_DM, server.directmail_endpoint, retry=RetryPolicy(2, 10, 0.001)
    )
    entry = IpEntry("203.0.113.7")
    change = Change("dm", Resource.IP_WHITELIST, Action.CREATE, entry.key, after=entry)
    with DirectMailClient(account, DM_SECRETS) as client:
        [outcome] = execute(Plan([account], [change]), {"dm": client})
    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error.uncertain
    assert outcome.error.action == "AddIpfilter"
    assert "whether it took effect is unknown" in str(outcome.detail)
    assert outcome.as_dict()["error"]["uncertain"] is True
    assert server.calls == Counter({"AddIpfilter": 1, "GetIpfilterList": 2})  # never repeated


# -- apply end to end ---------------------------------------------------------------------------

MANIFESTS = """\
apiVersion: reconciler/v1
kind: IpProtection
metadata: {name: p}
spec: {account: dm, enabled: true}
---
apiVersion: reconciler/v1
kind: IpWhitelist
metadata: {name: w}
spec:
  account: dm
  entries: [198.51.100.1, 203.0.113.7]
---
apiVersion: reconciler/v1
kind: UninterceptList
metadata: {name: u}
spec:
  account: sc
  entries:
    - email: keep@example.com
    - email: change@example.com
    - email: new@example.com
      types: [bounce]
"""
READS = Counter({"GetIpProtection": 1, "GetIpfilterList": 1, "unintercept/list": 1})
WRITES = Counter(
    {
        "AddIpfilter": 1,
        "UpdateIpProtection": 1,
        "unintercept/add": 2,  # the creation, and the update's second half
        "unintercept/delete": 2,  # the deletion, and the update's first half
        "DeleteIpfilterByEdmId": 1,
    }
)


def accounts(server: Sandbox) -> str:
    spec = "limits: {requestsPerSecond: 1000, concurrency: 4}, retry: {baseDelaySeconds: 0.001}"
    return "".join(
        f"---\napiVersion: reconciler/v1\nkind: Account\nmetadata: {{name: {name}}}\n"
        f"spec: {{provider: {provider}, endpoint: '{endpoint}', {spec}}}\n"
        for name, provider, endpoint in [
            ("dm", "aliyun-directmail", server.directmail_endpoint),
            ("sc", "sendcloud", server.sendcloud_endpoint),
        ]
    )


def cli(server: Sandbox, tmp_path: Path, *args: str) -> Any:
    write(tmp_path / "m" / "accounts.yaml", accounts(server))
    write(tmp_path / "m" / "lists.yaml", MANIFESTS)
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
        "SENDCLOUD_API_USER": sb.API_USER,
        "SENDCLOUD_API_KEY": sb.API_KEY,
    }
    return run_cli(*args, "m/", cwd=tmp_path, env=env)


def test_plan_and_apply_make_exactly_the_calls_needed(server: Sandbox, tmp_path: Path) -> None:
    planned = cli(server, tmp_path, "plan")
    assert planned.code == 0, planned
    assert "Plan: 2 to add, 2 to change, 2 to delete." in planned.out
    assert server.calls == READS
    server.reset_calls()
    applied = cli(server, tmp_path, "apply", "--yes")
    assert applied.code == 0, applied
    assert server.calls == READS + WRITES


@pytest.mark.parametrize(("kind", "extra"), [("drop-after", 0), ("drop-before", 1)])
def test_apply_converges_when_every_write_loses_its_answer_once(
    server: Sandbox, faults: Faults, tmp_path: Path, kind: str, extra: int
) -> None:
    for action in WRITES:
        faults.script(action, kind)
    applied = cli(server, tmp_path, "apply", "--yes")
    assert applied.code == 0, applied
    assert "6 applied, 0 failed, 0 skipped" in applied.out
    checks = Counter({"GetIpfilterList": 2, "GetIpProtection": 1, "unintercept/list": 2})
    assert server.calls == READS + checks + WRITES + Counter({a: extra for a in WRITES})
    addresses = sorted(r["IpAddress"] for r in server.ipfilters())
    assert addresses == ["198.51.100.1", "203.0.113.7"]
    server.reset_calls()
    again = cli(server, tmp_path, "plan", "--detailed-exitcode")
    assert again.code == 0, again


# -- partial failure and dependencies -------------------------------------------------------------


def test_a_failed_addition_skips_what_depends_on_it_and_nothing_else(
    server: Sandbox, faults: Faults
) -> None:
    faults.script("AddIpfilter", "throttling", "throttling")  # the first addition gives up
    one_at_a_time = Limits(requests_per_second=1000, concurrency=1)
    dm_account = Account(
        "dm",
        Provider.ALIYUN_DM,
        server.directmail_endpoint,
        limits=one_at_a_time,
        retry=RetryPolicy(2, 10, 0),
    )
    sc_account = Account("sc", Provider.SENDCLOUD, server.sendcloud_endpoint, limits=FAST)
    addresses = ("198.51.100.1", "203.0.113.7", "203.0.113.8")
    wants = [
        AccountDesired(dm_account, protection=True, whitelist={a: IpEntry(a) for a in addresses}),
        AccountDesired(sc_account, unintercepts={NEW.key: NEW}),
    ]
    with (
        DirectMailClient(dm_account, DM_SECRETS) as dm,
        SendCloudClient(sc_account, SC_SECRETS) as sc,
    ):
        plan = diff(wants, {"dm": read_one(dm, wants[0]), "sc": read_one(sc, wants[1])})
        outcomes = execute(plan, {"dm": dm, "sc": sc})
    statuses = [(o.change.resource.value, o.change.action.value, o.status) for o in outcomes]
    assert statuses == [
        ("ip_whitelist", "create", "failed"),
        ("ip_whitelist", "create", "applied"),
        ("ip_protection", "update", "skipped"),
        ("ip_whitelist", "delete", "skipped"),
        ("unintercept", "create", "applied"),
        ("unintercept", "delete", "applied"),
        ("unintercept", "delete", "applied"),
        ("unintercept", "delete", "applied"),
    ]
    assert outcomes[0].detail is not None and "after 2 attempts" in outcomes[0].detail
    assert outcomes[2].detail == "skipped: a whitelist addition failed"
    assert server.ip_protection() == "0"


# -- limits and quotas ----------------------------------------------------------------------------


def test_a_sliding_window_holds_a_quota_per_minute() -> None:
    now = [1000.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    slept: list[float] = []
    window = SlidingWindow("GetIpfilterList", 60, 60.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(60):
        now[0] += 0.5
        assert window.acquire() == 0.0
    assert window.acquire() == pytest.approx(30.5)  # until the first call leaves the window
    assert now[0] == pytest.approx(1060.5)
    assert window.acquire() == pytest.approx(0.5)  # the second call leaves half a second later
    assert slept == pytest.approx([30.5, 0.5])


def test_directmail_quotas_bound_their_actions(server: Sandbox) -> None:
    with dm_client(server) as client:
        assert {a: (q.limit, q.window) for a, q in client.quotas.items()} == {
            "GetIpfilterList": (60, 60.0),
            "UpdateIpProtection": (60, 60.0),
            # The sending-data calls (SPEC §9).
            "SenderStatisticsByTagNameAndBatchID": (50, 60.0),
            "SenderStatisticsDetailByParam": (500, 60.0),
            "GetTrackListByMailFromAndTagName": (60, 60.0),
            # Tags, domains and sender addresses (SPEC §10), as the quota page lists them.
            "CreateTag": (30, 10.0),
            "CheckDomain": (10, 60.0),
            "QueryMailAddressByParam": (5, 1.0),
            "ModifyMailAddress": (300, 60.0),
            "DeleteMailAddress": (10, 1.0),
        }
        client.quotas["GetIpfilterList"] = SlidingWindow("GetIpfilterList", 2, 0.4)
        started = time.monotonic()
        for _ in range(3):
            client.get_ipfilter_list()
        assert time.monotonic() - started >= 0.4  # the third call waited for the window
        started = time.monotonic()
        for _ in range(3):
            client.get_ip_protection()  # no quota of its own
        assert time.monotonic() - started < 0.4


def test_concurrency_bounds_the_calls_in_flight(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "s.json", faults=Faults(latency=0.1)) as server:
        client = dm_client(server, limits=Limits(requests_per_second=1000, concurrency=2))
        started = time.monotonic()
        with client, ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(lambda _: client.get_ip_protection(), range(6)))
        elapsed = time.monotonic() - started
    assert elapsed >= 3 * 0.1 * 0.95  # six calls, two at a time


# -- concurrency ----------------------------------------------------------------------------------


# These wait 0.2 s at each call, so that the waits, which concurrency overlaps, outweigh the
# work, which threads share: on a loaded machine the work slows, the waits do not. Each bound
# is a share of what the same work takes one call at a time, measured in the test.
SLOW = 0.2


def test_list_pages_are_fetched_concurrently(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "s.json", faults=Faults(latency=SLOW)) as server:
        set_unintercepts(server, 850)  # 9 pages
        client = sc_client(server, limits=Limits(requests_per_second=1000, concurrency=8))
        with client:
            elapsed = []
            for _ in range(2):  # the quicker of two: a moment's stall of the machine counts once
                started = time.monotonic()
                entries, count = client.list_all()
                elapsed.append(time.monotonic() - started)
                assert count == len(entries) == 850
            assert server.calls == Counter({"unintercept/list": 18})
            # The floor: what a page costs read alone, one after another, on this machine now.
            started = time.monotonic()
            for start in (0, 100):
                client.list_page(start)
            page = (time.monotonic() - started) / 2
    assert [e.value for e in entries] == [f"u{i}@example.com" for i in range(850)]
    # One at a time takes 9 pages' time (1.8 s at least); 8 at a time about 2 pages' time.
    assert min(elapsed) < 0.6 * 9 * page, (elapsed, page)


def test_changes_of_one_phase_run_concurrently_and_report_in_plan_order(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "s.json", faults=Faults(latency=SLOW)) as server:
        account = Account(
            "sc", Provider.SENDCLOUD, server.sendcloud_endpoint, limits=Limits(1000, 8), retry=QUICK
        )
        entries = [
            UninterceptEntry("all", Target.EMAIL, f"n{i:02d}@example.com") for i in range(16)
        ]
        want = AccountDesired(account, unintercepts={e.key: e for e in entries})
        elapsed = []
        seen: list[tuple[str, str]] = []
        with SendCloudClient(account, SC_SECRETS) as client:
            for _ in range(2):  # the quicker of two: a moment's stall of the machine counts once
                set_unintercepts(server, 0)
                seen.clear()
                plan = diff([want], {"sc": read_one(client, want)})
                started = time.monotonic()
                outcomes = execute(
                    plan,
                    {"sc": client},
                    on_outcome=lambda o: seen.append(
                        (o.change.key, threading.current_thread().name)
                    ),
                )
                elapsed.append(time.monotonic() - started)
                assert server.calls == Counter({"unintercept/list": 1, "unintercept/add": 16})
            # The floor: what an add costs alone, one after another, on this machine now.
            started = time.monotonic()
            for i in range(2):
                client.add(UninterceptEntry("all", Target.EMAIL, f"floor{i}@example.com"))
            add = (time.monotonic() - started) / 2
    assert [o.change for o in outcomes] == plan.changes
    assert {o.status for o in outcomes} == {"applied"}
    assert sorted(key for key, _ in seen) == sorted(c.key for c in plan.changes)
    assert {name for _, name in seen} == {threading.current_thread().name}
    # One at a time takes 16 adds' time (3.2 s at least); 8 at a time about 2 adds' time.
    assert min(elapsed) < 0.6 * 16 * add, (elapsed, add)


def test_phases_stay_in_make_before_break_order(server: Sandbox) -> None:
    account = Account(
        "dm", Provider.ALIYUN_DM, server.directmail_endpoint, limits=FAST, retry=QUICK
    )
    want = AccountDesired(
        account,
        protection=True,
        whitelist={a: IpEntry(a) for a in ("203.0.113.7", "203.0.113.8", "203.0.113.9")},
    )
    order: list[str] = []
    with DirectMailClient(account, DM_SECRETS) as client:
        plan = diff([want], {"dm": read_one(client, want)})
        execute(plan, {"dm": client}, on_outcome=lambda o: order.append(phase_of(o)))
    assert order == ["add"] * 3 + ["protection"] + ["delete"] * 2


def phase_of(outcome: Outcome) -> str:
    if outcome.change.resource.value == "ip_protection":
        return "protection"
    return "add" if outcome.change.action.value == "create" else "delete"


# -- incomplete live state ------------------------------------------------------------------------


def test_a_short_page_is_fetched_once_more(sandbox: Sandbox, faults: Faults) -> None:
    set_unintercepts(sandbox, 250)
    faults.script("unintercept/list", "truncate")
    with sc_client(sandbox, limits=Limits(1000, 1)) as client:
        entries, count = client.list_all()
    assert count == len(entries) == 250
    assert sandbox.calls["unintercept/list"] == 4


def test_a_list_that_stays_short_keeps_the_providers_total(
    sandbox: Sandbox, faults: Faults
) -> None:
    set_unintercepts(sandbox, 250)
    # Every read of the first page (and of the whitelist) is cut short: retry.attempts (4)
    # reads, then the short answer stands, with the provider's total.
    faults.script("unintercept/list", *["truncate"] * 4)
    faults.script("GetIpfilterList", *["truncate"] * 4)
    with sc_client(sandbox, limits=Limits(1000, 1)) as sc, dm_client(sandbox) as dm:
        entries, count = sc.list_all()
        live = read_one(dm, AccountDesired(dm.account, whitelist={}))
    assert (len(entries), count) == (200, 250)  # the first page lost half of its entries
    assert sandbox.calls["unintercept/list"] == 6  # four reads of page 1, not a loop; pages 2, 3
    assert (len(live.whitelist or []), live.whitelist_total) == (1, 2)
    assert sandbox.calls["GetIpfilterList"] == 4


def test_a_short_list_read_again_complete_is_used(sandbox: Sandbox, faults: Faults) -> None:
    set_unintercepts(sandbox, 250)
    faults.script("unintercept/list", "truncate", "truncate")
    faults.script("GetIpfilterList", "truncate", "truncate")
    with sc_client(sandbox, limits=Limits(1000, 1)) as sc, dm_client(sandbox) as dm:
        entries, count = sc.list_all()
        live = read_one(dm, AccountDesired(dm.account, whitelist={}))
    assert (len(entries), count) == (250, 250)
    assert sandbox.calls["unintercept/list"] == 5
    assert (len(live.whitelist or []), live.whitelist_total) == (2, 2)
    assert sandbox.calls["GetIpfilterList"] == 3


class GrowingCount(Faults):
    """The second list answer counts 50 more entries than the others: the list grew while it
    was being read."""

    def __init__(self) -> None:
        super().__init__()
        self.answers = 0

    def after(self, provider: Provider, action: str, reply: Reply) -> Reply:
        reply = super().after(provider, action, reply)
        if action == "unintercept/list":
            self.answers += 1
            if self.answers == 2:
                reply.body["info"]["count"] += 50
        return reply


def test_pages_that_disagree_on_the_total_keep_the_largest(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "s.json", faults=GrowingCount()) as server:
        set_unintercepts(server, 250)
        with sc_client(server, limits=Limits(1000, 1)) as client:
            entries, count = client.list_all()
        assert server.calls["unintercept/list"] == 3  # no page beyond the first total
    assert (len(entries), count) == (250, 300)  # short of its total: rule 4 refuses it


# -- secrets --------------------------------------------------------------------------------------


def test_no_secret_in_failure_errors_or_logs(
    server: Sandbox, faults: Faults, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    faults.script("AddIpfilter", "drop-after")
    faults.script("GetIpfilterList", *["5xx"] * 4)
    faults.script("unintercept/add", "throttling", "5xx")
    faults.script("unintercept/list", *["drop-after"] * 4)
    for make, act in [
        (dm_client, lambda c: c.add_ipfilter("203.0.113.7")),
        (sc_client, lambda c: c.add(NEW)),
    ]:
        with make(server) as client, pytest.raises(ProviderError) as caught:
            act(client)
        errors.append(str(caught.value))
    with refusing_port() as port:
        account = Account("sc", Provider.SENDCLOUD, f"http://127.0.0.1:{port}", retry=QUICK)
        with SendCloudClient(account, SC_SECRETS) as sc, pytest.raises(ProviderError) as caught:
            sc.list_all()
        errors.append(str(caught.value))
    assert all("unknown" in text for text in errors[:2]), errors
    assert "retry" in caplog.text
    for secret in SECRETS:
        assert secret not in caplog.text
        assert not any(secret in text for text in errors)


def test_a_provider_message_that_quotes_a_secret_is_scrubbed(
    server: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # DirectMail's SignatureDoesNotMatch quotes the canonical request, token header included;
    # the error leaves it to the -v log.
    token = "sts-token-Qx7Lm2"
    client = dm_client(server, accessKeySecret="wrong-secret-Hj3", securityToken=token)
    debug = caplog.at_level(logging.DEBUG, logger="reconciler.providers")
    with debug, client, pytest.raises(ProviderError) as caught:
        client.get_ip_protection()
    assert caught.value.code == "SignatureDoesNotMatch"
    assert "x-acs-security-token:***" in caplog.text
    assert "canonical request" not in str(caught.value)
    assert token not in str(caught.value) and token not in repr(caught.value.args)
    assert token not in caplog.text


# -- manifests ------------------------------------------------------------------------------------


def test_the_retry_policy_is_read_from_the_account(tmp_path: Path) -> None:
    write(
        tmp_path / "a.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: sc}\n"
        "spec:\n  provider: sendcloud\n"
        "  retry: {attempts: 3, maxSeconds: 20, baseDelaySeconds: 0.25}\n",
    )
    write(
        tmp_path / "b.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: dm}\n"
        "spec: {provider: aliyun-directmail}\n",
    )
    state, _ = load_manifests([tmp_path])
    assert state.accounts["sc"].account.retry == RetryPolicy(3, 20.0, 0.25)
    assert state.accounts["dm"].account.retry == RetryPolicy(5, 60.0, 0.5)


def test_an_invalid_retry_policy_names_its_place(tmp_path: Path) -> None:
    write(
        tmp_path / "a.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: sc}\n"
        "spec:\n  provider: sendcloud\n  retry: {attempts: 0}\n",
    )
    result = run_cli("validate", "a.yaml", cwd=tmp_path)
    assert result.code == 3, result
    assert "a.yaml:6:" in result.err and "attempts" in result.err
    assert "Traceback" not in result.err


# -- helpers --------------------------------------------------------------------------------------


def want(account: Account) -> AccountDesired:
    if account.provider is Provider.ALIYUN_DM:
        return AccountDesired(account, protection=True, whitelist={})
    return AccountDesired(account, unintercepts={})


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield int(bound.getsockname()[1])
