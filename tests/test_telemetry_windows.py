"""Windows and times that are what they say (SPEC §9), through the real CLI against the real
sandbox: a check window under a day is counted message by message over exactly the minutes it
prints; a day or more is widened to the whole UTC+8 days the totals count, and printed so; every
time printed carries its offset; ``check -q`` prints what needs attention only."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from reconciler import sandbox as sb
from reconciler.measure import count_since
from reconciler.model import Account, Limits, Provider, RetryPolicy
from reconciler.providers.directmail import DirectMailClient
from reconciler.providers.telemetry import now
from reconciler.sandbox import Sandbox
from reconciler.sandbox.traffic import UTC8
from tests.cli_helpers import Result, accounts_yaml, run_cli, write
from tests.sandbox_calls import NOTIFY, day, deliveries

ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
    "SENDCLOUD_API_USER": sb.API_USER,
    "SENDCLOUD_API_KEY": sb.API_KEY,
}
SUMMARY = "SenderStatisticsByTagNameAndBatchID"
DETAIL = "SenderStatisticsDetailByParam"
EIGHT_HOURS = timedelta(hours=8)
STATUS = {0: "succeeded", 2: "invalid", 3: "failed", 4: "failed"}


def _run(tmp_path: Path, *args: str) -> Result:
    result = run_cli(*args, cwd=tmp_path, env=ENV)
    assert sb.ACCESS_KEY_SECRET not in result.out + result.err, result
    assert "Traceback" not in result.err, result
    return result


def _manifests(tmp_path: Path, sandbox: Sandbox, extra: str = "") -> str:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(sandbox.url))
    if extra:
        write(tmp_path / "m" / "checks.yaml", extra)
    return str(tmp_path / "m")


def _check(
    name: str,
    window: str,
    extra: str = "",
    *,
    invalid: float = 5,
    least: int = 10,
    failed: float = 5,
) -> str:
    return (
        f"---\napiVersion: reconciler/v1\nkind: DeliveryCheck\nmetadata: {{name: {name}}}\n"
        f"spec:\n  account: dm\n  window: {window}\n  minRequests: {least}\n"
        f"  maxFailedPercent: {failed}\n  maxInvalidPercent: {invalid}\n{extra}"
    )


def _recount(
    http: requests.Session, sandbox: Sandbox, start: datetime, end: datetime, **filters: str
) -> Counter[str]:
    """What the sandbox's own rows say about [start, end): every message by its outcome."""
    rows = deliveries(
        http,
        sandbox,
        StartTime=f"{start.astimezone(UTC8):%Y-%m-%d %H:%M}",
        EndTime=f"{end.astimezone(UTC8):%Y-%m-%d %H:%M}",
        **filters,
    )
    counts: Counter[str] = Counter()
    for row in rows:
        if start.timestamp() <= int(row["UtcLastUpdateTime"]) < end.timestamp():
            counts["requests"] += 1
            counts[STATUS[row["Status"]]] += 1
    return counts


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == EIGHT_HOURS, text
    return moment


def test_a_check_under_a_day_counts_exactly_the_minutes_it_prints(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    # The bug: `window: 1h` printed an hour but counted the whole UTC+8 day(s) of the daily
    # totals. Now the hour is read message by message and the counts are the hour's.
    # Thresholds any hour passes: this test is about what is counted, not the verdict.
    by_sender = "  sender: newsletter@mail.example.com\n"
    checks = _check("hour", "1h", failed=100, invalid=100)
    checks += _check("news", "90m", by_sender, failed=100, invalid=100)
    manifests = _manifests(tmp_path, sandbox, checks)
    sandbox.reset_calls()
    before = now()
    result = _run(tmp_path, "check", manifests, "--format", "json")
    assert result.code == 0, result
    assert sandbox.calls[SUMMARY] == 0 and sandbox.calls[DETAIL] >= 2
    text = _run(tmp_path, "check", manifests)
    with requests.Session() as http:
        news = {"AccountName": "newsletter@mail.example.com"}
        for found, duration, filters in (
            (result.json["checks"][0], timedelta(hours=1), {}),
            (result.json["checks"][1], timedelta(minutes=90), news),
        ):
            window = found["window"]
            assert window["source"] == DETAIL
            start, end = _moment(window["from"]), _moment(window["to"])
            assert end - start == duration
            assert end.second == 0 and end <= before + timedelta(minutes=1)
            expected = _recount(http, sandbox, start, end, **filters)
            measured = found["measured"]
            assert expected["requests"] > 10
            for key in ("requests", "succeeded", "failed", "invalid"):
                assert measured[key] == expected[key], (key, found)
    # The text names its windows with their offset too (read a moment later: the same
    # lengths, perhaps a minute on).
    windows = re.findall(r"^PASS +(\S+) \(dm, (\S+) to (\S+)\)", text.out, re.MULTILINE)
    assert [(name, _moment(end) - _moment(start)) for name, start, end in windows] == [
        ("hour", timedelta(hours=1)),
        ("news", timedelta(minutes=90)),
    ]


def test_a_check_of_a_day_or_more_prints_the_whole_days_it_counts(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    manifests = _manifests(tmp_path, sandbox, _check("day", "24h") + _check("week", "7d"))
    sandbox.reset_calls()
    result = _run(tmp_path, "check", manifests, "--format", "json")
    assert result.code == 0, result
    assert sandbox.calls[DETAIL] == 0
    moment = now()
    for found, days in zip(result.json["checks"], (1, 7), strict=True):
        window = found["window"]
        assert window["source"] == SUMMARY
        start, end = _moment(window["from"]), _moment(window["to"])
        # From midnight (UTC+8) of the first day the window touches, to now.
        assert (start.hour, start.minute) == (0, 0)
        assert start.date() == (moment - timedelta(days=days)).astimezone(UTC8).date()
        assert abs((end - moment).total_seconds()) < 120
    summary = _run(
        tmp_path, "stats", manifests, "--account", "dm", "--since", "1d", "--format", "json"
    )
    # The same whole days as the daily totals (the later read may hold a message or two more:
    # traffic runs until now).
    counted = result.json["checks"][0]["measured"]["requests"]
    assert 0 <= sum(row["requests"] for row in summary.json["rows"]) - counted <= 3


def test_a_short_check_sees_a_sender_locked_out_within_the_hour(tmp_path: Path) -> None:
    # What a guard after an apply will watch (SPEC §11): failures of the last minutes.
    with Sandbox(tmp_path / "s.json", senders={NOTIFY: "192.0.2.200"}) as sandbox:
        # Two hours: some 20 messages of notify@ even at night; a few may be invalid.
        checks = _check("notify", "2h", f"  sender: {NOTIFY}\n", invalid=50, failed=50)
        manifests = _manifests(tmp_path, sandbox, checks)
        assert _run(tmp_path, "check", manifests).code == 0
        write(
            Path(manifests) / "protection.yaml",
            "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
            "spec: {account: dm, enabled: true}\n",
        )
        assert _run(tmp_path, "apply", manifests, "--yes", "--force").code == 0
        sandbox.backdate_protection(timedelta(hours=3))
        failing = _run(tmp_path, "check", manifests, "--format", "json")
    assert failing.code == 2, failing
    (found,) = failing.json["checks"]
    # Every message of the window was sent after the switch: rejected, unless it went to an
    # invalid address first.
    measured = found["measured"]
    assert measured["failed"] + measured["invalid"] == measured["requests"] > 0
    assert found["window"]["source"] == DETAIL


def test_count_since_counts_the_messages_from_a_moment_inside_a_minute(sandbox: Sandbox) -> None:
    account = Account(
        "dm",
        Provider.ALIYUN_DM,
        sandbox.directmail_endpoint,
        limits=Limits(requests_per_second=1000),
        retry=RetryPolicy(attempts=2, max_seconds=2, base_delay=0.01),
    )
    secrets = {"accessKeyId": sb.ACCESS_KEY_ID, "accessKeySecret": sb.ACCESS_KEY_SECRET}
    start = now().replace(second=31, microsecond=0) - timedelta(minutes=50)
    end = start + timedelta(minutes=40, seconds=12)
    with DirectMailClient(account, secrets) as client, requests.Session() as http:
        for filters, expected in (
            ({}, _recount(http, sandbox, start, end)),
            ({"tag": "newsletter"}, _recount(http, sandbox, start, end, TagName="newsletter")),
        ):
            counts = count_since(client, start, end, **filters)
            assert expected["requests"] > 0
            assert (counts.requests, counts.delivered, counts.failed, counts.invalid) == (
                expected["requests"],
                expected["succeeded"],
                expected["failed"],
                expected["invalid"],
            )


# -- times ---------------------------------------------------------------------------------

VIEWS = {
    "tracking": ("--since", "2d"),
    "invalid": ("--from", day(7), "--to", day(1)),  # over: nothing new between the reads
    "deliveries": ("--from", f"{day(1)} 09:00", "--to", f"{day(1)} 10:00"),
}


@pytest.mark.parametrize("view", VIEWS)
def test_every_time_printed_carries_its_offset(tmp_path: Path, sandbox: Sandbox, view: str) -> None:
    # The bug: the provider's UTC+8 wall-clock time went out with its false `Z`
    # ("2026-12-08T03:40Z" for 2026-12-07T19:40Z).
    manifests = _manifests(tmp_path, sandbox)
    runs = {
        fmt: _run(tmp_path, "stats", manifests, "--account", "dm", "--view", view,
                  *VIEWS[view], "--format", fmt)
        for fmt in ("json", "csv", "text")
    }  # fmt: skip
    assert all(r.code == 0 for r in runs.values()), runs
    rows = runs["json"].json["rows"]
    assert rows
    for row in rows:
        moment = _moment(row["time"])
        if "utc_time" in row:  # the true epoch, to the minute
            assert moment.timestamp() == row["utc_time"] // 60 * 60, row
        else:  # a tracking day: midnight of the provider's day
            assert (moment.hour, moment.minute) == (0, 0), row
    table = list(csv.DictReader(io.StringIO(runs["csv"].out)))
    assert [r["time"] for r in table] == [r["time"] for r in rows]
    text = runs["text"].out.splitlines()[1:]
    assert [line.split()[0] for line in text] == [r["time"] for r in rows]
    assert "Z" not in "".join(r["time"] for r in rows)
    if view == "deliveries":
        head = runs["json"].json
        assert (head["from"], head["to"]) == (f"{day(1)}T09:00+08:00", f"{day(1)}T10:00+08:00")


def test_the_bounce_lint_names_a_time_with_its_offset(tmp_path: Path, sandbox: Sandbox) -> None:
    unintercepts = (
        "---\napiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec:\n  account: sc\n  entries:\n    - {email: vip@example.com, types: [bounce]}\n"
    )
    manifests = _manifests(tmp_path, sandbox, _check("all", "7d") + unintercepts)
    result = _run(tmp_path, "check", manifests, "--format", "json")
    (warning,) = [w for w in result.json["warnings"] if w.startswith("vip@example.com")]
    found = re.search(r"as invalid since (\S+): it will keep bouncing", warning)
    assert found is not None, warning
    _moment(found[1])


# -- quiet and counts ----------------------------------------------------------------------


def test_check_quiet_prints_only_what_needs_attention(tmp_path: Path, sandbox: Sandbox) -> None:
    checks = (
        _check("healthy", "24h")
        + _check("quiet-tag", "24h", "  tag: survey\n", least=100)  # a few mails a day
        + _check("strict", "24h", invalid=0)  # some 2 % go to invalid addresses
    )
    manifests = _manifests(tmp_path, sandbox, checks)
    loud = _run(tmp_path, "check", manifests)
    quiet = _run(tmp_path, "check", manifests, "-q")
    assert loud.code == quiet.code == 2
    assert "PASS     healthy" in loud.out and "3 checks: 1 passed, 1 failed" in loud.out
    lines = quiet.out.splitlines()
    assert [line.split()[0] for line in lines if not line.startswith(" ")] == ["NO", "FAIL"]
    assert "healthy" not in quiet.out and "checks:" not in quiet.out
    assert "> maxInvalidPercent 0" in quiet.out  # a failure keeps its reason
    assert quiet.err == ""

    one = _manifests(tmp_path, sandbox, _check("healthy", "24h"))
    single = _run(tmp_path, "check", one)
    assert "1 check: 1 passed, 0 failed" in single.out
    assert _run(tmp_path, "check", one, "-q").out == ""


# -- what validate refuses -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "extra", "message"),
    [
        ("1.5m", "", "window 1.5m is not a whole number of minutes"),
        ("0.01h", "", "is not a whole number of minutes"),
        ("6h", "  sender: a@mail.example.com\n  minOpenPercent: 10\n", "counts opens per day"),
    ],
)
def test_windows_that_cannot_be_measured_are_refused_offline(
    tmp_path: Path, window: str, extra: str, message: str
) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    write(tmp_path / "m" / "checks.yaml", _check("c", window, extra).removeprefix("---\n"))
    result = _run(tmp_path, "validate", str(tmp_path / "m"))
    assert result.code == 3, result
    assert message in result.err and "checks.yaml:" in result.err
