"""What every measure shares: a result row, running a child process and measuring it."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Row:
    measure: str
    result: str
    target: str
    floor: str
    ok: bool


@dataclass
class Child:
    """A finished child process: wall seconds, CPU seconds, peak RSS in MB, exit code, output."""

    wall: float
    cpu: float
    rss_mb: float
    code: int
    out: str
    err: str


def run_child(args: Sequence[str], env: dict[str, str], cwd: Path) -> Child:
    """Run ``args`` to completion through ``probes.py rusage``, which measures it."""
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.TemporaryDirectory() as scratch,
    ):
        report = Path(scratch) / "rusage.json"
        launcher = [sys.executable, str(HERE / "probes.py"), "rusage", str(report), "--"]
        code = subprocess.run(
            [*launcher, *args], env=env, cwd=cwd, stdout=out, stderr=err, check=False
        ).returncode
        usage = json.loads(report.read_text(encoding="utf-8"))
        out.seek(0)
        err.seek(0)
        return Child(usage["wall"], usage["cpu"], usage["rss_mb"], code, out.read(), err.read())


def best(runs: int, once: Callable[[], Child]) -> Child:
    """The fastest of ``runs`` runs, with the highest peak RSS any of them reached."""
    children = [once() for _ in range(runs)]
    fastest = min(children, key=lambda child: child.wall)
    fastest.rss_mb = max(child.rss_mb for child in children)
    return fastest


def checked(child: Child, what: str) -> Child:
    if child.code != 0:
        raise SystemExit(f"{what} failed with exit {child.code}:\n{child.out[-2000:]}{child.err}")
    return child


def table(rows: Sequence[Row]) -> str:
    header = ("measure", "result", "target", "floor / bound", "ok?")
    cells = [
        header,
        *((r.measure, r.result, r.target, r.floor, "yes" if r.ok else "NO") for r in rows),
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
