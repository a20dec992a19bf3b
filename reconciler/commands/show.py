"""``show PLAN.json``: a saved plan as text, Markdown or JSON, offline.

What a reviewer reads before it is applied: the plan file is loaded and verified as ``apply
--plan`` verifies it (its seal and its changes made again from its own inputs; not its age), and
nothing else happens: no credential is resolved and no provider is called.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from reconciler.commands.common import plan_text
from reconciler.errors import ExitCode
from reconciler.output import render
from reconciler.output.console import Output
from reconciler.savedplan import planfile, plantrust

# show reads a plan of any age: its age matters to apply, which checks it.
ANY_AGE = timedelta(days=365 * 100)


def run(args: argparse.Namespace, out: Output) -> int:
    saved = planfile.load(Path(args.plan))
    # A reviewer reads a signed plan without the CI's key: the MAC unchecked is a warning here;
    # apply refuses it (unless --allow-unsigned).
    key = plantrust.plan_key()
    for warning in planfile.check(saved, key=key, max_age=ANY_AGE, allow_unsigned=True):
        out.warn(warning)
    where = "the embedded sandbox" if saved.sandbox else "the providers"
    out.note(f"Saved plan {args.plan}, made {saved.created_at} against {where}.")
    if args.format == "json":
        out.write(render.to_json(render.plan_document(saved.plan)))
    elif args.format == "markdown":
        from reconciler.output.markdown import plan_markdown

        out.write(plan_markdown(saved.plan))
    else:
        out.write(plan_text(saved.plan, out))
    return ExitCode.REFUSED if saved.plan.refusals else ExitCode.OK
