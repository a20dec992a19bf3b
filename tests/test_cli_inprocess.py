"""The in-process runner shows what a real process shows: same stdout, stderr and exit code."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import EXAMPLES, Result, run_cli, run_cli_process, write

COMMANDS = [
    pytest.param(["--version"], id="version"),
    pytest.param(["--help"], id="help"),
    pytest.param(["plan"], id="bad-usage"),
    pytest.param(["validate", "examples/"], id="validate"),
    pytest.param(["validate", "examples/", "broken.yaml"], id="invalid"),
    pytest.param(["plan", "examples/", "--sandbox", "--detailed-exitcode"], id="plan"),
    pytest.param(["-v", "plan", "examples/", "--sandbox", "--format", "json"], id="verbose-json"),
    pytest.param(["plan", "examples/"], id="no-credentials"),
    pytest.param(["apply", "examples/", "--sandbox"], id="apply-without-a-terminal"),
]


def _workdir(root: Path) -> Path:
    shutil.copytree(EXAMPLES, root / "examples")
    write(root / "broken.yaml", "apiVersion: reconciler/v1\nkind: Nope\n")
    return root


def _stable(result: Result) -> Result:
    """Without what differs from run to run: the embedded sandbox's port, timings, request
    ids, and the order of log lines from accounts read concurrently."""

    def clean(text: str) -> str:
        text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
        text = re.sub(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", "ID", text)
        return re.sub(r"\d+(\.\d+)? ?m?s\b", "TIME", text)

    log = sorted(line for line in result.err.splitlines() if line.startswith("reconciler."))
    rest = [line for line in result.err.splitlines() if not line.startswith("reconciler.")]
    return Result(result.code, clean(result.out), clean("\n".join([*rest, *log])))


@pytest.mark.parametrize("args", COMMANDS)
def test_in_process_and_subprocess_agree(args: list[str], tmp_path: Path) -> None:
    inside = run_cli(*args, cwd=_workdir(tmp_path / "inside"))
    # A real process on purpose: it is what the in-process runner must match.
    outside = run_cli_process(*args, cwd=_workdir(tmp_path / "outside"))
    assert _stable(inside) == _stable(outside), f"in process:\n{inside}\n\nsubprocess:\n{outside}"
    assert inside.out or inside.err  # the comparison saw something


def test_in_process_runs_leave_no_trace(tmp_path: Path) -> None:
    import logging
    import os

    before = (dict(os.environ), os.getcwd(), logging.getLogger().handlers[:])
    run_cli("-v", "plan", "examples/", "--sandbox", cwd=_workdir(tmp_path), env={"NO_COLOR": "1"})
    after = (dict(os.environ), os.getcwd(), logging.getLogger().handlers[:])
    assert after == before
