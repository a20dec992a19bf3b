"""Interruption and a closed stdout (SPEC §6), with real processes: a signal during ``apply``
stops the writes not yet sent, waits for those in flight and reports all of it; a reader that
goes away never turns a failure into exit 0."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.jsonschemas import validator
from reconciler.output.console import CLEAR
from reconciler.sandbox import Faults, Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import REPO, write
from tests.cli_helpers import read_until as _read_until

ADDRESSES = 40
# The child resets SIGINT to Python's default handler: a test started from a background shell
# inherits SIGINT ignored, and an ignored SIGINT is (rightly) left ignored by reconciler.
LAUNCH = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'reconciler'; runpy.run_module('reconciler', run_name='__main__')"
)
# As a background job: SIGINT ignored, kept across exec.
IGNORING = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, '-m', 'reconciler', *sys.argv[1:]])"
)


def _env() -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_", "SENDCLOUD_"))}
    return {**environ, **SANDBOX_ENV, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}


def _manifests(directory: Path, endpoint: str, addresses: int, retry: str = "") -> Path:
    entries = "".join(f"    - 198.51.{i // 200}.{i % 200 + 1}\n" for i in range(addresses))
    write(
        directory / "m.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: dm}\nspec:\n"
        f"  provider: aliyun-directmail\n  endpoint: {endpoint}\n"
        f"  limits: {{requestsPerSecond: 1000, concurrency: 2}}\n{retry}"
        "---\napiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
        f"spec:\n  account: dm\n  prune: false\n  entries:\n{entries}",
    )
    return directory


def _wait_for(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("signum", "code", "fmt"),
    [
        pytest.param(signal.SIGINT, 130, "text", id="SIGINT"),
        pytest.param(signal.SIGTERM, 143, "json", id="SIGTERM"),
    ],
)
def test_a_signal_stops_the_writes_not_yet_sent_and_reports_them(
    signum: int, code: int, fmt: str, tmp_path: Path
) -> None:
    with Sandbox(tmp_path / "s.json", faults=Faults(latency=0.25)) as sandbox:
        _manifests(tmp_path, sandbox.url, ADDRESSES)
        live_before = len(sandbox.ipfilters())
        controller, terminal = pty.openpty()  # stderr on a terminal: the progress line shows
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "apply", "m.yaml", "--yes", "--format", fmt],
            cwd=tmp_path, env=_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=terminal, text=True,
        )  # fmt: skip
        os.close(terminal)
        try:
            _wait_for(lambda: sandbox.calls["AddIpfilter"] >= 3)
            proc.send_signal(signum)
            err = _read_until(controller, b"\x00").decode(errors="replace")
            out, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
            os.close(controller)
        sent = sandbox.calls["AddIpfilter"]
        added = len(sandbox.ipfilters()) - live_before

    assert proc.returncode == code, (out, err)
    assert 3 <= sent < ADDRESSES, sent
    name = signal.Signals(signum).name
    assert f"error: interrupted ({name})" in err and "Traceback" not in err, err
    # Every write that reached the sandbox was awaited and is reported as applied.
    if fmt == "json":
        report = json.loads(out)
        validator("report").validate(report)
        statuses = [o["status"] for o in report["outcomes"]]
        assert len(statuses) == ADDRESSES
        assert report["summary"] == {
            "applied": sent,
            "failed": 0,
            "skipped": 0,
            "not attempted": ADDRESSES - sent,
        }
        assert statuses == ["applied"] * sent + ["not attempted"] * (ADDRESSES - sent)
    else:
        left = ADDRESSES - sent
        assert f"Apply: {sent} applied, 0 failed, 0 skipped, {left} not attempted." in out
        assert out.count("not attempted  + ip_whitelist") == left
        assert f"{left} changes not attempted" in err
    assert added == sent
    # The progress line was drawn, then erased before the report and the error.
    assert "Applying: " in err
    last = err.rindex("Applying: ")
    assert CLEAR in err[last : err.index("error: interrupted")]


def test_a_second_ctrl_c_while_writes_in_flight_are_awaited_changes_nothing(
    tmp_path: Path,
) -> None:
    """A real process: the first SIGINT stops the run; a second one, while the writes in flight
    are awaited, is ignored, so those writes end and the report is printed all the same."""
    with Sandbox(tmp_path / "s.json", faults=Faults(latency=0.5)) as sandbox:
        _manifests(tmp_path, sandbox.url, ADDRESSES)
        live_before = len(sandbox.ipfilters())
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "apply", "m.yaml", "--yes"],
            cwd=tmp_path, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            _wait_for(lambda: sandbox.calls["AddIpfilter"] >= 3)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.15)  # two signals at once would be handled as one
            proc.send_signal(signal.SIGINT)  # within the 0.5 s a write in flight takes
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        sent = sandbox.calls["AddIpfilter"]
        added = len(sandbox.ipfilters()) - live_before
    assert proc.returncode == 130, err
    assert "error: interrupted (SIGINT)" in err and "Traceback" not in err, err
    assert added == sent < ADDRESSES
    assert f"Apply: {sent} applied, 0 failed, 0 skipped, {ADDRESSES - sent} not attempted." in out


def test_an_ignored_sigint_stays_ignored_and_sigterm_still_stops_the_run(tmp_path: Path) -> None:
    """A job started in the background has SIGINT ignored: it is not stopped by it, but a
    SIGTERM (what CI sends on cancel) still stops it with a report."""
    with Sandbox(tmp_path / "s.json", faults=Faults(latency=0.25)) as sandbox:
        _manifests(tmp_path, sandbox.url, ADDRESSES)
        proc = subprocess.Popen(
            [sys.executable, "-c", IGNORING, "apply", "m.yaml", "--yes"],
            cwd=tmp_path, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _wait_for(lambda: sandbox.calls["AddIpfilter"] >= 1)
        proc.send_signal(signal.SIGINT)
        _wait_for(lambda: sandbox.calls["AddIpfilter"] >= 5)  # it went on
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        sent = sandbox.calls["AddIpfilter"]
    assert proc.returncode == 143, err
    assert "interrupted (SIGTERM)" in err and "SIGINT" not in err, err
    assert 5 <= sent < ADDRESSES
    assert f"Apply: {sent} applied, 0 failed, 0 skipped, {ADDRESSES - sent} not attempted." in out


def test_a_closed_stdout_keeps_the_exit_code_of_a_failure(tmp_path: Path) -> None:
    """``apply ... | head -c1``: the reader takes one byte and goes away before the report."""
    with Sandbox(tmp_path / "s.json", faults=Faults(latency=0.2)) as sandbox:
        sandbox.faults.script("AddIpfilter", *["5xx"] * 4)
        _manifests(tmp_path, sandbox.url, 4, retry="  retry: {attempts: 1}\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "m.yaml", "--yes"],
            cwd=tmp_path, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        assert len(proc.stdout.read(1)) == 1  # head -c1
        proc.stdout.close()
        with proc.stderr:
            err = proc.stderr.read().decode()
        proc.wait(timeout=60)
        assert sandbox.calls["AddIpfilter"] == 4  # the run went on: the failures are real
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
