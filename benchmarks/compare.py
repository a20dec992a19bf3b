"""Measure ``plan --compare``'s comparison on two plans of 100,000 changes each.

    python benchmarks/compare.py               # 100,000 changes, best of 3
    python benchmarks/compare.py --size 10000 --repeat 5

The two plans differ by one change in 100 added, one removed and one whose ``types`` changed,
as a push that edits a few entries would. It prints the time of the comparison (changes keyed
into dicts, deepdiff only on the matched pairs that differ) beside that of building the two
keyed dicts alone, the floor any matching must spend. It also checks that a plain ``plan``'s
imports never load deepdiff: the comparison costs nothing when ``--compare`` is not given.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reconciler.savedplan import compare  # noqa: E402

TYPES = ["bounce", "block", "complaint", "unsubscribe"]


def change(index: int, types: list[str]) -> dict[str, Any]:
    entry = {"apiUser": "all", "email": f"user{index}@example.com", "types": types}
    return {
        "account": "prod-sc",
        "resource": "unintercept",
        "action": "create",
        "key": f"all:email:user{index}@example.com",
        "before": None,
        "after": entry,
    }


def plans(size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    old = [change(i, TYPES[:2]) for i in range(size)]
    new = []
    for i in range(size):
        if i % 100 == 1:
            continue  # removed
        new.append(change(i, TYPES[:3]) if i % 100 == 2 else change(i, TYPES[:2]))
    new.extend(change(size + i, TYPES) for i in range(size // 100))  # added
    summary = {"create": size, "update": 0, "delete": 0}
    return (
        {"format_version": 1, "changes": old, "summary": summary, "refusals": []},
        {"format_version": 1, "changes": new, "summary": summary, "refusals": []},
    )


def best(repeat: int, run: Any) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    old, new = plans(args.size)
    names = ("account", "resource", "key")
    floor = best(
        args.repeat,
        lambda: (compare._keyed(old["changes"], names), compare._keyed(new["changes"], names)),
    )
    result = compare.compare(old, new)
    took = best(args.repeat, lambda: compare.compare(old, new))
    probe = (
        "import sys, reconciler.cli, reconciler.commands.plan, reconciler.output.render; "
        "print('deepdiff' in sys.modules)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    print(
        f"plans of {args.size:,} changes: {len(result.changes.added):,} added, "
        f"{len(result.changes.removed):,} removed, {len(result.changes.changed):,} changed"
    )
    print(f"compare: {took * 1000:8.1f} ms   (keying both plans alone: {floor * 1000:.1f} ms)")
    print(f"deepdiff loaded by a plain plan's imports: {loaded}")
    return 0 if loaded == "False" else 1


if __name__ == "__main__":
    sys.exit(main())
