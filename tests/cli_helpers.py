"""Run the real CLI in a subprocess, as a user or a CI job would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


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


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = "") -> Result:
    """``reconciler ARGS`` in ``cwd``; stdin is a pipe (not a terminal), as in CI."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_", "SENDCLOUD_"))}
    environ.pop("NO_COLOR", None)
    environ["PYTHONPATH"] = str(REPO)
    environ.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=environ,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


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
