"""``validate PATH...``: check manifests offline."""

from __future__ import annotations

import argparse

from reconciler.errors import ExitCode
from reconciler.manifests.load import load_manifests
from reconciler.output.console import Output, counted


def run(args: argparse.Namespace, out: Output) -> int:
    # The lock-outs the manifests decide alone are errors here (see ``manifests.lockout``).
    state, warnings = load_manifests(args.paths, judge_lock_out=True)
    if args.format != "text":
        from reconciler.output import problem_report

        out.write(problem_report.render(args.format, warnings))
        return ExitCode.OK
    for warning in warnings:
        out.problem(warning)
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
