"""Measure reconciler at scale against the targets of the performance issue, in one run.

    python benchmarks/run.py              # everything, full sizes (about a minute)
    python benchmarks/run.py --quick      # the plan measures at a tenth of the size
    python benchmarks/run.py --only plan --only version --repeat 3

Each measure starts an in-process sandbox (no state file) holding generated data, writes the
manifests beside it into a temporary directory, and runs the real CLI as a child process, timing
its wall clock and reading its peak RSS from ``wait4`` (through a small launcher, see
``probes.py rusage``). The floors run as child processes too (``probes.py``). The table gives
each result beside its target and the floor or bound the target is relative to; the exit status
is 1 if any target is missed. Timings are the best of ``--repeat`` runs: on a shared machine
the best run is the least disturbed one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Run from a clone without installing: the sandbox runs in this process, the CLI in children.
sys.path[:0] = [str(REPO), str(HERE)]

import data  # noqa: E402
import exporting  # noqa: E402
import fleet  # noqa: E402
import overlap  # noqa: E402
from measure import Child, Row, best, checked, run_child, table  # noqa: E402

from reconciler.sandbox import Faults, Sandbox  # noqa: E402

PLAN_SIZE = 100_000
GROWTH_SIZE = 10_000
LISTING_SIZE = 20_000
APPLY_CHANGES = 1_000
LATENCY = 0.05  # seconds injected per call
PAGE = 100
PLAN_RATE, PLAN_CONCURRENCY = 1000.0, 8  # generous: the plan measures are not rate-bound
APPLY_RATE, APPLY_CONCURRENCY = 200.0, 16
VERSION_RUNS = 7
EXPORT_TIME, EXPORT_RSS = 1.5, 1.5  # export against the read alone
EXPORT_TINY, EXPORT_GROWTH_MB = 10_000, 192  # a million entries cost at most this much more
FLEET_MANY, FLEET_FILES = 1000, 256  # accounts planned under a bound on open descriptors
MEASURES = (
    "plan", "growth", "million", "export", "listing", "overlap", "apply", "fleet", "fleet-off",
    "version",
)  # fmt: skip


class Bench:
    def __init__(self, workdir: Path, repeat: int, quick: bool) -> None:
        self.workdir = workdir
        self.repeat = repeat
        self.plan_size = PLAN_SIZE // 10 if quick else PLAN_SIZE
        self.growth_size = GROWTH_SIZE // 10 if quick else GROWTH_SIZE
        self.env = {**os.environ, **data.environment(), "PYTHONPATH": str(REPO)}
        self.probe_env = {**self.env, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.plan_times: dict[int, float] = {}
        self.floors: dict[int, dict[str, dict[str, float]]] = {}

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "reconciler", *args]

    def probe(self, *args: str) -> dict[str, float]:
        child = checked(
            run_child([sys.executable, str(HERE / "probes.py"), *args], self.probe_env, REPO),
            f"probe {args[0]}",
        )
        result: dict[str, float] = json.loads(child.out)
        result["wall"] = child.wall
        result["rss_mb"] = child.rss_mb
        return result

    # -- plan: time, memory and calls against the floor -------------------------------------

    def plan_run(self, size: int) -> tuple[Child, list[dict[str, int]]]:
        """``plan`` of an unintercept list of ``size``: the best run and the sandbox's call
        counts for each run. Measures the floor on the same files and sandbox too."""
        directory = self.workdir / f"plan-{size}"
        with Sandbox(initial_state=data.live_state(size)) as sandbox:
            data.write_manifests(
                directory,
                sandbox.url,
                size,
                requests_per_second=PLAN_RATE,
                concurrency=PLAN_CONCURRENCY,
            )
            calls: list[dict[str, int]] = []

            def once() -> Child:
                sandbox.reset_calls()
                child = checked(run_child(self.cli("plan", str(directory)), self.env, REPO), "plan")
                calls.append(dict(sandbox.calls))
                return child

            child = best(self.repeat, once)
            expected = data.expected_changes(size)
            summary = next(line for line in child.out.splitlines() if line.startswith("Plan:"))
            counts = [int(word) for word in summary.split() if word.isdigit()]
            if sum(counts) != expected:
                raise SystemExit(f"plan of {size} showed {summary!r}; expected {expected} changes")
            floors = {gc: self.floor(gc, sandbox.url, directory) for gc in ("on", "paused")}
        self.plan_times[size] = child.wall
        self.notes.append(
            f"plan {size:,}: CPU {child.cpu:.2f} s; floor with GC on {floors['on']['wall']:.2f} s, "
            f"GC paused {floors['paused']['wall']:.2f} s (peak RSS "
            f"{floors['paused']['rss_mb']:.0f} MB)"
        )
        self.floors[size] = floors
        return child, calls

    def floor(self, gc: str, url: str, directory: Path) -> dict[str, float]:
        files = [str(path) for path in sorted(directory.glob("*.yaml"))]
        runs = [
            self.probe("floor", gc, "--url", f"{url}/apiv2", *files) for _ in range(self.repeat)
        ]
        return min(runs, key=lambda run: run["wall"])

    def plan(self) -> None:
        size = self.plan_size
        child, runs_calls = self.plan_run(size)
        floors = self.floors[size]
        floor = min(run["wall"] for run in floors.values())
        self.rows.append(
            Row(
                f"plan {size:,} entries (10 % differ)",
                f"{child.wall:.2f} s ({child.wall / floor:.2f} ×)",
                f"≤ 1.5 × floor = {1.5 * floor:.2f} s",
                f"{floor:.2f} s: C loader (faster of GC on/paused) + {math.ceil(size / PAGE)} "
                "pages, bare requests",
                child.wall <= 1.5 * floor,
            )
        )
        self.rows.append(
            Row(
                f"plan {size:,}: peak RSS",
                f"{child.rss_mb:.0f} MB",
                "≤ 400 MB",
                f"the floor's: {floors['paused']['rss_mb']:.0f} MB",
                child.rss_mb <= 400,
            )
        )
        pages = math.ceil(size / PAGE)
        wanted = {"GetIpProtection": 1, "GetIpfilterList": 1, "unintercept/list": pages}
        calls = next((c for c in runs_calls if c != wanted), wanted)  # a run that strayed, if any
        shown = "/".join(str(calls.get(action, 0)) for action in wanted)
        self.rows.append(
            Row(
                f"plan {size:,}: calls",
                f"{shown} (+{sum(calls.values()) - sum(calls.get(a, 0) for a in wanted)} other)",
                "/".join(str(n) for n in wanted.values()) + " (+0 other)",
                "protection / whitelist / list pages",
                calls == wanted,
            )
        )

    def growth(self) -> None:
        for size in (self.growth_size, self.plan_size):
            if size not in self.plan_times:
                self.plan_run(size)
        small, large = self.plan_times[self.growth_size], self.plan_times[self.plan_size]
        limit = 12  # for ten times the entries: linear, with room for noise
        self.rows.append(
            Row(
                f"growth {self.growth_size:,} → {self.plan_size:,}",
                f"{large / small:.1f} ×",
                f"≤ {limit:g} ×",
                f"{small:.2f} s → {large:.2f} s",
                large / small <= limit,
            )
        )

    def million(self) -> None:
        """``plan`` of ten times the plan size (a million entries at full size): linear growth
        and bounded memory."""
        size = self.plan_size * 10
        if self.plan_size not in self.plan_times:
            self.plan_run(self.plan_size)
        directory = self.workdir / f"plan-{size}"
        with Sandbox(initial_state=data.live_state(size)) as sandbox:
            data.write_manifests(
                directory,
                sandbox.url,
                size,
                requests_per_second=PLAN_RATE,
                concurrency=PLAN_CONCURRENCY,
            )
            child = best(
                self.repeat,
                lambda: checked(
                    run_child(self.cli("plan", str(directory)), self.env, REPO), "plan"
                ),
            )
        small = self.plan_times[self.plan_size]
        limit = 11
        self.rows.append(
            Row(
                f"growth {self.plan_size:,} → {size:,}",
                f"{child.wall / small:.1f} ×",
                f"≤ {limit} ×",
                f"{small:.2f} s → {child.wall:.2f} s",
                child.wall / small <= limit,
            )
        )
        self.rows.append(
            Row(
                f"plan {size:,}: peak RSS",
                f"{child.rss_mb:.0f} MB",
                "≤ 1,536 MB",
                "",
                child.rss_mb <= 1536,
            )
        )

    def export(self) -> None:
        """``export`` of ten times the plan size (a million entries at full size) to a file,
        against reconciler's read of the same list alone (time and memory) and the export of
        the plan size (linear growth)."""

        def export(args: list[str]) -> Child:
            return best(
                self.repeat, lambda: checked(run_child(self.cli(*args), self.env, REPO), "export")
            )

        tiny, _ = exporting.measure(export, self.probe, self.workdir, EXPORT_TINY, read=False)
        small, _ = exporting.measure(export, self.probe, self.workdir, self.plan_size, read=False)
        size = self.plan_size * 10
        child, read = exporting.measure(export, self.probe, self.workdir, size)
        assert read is not None
        self.rows.append(
            Row(
                f"export {size:,} entries to a file",
                f"{child.wall:.2f} s ({child.wall / read['wall']:.2f} ×)",
                f"≤ {EXPORT_TIME:g} × read = {EXPORT_TIME * read['wall']:.2f} s",
                f"{read['wall']:.2f} s: start-up + reconciler's read of the list alone "
                f"({read['listing']:.2f} s of it)",
                child.wall <= EXPORT_TIME * read["wall"],
            )
        )
        self.rows.append(
            Row(
                f"export {self.plan_size:,} → {size:,}",
                f"{child.wall / small.wall:.1f} ×",
                "≤ 11 ×",
                f"{small.wall:.2f} s → {child.wall:.2f} s",
                child.wall / small.wall <= 11,
            )
        )
        self.rows.append(
            Row(
                f"export {size:,}: peak RSS",
                f"{child.rss_mb:.0f} MB ({child.rss_mb / read['rss_mb']:.2f} ×)",
                f"≤ {EXPORT_RSS:g} × read = {EXPORT_RSS * read['rss_mb']:.0f} MB",
                f"the read alone: {read['rss_mb']:.0f} MB; export of {self.plan_size:,}: "
                f"{small.rss_mb:.0f} MB",
                child.rss_mb <= EXPORT_RSS * read["rss_mb"],
            )
        )
        self.rows.append(
            Row(
                f"export {size:,}: peak RSS against {EXPORT_TINY:,}",
                f"{child.rss_mb:.0f} MB (+{child.rss_mb - tiny.rss_mb:.0f} MB)",
                f"≤ + {EXPORT_GROWTH_MB} MB = {tiny.rss_mb + EXPORT_GROWTH_MB:.0f} MB",
                f"export of {EXPORT_TINY:,}: {tiny.rss_mb:.0f} MB",
                child.rss_mb <= tiny.rss_mb + EXPORT_GROWTH_MB,
            )
        )

    # -- latency-bound measures --------------------------------------------------------------

    def listing(self) -> None:
        concurrency = PLAN_CONCURRENCY
        directory = self.workdir / "listing"
        live = data.live_state(LISTING_SIZE, differ=False)
        with Sandbox(initial_state=live, faults=Faults(latency=LATENCY)) as sandbox:
            # Only the listing is timed, so a one-entry manifest does.
            data.write_manifests(
                directory,
                sandbox.url,
                1,
                requests_per_second=PLAN_RATE,
                concurrency=concurrency,
                directmail=False,
                prune=False,
            )
            files = [str(path) for path in sorted(directory.glob("*.yaml"))]
            runs = [self.probe("listing", *files) for _ in range(self.repeat)]
        run = min(runs, key=lambda r: r["listing"])
        if run["entries"] != LISTING_SIZE:
            raise SystemExit(f"listing read {run['entries']} entries, not {LISTING_SIZE}")
        later = math.ceil(LISTING_SIZE / PAGE) - 1
        bound = run["first_page"] + math.ceil(later / concurrency) * LATENCY
        self.rows.append(
            Row(
                f"list {LISTING_SIZE:,}, {LATENCY * 1000:.0f} ms/call, concurrency {concurrency}",
                f"{run['listing']:.2f} s",
                f"≤ 1.5 × bound = {1.5 * bound:.2f} s",
                f"{bound:.2f} s: first page {run['first_page'] * 1000:.0f} ms + "
                f"⌈{later}/{concurrency}⌉ × {LATENCY * 1000:.0f} ms",
                run["listing"] <= 1.5 * bound,
            )
        )

    def apply(self) -> None:
        directory = self.workdir / "apply"
        rate, concurrency = APPLY_RATE, APPLY_CONCURRENCY
        bound = APPLY_CHANGES / rate
        children = []
        for _ in range(self.repeat):
            # A fresh, empty unintercept list each time: every run makes the same creates.
            live = data.live_state(0)
            with Sandbox(initial_state=live, faults=Faults(latency=LATENCY)) as sandbox:
                data.write_manifests(
                    directory,
                    sandbox.url,
                    APPLY_CHANGES,
                    requests_per_second=rate,
                    concurrency=concurrency,
                    directmail=False,
                )
                child = run_child(self.cli("apply", str(directory), "--yes"), self.env, REPO)
                children.append(checked(child, "apply"))
                writes = sandbox.calls["unintercept/add"]
                if len(sandbox.unintercepts()) != APPLY_CHANGES or writes != APPLY_CHANGES:
                    raise SystemExit(f"apply made {writes} writes for {APPLY_CHANGES} changes")
        child = min(children, key=lambda c: c.wall)
        sequential = APPLY_CHANGES * LATENCY
        self.rows.append(
            Row(
                f"apply {APPLY_CHANGES:,} creates, {LATENCY * 1000:.0f} ms/call, "
                f"{rate:g} rps, concurrency {concurrency}",
                f"{child.wall:.2f} s",
                f"≤ 1.2 × bound = {1.2 * bound:.2f} s",
                f"{bound:.2f} s = {APPLY_CHANGES:,} writes / {rate:g} rps "
                f"(sequential: {sequential:.0f} s)",
                child.wall <= 1.2 * bound,
            )
        )

    def overlap(self) -> None:
        size = self.plan_size

        def plan(directory: Path) -> Child:
            runs = [
                checked(run_child(self.cli("plan", str(directory)), self.env, REPO), "plan")
                for _ in range(self.repeat)
            ]
            return min(runs, key=lambda c: c.wall)

        child, parse, fetch = overlap.measure(plan, self.probe, self.workdir, size)
        floor = max(parse, fetch)
        self.rows.append(
            Row(
                f"plan {size:,}, {overlap.LATENCY * 1000:.0f} ms/call: parse ∥ fetch",
                f"{child.wall:.2f} s ({child.wall / floor:.2f} ×)",
                f"≤ 1.15 × max = {1.15 * floor:.2f} s",
                f"parse floor {parse:.2f} s, fetch floor {fetch:.2f} s (sum {parse + fetch:.2f} s)",
                child.wall <= 1.15 * floor,
            )
        )

    def fleet(self) -> None:
        def run(args: list[str]) -> Child:
            return checked(run_child(self.cli(*args), self.env, REPO), "fleet plan")

        both = fleet.measure(run, self.workdir)
        self.rows.append(
            Row(
                f"plan of {both.accounts} accounts (100 DirectMail on one key, 100 SendCloud)",
                f"{both.child.wall:.2f} s ({both.child.wall / both.bound:.2f} ×)",
                f"≤ 1.2 × bound = {1.2 * both.bound:.2f} s",
                f"{both.bound:.2f} s: the slowest key's calls at its limits",
                both.child.wall <= 1.2 * both.bound,
            )
        )
        self.notes.append(f"fleet bound: {both.how}; peak RSS {both.child.rss_mb:.0f} MB")
        self.fleet_rows(both, "")

    def fleet_off(self) -> None:
        """The fleet whose DirectMail accounts manage only their switch, off: only the calls
        the rules need (no whitelist read), its cost equal to the calls made, and the
        connections it opens against those of half the fleet."""

        def run(args: list[str]) -> Child:
            return checked(run_child(self.cli(*args), self.env, REPO), "fleet plan")

        half = fleet.measure(run, self.workdir, dm_accounts=50, sc_accounts=50, off=True)
        off = fleet.measure(run, self.workdir, off=True)
        self.rows.append(
            Row(
                f"plan of {off.accounts} accounts, protection off, no whitelist document",
                f"{off.child.wall:.2f} s ({off.child.wall / off.bound:.2f} ×)",
                f"≤ 1.2 × bound = {1.2 * off.bound:.2f} s",
                f"{off.bound:.2f} s: the calls the rules need at the limits "
                f"({off.ipfilter_calls} GetIpfilterList made, 0 needed)",
                off.child.wall <= 1.2 * off.bound,
            )
        )
        self.notes.append(f"fleet (protection off) bound: {off.how}")
        self.fleet_rows(off, " (protection off)")
        limit = 1.15 * half.peak_connections + 10
        self.rows.append(
            Row(
                f"connections {half.accounts} → {off.accounts} accounts",
                f"{half.peak_connections} → {off.peak_connections} open at once",
                f"≤ 1.15 × + 10 = {limit:.0f}",
                f"accepted in all: {half.accepted_connections} → {off.accepted_connections}",
                off.peak_connections <= limit,
            )
        )
        size = FLEET_MANY
        child = fleet.many(self.cli, self.env, REPO, self.workdir, size, FLEET_FILES)
        self.rows.append(
            Row(
                f"plan of {size:,} accounts under ulimit -n {FLEET_FILES}",
                f"exit {child.code}, {child.wall:.2f} s",
                "exit 0",
                f"{size // 2} DirectMail + {size // 2} SendCloud accounts on one sandbox",
                child.code == 0,
            )
        )
        if child.code != 0:
            self.notes.append(f"{size} accounts: {child.err.strip().splitlines()[-1:]}")

    def fleet_rows(self, got: Any, label: str) -> None:
        self.rows.append(
            Row(
                f"fleet{label}: cost vs calls made",
                f"{got.cost_reads} reads in cost, {got.calls} calls made",
                "equal",
                "the sandboxes' call counters",
                got.cost_reads == got.calls,
            )
        )

    # -- start-up -----------------------------------------------------------------------------

    def version(self) -> None:
        def fastest(args: list[str]) -> float:
            runs = [checked(run_child(args, self.env, REPO), args[-1]) for _ in range(VERSION_RUNS)]
            return min(child.wall for child in runs)

        bare = fastest([sys.executable, "-c", "pass"])
        ours = fastest(self.cli("--version"))
        self.rows.append(
            Row(
                "reconciler --version",
                f"{ours * 1000:.0f} ms ({ours / bare:.1f} ×)",
                f"≤ 4 × = {4 * bare * 1000:.0f} ms",
                f"python -c pass: {bare * 1000:.0f} ms (best of {VERSION_RUNS})",
                ours <= 4 * bare,
            )
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="plan measures at 1/10 the size")
    parser.add_argument("--only", action="append", choices=MEASURES, help="run only this measure")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs (default 1)")
    parser.add_argument(
        "--workdir", type=Path, help="write the manifests here and keep them (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        bench = Bench(workdir, max(1, args.repeat), args.quick)
        measures = {
            "plan": bench.plan,
            "growth": bench.growth,
            "million": bench.million,
            "export": bench.export,
            "listing": bench.listing,
            "apply": bench.apply,
            "fleet": bench.fleet,
            "fleet-off": bench.fleet_off,
            "overlap": bench.overlap,
            "version": bench.version,
        }
        for name in args.only or MEASURES:
            print(f"measuring {name}...", file=sys.stderr, flush=True)
            measures[name]()
    print(table(bench.rows))
    for note in bench.notes:
        print(f"  {note}")
    missed = [row.measure for row in bench.rows if not row.ok]
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
