"""``validate PATH...``: check manifests offline."""

from __future__ import annotations

import argparse

from reconciler.commands.common import load
from reconciler.errors import ExitCode
from reconciler.output.console import Output


def run(args: argparse.Namespace, out: Output) -> int:
    state = load(args.paths, out)
    wants = list(state.accounts.values())
    whitelist = sum(len(w.whitelist) for w in wants if w.whitelist is not None)
    unintercept = sum(len(w.unintercepts) for w in wants if w.unintercepts is not None)
    out.write(
        f"Valid: {len(state.files)} file{'s' if len(state.files) != 1 else ''}, "
        f"{len(wants)} account{'s' if len(wants) != 1 else ''}, "
        f"{whitelist} whitelist entries, {unintercept} unintercept entries.\n"
    )
    return ExitCode.OK
