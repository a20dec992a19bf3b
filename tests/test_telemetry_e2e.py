"""``stats`` and ``check`` end to end: the real CLI against the real sandbox's sending-data APIs
(SPEC §9), including the traffic model in which IP protection rejects an unwhitelisted sender."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import requests

from reconciler import sandbox as sb
from reconciler.sandbox import Sandbox
from tests.cli_helpers import Result, accounts_yaml, run_cli, write
from tests.sandbox_calls import NOTIFY, day, deliveries, today

SECRETS = (sb.ACCESS_KEY_SECRET, sb.API_KEY)
ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
    "SENDCLOUD_API_USER": sb.API_USER,
    "SENDCLOUD_API_KEY": sb.API_KEY,
}
SUMMARY = "SenderStatisticsByTagNameAndBatchID"
DETAIL = "SenderStatisticsDetailByParam"
TRACK = "GetTrackList"


def _run(tmp_path: Path, *args: str) -> Result:
    result = run_cli(*args, cwd=tmp_path, env=ENV)
    for secret in SECRETS:
        assert secret not in result.out + result.err, result
    assert "Traceback" not in result.err, result
    return result


def _manifests(tmp_path: Path, sandbox: Sandbox, extra: str = "") -> str:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(sandbox.url))
    if extra:
        write(tmp_path / "m" / "more.yaml", extra)
    return str(tmp_path / "m")


def _stats(tmp_path: Path, sandbox: Sandbox, *args: str) -> Result:
    return _run(tmp_path, "stats", _manifests(tmp_path, sandbox), "--account", "dm", *args)


VIEWS = {
    "summary": ("--since", "3d"),
    "tracking": ("--since", "24h"),
    "invalid": ("--since", "7d"),
    "deliveries": ("--from", f"{day(1)} 09:00", "--to", f"{day(1)} 10:00"),
}


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_in_each_format(tmp_path: Path, sandbox: Sandbox, view: str) -> None:
    window = VIEWS[view]
    outputs = {
        fmt: _stats(tmp_path, sandbox, "--view", view, *window, "--format", fmt)
        for fmt in ("text", "json", "csv")
    }
    for fmt, result in outputs.items():
        assert result.code == 0, (fmt, result)
    document = json.loads(outputs["json"].out)
    assert document["view"] == view and document["account"] == "dm"
    rows = document["rows"]
    assert rows, document
    table = list(csv.reader(io.StringIO(outputs["csv"].out)))
    assert len(table) == 1 + len(rows)  # a header row, then the rows, nothing else
    assert set(table[0]) <= set(rows[0])  # the header names the JSON rows' keys
    text = outputs["text"].out.splitlines()
    assert len(text) == 1 + len(rows)


def test_a_thirty_day_summary_makes_five_calls_of_at_most_seven_days(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    sandbox.reset_calls()
    result = _stats(tmp_path, sandbox, "--since", "30d", "--format", "json")
    assert result.code == 0, result
    # The sandbox refuses a span over 7 days (InvalidBetweenTime.Malformed): exit 0 says every
    # call kept to it.
    assert sandbox.calls[SUMMARY] >= 5
    days = [row["date"] for row in result.json["rows"]]
    assert days[:30] == [day(back) for back in range(30, 0, -1)]
    assert days[30:] in ([], [today().isoformat()])  # today, once its first message is sent


def test_deliveries_follow_every_cursor(tmp_path: Path, sandbox: Sandbox) -> None:
    window = {"StartTime": f"{day(2)} 00:00", "EndTime": f"{day(2)} 12:00"}
    with requests.Session() as http:
        expected = [row["ToAddress"] for row in deliveries(http, sandbox, **window)]
    assert len(expected) > 100  # several pages
    sandbox.reset_calls()
    result = _stats(
        tmp_path,
        sandbox,
        *("--view", "deliveries", "--format", "csv"),
        *("--from", window["StartTime"], "--to", window["EndTime"]),
    )
    assert result.code == 0, result
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [row["recipient"] for row in rows] == expected
    assert sandbox.calls[DETAIL] == -(-len(expected) // 100)


def test_a_forty_day_window_is_refused_before_any_call(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.reset_calls()
    for view in ("deliveries", "invalid", "tracking"):
        result = _stats(tmp_path, sandbox, "--view", view, "--since", "40d")
        assert result.code == 3, result
        assert "further back than the 30 days" in result.err
    assert sum(sandbox.calls.values()) == 0


def test_a_forty_day_summary_reads_opens_for_the_thirty_days_tracking_keeps(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    # The sandbox refuses a tracking call starting more than 30 days back
    # (InvalidStartTime.Malformed): exit 0 with tracking calls made says none reached past them.
    sandbox.reset_calls()
    result = _stats(tmp_path, sandbox, "--since", "40d", "--format", "json")
    assert result.code == 0, result
    assert sandbox.calls[SUMMARY] >= 6 and sandbox.calls[TRACK] >= 5
    rows = result.json["rows"]
    # The sandbox's traffic begins 30 days back: the older days have no totals to show.
    assert [row["date"] for row in rows][:30] == [day(back) for back in range(30, 0, -1)]
    assert all(type(row["unique_opens"]) is int for row in rows)
    assert sum(row["unique_opens"] for row in rows) > 0
    assert (
        f"Opens and clicks are left empty for {day(40)} to {day(31)} (UTC+8): GetTrackList "
        f"keeps 30 days (its earliest day is {day(30)})."
    ) in result.err


def test_stats_with_the_embedded_sandbox(tmp_path: Path) -> None:
    write(
        tmp_path / "accounts.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: dm}\n"
        "spec: {provider: aliyun-directmail, region: cn-hangzhou}\n",
    )
    result = _run(tmp_path, "stats", "accounts.yaml", "--account", "dm", "--sandbox")
    assert result.code == 0, result
    header, *rows = result.out.splitlines()
    assert header.startswith("DATE ")
    days = [row.split()[0] for row in rows]
    # Seven whole days, and today once its first message is sent.
    assert days[:7] == [day(back) for back in range(7, 0, -1)] and days[7:] in ([], [day(0)])


def _check_doc(name: str, key: str, value: str) -> str:
    return (
        f"apiVersion: reconciler/v1\nkind: DeliveryCheck\nmetadata: {{name: {name}}}\n"
        f"spec:\n  account: dm\n  window: 24h\n  {key}: {value}\n  minRequests: 100\n"
        "  maxFailedPercent: 2\n  maxInvalidPercent: 5\n"
    )


PROTECTION = (
    "---\napiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
    "spec: {account: dm, enabled: true}\n"
)


def test_check_passes_then_fails_after_protection_locks_a_sender_out(tmp_path: Path) -> None:
    # notify@ sends from an address no demo whitelist entry covers.
    with Sandbox(tmp_path / "s.json", senders={NOTIFY: "192.0.2.200"}) as sandbox:
        checks = _check_doc("notify", "sender", NOTIFY) + "---\n"
        checks += _check_doc("quiet", "tag", "survey")  # a tag with a handful of mails a day
        manifests = _manifests(tmp_path, sandbox, checks)
        healthy = _run(tmp_path, "check", manifests, "--format", "json")
        assert healthy.code == 0, healthy
        status = {c["name"]: c["status"] for c in healthy.json["checks"]}
        assert status == {"notify": "pass", "quiet": "insufficient-data"}

        # Protection on, with --force as an operator past a lock-out refusal would: notify@'s
        # address is in no whitelist entry, so its requests are rejected from the switch on.
        write(Path(manifests) / "protection.yaml", PROTECTION)
        applied = _run(tmp_path, "apply", manifests, "--yes", "--force")
        assert applied.code == 0, applied
        assert sandbox.ip_protection() == "1"
        # Time passes: the switch went on at the start of yesterday (UTC+8), so the window
        # holds a day of rejected requests rather than the seconds since the apply.
        state = sandbox.snapshot()
        state["directmail"]["ip_protection_since"] -= 86_400 * 2
        sandbox.set_state(state)

        failing = _run(tmp_path, "check", manifests)
        assert failing.code == 2, failing
        assert "FAIL     notify" in failing.out and "> maxFailedPercent 2" in failing.out
        markdown = _run(tmp_path, "check", manifests, "--format", "markdown")
        assert markdown.code == 2 and "| notify | dm | **FAIL** |" in markdown.out


def test_check_warns_about_the_demo_address_exempted_from_bounce(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    unintercepts = (
        "---\napiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec:\n  account: sc\n  entries:\n    - {email: vip@example.com, types: [bounce]}\n"
    )
    manifests = _manifests(
        tmp_path, sandbox, _check_doc("all", "minOpenPercent", "0") + unintercepts
    )
    result = _run(tmp_path, "check", manifests, "--format", "json")
    assert result.code == 0, result
    assert any(w.startswith("vip@example.com is exempted") for w in result.json["warnings"])


def test_a_long_read_shows_progress_on_a_terminal_and_only_rows_on_stdout(
    tmp_path: Path,
) -> None:
    import os
    import pty
    import subprocess
    import sys

    from reconciler.sandbox import Faults
    from tests.cli_helpers import process_env, read_until

    with Sandbox(tmp_path / "s.json", faults=Faults(latency=0.1)) as sandbox:
        manifests = _manifests(tmp_path, sandbox)
        # A real process: the progress line needs a terminal on stderr.
        controller, terminal = pty.openpty()
        with (tmp_path / "out.csv").open("w") as stdout:
            proc = subprocess.Popen(
                [sys.executable, "-m", "reconciler", "stats", manifests, "--account", "dm",
                 "--view", "deliveries", "--format", "csv",
                 "--from", f"{day(1)} 08:00", "--to", f"{day(1)} 20:00"],
                cwd=tmp_path, env=process_env(ENV), stdin=subprocess.DEVNULL, stdout=stdout,
                stderr=terminal,
            )  # fmt: skip
            os.close(terminal)
            try:
                shown = read_until(controller, b"\x00")  # never printed: reads until exit
                code = proc.wait(timeout=60)
            finally:
                proc.kill()
                os.close(controller)
    assert code == 0, shown
    assert b"Reading: " in shown and b" pages, " in shown
    assert shown.endswith(b"\r\x1b[K")  # cleared once the read is over
    rows = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert rows[0][:3] == ["time", "sender", "recipient"] and len(rows) > 500
