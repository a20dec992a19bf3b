"""The CLI where a person meets it: a terminal prompt, and the long-running sandbox server."""

from __future__ import annotations

import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from reconciler import sandbox as sb
from tests.cli_helpers import (
    EXAMPLES,
    accounts_yaml,
    copy_examples,
    process_env,
    read_until,
    run_cli,
    started,
    write,
)


def _apply_on_a_terminal(workdir: Path, answer: bytes) -> tuple[int, str]:
    # A real process: the prompt needs a terminal on stdin.
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "examples/", "--sandbox"],
        cwd=workdir, env=process_env(), stdin=terminal, stdout=terminal, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    try:
        shown = read_until(controller, b"[y/N] ")
        os.write(controller, answer)
        shown += read_until(controller, b"\x00")  # never printed: reads until the CLI exits
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
        os.close(controller)
    return code, shown.decode(errors="replace")


def test_apply_asks_on_a_terminal_and_no_means_nothing_written(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    code, shown = _apply_on_a_terminal(tmp_path, b"n\n")
    assert code == 1  # cancelled, as Terraform exits
    assert "apply cancelled" in shown
    assert "Apply 9 changes? [y/N]" in shown
    assert "\x1b[32m+\x1b[0m" in shown  # colors: stdout is a terminal
    assert run_cli("plan", "examples/", "--sandbox", "--detailed-exitcode", cwd=tmp_path).code == 2


def test_apply_asks_on_a_terminal_and_yes_applies(tmp_path: Path) -> None:
    copy_examples(tmp_path / "examples")
    code, shown = _apply_on_a_terminal(tmp_path, b"y\n")
    assert code == 0, shown
    assert "Apply: 9 applied, 0 failed, 0 skipped." in shown.replace("\r", "")
    assert run_cli("plan", "examples/", "--sandbox", "--detailed-exitcode", cwd=tmp_path).code == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sandbox_command_serves_until_interrupted(tmp_path: Path) -> None:
    port = _free_port()
    # A real process: the test stops it with Ctrl-C.
    with started(
        [sys.executable, "-m", "reconciler", "sandbox", "--port", str(port), "--state", "s.json"],
        cwd=tmp_path, env=process_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            banner = "".join(proc.stdout.readline() for _ in range(3))
            assert f"http://127.0.0.1:{port}" in banner
            write(tmp_path / "m" / "accounts.yaml", accounts_yaml(f"http://127.0.0.1:{port}"))
            write(
                tmp_path / "m" / "p.yaml",
                "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
                "spec: {account: dm, enabled: true}\n",
            )
            env = {
                "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
            }
            result = run_cli("plan", "m", "--detailed-exitcode", cwd=tmp_path, env=env)
            assert result.code == 2, result
            assert "ip_protection enabled: false -> true" in result.out
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert (tmp_path / "s.json").exists()


def test_sandbox_refuses_a_public_host(tmp_path: Path) -> None:
    result = run_cli("sandbox", "--host", "0.0.0.0", cwd=tmp_path)
    assert result.code == 3
    assert "loopback" in result.err


def test_common_flags_work_before_and_after_the_command() -> None:
    from reconciler.cli import build_parser

    parser = build_parser()
    before = parser.parse_args(["-v", "--no-color", "plan", "x"])
    after = parser.parse_args(["plan", "x", "-q", "--no-color"])
    neither = parser.parse_args(["validate", "x"])
    assert (before.verbose, before.quiet, before.no_color) == (True, False, True)
    assert (after.verbose, after.quiet, after.no_color) == (False, True, True)
    assert (neither.verbose, neither.quiet, neither.no_color) == (False, False, False)


def _plan_on_a_terminal(workdir: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    # A real process: colors depend on stdout being a terminal.
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *flags, "plan", "examples/", "--sandbox"],
        cwd=workdir, env={**process_env(), **(env or {})}, stdin=terminal, stdout=terminal,
        stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    try:
        shown = read_until(controller, b"\x00")
        proc.wait(timeout=60)
    finally:
        proc.kill()
        os.close(controller)
    return shown.decode(errors="replace")


def test_no_color_flag_and_variable(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    assert "\x1b[" in _plan_on_a_terminal(tmp_path)
    assert "\x1b[" not in _plan_on_a_terminal(tmp_path, "--no-color")
    assert "\x1b[" not in _plan_on_a_terminal(tmp_path, env={"NO_COLOR": "1"})
