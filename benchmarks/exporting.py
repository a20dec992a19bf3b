"""The export measure: ``export`` of a SendCloud unintercept list of a million entries to a file,
its time and peak RSS, against reconciler's own read of the same list alone (``probes.py
listing``: what an export must hold before it can sort and write) and the same export of a tenth
of the list (growth should be linear)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import data

from reconciler.sandbox import Sandbox

RATE, CONCURRENCY = 1000.0, 8
ENTRY_LINE = "    - "  # how each entry of ``entries`` starts in the file


def measure(
    export: Callable[[list[str]], Any],
    probe: Callable[..., dict[str, float]],
    workdir: Path,
    size: int,
    *,
    read: bool = True,
) -> tuple[Any, dict[str, float] | None]:
    """The child of ``export`` of ``size`` entries and, with ``read``, the read floor: the
    listing probe's result (``listing`` seconds, the whole child's ``wall`` and ``rss_mb``).

    The export loads only the Account documents (the one-entry list manifest beside them is
    the probe's), so the run is the export's own: list, sort, write."""
    directory = workdir / f"export-{size}"
    with Sandbox(initial_state=data.live_state(size, differ=False)) as sandbox:
        data.write_manifests(
            directory,
            sandbox.url,
            1,
            requests_per_second=RATE,
            concurrency=CONCURRENCY,
            directmail=False,
            prune=False,
        )
        out = directory / "out" / "live.yaml"
        accounts = str(directory / "accounts.yaml")
        child = export(["export", accounts, "--account", "bench-sc", "--out", str(out)])
        floor = probe("listing", *sorted(map(str, directory.glob("*.yaml")))) if read else None
    written = _entries(out)
    out.unlink()
    if written != size:
        raise SystemExit(f"export of {size} entries wrote {written}")
    if floor is not None and floor["entries"] != size:
        raise SystemExit(f"the read floor read {floor['entries']} entries, not {size}")
    return child, floor


def _entries(path: Path) -> int:
    with path.open(encoding="utf-8") as stream:
        return sum(1 for line in stream if line.startswith(ENTRY_LINE))
