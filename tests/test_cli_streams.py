"""The CLI when its reader goes away (``| head``) or the user interrupts it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from reconciler.cli import main
from reconciler.commands import validate
from reconciler.output.console import Output
from tests.cli_helpers import EXAMPLES, REPO


def test_a_closed_stdout_ends_quietly_with_exit_0() -> None:
    # A pipe whose reader is already gone: the first write fails with EPIPE, deterministically.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", "validate", str(EXAMPLES)],
            cwd=REPO,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no traceback, no "Exception ignored ... BrokenPipeError"


def test_an_interrupt_is_reported_with_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: argparse.Namespace, out: Output) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(validate, "run", interrupted)
    assert main(["validate", str(EXAMPLES)]) == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "interrupted" in captured.err
