"""Guarded apply (SPEC §11) without waiting: guards validated offline, listed by plan, sealed in
a saved plan, skipped or refused by flags; the watch loop's judgement on a fake clock; the
sandbox's traffic rate; Ctrl-C during a real watch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reconciler.errors import ProviderError
from reconciler.guard.spec import Guard
from reconciler.guard.watch import watch
from reconciler.jsonschemas import validator
from reconciler.measure import Counts
from reconciler.sandbox.traffic import TrafficConfig, hour_messages
from tests.cli_helpers import process_env, read_until, started, write
from tests.guard_helpers import (
    ALERTS,
    ENV,
    NOTIFY,
    account_yaml,
    box,
    live,
    manifests,
    run,
)

# -- manifests ------------------------------------------------------------------------------


def _check(guard: str) -> str:
    return f"""\
apiVersion: reconciler/v1
kind: Account
metadata: {{name: dm}}
spec: {{provider: aliyun-directmail, endpoint: "http://127.0.0.1:9"}}
---
apiVersion: reconciler/v1
kind: DeliveryCheck
metadata: {{name: health}}
spec:
  account: dm
  window: 24h
  minRequests: 100
  maxFailedPercent: 2
  maxInvalidPercent: 5
  guard: {guard}
"""


@pytest.mark.parametrize(
    ("guard", "line", "message"),
    [
        ("{watch: 30s}", "15:18", "a guard watches from 1m to 2h, not 30s"),
        ("{watch: 3h}", "15:18", "a guard watches from 1m to 2h, not 3h"),
        ("{watch: 15m, rollback: sometimes}", "15:33", "'sometimes' is not one of auto, never"),
        ("{watch: 15m, minRequests: 0}", "15:36", "minRequests must be at least 1"),
        ("{rollback: auto}", "15:3", "missing required key 'watch' in spec.guard"),
    ],
)
def test_a_bad_guard_is_an_error_at_its_place(
    tmp_path: Path, guard: str, line: str, message: str
) -> None:
    path = write(tmp_path / "m.yaml", _check(guard))
    result = run(tmp_path, "validate", str(path))
    assert result.code == 3, result
    assert f"m.yaml:{line}:" in result.err and message in result.err, result


def test_a_good_guard_validates(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", _check("{watch: 2h, minRequests: 5, rollback: never}"))
    assert run(tmp_path, "validate", str(path)).code == 0


# -- plan -----------------------------------------------------------------------------------


def test_plan_lists_the_guards_an_apply_would_run(tmp_path: Path) -> None:
    with box(tmp_path / "s.json", protection=False, whitelist=["198.51.100.0/24"]) as sandbox:
        path = manifests(
            tmp_path,
            account_yaml("dm", sandbox.url, protection=True, whitelist=None, guard="{watch: 15m}"),
            # A guard of an account the plan does not change runs nowhere: not listed.
            account_yaml("quiet", sandbox.url, protection=None, whitelist=["198.51.100.0/24"]),
        )
        text = run(tmp_path, "plan", path)
        document = run(tmp_path, "plan", path, "--format", "json").json
        markdown = run(tmp_path, "plan", path, "--format", "markdown").out
    line = "Guard: dm-health watches dm for 15m, rollback auto"
    assert line in text.out.splitlines() and "quiet-health" not in text.out
    assert document["guards"] == [
        {
            "name": "dm-health",
            "account": "dm",
            "watch": "15m",
            "min_requests": 20,
            "rollback": "auto",
            "max_failed_percent": 2.0,
            "max_invalid_percent": 5.0,
        }
    ]
    assert list(validator("plan").iter_errors(document)) == []
    assert f"- {line}" in markdown


def test_a_plan_without_guards_has_no_guards_key(tmp_path: Path) -> None:
    with box(tmp_path / "s.json", protection=False, whitelist=[]) as sandbox:
        text = account_yaml("dm", sandbox.url, protection=True, whitelist=[NOTIFY])
        path = manifests(tmp_path, text.rsplit("---\n", 1)[0])
        document = run(tmp_path, "plan", path, "--format", "json").json
    assert "guards" not in document and document["changes"]


@pytest.mark.parametrize("edit", ["drop", "shorten", "never"])
def test_a_saved_plans_guards_cannot_be_edited_away(tmp_path: Path, edit: str) -> None:
    with box(tmp_path / "s.json", protection=False, whitelist=[NOTIFY]) as sandbox:
        path = manifests(
            tmp_path, account_yaml("dm", sandbox.url, protection=True, whitelist=[NOTIFY])
        )
        plan_file = tmp_path / "plan.json"
        assert run(tmp_path, "plan", path, "--out", str(plan_file)).code == 0
        document = json.loads(plan_file.read_text())
        if edit == "drop":
            del document["guards"]
        elif edit == "shorten":
            document["guards"][0]["watch"] = "2m"  # made with 1m
        else:
            document["guards"][0]["rollback"] = "never"
        plan_file.write_text(json.dumps(document))
        result = run(tmp_path, "apply", "--plan", str(plan_file), "--yes")
        assert live(sandbox) == ("0", [NOTIFY])  # nothing was written
    assert result.code == 4, result
    assert "does not match its digest" in result.err


# -- flags ----------------------------------------------------------------------------------


def test_no_guard_applies_without_watching_and_says_so(tmp_path: Path) -> None:
    with box(tmp_path / "s.json", protection=False, whitelist=[NOTIFY]) as sandbox:
        path = manifests(
            tmp_path, account_yaml("dm", sandbox.url, protection=True, whitelist=[NOTIFY])
        )
        result = run(tmp_path, "apply", path, "--yes", "--no-guard")
        assert live(sandbox) == ("1", [NOTIFY])
    assert result.code == 0, result
    assert "--no-guard: dm-health does not watch dm; the changes are kept, unguarded" in result.err
    assert "Watching" not in result.err


@pytest.mark.parametrize("watch_", ["30s", "3h", "soon"])
def test_watch_out_of_range_is_invalid_input(tmp_path: Path, watch_: str) -> None:
    result = run(tmp_path, "apply", "m.yaml", "--yes", "--watch", watch_)
    assert result.code == 3, result
    assert "--watch" in result.err


def test_apply_help_lists_exit_codes_5_and_6(tmp_path: Path) -> None:
    result = run(tmp_path, "apply", "--help")
    assert result.code == 0, result
    assert "  5  apply: a guard failed and the changes were rolled back" in result.out
    assert "  6  apply: a guard failed and the roll-back did not complete" in result.out


# -- the watch loop on a fake clock ---------------------------------------------------------


class FakeTime:
    """A clock that ``wait`` moves forward: the loop runs at once, its times as if real."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.now += seconds
        return False


def _guard(watch_seconds: float = 60, **given: object) -> Guard:
    fields: dict[str, object] = {
        "name": "g",
        "account": "dm",
        "watch_seconds": watch_seconds,
        "watch_text": f"{watch_seconds:g}s",
        "min_requests": 20,
        "rollback": "auto",
        "max_failed_percent": 2.0,
        "max_invalid_percent": 5.0,
        **given,
    }
    return Guard(**fields)  # type: ignore[arg-type]


def _watch(guard: Guard, readings: list[Counts | Exception]) -> tuple[str, list[float]]:
    from reconciler.providers.directmail import DirectMailClient

    fake, times = FakeTime(), []

    def count(client: object, since: datetime, g: Guard) -> Counts:
        times.append(fake.now - 1000.0)
        reading = readings.pop(0)
        if isinstance(reading, Exception):
            raise reading
        return reading

    client = DirectMailClient.__new__(DirectMailClient)  # never called: ``count`` stands in
    [item] = watch(
        [guard],
        {"dm": client},
        datetime.now(timezone.utc),
        threading.Event(),
        clock=fake.clock,
        wait=fake.wait,
        count=count,
    )
    return item.status, times


def test_a_guard_polls_every_tenth_of_its_watch_and_passes_at_the_end() -> None:
    healthy = Counts(100, 99, 1, 0)
    status, times = _watch(_guard(600), [healthy] * 10)
    assert status == "pass"
    assert times == [60.0 * n for n in range(1, 11)]


def test_a_short_watch_polls_every_ten_seconds() -> None:
    status, times = _watch(_guard(60), [Counts(5, 5, 0, 0)] * 6)
    assert times == [10, 20, 30, 40, 50, 60] and status == "insufficient-data"


def test_a_guard_fails_as_soon_as_a_threshold_is_crossed_with_enough_messages() -> None:
    few_bad = Counts(10, 5, 5, 0)  # 50 % failed, but under minRequests: not judged yet
    bad = Counts(30, 20, 1, 9)  # 30 % invalid
    status, times = _watch(_guard(600), [few_bad, bad])
    assert status == "fail" and times == [60, 120]


def test_three_failed_polls_in_a_row_leave_the_guard_unmeasured() -> None:
    error = ProviderError(
        "boom", provider="aliyun-directmail", action="SenderStatisticsDetailByParam"
    )
    ok = Counts(30, 30, 0, 0)
    status, times = _watch(_guard(600), [error, error, ok, error, error, error])
    assert status == "unmeasured" and len(times) == 6


# -- the sandbox's traffic rate -------------------------------------------------------------


def test_messages_per_minute_sets_a_steady_rate_and_is_saved(tmp_path: Path) -> None:
    config = TrafficConfig().with_knobs(messages_per_minute=120)
    night, day = 0, 5  # hours of 1970-01-01 UTC: 08:00 and 13:00 in UTC+8, quiet and busy
    assert len(hour_messages(config, night)) == len(hour_messages(config, day)) == 120 * 60
    assert TrafficConfig.from_dict(config.to_dict()) == config
    assert "messages_per_minute" not in TrafficConfig().to_dict()
    with box(tmp_path / "s.json", protection=False, whitelist=[], rate=42):
        pass
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["telemetry"]["messages_per_minute"] == 42
    with pytest.raises(ValueError, match="messages_per_minute"):
        TrafficConfig().with_knobs(messages_per_minute=0)


def test_the_sandbox_command_takes_messages_per_minute(tmp_path: Path) -> None:
    result = run(tmp_path, "sandbox", "--messages-per-minute", "0")
    assert result.code == 3 and "--messages-per-minute" in result.err, result


# -- Ctrl-C during the watch ----------------------------------------------------------------


def test_ctrl_c_during_the_watch_keeps_the_change_unguarded_and_exits_130(
    tmp_path: Path,
) -> None:
    # A real process: the signal must reach the watch loop as a terminal's Ctrl-C would.
    with box(tmp_path / "s.json", protection=False, whitelist=[NOTIFY]) as sandbox:
        path = manifests(
            tmp_path, account_yaml("dm", sandbox.url, protection=True, whitelist=[NOTIFY, ALERTS])
        )
        with started(
            [sys.executable, "-m", "reconciler", "apply", path, "--yes"],
            cwd=tmp_path,
            env=process_env(ENV),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc:
            assert proc.stderr is not None and proc.stdout is not None
            seen = read_until(proc.stderr.fileno(), b"Watching dm for 1m")
            assert b"Watching dm for 1m" in seen, seen
            os.kill(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=30)
            err = seen.decode() + proc.stderr.read().decode()
        assert live(sandbox) == ("1", sorted([NOTIFY, ALERTS]))  # nothing rolled back
    assert code == 130, err
    assert "interrupted (SIGINT): stopped watching dm-health; nothing was rolled back" in err
    assert "the changes are kept, unguarded" in err
