"""Fault injection over real HTTP: each kind in each provider's shape, determinism, rates, CLI."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from reconciler import signing
from reconciler.model import Provider
from reconciler.sandbox import ACCESS_KEY_ID, ACCESS_KEY_SECRET, API_KEY, API_USER, Faults, Sandbox
from reconciler.sandbox.faults import FAULT_KINDS, format_injected, parse_kinds
from reconciler.sandbox.wire import Reply
from tests.cli_helpers import REPO, BannerThenStop, run_cli, started

ERROR_FIELDS = {"RequestId", "HostId", "Code", "Message", "Recommend"}
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
            {
                "apiUserName": "all",
                "domain": "",
                "email": f"user{n}@example.com",
                "type": [1, 2, 4, 8],
                "createTime": "2024-01-01 00:00:00",
            }
            for n in range(5)
        ]
    },
}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def faulty(faults: Faults, state_file: Path | None = None) -> Sandbox:
    return Sandbox(state_file, faults=faults, initial_state=STATE)


def dm(http: requests.Session, sandbox: Sandbox, action: str, **params: str) -> requests.Response:
    """One V3-signed DirectMail call, parameters in the form body."""
    body = urlencode(params).encode()
    headers = signing.v3_headers(
        host=f"127.0.0.1:{sandbox.port}",
        action=action,
        version="2015-11-23",
        body=body,
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=ACCESS_KEY_SECRET,
    )
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return http.post(sandbox.directmail_endpoint + "/", data=body, headers=headers)


def sc(
    http: requests.Session, sandbox: Sandbox, action: str, api_key: str = API_KEY, **params: Any
) -> requests.Response:
    form = {"apiUser": API_USER, "apiKey": api_key, **params}
    return http.post(f"{sandbox.sendcloud_endpoint}/unintercept/{action}", data=form)


def outcome(call: Any) -> str:
    """What a client saw: a status and code, or a dropped connection."""
    try:
        response: requests.Response = call()
    except requests.ConnectionError:
        return "dropped"
    body = response.json()
    code = body.get("Code") or body.get("statusCode")
    records = body.get("data", {}).get("ipfilters") or body.get("info", {}).get("dataList")
    return f"{response.status_code} {code} {len(records or [])}"


# --- each kind, in each provider's shape ------------------------------------------------------


def test_throttling_directmail_shape_and_retry_hint(http: requests.Session) -> None:
    faults = Faults(retry_after=1.5)
    with faulty(faults) as sandbox:
        faults.script("AddIpfilter", "throttling")
        response = dm(http, sandbox, "AddIpfilter", IpAddress="203.0.113.9")
        assert response.status_code == 400
        body = response.json()
        assert set(body) == ERROR_FIELDS
        assert body["Code"] == "Throttling.User"
        assert body["Message"] == "Request was denied due to user flow control."
        assert response.headers["x-acs-retry-after"] == "1500"
        assert response.headers["Content-Type"] == "application/json;charset=utf-8"
        assert len(sandbox.ipfilters()) == 2  # not handled
        assert dm(http, sandbox, "AddIpfilter", IpAddress="203.0.113.9").status_code == 200
    assert faults.injected == {"throttling": 1}


def test_throttling_sendcloud_shape_and_retry_hint(http: requests.Session) -> None:
    faults = Faults(retry_after=1.5)
    with faulty(faults) as sandbox:
        faults.script("unintercept/add", "throttling")
        response = sc(http, sandbox, "add", email="new@example.com")
        assert response.status_code == 429
        assert response.json() == {
            "result": False,
            "statusCode": 429,
            "message": response.json()["message"],
            "info": {},
        }
        assert response.json()["message"]
        assert response.headers["Retry-After"] == "2"  # whole seconds, rounded up
        assert "x-acs-retry-after" not in response.headers
        assert len(sandbox.unintercepts()) == 5


def test_retry_hints_are_sent_only_when_they_can_be_said(http: requests.Session) -> None:
    short = Faults(retry_after=0.25)
    with faulty(short) as sandbox:
        short.script("unintercept/list", "throttling")
        short.script("GetIpfilterList", "throttling")
        assert "Retry-After" not in sc(http, sandbox, "list").headers  # under one second
        assert dm(http, sandbox, "GetIpfilterList").headers["x-acs-retry-after"] == "250"
    none = Faults()
    with faulty(none) as sandbox:
        none.script("unintercept/list", "throttling")
        none.script("GetIpfilterList", "throttling")
        assert "Retry-After" not in sc(http, sandbox, "list").headers
        assert "x-acs-retry-after" not in dm(http, sandbox, "GetIpfilterList").headers


def test_5xx_in_each_providers_shape(http: requests.Session) -> None:
    faults = Faults(retry_after=3)
    with faulty(faults) as sandbox:
        faults.script("DeleteIpfilterByEdmId", "5xx")
        faults.script("unintercept/delete", "5xx")
        response = dm(http, sandbox, "DeleteIpfilterByEdmId", Id="1")
        assert response.status_code == 503
        assert set(response.json()) == ERROR_FIELDS
        assert response.json()["Code"] == "ServiceUnavailable"
        assert "x-acs-retry-after" not in response.headers
        response = sc(http, sandbox, "delete", email="user0@example.com")
        assert response.status_code == 500
        assert response.json() == {
            "result": False,
            "statusCode": 501,
            "message": "服务器错误",
            "info": {},
        }
        assert "Retry-After" not in response.headers
        assert len(sandbox.ipfilters()) == 2 and len(sandbox.unintercepts()) == 5
    assert faults.injected == {"5xx": 2}


def test_drop_before_closes_without_a_response_and_writes_nothing(
    http: requests.Session, tmp_path: Path
) -> None:
    faults = Faults()
    with faulty(faults, tmp_path / "s.json") as sandbox:
        faults.script("AddIpfilter", "drop-before")
        faults.script("unintercept/add", "drop-before")
        with pytest.raises(requests.ConnectionError):
            dm(http, sandbox, "AddIpfilter", IpAddress="203.0.113.9")
        with pytest.raises(requests.ConnectionError):
            sc(http, sandbox, "add", email="new@example.com")
        assert len(sandbox.ipfilters()) == 2 and len(sandbox.unintercepts()) == 5
        assert sandbox.calls == {"AddIpfilter": 1, "unintercept/add": 1}
        assert sc(http, sandbox, "list").status_code == 200  # the session reconnects
    saved = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert len(saved["directmail"]["ipfilters"]) == 2
    assert faults.injected == {"drop-before": 2}


def test_drop_after_writes_and_saves_then_closes_without_a_response(
    http: requests.Session, tmp_path: Path
) -> None:
    faults = Faults()
    with faulty(faults, tmp_path / "s.json") as sandbox:
        faults.script("AddIpfilter", "drop-after")
        faults.script("unintercept/delete", "drop-after")
        with pytest.raises(requests.ConnectionError):
            dm(http, sandbox, "AddIpfilter", IpAddress="203.0.113.9")
        with pytest.raises(requests.ConnectionError):
            sc(http, sandbox, "delete", email="user0@example.com")
        assert [r["IpAddress"] for r in sandbox.ipfilters()][-1] == "203.0.113.9"
        assert "user0@example.com" not in {r["email"] for r in sandbox.unintercepts()}
        assert dm(http, sandbox, "GetIpfilterList").json()["TotalCount"] == 3
    saved = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert "203.0.113.9" in {r["IpAddress"] for r in saved["directmail"]["ipfilters"]}
    assert len(saved["sendcloud"]["unintercepts"]) == 4
    assert faults.injected == {"drop-after": 2}


def test_a_dropped_connection_logs_no_traceback(
    http: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    faults = Faults()
    with faulty(faults) as sandbox:
        faults.script("unintercept/list", "drop-before", "drop-after")
        for _ in range(2):
            with pytest.raises(requests.ConnectionError):
                sc(http, sandbox, "list")
    assert not [r for r in caplog.records if r.exc_info or r.levelname in ("ERROR", "WARNING")]


def test_truncated_lists_keep_their_total(http: requests.Session) -> None:
    faults = Faults()
    with faulty(faults) as sandbox:
        faults.script("GetIpfilterList", "truncate")
        faults.script("unintercept/list", "truncate")
        body = dm(http, sandbox, "GetIpfilterList").json()
        assert body["TotalCount"] == 2 and len(body["data"]["ipfilters"]) == 1
        info = sc(http, sandbox, "list").json()["info"]
        assert info["count"] == 5 and len(info["dataList"]) == 2
        assert info["dataList"] == sc(http, sandbox, "list", limit=2).json()["info"]["dataList"]
        # A page of one record comes back empty; the next call is whole again.
        faults.script("unintercept/list", "truncate")
        info = sc(http, sandbox, "list", email="user3@example.com").json()["info"]
        assert info == {"dataList": [], "count": 1}
        assert len(sc(http, sandbox, "list").json()["info"]["dataList"]) == 5
    assert faults.injected == {"truncate": 3}


def test_truncating_an_answer_without_records_changes_nothing(http: requests.Session) -> None:
    faults = Faults()
    with faulty(faults) as sandbox:
        faults.script("unintercept/list", "truncate")
        assert sc(http, sandbox, "list", start=100).json()["info"] == {"dataList": [], "count": 5}
        assert sc(http, sandbox, "list", api_key="wrong").json()["statusCode"] == 40005
    assert faults.injected == {}


def test_truncate_rate_hits_list_answers_only(http: requests.Session) -> None:
    faults = Faults(truncate_rate=1.0, seed=3)
    with faulty(faults) as sandbox:
        assert sc(http, sandbox, "add", email="new@example.com").json()["result"] is True
        info = sc(http, sandbox, "list").json()["info"]
        assert info["count"] == 6 and len(info["dataList"]) == 3
        body = dm(http, sandbox, "GetIpfilterList").json()
        assert body["TotalCount"] == 2 and len(body["data"]["ipfilters"]) == 1
        assert dm(http, sandbox, "GetIpProtection").status_code == 200
    assert faults.injected == {"truncate": 2}


def test_faults_before_the_call_apply_whatever_its_credentials(http: requests.Session) -> None:
    faults = Faults()
    with faulty(faults) as sandbox:
        faults.script("unintercept/add", "throttling", "drop-after")
        assert sc(http, sandbox, "add", api_key="wrong", email="a@example.com").status_code == 429
        with pytest.raises(requests.ConnectionError):
            sc(http, sandbox, "add", api_key="wrong", email="a@example.com")
        assert len(sandbox.unintercepts()) == 5


def test_latency_comes_before_the_fault(http: requests.Session) -> None:
    faults = Faults(latency=0.2, error_rate=1.0, kinds=("5xx",))
    with faulty(faults) as sandbox:
        response = sc(http, sandbox, "list")
    assert response.status_code == 500
    assert response.elapsed.total_seconds() >= 0.2


# --- randomness: rates, determinism, scope -------------------------------------------------


def test_defaults_inject_nothing_and_draw_nothing(http: requests.Session) -> None:
    faults = Faults(seed=1)
    state = faults.rng.getstate()
    with faulty(faults) as sandbox:
        for action in ("GetIpfilterList", "GetIpProtection"):
            assert dm(http, sandbox, action).status_code == 200
        assert len(sc(http, sandbox, "list").json()["info"]["dataList"]) == 5
    assert faults.rng.getstate() == state
    assert faults.injected == {}
    assert not faults.active and faults.summary() == ""


def _mixed_run(seed: int) -> tuple[list[str], Counter[str]]:
    faults = Faults(seed=seed, error_rate=0.4, truncate_rate=0.5)
    outcomes = []
    with faulty(faults) as sandbox, requests.Session() as http:
        for n in range(12):
            outcomes.append(outcome(lambda: sc(http, sandbox, "list")))
            outcomes.append(outcome(lambda: dm(http, sandbox, "GetIpfilterList")))
            add = functools.partial(sc, http, sandbox, "add", email=f"new{n}@example.com")
            outcomes.append(outcome(add))
    return outcomes, faults.injected


def test_the_same_seed_gives_the_same_faults() -> None:
    first, injected = _mixed_run(seed=11)
    second, injected_again = _mixed_run(seed=11)
    assert first == second
    assert injected == injected_again
    assert set(injected) == {*FAULT_KINDS, "truncate"}  # the run exercised every kind
    other, _ = _mixed_run(seed=12)
    assert other != first


def test_error_rate_is_the_fraction_of_calls_that_fail(http: requests.Session) -> None:
    faults = Faults(seed=5, error_rate=0.25, kinds=("throttling", "5xx"))
    statuses: Counter[int] = Counter()
    with faulty(faults) as sandbox:
        for _ in range(400):
            statuses[sc(http, sandbox, "list").status_code] += 1
    failed = statuses[429] + statuses[500]
    assert 65 <= failed <= 135, statuses  # 100 expected; sd ~8.7
    assert statuses[429] > 0.3 * failed and statuses[500] > 0.3 * failed  # picked uniformly
    assert faults.injected == {"throttling": statuses[429], "5xx": statuses[500]}


def test_actions_limit_random_faults(http: requests.Session) -> None:
    faults = Faults(
        seed=2,
        error_rate=1.0,
        kinds=("5xx",),
        truncate_rate=1.0,
        actions=frozenset({"unintercept/add", "AddIpfilter"}),
    )
    with faulty(faults) as sandbox:
        assert len(sc(http, sandbox, "list").json()["info"]["dataList"]) == 5
        assert dm(http, sandbox, "GetIpfilterList").status_code == 200
        assert sc(http, sandbox, "add", email="a@example.com").status_code == 500
        assert dm(http, sandbox, "AddIpfilter", IpAddress="203.0.113.9").status_code == 503
    assert faults.injected == {"5xx": 2}


def test_scripted_faults_come_in_order_before_any_random_draw(http: requests.Session) -> None:
    faults = Faults(seed=4, error_rate=1.0, kinds=("5xx",))
    with faulty(faults) as sandbox:
        faults.script("unintercept/list", "throttling", "drop-before")
        faults.script("unintercept/list", "truncate")
        assert sc(http, sandbox, "list").status_code == 429
        with pytest.raises(requests.ConnectionError):
            sc(http, sandbox, "list")
        info = sc(http, sandbox, "list").json()["info"]
        assert len(info["dataList"]) < info["count"]
        assert sc(http, sandbox, "list").status_code == 500  # script used up: random again
    assert faults.injected == {"throttling": 1, "drop-before": 1, "truncate": 1, "5xx": 1}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"error_rate": 1.5}, "error_rate must be a fraction between 0 and 1"),
        ({"error_rate": float("nan")}, "error_rate must be a fraction"),
        ({"truncate_rate": -0.1}, "truncate_rate must be a fraction"),
        ({"latency": -1}, "latency must be a finite, non-negative"),
        ({"latency": float("inf")}, "latency must be a finite"),
        ({"retry_after": -2}, "retry_after must be a finite"),
        ({"kinds": ("throttling", "boom")}, "unknown fault kind 'boom'"),
        ({"kinds": ("truncate",)}, "'truncate' is not an error kind"),
        ({"kinds": "throttling"}, "not the string"),
        ({"kinds": (), "error_rate": 0.5}, "at least one fault kind"),
        ({"actions": frozenset({"AddIpFilter"})}, "unknown action 'AddIpFilter'"),
    ],
)
def test_invalid_faults_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Faults(**kwargs)


def test_invalid_scripts_are_refused() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="list actions only"):
        faults.script("AddIpfilter", "truncate")
    with pytest.raises(ValueError, match="unknown fault kind 'slow'"):
        faults.script("AddIpfilter", "5xx", "slow")
    with pytest.raises(ValueError, match="unknown action"):
        faults.script("unintercept/update", "5xx")


def test_kinds_are_deduplicated_and_parsed() -> None:
    assert Faults(kinds=("5xx", "5xx", "throttling")).kinds == ("5xx", "throttling")
    assert parse_kinds(" drop-after, 5xx,,5xx ") == ("drop-after", "5xx")
    with pytest.raises(ValueError, match="at least one"):
        parse_kinds(",")
    assert format_injected(Counter({"truncate": 1, "5xx": 2})) == "3 (5xx 2, truncate 1)"
    assert format_injected(Counter()) == "0"


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--error-rate", "2"], "argument --error-rate: expected a fraction between 0 and 1"),
        (["--truncate-rate", "x"], "argument --truncate-rate: expected a fraction"),
        (["--latency", "-1"], "argument --latency: expected a number of seconds"),
        (["--retry-after", "nan"], "argument --retry-after: expected a number of seconds"),
        (["--faults", "throttling,boom"], "argument --faults: unknown fault kind 'boom'"),
        (["--seed", "one"], "argument --seed: invalid int value"),
        (["--faults", "5xx"], "--faults picks what --error-rate injects"),
    ],
)
def test_sandbox_command_refuses_bad_fault_flags(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli("sandbox", "--port", "0", *args, cwd=tmp_path)
    assert result.code == 3, result
    assert message in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / ".reconciler").exists()  # refused before serving


def test_sandbox_command_announces_and_counts_its_faults(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_", "SENDCLOUD_"))}
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "reconciler", "sandbox", "--port", "0", "--state", "s.json"]
    flags = ["--error-rate", "0.5", "--seed", "1", "--faults", "throttling,5xx"]
    # A real process: the test stops it with Ctrl-C.
    with started(
        [*command, *flags, "--retry-after", "2"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            banner = [proc.stdout.readline()]
            while banner[-1] and not banner[-1].startswith("Press Ctrl-C"):
                banner.append(proc.stdout.readline())
            text = "".join(banner)
            faults = "error rate 0.5 (throttling, 5xx), retry-after 2 s, seed 1"
            assert f"  faults                  {faults}\n" in text, text
            port = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
            assert port is not None, text
            form = {"apiUser": API_USER, "apiKey": API_KEY}
            url = f"http://127.0.0.1:{port[1]}/apiv2/unintercept/list"
            with requests.Session() as http:
                statuses = Counter(http.post(url, data=form).status_code for _ in range(20))
            assert statuses[429] and statuses[500] and statuses[200], statuses
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    failed = statuses[429] + statuses[500]
    assert f"faults injected: {failed} (throttling {statuses[429]}, 5xx {statuses[500]})" in out


def test_sandbox_banner_has_no_fault_line_by_default(tmp_path: Path) -> None:
    from reconciler.sandbox import serve_forever

    out = BannerThenStop()
    serve_forever(tmp_path / "s.json", "127.0.0.1", 0, out=out)  # type: ignore[arg-type]
    assert "listening on" in out.text and "faults" not in out.text
    assert out.text.endswith("stopping the sandbox\n")


class SlowWrites(Faults):
    """Holds each add between its handling and its fault, so other calls run in between."""

    def after(self, provider: Provider, action: str, reply: Reply) -> Reply:
        if action == "unintercept/add":
            time.sleep(0.05)
        return super().after(provider, action, reply)


def test_faults_decided_for_one_call_never_reach_a_concurrent_one() -> None:
    faults = SlowWrites()
    faults.script("unintercept/add", *["drop-after"] * 5)

    def lists() -> list[int]:
        with requests.Session() as http:
            return [len(sc(http, sandbox, "list").json()["info"]["dataList"]) for _ in range(20)]

    def adds() -> list[str]:
        with requests.Session() as http:
            return [
                outcome(functools.partial(sc, http, sandbox, "add", email=f"c{n}@example.com"))
                for n in range(5)
            ]

    with faulty(faults) as sandbox, ThreadPoolExecutor(4) as pool:
        listed = [pool.submit(lists) for _ in range(3)]
        added = pool.submit(adds)
        assert added.result() == ["dropped"] * 5
        assert all(n >= 5 for future in listed for n in future.result())
        assert len(sandbox.unintercepts()) == 10
    assert faults.injected == {"drop-after": 5}
