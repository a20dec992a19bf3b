"""The commands: each takes parsed arguments and an Output, and returns an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from reconciler import live, render
from reconciler.apply import Outcome, execute
from reconciler.cli import SANDBOX_STATE, Output, unknown_account
from reconciler.errors import ExitCode, InputError
from reconciler.files import write_atomic
from reconciler.manifest import load_manifests
from reconciler.model import AccountDesired, DesiredState
from reconciler.plan import Plan, diff


def validate(args: argparse.Namespace, out: Output) -> int:
    state = _load(args.paths, out)
    wants = list(state.accounts.values())
    whitelist = sum(len(w.whitelist) for w in wants if w.whitelist is not None)
    unintercept = sum(len(w.unintercepts) for w in wants if w.unintercepts is not None)
    out.write(
        f"Valid: {len(state.files)} file{'s' if len(state.files) != 1 else ''}, "
        f"{len(wants)} account{'s' if len(wants) != 1 else ''}, "
        f"{whitelist} whitelist entries, {unintercept} unintercept entries.\n"
    )
    return ExitCode.OK


def plan(args: argparse.Namespace, out: Output) -> int:
    state = _load(args.paths, out)
    wants = _select(state, args.account)
    with live.connect(wants, sandbox_state=_sandbox(args), announce=not out.quiet) as (
        wants,
        clients,
    ):
        result = diff(wants, live.read(wants, clients))
    if args.out:
        write_atomic(Path(args.out), render.to_json(render.plan_document(result)))
    _print_plan(result, args.format, out)
    if args.detailed_exitcode and result.changes:
        return ExitCode.CHANGES
    return ExitCode.OK


def apply(args: argparse.Namespace, out: Output) -> int:
    state = _load(args.paths, out)
    wants = _select(state, args.account)
    interactive = sys.stdin.isatty()
    if not args.yes and not interactive:
        raise InputError("stdin is not a terminal: pass --yes to apply without confirmation")
    with live.connect(wants, sandbox_state=_sandbox(args), announce=not out.quiet) as (
        wants,
        clients,
    ):
        result = diff(wants, live.read(wants, clients))
        if args.format == "text":
            out.write(render.plan_text(result, render.Style(out.color)))
        if not result.changes:
            if args.format == "json":
                out.write(render.to_json(_report_document(result, [])))
            return ExitCode.OK
        if not args.yes and not _confirm(len(result.changes)):
            out.note("Nothing applied.")
            return ExitCode.OK
        if args.format == "text":
            out.write("\n")
        outcomes = execute(result, clients)
    if args.format == "json":
        out.write(render.to_json(_report_document(result, outcomes)))
    else:
        out.write(render.report_text(outcomes, render.Style(out.color)))
    return ExitCode.PROVIDER if any(o.status != "applied" for o in outcomes) else ExitCode.OK


def sandbox(args: argparse.Namespace, out: Output) -> int:
    from reconciler.sandbox import serve_forever

    # The sandbox itself refuses a non-loopback host and reports a port it cannot bind.
    serve_forever(args.state, args.host, args.port)
    return ExitCode.OK


# -- helpers ------------------------------------------------------------------------------


def _load(paths: Sequence[str], out: Output) -> DesiredState:
    state, warnings = load_manifests(paths)
    for warning in warnings:
        out.problem(warning)
    return state


def _select(state: DesiredState, names: Sequence[str]) -> list[AccountDesired]:
    """The accounts to work on: those named by --account, else every account that manages
    something."""
    for name in names:
        if name not in state.accounts:
            raise unknown_account(name, list(state.accounts))
    return [
        want
        for name, want in state.accounts.items()
        if (name in names if names else _manages_anything(want))
    ]


def _manages_anything(want: AccountDesired) -> bool:
    return any(v is not None for v in (want.protection, want.whitelist, want.unintercepts))


def _sandbox(args: argparse.Namespace) -> Path | None:
    return SANDBOX_STATE if args.sandbox else None


def _print_plan(result: Plan, fmt: str, out: Output) -> None:
    if fmt == "json":
        out.write(render.to_json(render.plan_document(result)))
    else:
        out.write(render.plan_text(result, render.Style(out.color)))


def _report_document(result: Plan, outcomes: Sequence[Outcome]) -> dict[str, object]:
    counts = {
        s: sum(1 for o in outcomes if o.status == s) for s in ("applied", "failed", "skipped")
    }
    return {
        "format_version": render.FORMAT_VERSION,
        "plan": render.plan_document(result),
        "outcomes": [o.as_dict() for o in outcomes],
        "summary": counts,
    }


def _confirm(count: int) -> bool:
    # The question goes to stderr so that it stays visible when stdout is redirected to a file.
    sys.stderr.write(f"Apply {count} change{'s' if count != 1 else ''}? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")
