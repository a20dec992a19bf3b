"""Run the real CLI, in this process (fast) or in a new one (for what only a process shows).

``run_cli`` calls ``reconciler.cli.main(argv)`` with the environment, working directory and
standard streams a subprocess would have: stdin is a pipe (not a terminal), stdout and stderr
are captured, and the environment holds no provider credentials unless the test passes them.
``run_cli_process`` starts ``python -m reconciler`` instead; use it only where the test is
about the process itself (a terminal, a signal, what gets imported, a closed pipe), and say so
at the call.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

# Loggers whose level the CLI sets for -v; put back after each in-process run.
_CLI_LOGGERS = ("", "urllib3", "reconciler.sandbox")


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def process_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without provider credentials or NO_COLOR, plus ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_", "SENDCLOUD_"))}
    environ.pop("NO_COLOR", None)
    environ["PYTHONPATH"] = str(REPO)
    environ.update(env or {})
    return environ


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = "") -> Result:
    """``reconciler ARGS`` in ``cwd``, run in this process; stdin is a pipe, as in CI."""
    from reconciler.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _as_a_new_process(cwd, process_env(env), io.StringIO(stdin), out, err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --help, bad usage
            code = _exit_code(exc.code, err)
    return Result(code, out.getvalue(), err.getvalue())


def run_cli_process(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = ""
) -> Result:
    """``python -m reconciler ARGS`` in ``cwd``, in a new process; stdin is a pipe."""
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=process_env(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=default_sigint,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def default_sigint() -> None:
    """In a child: take Ctrl-C as a new process would, even if our shell ignores it.

    A shell starts background jobs with SIGINT ignored, and children inherit that; a test
    that stops a child with SIGINT would then wait for nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def started(command: list[str], **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """``Popen`` that takes Ctrl-C by default and is killed if the test leaves it running."""
    with subprocess.Popen(command, preexec_fn=default_sigint, **popen) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def read_until(fd: int, needle: bytes, timeout: float = 30.0) -> bytes:
    """Read from ``fd`` until ``needle`` shows, the other side closes, or ``timeout`` passes."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the other side closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def _exit_code(code: object, err: io.StringIO) -> int:
    """The status ``SystemExit(code)`` gives a process, printing a message as Python would."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=err)
    return 1


@contextlib.contextmanager
def _as_a_new_process(
    cwd: Path, environ: dict[str, str], stdin: io.StringIO, out: io.StringIO, err: io.StringIO
) -> Iterator[None]:
    """Environment, working directory, streams and logging as a fresh process has them."""
    saved_environ = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    loggers = [logging.getLogger(name) for name in _CLI_LOGGERS]
    saved_levels = [logger.level for logger in loggers]
    root = logging.getLogger()
    saved_handlers = root.handlers[:]
    # No handlers, as in a new process: -v's basicConfig installs its own, and without -v
    # warnings reach stderr through logging's last resort.
    root.handlers = []
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    sys.stdin, sys.stdout, sys.stderr = stdin, out, err
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)
        for handler in root.handlers:
            handler.close()
        root.handlers = saved_handlers
        for logger, level in zip(loggers, saved_levels, strict=True):
            logger.setLevel(level)


class BannerThenStop:
    """An output for ``serve_forever`` that stops the server once its banner is written, as
    Ctrl-C would; ``text`` holds what was written."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        if "Press Ctrl-C" in text:
            raise KeyboardInterrupt
        return len(text)

    def flush(self) -> None:
        pass


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def copy_examples(destination: Path) -> Path:
    """The examples copied to ``destination``, their accounts paced for a sandbox (1000 calls
    a second, as ``accounts_yaml``): at the default 10 a second, each apply of the examples
    waits a second. Pacing itself is tested in test_reliability; the quick start in test_e2e
    runs the examples as they are."""
    shutil.copytree(EXAMPLES, destination)
    accounts = destination / "accounts" / "accounts.yaml"
    text = accounts.read_text(encoding="utf-8")
    assert text.count("\nspec:\n") == 2, "the example accounts changed: update copy_examples"
    paced = text.replace("\nspec:\n", "\nspec:\n  limits: {requestsPerSecond: 1000}\n")
    accounts.write_text(paced, encoding="utf-8")
    return destination


def accounts_yaml(endpoint: str, requests_per_second: float = 1000) -> str:
    """Both accounts, pointed at a sandbox already running at ``endpoint``."""
    return f"""\
apiVersion: reconciler/v1
kind: Account
metadata: {{name: dm}}
spec:
  provider: aliyun-directmail
  endpoint: {endpoint}
  limits: {{requestsPerSecond: {requests_per_second}}}
---
apiVersion: reconciler/v1
kind: Account
metadata: {{name: sc}}
spec:
  provider: sendcloud
  endpoint: {endpoint}/apiv2
  limits: {{requestsPerSecond: {requests_per_second}}}
"""
