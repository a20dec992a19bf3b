"""Delivery telemetry (SPEC §9): ``stats`` and ``check`` through the real CLI against a scripted
DirectMail answering the five sending-data APIs in their documented shapes."""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from reconciler.providers.telemetry import ZONE, Window, day_chunks, now, time_chunks
from tests.cli_helpers import Result, accounts_yaml, run_cli, write
from tests.hostile import HostileServer
from tests.telemetry_script import (
    DETAIL,
    INVALID,
    SUMMARY,
    TRACK,
    TRACK_BY,
    Telemetry,
    gateway_error,
)

ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "tele-key-id",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "tele-key-secret-value",
    "SENDCLOUD_API_USER": "tele-user",
    "SENDCLOUD_API_KEY": "tele-api-key-value",
}
FAST_RETRY = "  retry: {attempts: 2, maxSeconds: 2, baseDelaySeconds: 0.01}\n"


def _manifests(root: Path, url: str, extra: str = "") -> Path:
    text = accounts_yaml(url).replace("  limits:", FAST_RETRY + "  limits:")
    write(root / "m" / "accounts.yaml", text)
    if extra:
        write(root / "m" / "checks.yaml", extra)
    return root / "m"


def _stats(tmp_path: Path, script: Telemetry, *args: str) -> Result:
    with HostileServer(script=script) as server:
        manifests = _manifests(tmp_path, server.url)
        result = run_cli("stats", str(manifests), "--account", "dm", *args, cwd=tmp_path, env=ENV)
    _no_secret(result)
    return result


def _no_secret(result: Result) -> None:
    for secret in ("tele-key-secret-value", "tele-api-key-value"):
        assert secret not in result.out + result.err
    assert "Traceback" not in result.err


def _check_doc(
    name: str = "health",
    *,
    window: str = "24h",
    extra: str = "",
    min_requests: int = 100,
    failed: float = 2,
) -> str:
    return (
        f"apiVersion: reconciler/v1\nkind: DeliveryCheck\nmetadata: {{name: {name}}}\n"
        f"spec:\n  account: dm\n  window: {window}\n  minRequests: {min_requests}\n"
        f"  maxFailedPercent: {failed}\n  maxInvalidPercent: 5\n{extra}"
    )


# -- windows -------------------------------------------------------------------------------


def test_a_thirty_day_window_is_split_into_calls_of_at_most_seven_days() -> None:
    end = now()
    chunks = day_chunks(Window(end - timedelta(days=30), end), timedelta(days=7))
    assert len(chunks) >= 5
    assert all((last - first).days + 1 <= 7 for first, last in chunks)
    assert chunks[0][0] == (end - timedelta(days=30)).date() and chunks[-1][1] == end.date()
    assert all(b[0] - a[1] == timedelta(days=1) for a, b in itertools.pairwise(chunks))


def test_deliveries_windows_are_split_at_thirty_days() -> None:
    end = now().replace(second=0, microsecond=0)
    assert len(time_chunks(Window(end - timedelta(days=30), end), timedelta(days=30))) == 1
    parts = time_chunks(Window(end - timedelta(days=45), end), timedelta(days=30))
    assert len(parts) == 2 and parts[0][1] == parts[1][0] and parts[1][1] == end


# -- stats -----------------------------------------------------------------------------------


def test_summary_over_thirty_days_makes_five_calls_and_joins_opens(tmp_path: Path) -> None:
    script = Telemetry()
    result = _stats(tmp_path, script, "--since", "30d", "--format", "json")
    assert result.code == 0, result
    summary = [q for action, q in script.calls if action == SUMMARY]
    assert len(summary) >= 5
    for query in summary:
        first, last = date.fromisoformat(query["StartTime"]), date.fromisoformat(query["EndTime"])
        assert (last - first).days + 1 <= 7
    document = result.json
    assert set(document) == {"format_version", "account", "view", "from", "to", "rows"}
    assert document["view"] == "summary" and document["account"] == "dm"
    assert len(document["rows"]) == 31
    row = document["rows"][0]
    assert row["requests"] == 100 and row["failed"] == 1 and row["invalid"] == 2
    assert row["success_percent"] == 97.0 and row["unique_opens"] == 30
    # Total opens and clicks beside the unique ones: two tracking pages a day, each with one
    # open more than its unique opens, three clicks and two unique clicks.
    assert (row["opens"], row["clicks"], row["unique_clicks"]) == (32, 6, 4)
    # Opens come from the account-wide tracking API when no sender or tag is given.
    assert {a for a, _ in script.calls} == {SUMMARY, TRACK}


def test_tracking_with_a_tag_uses_the_tracking_by_tag_api_and_reads_every_page(
    tmp_path: Path,
) -> None:
    script = Telemetry(tracking_pages=3)
    result = _stats(
        tmp_path,
        script,
        *("--view", "tracking", "--since", "24h", "--tag", "news"),
        *("--sender", "news@mail.example.com", "--format", "csv"),
    )
    assert result.code == 0, result
    pages = [q["PageNumber"] for a, q in script.calls if a == TRACK_BY]
    assert pages == ["1", "2", "3"]
    assert all(q["TagName"] == "news" for a, q in script.calls)
    assert all(q["AccountName"] == "news@mail.example.com" for a, q in script.calls)
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0][:2] == ["time", "total"]
    assert len(rows) == 1 + 3 * 2  # two days (24h spans two UTC+8 days) on each of three pages
    # CreateTime "2026-12-07T10:01Z" is the provider's wall-clock time: written with +08:00.
    assert rows[1][0].endswith("T10:01+08:00") and rows[3][0].endswith("T10:02+08:00")


def test_deliveries_follow_every_cursor_and_echo_it_exactly(tmp_path: Path) -> None:
    script = Telemetry(deliveries=250, page=100)
    result = _stats(tmp_path, script, "--view", "deliveries", "--format", "csv", "--status", "ok")
    assert result.code == 0, result
    cursors = [q.get("NextStart") for a, q in script.calls if a == DETAIL]
    assert cursors == [
        None,
        "90f0243616#100#a***@example.net-1658817837#x",
        "90f0243616#200#a***@example.net-1658817837#x",
    ]
    assert all(q["Status"] == "0" for _, q in script.calls)
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0] == ["time", "sender", "recipient", "status", "classification", "message"]
    assert len(rows) == 251
    assert rows[11][3] == "invalid"  # Status 2 as a name


def test_a_repeated_cursor_is_an_error_not_a_loop(tmp_path: Path) -> None:
    script = Telemetry(cursors=["abc#1", "abc#2", "abc#1", "abc#2"])
    result = _stats(tmp_path, script, "--view", "deliveries")
    assert result.code == 1, result
    assert "NextStart 'abc#1' was answered before" in result.err
    assert len([a for a, _ in script.calls]) == 3


@pytest.mark.parametrize("view", ["tracking", "invalid", "deliveries"])
@pytest.mark.parametrize("since", ["31d", "40d", "60d"])
def test_a_window_beyond_thirty_days_is_refused_before_any_call(
    tmp_path: Path, view: str, since: str
) -> None:
    script = Telemetry()
    result = _stats(tmp_path, script, "--view", view, "--since", since)
    assert result.code == 3, result
    assert "further back than the 30 days" in result.err
    assert script.calls == []
    assert result.out == ""


def _days(query: dict[str, str]) -> tuple[date, date]:
    return date.fromisoformat(query["StartTime"]), date.fromisoformat(query["EndTime"])


def test_a_summary_past_thirty_days_joins_opens_for_the_days_tracking_keeps(
    tmp_path: Path,
) -> None:
    # SPEC §9: the summary API's own limits (90 days back) are the provider's to enforce, so a
    # 40-day summary is read; opens and clicks come from GetTrackList, which keeps 30 days:
    # asked for those days only, the older ones left empty, and stderr says which and why.
    script = Telemetry()
    result = _stats(tmp_path, script, "--since", "40d", "--format", "json")
    assert result.code == 0, result
    today = now().date()
    earliest, first = today - timedelta(days=30), today - timedelta(days=40)
    rows = result.json["rows"]
    assert [row["date"] for row in rows] == [f"{first + timedelta(days=n)}" for n in range(41)]
    for row in rows:
        counts = (row["opens"], row["unique_opens"], row["clicks"], row["unique_clicks"])
        assert counts == ((None,) * 4 if row["date"] < f"{earliest}" else (32, 30, 6, 4)), row
        assert row["requests"] == 100 and row["failed"] == 1  # every day has its totals
    summary = [_days(q) for a, q in script.calls if a == SUMMARY]
    assert summary[0][0] == first and summary[-1][1] == today
    tracking = [_days(q) for a, q in script.calls if a == TRACK]
    assert tracking, script.calls
    assert tracking[0][0] == earliest and tracking[-1][1] == today
    assert all(start >= earliest for start, _ in tracking)
    assert {a for a, _ in script.calls} == {SUMMARY, TRACK}
    note = (
        f"Opens and clicks are left empty for {first} to {earliest - timedelta(days=1)} "
        f"(UTC+8): GetTrackList keeps 30 days (its earliest day is {earliest})."
    )
    assert note in result.err and result.err.count("Opens and clicks") == 1


def test_a_summary_older_than_thirty_days_asks_no_tracking_and_shows_blank_opens(
    tmp_path: Path,
) -> None:
    script = Telemetry()
    first, last = (now() - timedelta(days=50)).date(), (now() - timedelta(days=40)).date()
    args = ("--from", f"{first}", "--to", f"{last}", "--format", "csv")
    result = _stats(tmp_path, script, *args)
    assert result.code == 0, result
    table = list(csv.DictReader(io.StringIO(result.out)))
    assert len(table) == 11 and table[0]["requests"] == "100"
    assert all(row[key] == "" for row in table for key in ("opens", "unique_clicks"))
    assert {a for a, _ in script.calls} == {SUMMARY}
    assert f"left empty for {first} to {last} (UTC+8): GetTrackList keeps 30 days" in result.err


def test_a_summary_past_thirty_days_with_a_sender_names_the_tracking_by_sender_api(
    tmp_path: Path,
) -> None:
    script = Telemetry()
    sender = ("--sender", "news@mail.example.com", "--tag", "news")
    result = _stats(tmp_path, script, "--since", "31d", *sender, "--format", "json")
    assert result.code == 0, result
    earliest, first = (now() - timedelta(days=30)).date(), (now() - timedelta(days=31)).date()
    rows = result.json["rows"]
    assert rows[0]["date"] == f"{first}" and rows[0]["opens"] is None
    assert rows[1]["date"] == f"{earliest}" and rows[1]["unique_opens"] == 30
    tracking = [_days(q) for a, q in script.calls if a == TRACK_BY]
    assert tracking[0][0] == earliest and all(start >= earliest for start, _ in tracking)
    assert all(q["TagName"] == "news" for _, q in script.calls)
    assert (
        f"left empty for {first} (UTC+8): GetTrackListByMailFromAndTagName keeps 30 days"
        in result.err
    )


def test_a_summary_of_a_tag_alone_past_thirty_days_is_read_without_tracking(
    tmp_path: Path,
) -> None:
    # Tracking by tag needs the sender, so no tracking API is called: the window is not refused
    # for a tracking API's horizon (it once was, naming GetTrackList, which it never called).
    script = Telemetry()
    result = _stats(tmp_path, script, "--since", "40d", "--tag", "news", "--format", "json")
    assert result.code == 0, result
    rows = result.json["rows"]
    assert len(rows) == 41 and all(row["opens"] is None for row in rows)
    assert {a for a, _ in script.calls} == {SUMMARY}
    assert all(q["TagName"] == "news" for _, q in script.calls)
    assert "tracking by tag needs the sender too (give --sender with --tag)" in result.err
    assert "GetTrackList" not in result.err


@pytest.mark.parametrize("view", ["summary", "deliveries"])
def test_a_window_ending_before_it_starts_is_refused_with_its_times(
    tmp_path: Path, view: str
) -> None:
    script = Telemetry()
    first, last = (now() - timedelta(days=2)).date(), (now() - timedelta(days=4)).date()
    result = _stats(tmp_path, script, "--view", view, "--from", f"{first}", "--to", f"{last}")
    assert result.code == 3, result
    assert f"ends ({last}T23:59+08:00) before it starts ({first}T00:00+08:00)" in result.err
    assert script.calls == []


def test_invalid_view_pages_and_keyword(tmp_path: Path) -> None:
    script = Telemetry()
    result = _stats(tmp_path, script, "--view", "invalid", "--to", "example", "--format", "json")
    assert result.code == 0, result
    assert [r["address"] for r in result.json["rows"]] == ["gone@example.com", "nobody@example.org"]
    # LastUpdateTime "2021-04-28T17:11Z" is UTC+8 wall-clock time; UtcLastUpdateTime 1619601108
    # is 09:11 UTC: the row says so with its offset, never with the provider's false Z.
    assert result.json["rows"][0]["utc_time"] == 1619601108
    assert result.json["rows"][0]["time"] == "2021-04-28T17:11+08:00"
    calls = [q for a, q in script.calls if a == INVALID]
    assert [q.get("NextStart") for q in calls] == [None, "1"]
    assert all(q["KeyWord"] == "example" for q in calls)


def test_text_table_and_parameters_in_the_query(tmp_path: Path) -> None:
    script = Telemetry()
    result = _stats(tmp_path, script, "--since", "7d", "--esp", "gmail.com")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "DATE",
        "REQUESTS",
        "SUCCEEDED",
        "FAILED",
        "INVALID",
        "SUCCESS%",
        "INVALID%",
        "OPENS",
        "U.OPENS",
        "CLICKS",
        "U.CLICKS",
    ]
    assert len(lines) == 1 + 8
    assert all(q["Esp"] == "gmail.com" for _, q in script.calls)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--view", "deliveries", "--tag", "t", "--sender", "a@b.c"], "at most one of"),
        (["--view", "invalid", "--tag", "t"], "--tag does not apply"),
        (["--since", "7d", "--from", "2026-01-01"], "either --since or --from/--to"),
        (["--from", "2026-13-01", "--to", "2026-01-02"], "is not a date"),
        (["--view", "tracking", "--tag", "t"], "give --sender with --tag"),
    ],
)
def test_bad_flags_exit_3_before_any_call(tmp_path: Path, args: list[str], message: str) -> None:
    script = Telemetry()
    result = _stats(tmp_path, script, *args)
    assert result.code == 3, result
    assert message in result.err
    assert script.calls == []


def test_a_gateway_error_exits_1_with_its_code(tmp_path: Path) -> None:
    with HostileServer(
        answers={SUMMARY: gateway_error("InvalidTagName.Malformed", "bad tag")}
    ) as server:
        manifests = _manifests(tmp_path, server.url)
        result = run_cli(
            "stats", str(manifests), "--account", "dm", "--format", "csv", cwd=tmp_path, env=ENV
        )
    assert result.code == 1, result
    assert "InvalidTagName.Malformed" in result.err
    assert result.out == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("faildCount", 1.5, "faildCount"),
        ("succeededPercent", "lots", "not a percentage"),
        ("succeededPercent", "150%", "not between 0 and 100"),
        ("CreateTime", "yesterday", "not a yyyy-MM-dd day"),
    ],
)
def test_untrusted_summary_values_are_provider_errors(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    record = {
        "CreateTime": "2026-01-01",
        "faildCount": "0",
        "requestCount": "4",
        "succeededPercent": "100.00%",
        "successCount": "4",
        "unavailableCount": "0",
        "unavailablePercent": "0%",
        field: value,
    }
    from tests.hostile import Answer

    answers = {SUMMARY: Answer.json({"RequestId": "r1", "data": {"stat": [record]}})}
    with HostileServer(answers=answers) as server:
        manifests = _manifests(tmp_path, server.url)
        result = run_cli("stats", str(manifests), "--account", "dm", cwd=tmp_path, env=ENV)
    assert result.code == 1, result
    assert message in result.err and "request id r1" in result.err
    _no_secret(result)


def test_csv_cells_that_a_spreadsheet_would_run_are_defused() -> None:
    from reconciler.output.telemetry import StatsWriter

    written: list[str] = []
    writer = StatsWriter(written.append, "csv", account="a", view="invalid", start="", end="")
    writer.begin()
    writer.page([{"time": "t", "address": "=HYPERLINK(1)"}])
    assert written[-1] == "t,'=HYPERLINK(1)\r\n"


def test_stats_needs_a_directmail_account(tmp_path: Path) -> None:
    with HostileServer(script=Telemetry()) as server:
        manifests = _manifests(tmp_path, server.url)
        result = run_cli("stats", str(manifests), "--account", "sc", cwd=tmp_path, env=ENV)
    assert result.code == 3 and "DirectMail's" in result.err, result


# -- check -----------------------------------------------------------------------------------


def _check(tmp_path: Path, script: Telemetry, documents: str, *args: str) -> Result:
    with HostileServer(script=script) as server:
        manifests = _manifests(tmp_path, server.url, documents)
        result = run_cli("check", str(manifests), *args, cwd=tmp_path, env=ENV)
    _no_secret(result)
    return result


def test_check_passes_on_healthy_traffic(tmp_path: Path) -> None:
    result = _check(tmp_path, Telemetry(), _check_doc(), "--format", "json")
    assert result.code == 0, result
    (only,) = result.json["checks"]
    assert only["status"] == "pass" and only["measured"]["failed_percent"] == 1.0
    assert set(only) >= {"name", "account", "status", "measured", "thresholds", "window"}


def test_check_fails_above_a_threshold_with_exit_2(tmp_path: Path) -> None:
    doc = _check_doc(extra="  sender: news@mail.example.com\n  minOpenPercent: 50\n")
    result = _check(tmp_path, Telemetry(failed=5), doc)
    assert result.code == 2, result
    assert "FAIL" in result.out and "failed 5.00% > maxFailedPercent 2" in result.out
    assert "opened 32.26% < minOpenPercent 50" in result.out


def test_check_reports_insufficient_data_on_a_quiet_tag(tmp_path: Path) -> None:
    doc = _check_doc(extra="  tag: quiet\n", min_requests=1000)
    result = _check(
        tmp_path, Telemetry(requests=3, failed=3, invalid=0), doc, "--format", "markdown"
    )
    assert result.code == 0, result
    assert "**NO DATA**" in result.out and "fewer than minRequests 1000" in result.out


def test_check_provider_error_exits_1(tmp_path: Path) -> None:
    with HostileServer(answers={SUMMARY: gateway_error("InternalError", "x", 500)}) as server:
        manifests = _manifests(tmp_path, server.url, _check_doc())
        result = run_cli("check", str(manifests), cwd=tmp_path, env=ENV)
    assert result.code == 1, result


def test_check_warns_about_a_bounce_exempt_address_directmail_lists_invalid(
    tmp_path: Path,
) -> None:
    unintercepts = (
        "---\napiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec:\n  account: sc\n  entries:\n    - {email: Gone@Example.com, types: [bounce]}\n"
        "    - {domain: example.org, types: [block]}\n"
    )
    result = _check(tmp_path, Telemetry(), _check_doc() + unintercepts, "--format", "json")
    assert result.code == 0, result
    (warning,) = result.json["warnings"]
    assert warning.startswith("gone@example.com is exempted from SendCloud's bounce")
    assert "warning: gone@example.com" in result.err


@pytest.mark.parametrize(
    ("extra", "window", "where", "message"),
    [
        ("", "31d", "checks.yaml:6:11", "longer than the 30 days"),
        (
            "  tag: a\n  sender: b@c.d\n",
            "24h",
            "checks.yaml:11:11",
            "at most one of tag and sender",
        ),
        ("  minOpenPercent: 101\n", "24h", "checks.yaml:10:19", "101"),
    ],
)
def test_delivery_check_errors_name_their_position(
    tmp_path: Path, extra: str, window: str, where: str, message: str
) -> None:
    manifests = _manifests(tmp_path, "http://127.0.0.1:9", _check_doc(window=window, extra=extra))
    result = run_cli("validate", str(manifests), cwd=tmp_path)
    assert result.code == 3, result
    assert where in result.err and message in result.err, result


def test_plan_ignores_delivery_checks(tmp_path: Path, sandbox: object) -> None:
    from reconciler.sandbox import Sandbox

    assert isinstance(sandbox, Sandbox)
    manifests = _manifests(tmp_path, sandbox.url, _check_doc())
    result = run_cli("plan", str(manifests), cwd=tmp_path, env=_sandbox_env())
    assert result.code == 0, result
    valid = run_cli("validate", str(manifests), cwd=tmp_path)
    assert "1 delivery check" in valid.out, valid


def _sandbox_env() -> dict[str, str]:
    from reconciler import sandbox as sb

    return {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
        "SENDCLOUD_API_USER": sb.API_USER,
        "SENDCLOUD_API_KEY": sb.API_KEY,
    }


def test_json_rows_stream_as_one_valid_document(tmp_path: Path) -> None:
    script = Telemetry(deliveries=5, page=2)
    result = _stats(tmp_path, script, "--view", "deliveries", "--format", "json")
    assert result.code == 0, result
    rows = json.loads(result.out)["rows"]
    assert [r["recipient"] for r in rows] == [f"user{n}@example.net" for n in range(5)]
    assert ZONE.utcoffset(None) == timedelta(hours=8)


def test_a_total_pages_beyond_what_could_be_read_is_refused(tmp_path: Path) -> None:
    from tests.hostile import Answer

    answer = {"RequestId": "r9", "PageNo": 1, "TotalPages": 20_000, "data": {"stat": []}}
    with HostileServer(answers={TRACK: Answer.json(answer)}) as server:
        manifests = _manifests(tmp_path, server.url)
        result = run_cli(
            "stats", str(manifests), "--account", "dm", "--view", "tracking", "--since", "24h",
            cwd=tmp_path, env=ENV,
        )  # fmt: skip
    assert result.code == 1, result
    assert "TotalPages is 20,000" in result.err
    assert server.actions() == [TRACK]


def test_a_secret_echoed_by_the_provider_never_reaches_the_output(tmp_path: Path) -> None:
    echo = gateway_error(
        "SignatureDoesNotMatch",
        f"string to sign used secret {ENV['ALIBABA_CLOUD_ACCESS_KEY_SECRET']}",
    )
    with HostileServer(answers={DETAIL: echo}) as server:
        manifests = _manifests(tmp_path, server.url)
        result = run_cli(
            "stats", str(manifests), "--account", "dm", "--view", "deliveries", "-v",
            cwd=tmp_path, env=ENV,
        )  # fmt: skip
    assert result.code == 1, result
    assert "SignatureDoesNotMatch" in result.err
    _no_secret(result)
