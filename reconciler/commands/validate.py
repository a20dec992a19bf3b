"""``validate PATH...``: check manifests offline."""

from __future__ import annotations

import argparse

from reconciler.commands.common import load
from reconciler.errors import ExitCode
from reconciler.manifests.load import load_manifests
from reconciler.output.console import Output, counted


def run(args: argparse.Namespace, out: Output) -> int:
    if args.format != "text":
        from reconciler.output import problem_report

        _, warnings = load_manifests(args.paths, judge_lock_out=True)
        out.write(problem_report.render(args.format, warnings))
        return ExitCode.OK
    state = load(args.paths, out, judge_lock_out=True)
    wants = list(state.accounts.values())
    whitelist = sum(len(w.whitelist) for w in wants if w.whitelist is not None)
    unintercept = sum(len(w.unintercepts) for w in wants if w.unintercepts is not None)
    counts = [
        counted(len(state.files), "file"),
        counted(len(wants), "account"),
        counted(whitelist, "whitelist entry", "whitelist entries"),
        counted(unintercept, "unintercept entry", "unintercept entries"),
    ]
    if state.checks:
        counts.append(counted(len(state.checks), "delivery check"))
    out.write(f"Valid: {', '.join(counts)}.\n")
    return ExitCode.OK
