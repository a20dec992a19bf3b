"""The progress line of a long apply: on a terminal's stderr only, throttled, then erased."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

from reconciler.apply import Outcome
from reconciler.model import Target, UninterceptEntry
from reconciler.output.console import CLEAR, MANY, Progress
from reconciler.plan import Action, Change, Resource
from tests.cli_helpers import REPO, process_env, read_until, run_cli, write

ACCOUNT = """\
apiVersion: reconciler/v1
kind: Account
metadata: {name: sc}
spec: {provider: sendcloud, limits: {requestsPerSecond: 1000}}
"""


def _outcome(status: str = "applied") -> Outcome:
    entry = UninterceptEntry("all", Target.EMAIL, "a@example.com")
    change = Change("sc", Resource.UNINTERCEPT, Action.CREATE, entry.key, None, entry)
    return Outcome(change, status)  # type: ignore[arg-type]


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_many_changes_show_a_throttled_line_that_is_erased_at_the_end() -> None:
    stream, clock = io.StringIO(), _Clock()
    with Progress(1000, stream, enabled=True, clock=clock) as progress:
        for i in range(1000):
            clock.now += 0.001  # one second in all
            progress.update(_outcome("failed" if i % 100 == 0 else "applied"))
        drawn = stream.getvalue()
        assert progress.line() == "Applying: 1000/1000 (10 failed)"
    assert drawn.startswith(CLEAR + "Applying: 1/1000 (1 failed)")
    assert 5 <= drawn.count(CLEAR) <= 11  # at most 10 a second (and the first)
    assert stream.getvalue() == drawn + CLEAR  # erased once done


def test_few_quick_changes_show_nothing_but_a_slow_phase_does() -> None:
    stream, clock = io.StringIO(), _Clock()
    with Progress(MANY, stream, enabled=True, clock=clock) as progress:
        for _ in range(MANY):
            progress.update(_outcome())
    assert stream.getvalue() == ""

    with Progress(3, stream, enabled=True, clock=clock) as progress:
        progress.update(_outcome())
        clock.now += 2.5
        progress.update(_outcome())
    assert stream.getvalue() == f"{CLEAR}Applying: 2/3{CLEAR}"


def test_disabled_shows_nothing_but_still_counts() -> None:
    stream = io.StringIO()
    with Progress(500, stream, enabled=False) as progress:
        for _ in range(500):
            progress.update(_outcome("failed"))
    assert stream.getvalue() == "" and progress.failed == 500


def _workdir(tmp_path: Path, entries: int = 30) -> Path:
    emails = "".join(f"    - email: user{i}@example.com\n" for i in range(entries))
    write(tmp_path / "m" / "accounts.yaml", ACCOUNT)
    write(
        tmp_path / "m" / "list.yaml",
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: many}\n"
        f"spec:\n  account: sc\n  prune: false\n  entries:\n{emails}",
    )
    return tmp_path


def _apply_with_stderr_on_a_terminal(workdir: Path, *flags: str) -> tuple[int, str, str]:
    # A real process: stderr must be a terminal.
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "m", "--sandbox", "--yes", *flags],
        cwd=workdir, env={**process_env(), "PYTHONPATH": str(REPO)}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=terminal, text=True,
    )  # fmt: skip
    os.close(terminal)
    try:
        shown = read_until(controller, b"\x00")  # never printed: reads until the CLI exits
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        os.close(controller)
    return proc.returncode, out, shown.decode(errors="replace")


def test_apply_shows_progress_on_a_terminal_stderr(tmp_path: Path) -> None:
    code, out, err = _apply_with_stderr_on_a_terminal(_workdir(tmp_path))
    assert code == 0, err
    assert "Apply: 30 applied, 0 failed, 0 skipped." in out
    assert "\rApplying: 1/30" in err.replace("\x1b[K", "")
    assert err.rstrip("\r\n").endswith(CLEAR)  # the line is erased
    assert "Applying" not in out  # never on stdout


def test_no_progress_with_quiet_or_off_a_terminal(tmp_path: Path) -> None:
    code, _, err = _apply_with_stderr_on_a_terminal(_workdir(tmp_path), "--quiet")
    assert code == 0, err
    assert "Applying" not in err

    other = _workdir(tmp_path / "other")
    write(other / "m" / "list.yaml", (other / "m" / "list.yaml").read_text().replace("user", "u"))
    result = run_cli("apply", "m", "--sandbox", "--yes", cwd=other)
    assert result.code == 0, result
    assert "30 applied" in result.out
    assert "Applying" not in result.err and "\r" not in result.err
