"""The sandbox's sending-data APIs (SPEC §9): shapes, windows, paging, cursors, quotas, and the
traffic model in which IP protection rejects senders no whitelist entry covers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from reconciler.errors import InputError
from reconciler.sandbox import Sandbox, telemetry, traffic
from reconciler.sandbox.demo import demo_state
from reconciler.sandbox.traffic import UTC8
from tests.cli_helpers import BannerThenStop
from tests.sandbox_calls import (
    EMPTY_STATE,
    NOTIFY,
    assert_error,
    call,
    day,
    deliveries,
    directmail,
    today,
)

REPO = Path(__file__).resolve().parent.parent
NEWSLETTER = "newsletter@mail.example.com"


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def error(
    http: requests.Session, sandbox: Sandbox, action: str, status: int, code: str, **params: Any
) -> None:
    response = directmail(
        http, sandbox, action, {k: str(v) for k, v in params.items()}, in_query=True
    )
    assert_error(response, status, code)


def summary(
    http: requests.Session, sandbox: Sandbox, first: int, last: int, **params: Any
) -> dict[str, dict[str, str]]:
    body = call(http, sandbox, telemetry.SUMMARY, StartTime=day(first), EndTime=day(last), **params)
    assert body["TotalCount"] == len(body["data"]["stat"])
    return {row["CreateTime"]: row for row in body["data"]["stat"]}


def whole_day(back: int) -> dict[str, str]:
    return {"StartTime": f"{day(back)} 00:00", "EndTime": f"{day(back)} 23:59"}


# --- summary ----------------------------------------------------------------------------------


def test_summary_has_every_day_of_the_horizon_as_strings(
    sandbox: Sandbox, http: requests.Session
) -> None:
    rows = summary(http, sandbox, 30, 0)
    # Today has a row once its first message is sent: not yet in the first minutes after midnight.
    assert sorted(rows) == [day(back) for back in range(30, 0, -1)] + (
        [day(0)] if day(0) in rows else []
    )
    for row in rows.values():
        assert all(isinstance(value, str) for value in row.values())
        total, ok = int(row["requestCount"]), int(row["successCount"])
        failed, invalid = int(row["faildCount"]), int(row["unavailableCount"])
        assert total == ok + failed + invalid
        assert row["succeededPercent"] == f"{100 * ok / total:.2f}%"
        assert row["unavailablePercent"].endswith("%")
    past = rows[day(3)]
    assert 2000 < int(past["requestCount"]) < 6000  # about 160 an hour
    assert 95 < float(past["succeededPercent"].rstrip("%")) < 99.5


def test_traffic_is_deterministic_and_seeded_from_the_state_file(
    tmp_path: Path, http: requests.Session
) -> None:
    with Sandbox(tmp_path / "a.json") as first, Sandbox(tmp_path / "b.json") as second:
        rows = summary(http, first, 5, 1)
        assert summary(http, second, 5, 1) == rows
    state = {**demo_state(), "telemetry": {"seed": 7}}
    with Sandbox(tmp_path / "c.json", initial_state=state) as other:
        assert summary(http, other, 5, 1) != rows


def test_summary_filters_and_their_errors(sandbox: Sandbox, http: requests.Session) -> None:
    everything = summary(http, sandbox, 2, 2)[day(2)]
    parts = [
        int(summary(http, sandbox, 2, 2, AccountName=sender.account)[day(2)]["requestCount"])
        for sender in traffic.DEFAULT_SENDERS
    ]
    assert sum(parts) == int(everything["requestCount"])
    by_esp = [summary(http, sandbox, 2, 2, Esp=esp) for esp in traffic.ESPS]
    assert sum(int(rows[day(2)]["requestCount"]) for rows in by_esp) == sum(parts)
    quiet = summary(http, sandbox, 7, 1, AccountName=NEWSLETTER, TagName="survey")
    assert sum(int(row["requestCount"]) for row in quiet.values()) < 40
    assert summary(http, sandbox, 2, 2, TagName="no-such-tag") == {}

    window = {"StartTime": day(2), "EndTime": day(1)}
    action = telemetry.SUMMARY
    error(http, sandbox, action, 400, "InvalidMailAddressName.Malformed", AccountName="x", **window)
    error(
        http,
        sandbox,
        action,
        404,
        "InvalidMailAddress.NotFound",
        AccountName="a@b.example",
        **window,
    )
    error(http, sandbox, action, 400, "InvalidTagName.Malformed", TagName="a b", **window)
    error(http, sandbox, action, 400, "InvalidEsp.Malformed", Esp="aol.com", **window)


@pytest.mark.parametrize(
    ("action", "back", "span"),
    [
        (telemetry.SUMMARY, 90, 31),
        (telemetry.TRACK, 30, 7),
        (telemetry.TRACK_BY_SENDER, 30, 15),
        (telemetry.INVALID, 30, 30),
    ],
)
def test_day_windows(
    sandbox: Sandbox, http: requests.Session, action: str, back: int, span: int
) -> None:
    call(http, sandbox, action, StartTime=day(back), EndTime=day(back - span))
    error(
        http,
        sandbox,
        action,
        400,
        "InvalidStartTime.Malformed",
        StartTime=day(back + 1),
        EndTime=day(back - span),
    )
    error(
        http,
        sandbox,
        action,
        400,
        "InvalidBetweenTime.Malformed",
        StartTime=day(back),
        EndTime=day(back - span - 1),  # in the future for the 30-day spans
    )
    error(
        http, sandbox, action, 400, "InvalidBetweenTime.Malformed", StartTime=day(1), EndTime=day(2)
    )
    error(
        http, sandbox, action, 400, "InvalidDate.Malformed", StartTime="2024-02-30", EndTime=day(0)
    )
    error(
        http,
        sandbox,
        action,
        400,
        "InvalidDate.Malformed",
        StartTime=day(1),
        EndTime=f"{day(0)} 10:00",
    )
    error(
        http, sandbox, action, 400, "InvalidYear.Malformed", StartTime="1999-01-01", EndTime=day(0)
    )
    if action != telemetry.INVALID:  # its window is optional
        error(http, sandbox, action, 400, "InvalidDate.NotFound", EndTime=day(0))


# --- tracking ---------------------------------------------------------------------------------


def test_tracking_pages_and_its_two_shapes(sandbox: Sandbox, http: requests.Session) -> None:
    window = {"StartTime": day(7), "EndTime": day(1)}  # whole days: today may have no mail yet
    whole = call(http, sandbox, telemetry.TRACK, **window)
    assert (whole["PageNo"], whole["TotalPages"], whole["Total"]) == (1, 1, 7)
    rows: list[dict[str, str]] = []
    for number in (1, 2, 3, 4):
        page = call(http, sandbox, telemetry.TRACK, PageNumber=number, PageSize=2, **window)
        assert (page["PageNo"], page["PageSize"], page["TotalPages"]) == (number, 2, 4)
        rows += page["data"]["stat"]
    assert rows == whole["data"]["stat"]
    assert rows[0]["CreateTime"] == f"{day(7)}T00:00Z"
    assert all(isinstance(value, str) for row in rows for value in row.values())
    delivered = int(summary(http, sandbox, 7, 7)[day(7)]["successCount"])
    assert int(rows[0]["TotalNumber"]) == delivered
    assert 10 < float(rows[0]["RcptUniqueOpenRate"]) < 40

    by_sender = call(
        http,
        sandbox,
        telemetry.TRACK_BY_SENDER,
        AccountName=NEWSLETTER,
        TagName="newsletter",
        **window,
    )
    assert by_sender["TotalPages"] == "1" and by_sender["PageNo"] == 1
    assert len(by_sender["TrackList"]["Stat"]) == 7
    assert int(by_sender["TrackList"]["Stat"][0]["TotalNumber"]) < delivered

    domain = call(http, sandbox, telemetry.TRACK, Domain="elsewhere.example", **window)
    assert domain["Total"] == 0 and domain["TotalPages"] == 0

    by = telemetry.TRACK_BY_SENDER
    error(http, sandbox, by, 400, "MissingParameter", TagName="newsletter", **window)
    error(http, sandbox, by, 400, "InvalidPageSize.Malformed", PageSize=101, **window)
    error(http, sandbox, by, 400, "InvalidPageNumber.Malformed", PageNumber=0, **window)


# --- invalid addresses ------------------------------------------------------------------------


def test_invalid_addresses_page_to_an_empty_next_start(
    sandbox: Sandbox, http: requests.Session
) -> None:
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        body = call(http, sandbox, telemetry.INVALID, Length=7, NextStart=cursor)
        found += body["data"]["mailDetail"]
        cursor = body["NextStart"]
        if cursor == "":
            break
    assert body["TotalCount"] == len(found) == len(traffic.INVALID_ADDRESSES)
    addresses = [row["ToAddress"] for row in found]
    assert len(set(addresses)) == len(addresses)
    assert "vip@example.com" in addresses  # exempted from bounce interception on SendCloud
    row = found[0]
    assert isinstance(row["UtcLastUpdateTime"], int)
    moment = datetime.fromtimestamp(row["UtcLastUpdateTime"], UTC8)
    assert row["LastUpdateTime"] == moment.strftime("%Y-%m-%dT%H:%MZ")

    keyword = call(
        http, sandbox, telemetry.INVALID, KeyWord="VIP@", StartTime=day(30), EndTime=day(0)
    )
    assert [row["ToAddress"] for row in keyword["data"]["mailDetail"]] == ["vip@example.com"]
    error(http, sandbox, telemetry.INVALID, 400, "InvalidNextStart.Malformed", NextStart="x1")
    error(http, sandbox, telemetry.INVALID, 400, "InvalidLength.Malformed", Length=0)


# --- per-message detail -----------------------------------------------------------------------


def test_detail_follows_cursors_and_agrees_with_the_summary(
    sandbox: Sandbox, http: requests.Session
) -> None:
    rows = list(deliveries(http, sandbox, **whole_day(4)))
    totals = summary(http, sandbox, 4, 4)[day(4)]
    assert len(rows) == int(totals["requestCount"])
    assert sum(row["Status"] == 2 for row in rows) == int(totals["unavailableCount"])
    times = [int(row["UtcLastUpdateTime"]) for row in rows]
    assert times == sorted(times)
    assert {row["ErrorClassification"] for row in rows} == {
        "SendOk",
        "InvalidAddress",
        "Spam",
        "SendFailed",
    }
    invalid = list(deliveries(http, sandbox, Status=2, **whole_day(4)))
    assert len(invalid) == int(totals["unavailableCount"])
    assert all(row["ErrorClassification"] == "InvalidAddress" for row in invalid)
    notify = list(deliveries(http, sandbox, AccountName=NOTIFY.upper(), **whole_day(4)))
    assert {row["AccountName"] for row in notify} == {NOTIFY}


def test_detail_minutes_add_up_to_the_daily_summary(
    sandbox: Sandbox, http: requests.Session
) -> None:
    # A check under a day reads the detail by the minute: hour windows (each ending at its
    # minute :59, which the window includes) must tile the day exactly as the totals count it.
    totals = summary(http, sandbox, 3, 3)[day(3)]
    outcomes: dict[str, int] = {"requests": 0, "invalid": 0, "ok": 0}
    for hour in range(24):
        window = {"StartTime": f"{day(3)} {hour:02d}:00", "EndTime": f"{day(3)} {hour:02d}:59"}
        for row in deliveries(http, sandbox, **window):
            moment = datetime.fromtimestamp(int(row["UtcLastUpdateTime"]), UTC8)
            assert moment.hour == hour and moment.date().isoformat() == day(3)
            # LastUpdateTime: the same minute as UTC+8 wall-clock time (with the service's Z).
            assert row["LastUpdateTime"] == moment.strftime("%Y-%m-%dT%H:%MZ")
            outcomes["requests"] += 1
            outcomes["invalid"] += row["Status"] == 2
            outcomes["ok"] += row["Status"] == 0
    assert outcomes == {
        "requests": int(totals["requestCount"]),
        "invalid": int(totals["unavailableCount"]),
        "ok": int(totals["successCount"]),
    }
    # One minute alone: only the messages of that minute.
    one = {"StartTime": f"{day(3)} 10:17", "EndTime": f"{day(3)} 10:17"}
    rows = list(deliveries(http, sandbox, **one))
    assert rows and {row["LastUpdateTime"][11:16] for row in rows} == {"10:17"}


def test_detail_cursor_is_opaque_and_checked(sandbox: Sandbox, http: requests.Session) -> None:
    window = whole_day(2)
    first = call(http, sandbox, telemetry.DETAIL, Length=5, **window)
    cursor = first["NextStart"]
    fingerprint, index, where, mac = cursor.split("#")
    assert len(fingerprint) == 10 and index.isdigit() and "***@" in where
    second = call(http, sandbox, telemetry.DETAIL, Length=5, NextStart=cursor, **window)
    assert second["data"]["mailDetail"][0] != first["data"]["mailDetail"][0]
    forged = "#".join([fingerprint, str(int(index) + 1), where, mac])
    for bad in (forged, "5", cursor[:-1], cursor + "#x", cursor[:-1] + "\u00e9"):
        error(
            http,
            sandbox,
            telemetry.DETAIL,
            400,
            "InvalidNextStart.Malformed",
            Length=5,
            NextStart=bad,
            **window,
        )
    # A cursor belongs to its query.
    error(
        http,
        sandbox,
        telemetry.DETAIL,
        400,
        "InvalidNextStart.Malformed",
        Length=5,
        NextStart=cursor,
        **whole_day(3),
    )


def test_detail_parameter_errors(sandbox: Sandbox, http: requests.Session) -> None:
    window = whole_day(1)
    detail = telemetry.DETAIL
    error(
        http,
        sandbox,
        detail,
        400,
        "InvalidParameter.Conflict",
        AccountName=NOTIFY,
        TagName="receipt",
        **window,
    )
    error(http, sandbox, detail, 400, "InvalidStatus.Malformed", Status=1, **window)
    error(http, sandbox, detail, 400, "InvalidLength.Malformed", Length=101, **window)
    error(http, sandbox, detail, 400, "InvalidDate.Malformed", StartTime=day(1), EndTime=day(0))
    error(http, sandbox, detail, 400, "InvalidDate.NotFound", EndTime=f"{day(0)} 10:00")
    error(
        http,
        sandbox,
        detail,
        400,
        "InvalidStartTime.Malformed",
        StartTime=f"{day(31)} 00:00",
        EndTime=f"{day(0)} 00:00",
    )
    error(
        http,
        sandbox,
        detail,
        400,
        "InvalidBetweenTime.Malformed",
        StartTime=f"{day(30)} 00:00",
        EndTime=f"{day(0)} 00:01",
    )
    last = call(http, sandbox, detail, Length=3, ToAddress="nobody@nowhere.example", **window)
    assert last["data"]["mailDetail"] == [] and "NextStart" not in last


# --- the traffic model ------------------------------------------------------------------------


def test_protection_rejects_an_uncovered_sender_from_the_switch_on(
    tmp_path: Path, http: requests.Session
) -> None:
    switched = int(
        datetime.combine(today() - timedelta(days=2), datetime.min.time(), UTC8).timestamp()
    )
    state = demo_state()
    state["directmail"].update(ip_protection="1", ip_protection_since=switched)
    with Sandbox(
        tmp_path / "s.json", initial_state=state, senders={NOTIFY: "192.0.2.200"}
    ) as sandbox:
        notify = summary(http, sandbox, 4, 1, AccountName=NOTIFY)
        for back in (2, 1):
            assert notify[day(back)]["faildCount"] == notify[day(back)]["requestCount"]
            assert notify[day(back)]["succeededPercent"] == "0%"
        for back in (4, 3):
            assert int(notify[day(back)]["successCount"]) > 0
        covered = summary(http, sandbox, 1, 1, AccountName=NEWSLETTER)[day(1)]
        assert int(covered["successCount"]) > 0.9 * int(covered["requestCount"])
        rejected = next(deliveries(http, sandbox, AccountName=NOTIFY, **whole_day(1)))
        assert (rejected["Status"], rejected["ErrorClassification"]) == (4, "IpProtection")
        assert "192.0.2.200" in rejected["Message"]

        # Whitelisting the address heals the sender; switching protection off too.
        call(http, sandbox, "AddIpfilter", IpAddress="192.0.2.0/24")
        assert int(summary(http, sandbox, 1, 1, AccountName=NOTIFY)[day(1)]["successCount"]) > 0


def test_switching_protection_on_records_the_moment(
    sandbox: Sandbox, http: requests.Session
) -> None:
    before = int(datetime.now().timestamp())
    call(http, sandbox, "UpdateIpProtection", IpProtection="1")
    since = sandbox.snapshot()["directmail"]["ip_protection_since"]
    assert before <= since <= before + 5
    call(http, sandbox, "UpdateIpProtection", IpProtection="1")
    assert sandbox.snapshot()["directmail"]["ip_protection_since"] == since
    saved = json.loads(Path(sandbox._state.path or "").read_text())
    assert saved["directmail"]["ip_protection_since"] == since
    # The demo senders are whitelisted: protection on leaves the demo traffic healthy.
    rows = list(
        deliveries(http, sandbox, StartTime=f"{day(0)} 00:00", EndTime=f"{day(0)} 23:59", Status=4)
    )
    assert all(row["ErrorClassification"] != "IpProtection" for row in rows)
    call(http, sandbox, "UpdateIpProtection", IpProtection="0")
    assert "ip_protection_since" not in sandbox.snapshot()["directmail"]


def test_backdating_the_switch_shows_its_effect_at_once(
    tmp_path: Path, http: requests.Session
) -> None:
    with Sandbox(tmp_path / "s.json", senders={NOTIFY: "192.0.2.200"}) as sandbox:
        with pytest.raises(InputError, match="protection is off"):
            sandbox.backdate_protection(timedelta(hours=1))
        call(http, sandbox, "UpdateIpProtection", IpProtection="1")
        sandbox.backdate_protection(timedelta(days=2))
        notify = summary(http, sandbox, 1, 1, AccountName=NOTIFY)[day(1)]
        assert notify["faildCount"] == notify["requestCount"]
    with Sandbox(tmp_path / "s.json") as again:  # saved
        assert summary(http, again, 1, 1, AccountName=NOTIFY)[day(1)] == notify


def test_demo_senders_are_whitelisted_before_and_after_the_examples() -> None:
    config = traffic.TrafficConfig()
    demo = [r["IpAddress"] for r in demo_state()["directmail"]["ipfilters"]]
    example = yaml.safe_load((REPO / "examples/directmail/ip-whitelist.yaml").read_text())
    entries = example["spec"]["entries"]
    for whitelist in (demo, entries):
        assert traffic.protection(config, True, 0, whitelist).rejected == frozenset()
    assert traffic.protection(config, True, 0, ["203.0.113.99"]).rejected == {0, 1, 2}


def test_knobs_are_saved_and_checked(tmp_path: Path, http: requests.Session) -> None:
    path = tmp_path / "s.json"
    with Sandbox(
        path, failure_percent=20, invalid_percent=0, senders={"new@mail.example.com": "192.0.2.9"}
    ) as sandbox:
        rows = summary(http, sandbox, 2, 2)
        assert rows[day(2)]["unavailableCount"] == "0"
        assert 15 < 100 - float(rows[day(2)]["succeededPercent"].rstrip("%")) < 25
        assert "new@mail.example.com" in {s.account for s in sandbox.traffic().senders}
    with Sandbox(path) as again:  # a later run on the same file sees the same traffic
        assert summary(http, again, 2, 2) == rows
        assert again.traffic().failure_percent == 20
    for bad in (
        {"failure_percent": 101},
        {"senders": {NOTIFY: "300.1.1.1"}},
        {"senders": {"x": "192.0.2.1"}},
        {"senders": {NOTIFY: 123}},
        {"failure_percent": 60, "invalid_percent": 50},
    ):
        with pytest.raises(InputError, match="sandbox traffic"):
            Sandbox(tmp_path / "bad.json", **bad)


def test_a_state_file_without_telemetry_stays_without_it(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "s.json", initial_state=EMPTY_STATE) as sandbox:
        assert sandbox.snapshot() == EMPTY_STATE


# --- quotas -----------------------------------------------------------------------------------


def test_quotas_per_minute() -> None:
    now = [0.0]
    quotas = telemetry.Quotas({"A": 2}, clock=lambda: now[0])
    quotas.spend("A")
    quotas.spend("A")
    quotas.spend("B")  # no quota
    with pytest.raises(Exception, match=r"Throttling\.User"):
        quotas.spend("A")
    now[0] = 60.0
    quotas.spend("A")


def test_summary_quota_answers_throttling(sandbox: Sandbox, http: requests.Session) -> None:
    for _ in range(telemetry.QUOTAS[telemetry.SUMMARY]):
        call(http, sandbox, telemetry.SUMMARY, StartTime=day(1), EndTime=day(1))
    error(
        http, sandbox, telemetry.SUMMARY, 400, "Throttling.User", StartTime=day(1), EndTime=day(1)
    )
    call(http, sandbox, telemetry.TRACK, StartTime=day(1), EndTime=day(1))  # its own quota


# --- the command ------------------------------------------------------------------------------


def test_sandbox_command_passes_the_traffic_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.commands import sandbox as command
    from tests.cli_helpers import run_cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(command, "serve_forever", lambda *args, **kwargs: seen.update(kwargs))
    flags = ["--failure-percent", "5", "--invalid-percent", "0.5", "--no-quotas"]
    flags += ["--messages-per-minute", "60"]
    senders = ["--sender", f"{NOTIFY}=192.0.2.200", "--sender", "x@mail.example.com=192.0.2.9"]
    result = run_cli("sandbox", *flags, *senders, cwd=tmp_path)
    assert result.code == 0, result.err
    assert seen["traffic"] == {
        "failure_percent": 5.0,
        "invalid_percent": 0.5,
        "senders": {NOTIFY: "192.0.2.200", "x@mail.example.com": "192.0.2.9"},
        "messages_per_minute": 60.0,
        "telemetry_quotas": False,
    }
    for bad in (["--sender", "notify=192.0.2.1"], ["--sender", f"{NOTIFY}=300.0.0.1"]):
        refused = run_cli("sandbox", *bad, cwd=tmp_path)
        assert refused.code == 3 and "expected SENDER=IPV4" in refused.err
    refused = run_cli("sandbox", "--failure-percent", "120", cwd=tmp_path)
    assert refused.code == 3 and "from 0 to 100" in refused.err


def test_sandbox_banner_lists_the_traffic(tmp_path: Path) -> None:
    from reconciler.sandbox import serve_forever

    out = BannerThenStop()
    knobs = {"failure_percent": 3.0, "senders": {NOTIFY: "192.0.2.200"}}
    serve_forever(tmp_path / "s.json", "127.0.0.1", 0, out=out, traffic=knobs)  # type: ignore[arg-type]
    assert "  traffic                 3% failed, 2% invalid\n" in out.text
    assert f"  sender                  {NOTIFY} from 192.0.2.200\n" in out.text
    assert f"  sender                  {NEWSLETTER} from 198.51.100.10\n" in out.text
