"""``plan PATH...``: show what apply would change, and save it with ``--out FILE``."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from reconciler import live, planfile, plantrust
from reconciler.commands.common import load, plan_text, sandbox_state, select
from reconciler.errors import ExitCode
from reconciler.files import check_writable, write_atomic
from reconciler.output import render
from reconciler.output.console import Output
from reconciler.plan import Plan, diff


def run(args: argparse.Namespace, out: Output) -> int:
    state = load(args.paths, out)
    wants = select(state, args.account)
    if args.out:
        check_writable(Path(args.out), state.files)
    if args.compare:  # read before live state, so that a bad file costs no provider call
        from reconciler import compare

        old = compare.load(Path(args.compare))
    with live.connect(wants, sandbox_state=sandbox_state(args), announce=not out.quiet) as (
        wants,
        clients,
    ):
        seen = live.read(wants, clients)
        result = diff(wants, seen)
    if args.notify:
        from reconciler import notify

        notify.record_plan(result)
    if args.out:
        saved = planfile.saved_document(
            result, state, seen, sandbox=args.sandbox, key=plantrust.plan_key()
        )
        write_atomic(Path(args.out), render.to_json(saved))
    if not (args.compare and args.format == "json"):  # one JSON document on stdout
        _print_plan(result, args.format, out)
    if args.compare:
        comparison = compare.compare(old, render.plan_document(result))
        out.write(compare.render(comparison, args.format, args.compare))
    if args.out:
        _say_saved(args, result, out)
    if result.refusals:
        return ExitCode.REFUSED
    if args.detailed_exitcode and result.changes:
        return ExitCode.CHANGES
    return ExitCode.OK


def _say_saved(args: argparse.Namespace, result: Plan, out: Output) -> None:
    """Where the plan went and the command that carries it out (stderr; not with --quiet)."""
    out.note(f"Saved the plan to {args.out}.")
    if result.refusals:
        return  # apply --plan would refuse it too: no command to suggest
    if not result.changes:
        out.note("It has no changes: applying it would change nothing.")
        return
    command = ["reconciler", "apply", "--plan", args.out, *(["--sandbox"] if args.sandbox else [])]
    out.note(f"To carry out exactly this plan, run: {shlex.join(command)}")


def _print_plan(result: Plan, fmt: str, out: Output) -> None:
    if fmt == "json":
        out.write(render.to_json(render.plan_document(result)))
    elif fmt == "markdown":
        from reconciler.output.markdown import plan_markdown

        out.write(plan_markdown(result))
    else:
        out.write(plan_text(result, out))
