"""The overlap measure: ``plan`` of 100,000 entries with latency on every call, against the
larger of its two floors measured in the same run — parsing the manifests (PyYAML's C loader,
the faster of GC on and paused) and fetching the pages (bare ``requests``, the plan's
concurrency). Read one after the other, the plan would cost about their sum."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import data

from reconciler.sandbox import Faults, Sandbox

SIZE = 100_000
LATENCY = 0.05
CONCURRENCY = 8
RATE = 1000.0


def measure(
    plan: Callable[[Path], Any],
    probe: Callable[..., dict[str, float]],
    workdir: Path,
    size: int = SIZE,
) -> tuple[Any, float, float]:
    """The plan's child, the parse floor and the fetch floor (seconds)."""
    directory = workdir / f"overlap-{size}"
    with Sandbox(initial_state=data.live_state(size), faults=Faults(latency=LATENCY)) as sandbox:
        data.write_manifests(
            directory, sandbox.url, size, requests_per_second=RATE, concurrency=CONCURRENCY
        )
        files = [str(path) for path in sorted(directory.glob("*.yaml"))]
        child = plan(directory)
        parse = min(probe("parse", gc, *files)["wall"] for gc in ("on", "paused"))
        url = f"{sandbox.url}/apiv2"
        fetch = probe("fetch", "--url", url, "--concurrency", str(CONCURRENCY))["wall"]
    return child, parse, fetch
