"""``validate PATH...``: check manifests offline."""

from __future__ import annotations

import argparse

from reconciler.errors import ExitCode
from reconciler.kinds import list_kinds
from reconciler.manifests.load import load_manifests
from reconciler.output.console import Output, counted


def run(args: argparse.Namespace, out: Output) -> int:
    # The lock-outs the manifests decide alone are errors here (see ``kinds.lockout``).
    state, warnings = load_manifests(args.paths, judge_lock_out=True)
    if args.format != "text":
        from reconciler.output import problem_report

        out.write(problem_report.render(args.format, warnings))
        return ExitCode.OK
    for warning in warnings:
        out.problem(warning)
    wants = list(state.accounts.values())
    counts = [counted(len(state.files), "file"), counted(len(wants), "account")]
    for kind in list_kinds():
        lists = [entries for w in wants if (entries := kind.wanted(w)) is not None]
        if lists or kind.always_counted:
            counts.append(counted(sum(map(len, lists)), *kind.nouns))
    if state.checks:
        counts.append(counted(len(state.checks), "delivery check"))
    out.write(f"Valid: {', '.join(counts)}.\n")
    return ExitCode.OK
