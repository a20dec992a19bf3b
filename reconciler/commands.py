"""The commands: each takes parsed arguments and an Output, and returns an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler import live, planfile, problem_report, render
from reconciler.apply import Outcome, execute
from reconciler.cli import SANDBOX_STATE, Output, unknown_account
from reconciler.errors import ExitCode, InputError, RefusedError
from reconciler.files import check_writable, write_atomic
from reconciler.manifest import load_manifests
from reconciler.model import AccountDesired, DesiredState
from reconciler.plan import Plan, diff
from reconciler.progress import Progress
from reconciler.providers.base import ProviderClient


def validate(args: argparse.Namespace, out: Output) -> int:
    if args.format != "text":
        state, warnings = load_manifests(args.paths)
        out.write(problem_report.render(args.format, warnings))
        return ExitCode.OK
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
    if args.out:
        check_writable(Path(args.out))
    with live.connect(wants, sandbox_state=_sandbox(args), announce=not out.quiet) as (
        wants,
        clients,
    ):
        seen = live.read(wants, clients)
        result = diff(wants, seen)
    if args.out:
        saved = planfile.saved_document(result, state, seen, sandbox=args.sandbox)
        write_atomic(Path(args.out), render.to_json(saved))
    _print_plan(result, args.format, out)
    if result.refusals:
        return ExitCode.REFUSED
    if args.detailed_exitcode and result.changes:
        return ExitCode.CHANGES
    return ExitCode.OK


def apply(args: argparse.Namespace, out: Output) -> int:
    if args.plan_file is not None:
        return apply_saved(args, out)
    if not args.paths:
        raise InputError("apply needs manifest paths, or --plan FILE with a saved plan")
    state = _load(args.paths, out)
    wants = _select(state, args.account)
    _require_confirmation_channel(args)
    with live.connect(wants, sandbox_state=_sandbox(args), announce=not out.quiet) as (
        wants,
        clients,
    ):
        result = diff(wants, live.read(wants, clients))
        if args.format == "text":
            out.write(render.plan_text(result, render.Style(out.color)))
        _check_refusals(result, args.force, args.format, out)
        if not result.changes:
            if args.format == "json":
                out.write(render.to_json(_report_document(result, [])))
            return ExitCode.OK
        return _carry_out(result, clients, args, out)


def apply_saved(args: argparse.Namespace, out: Output) -> int:
    """``apply --plan FILE``: carry out a saved plan if live state still matches it.

    The file is all it needs, not the manifests. Live state is read again and compared entry by
    entry with what the plan saw; any difference refuses the plan (exit 4) and is shown.
    """
    if args.paths:
        raise InputError(
            "apply --plan FILE takes no manifest paths: the saved plan holds all it needs"
        )
    if args.account:
        raise InputError(
            "--account does not combine with --plan: a saved plan is applied whole "
            "(limit it when making it: plan --account NAME --out FILE)"
        )
    saved = planfile.load(Path(args.plan_file))
    if saved.sandbox != args.sandbox:
        flag = "with" if saved.sandbox else "without"
        raise InputError(f"{args.plan_file} was made {flag} --sandbox: apply it {flag} --sandbox")
    result = saved.plan
    _require_confirmation_channel(args)
    shown = bool(result.refusals or not result.changes)
    if shown:
        if args.format == "text":
            out.write(render.plan_text(result, render.Style(out.color)))
        _check_refusals(result, args.force, args.format, out)
        if not result.changes:
            if args.format == "json":
                out.write(render.to_json(_report_document(result, [])))
            return ExitCode.OK
    with live.connect(saved.accounts, sandbox_state=_sandbox(args), announce=not out.quiet) as (
        _,
        clients,
    ):
        now = live.read(saved.accounts, clients)
        short = planfile.incomplete(saved, now)
        stale = [] if short else planfile.stale_entries(saved, now)
        if short or stale:
            result.refusals.extend(short)
            if args.format == "json":
                stale_json = [entry.as_dict() for entry in stale]
                out.write(render.to_json(_report_document(result, [], stale_json)))
            lines = [r.message for r in short] + [e.message() for e in stale]
            why = "live state is incomplete" if short else "live state changed since it was made"
            raise RefusedError(
                f"saved plan {args.plan_file} ({saved.created_at}) cannot be applied: {why}:\n  "
                + "\n  ".join(lines)
                + "\nnothing was applied; make a new plan with plan --out and review it"
            )
        out.note(f"Live state still matches the saved plan ({saved.created_at}).")
        if not shown and args.format == "text":
            out.write(render.plan_text(result, render.Style(out.color)))
        return _carry_out(result, clients, args, out)


def export(args: argparse.Namespace, out: Output) -> int:
    """``export PATH... --account NAME``: write live state as manifests."""
    from reconciler import export as exporting

    if not args.account:
        raise InputError("export needs --account NAME (repeatable): the accounts to export")
    state = _load(args.paths, out)
    target = Path(args.out) if args.out else None
    if target is not None and target.resolve() in {Path(f).resolve() for f in state.files}:
        raise InputError(f"--out {args.out} is a manifest being read; write the export elsewhere")
    if target is not None and target.is_dir():
        raise InputError(f"--out {args.out} is a directory; name a file")
    accounts = [want.account for want in _select(state, args.account)]
    definitions = [exporting.account_document(account) for account in accounts]
    reading = [exporting.reading(account) for account in accounts]
    with live.connect(reading, sandbox_state=_sandbox(args), announce=not out.quiet) as (
        reading,
        clients,
    ):
        found = live.read(reading, clients)
    result = exporting.export_accounts(accounts, definitions, found)
    for warning in result.warnings:
        out.warn(warning)
    if target is None:
        out.write(result.text)
    else:
        write_atomic(target, result.text)
        out.note(f"Wrote {len(result.documents)} documents to {target}.")
    return ExitCode.OK


def sandbox(args: argparse.Namespace, out: Output) -> int:
    from reconciler.sandbox import Faults, serve_forever
    from reconciler.sandbox.faults import FAULT_KINDS

    if args.faults is not None and args.error_rate == 0:
        raise InputError("--faults picks what --error-rate injects: give --error-rate too")
    faults = Faults(
        latency=args.latency,
        seed=args.seed,
        error_rate=args.error_rate,
        kinds=args.faults or FAULT_KINDS,
        truncate_rate=args.truncate_rate,
        retry_after=args.retry_after,
    )
    # The sandbox itself refuses a non-loopback host and reports a port it cannot bind.
    serve_forever(args.state, args.host, args.port, faults)
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
    elif fmt == "markdown":
        from reconciler.markdown import plan_markdown

        out.write(plan_markdown(result))
    else:
        out.write(render.plan_text(result, render.Style(out.color)))


def _progress(out: Output, total: int) -> Progress:
    """The progress line of a write phase: on a terminal's stderr only, never with --quiet."""
    return Progress(total, sys.stderr, enabled=not out.quiet and sys.stderr.isatty())


def _require_confirmation_channel(args: argparse.Namespace) -> None:
    if not args.yes and not sys.stdin.isatty():
        raise InputError("stdin is not a terminal: pass --yes to apply without confirmation")


def _check_refusals(result: Plan, force: bool, fmt: str, out: Output) -> None:
    """Raise ``RefusedError`` if a safety rule refuses the plan; ``--force`` overrides the
    rules that allow it, and each override is said out loud."""
    blocking = [r for r in result.refusals if not (force and r.overridable)]
    if blocking:
        if fmt == "json":  # the refusals, for a script; text output showed them with the plan
            out.write(render.to_json(_report_document(result, [])))
        raise RefusedError(
            f"refused by {len(blocking)} safety rule{'s' if len(blocking) != 1 else ''} "
            f"({', '.join(sorted({r.rule for r in blocking}))}) — nothing was applied"
            + ("" if force or not any(r.overridable for r in blocking) else "; --force overrides")
        )
    for refusal in result.refusals:
        out.warn(f"--force overrides {refusal.rule}: {refusal.message}")


def _carry_out(
    result: Plan, clients: Mapping[str, ProviderClient], args: argparse.Namespace, out: Output
) -> int:
    """Ask (unless --yes), carry out the plan's changes with progress, and report them."""
    if not args.yes and not _confirm(len(result.changes)):
        out.note("Nothing applied.")
        return ExitCode.OK
    if args.format == "text":
        out.write("\n")
    with _progress(out, len(result.changes)) as progress:
        outcomes = execute(result, clients, on_outcome=progress.update)
    return _report(result, outcomes, args.format, out)


def _report(result: Plan, outcomes: Sequence[Outcome], fmt: str, out: Output) -> int:
    if fmt == "json":
        out.write(render.to_json(_report_document(result, outcomes)))
    else:
        out.write(render.report_text(outcomes, render.Style(out.color)))
    return ExitCode.PROVIDER if any(o.status != "applied" for o in outcomes) else ExitCode.OK


def _report_document(
    result: Plan, outcomes: Sequence[Outcome], stale: Sequence[dict[str, object]] = ()
) -> dict[str, object]:
    """The apply report (``schemas/report.schema.json``); ``stale`` for a refused saved plan."""
    counts = {
        s: sum(1 for o in outcomes if o.status == s) for s in ("applied", "failed", "skipped")
    }
    document: dict[str, object] = {
        "format_version": render.FORMAT_VERSION,
        "plan": render.plan_document(result),
        "outcomes": [o.as_dict() for o in outcomes],
        "summary": counts,
    }
    if stale:
        document["stale"] = list(stale)
    return document


def _confirm(count: int) -> bool:
    # The question goes to stderr so that it stays visible when stdout is redirected to a file.
    sys.stderr.write(f"Apply {count} change{'s' if count != 1 else ''}? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")
