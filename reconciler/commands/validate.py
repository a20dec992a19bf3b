"""``validate PATH...``: check manifests offline."""

from __future__ import annotations

import argparse

from reconciler.commands.common import load
from reconciler.errors import ExitCode
from reconciler.output.console import Output, counted


def run(args: argparse.Namespace, out: Output) -> int:
    state = load(args.paths, out)
    wants = list(state.accounts.values())
    whitelist = sum(len(w.whitelist) for w in wants if w.whitelist is not None)
    unintercept = sum(len(w.unintercepts) for w in wants if w.unintercepts is not None)
    counts = [
        counted(len(state.files), "file"),
        counted(len(wants), "account"),
        counted(whitelist, "whitelist entry", "whitelist entries"),
        counted(unintercept, "unintercept entry", "unintercept entries"),
    ]
    out.write(f"Valid: {', '.join(counts)}.\n")
    return ExitCode.OK
