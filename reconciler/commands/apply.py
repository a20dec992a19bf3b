"""``apply PATH...`` and ``apply --plan FILE``: make live state match, after a confirmation.

Both show the plan, check the safety rules (``--force`` overrides those that allow it), ask,
carry out the changes with a progress line, and report each outcome. A saved plan given as the
only PATH is applied as ``--plan`` would apply it.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from reconciler import files, live, planner
from reconciler.apply import STATUSES, Outcome, execute, interruptible
from reconciler.commands.common import (
    confirm,
    load,
    plan_text,
    require_confirmation_channel,
    sandbox_state,
    select,
)
from reconciler.durations import parse_duration
from reconciler.errors import ExitCode, InputError, RefusedError
from reconciler.kinds import kind_of
from reconciler.model import AccountDesired, AccountLive
from reconciler.output import render
from reconciler.output.console import Output, Style, counted
from reconciler.plan import Change, Plan
from reconciler.providers.base import ProviderClient
from reconciler.savedplan import origin, planfile, plantrust, verdict
from reconciler.savedplan.planfile import saved_wants
from reconciler.savedplan.staleness import StaleEntry


def run(args: argparse.Namespace, out: Output) -> int:
    if args.plan_file is None:
        saved = [path for path in args.paths if _is_saved_plan(path)]
        if saved and (len(saved) > 1 or saved[0] != args.paths[0]):
            raise InputError(
                f"{saved[0]} is a saved plan, not a manifest: name it first, or with --plan: "
                f"apply --plan {saved[0]} [PATH...]"
            )
        if saved:
            # `apply plan.json [PATH...]`, as Terraform takes a plan file: exactly
            # `apply --plan plan.json [PATH...]`.
            args.plan_file, args.paths = saved[0], args.paths[1:]
    if args.plan_file is not None:
        return run_saved(args, out)
    if args.max_age is not None:
        raise InputError(
            "--max-age applies to a saved plan only (apply --plan FILE): a plan made from the "
            "manifests now has no age"
        )
    if args.allow_unsigned:
        raise InputError(
            "--allow-unsigned applies to a saved plan only (apply --plan FILE): a plan made "
            "from the manifests now carries no MAC"
        )
    if not args.paths:
        raise InputError("apply needs manifest paths, or --plan FILE with a saved plan")
    state = load(args.paths, out)
    wants = select(state, args.account)
    require_confirmation_channel(args)
    with (
        files.apply_lock(_lock_names(wants), out.warn),
        planner.made(
            wants, state.checks, planner.ReadNow(sandbox_state(args), not out.quiet)
        ) as made,
    ):
        if not _show_and_check(made.plan, args, out):
            return ExitCode.OK
        return _carry_out(made.plan, made.clients, args, out, made.seen, made.wants)


def run_saved(args: argparse.Namespace, out: Output) -> int:
    """``apply --plan FILE [PATH...]``: carry out a saved plan if live state still matches it.

    The file is all it needs. Its seal, age and agreement with its own inputs are checked
    offline first (``planfile.check``), then, given manifest PATHs, that it was made from the
    files there (``origin``); only then are credentials resolved and live state read again and
    compared entry by entry with what the plan saw; any difference refuses the plan (exit 4)
    and is shown. Each refusal names its rule (``verdict``) in the JSON report.
    """
    if args.account:
        raise InputError(
            "--account does not combine with --plan: a saved plan is applied whole "
            "(limit it when making it: plan --account NAME --out FILE)"
        )
    saved = _verified(args, out)
    result = saved.plan
    require_confirmation_channel(args)
    shown = bool(result.refusals or not result.changes)
    if shown and not _show_and_check(result, args, out):
        return ExitCode.OK
    state = sandbox_state(args)
    with (
        files.apply_lock(_lock_names(saved.accounts), out.warn),
        live.connect(saved.accounts, sandbox_state=state, announce=not out.quiet) as (_, clients),
    ):
        now = live.read(saved.accounts, clients)
        short = planfile.incomplete(saved, now)
        stale = [] if short else planfile.stale_entries(saved, now)
        if stale and _in_effect(result.changes, stale):
            return _already_applied(result, args, out, saved.created_at)
        if short or stale:
            why = "live state is incomplete" if short else "live state changed since it was made"
            result.refusals.extend(short)
            if stale:
                result.refusals.append(
                    verdict.refusal(
                        verdict.STALE,
                        f"{why} ({counted(len(stale), 'entry', 'entries')}, see stale); "
                        "nothing was applied",
                    )
                )
            if args.format == "json":
                stale_json = [entry.as_dict() for entry in stale]
                out.write(render.to_json(_report_document(result, [], stale_json)))
            lines = [r.message for r in short] + [e.message() for e in stale]
            message = (
                f"saved plan {args.plan_file} ({saved.created_at}) cannot be applied: {why}:\n  "
                + "\n  ".join(lines)
                + "\nnothing was applied; make a new plan with plan --out and review it"
            )
            raise RefusedError(message) if short else verdict.PlanRefused(verdict.STALE, message)
        out.note(f"Live state still matches the saved plan ({saved.created_at}).")
        if not shown and args.format == "text":
            out.write(_plan_text(result, out))
        return _carry_out(result, clients, args, out, now, saved_wants(saved))


def _verified(args: argparse.Namespace, out: Output) -> planfile.SavedPlan:
    """The saved plan of ``--plan``, loaded and checked offline (its seal and age, its
    agreement with its own inputs, ``--sandbox``, and given PATHs its manifests); a refusal
    is also written as a JSON report (``--format json``) naming its rule."""
    saved: planfile.SavedPlan | None = None
    try:
        try:
            saved = planfile.load(Path(args.plan_file))
        except verdict.PlanInvalid:
            raise
        except InputError as exc:  # not readable as a saved plan at all
            raise verdict.PlanInvalid(verdict.INVALID, str(exc)) from None
        max_age = args.max_age
        if max_age is None:
            max_age = parse_duration(plantrust.DEFAULT_MAX_AGE)
        warnings = planfile.check(
            saved, key=plantrust.plan_key(), max_age=max_age, allow_unsigned=args.allow_unsigned
        )
        if saved.sandbox != args.sandbox:
            flag = "with" if saved.sandbox else "without"
            raise verdict.PlanInvalid(
                verdict.SANDBOX,
                f"{args.plan_file} was made {flag} --sandbox: apply it {flag} --sandbox",
            )
        if args.paths:
            origin.check(saved.document.get("manifests"), args.paths, args.plan_file)
    except (verdict.PlanInvalid, verdict.PlanRefused) as exc:
        if args.format == "json":
            plan = saved.plan if saved is not None else Plan(accounts=[], changes=[])
            why = verdict.refusal(exc.rule, str(exc))
            refused = Plan(plan.accounts, plan.changes, [*plan.refusals, why])
            out.write(render.to_json(_report_document(refused, [])))
        raise
    for warning in warnings:
        out.warn(warning)
    return saved


# -- helpers ------------------------------------------------------------------------------


def _lock_names(wants: Sequence[AccountDesired]) -> list[str]:
    """What identifies the accounts an apply writes, for its lock file."""
    return [f"{w.account.name} {w.account.endpoint}" for w in wants]


def _show_and_check(result: Plan, args: argparse.Namespace, out: Output) -> bool:
    """Show the plan (as text), refuse it if a safety rule does, and say whether it has
    changes to carry out; a plan without any is reported as such in JSON."""
    if args.format == "text":
        out.write(_plan_text(result, out))
    if args.notify and result.refusals:
        from reconciler import notify

        notify.record_plan(result)
    _check_refusals(result, args.force, args.format, out)
    if not result.changes and args.format == "json":
        out.write(render.to_json(_report_document(result, [])))
    return bool(result.changes)


def _check_refusals(result: Plan, force: bool, fmt: str, out: Output) -> None:
    """Raise ``RefusedError`` if a safety rule refuses the plan; ``--force`` overrides the
    rules that allow it, and each override is said out loud."""
    blocking = [r for r in result.refusals if not (force and r.overridable)]
    if blocking:
        if fmt == "json":  # the refusals, for a script; text output showed them with the plan
            out.write(render.to_json(_report_document(result, [])))
        raise RefusedError(
            f"refused by {counted(len(blocking), 'safety rule')} "
            f"({', '.join(sorted({r.rule for r in blocking}))}) — nothing was applied"
            + ("" if force or not any(r.overridable for r in blocking) else "; --force overrides")
        )
    for refusal in result.refusals:
        out.warn(f"--force overrides {refusal.rule}: {refusal.message}")


def _carry_out(
    result: Plan,
    clients: Mapping[str, ProviderClient],
    args: argparse.Namespace,
    out: Output,
    before: Mapping[str, AccountLive],
    wants: Sequence[AccountDesired],
) -> int:
    """Ask (unless --yes), carry out the plan's changes with progress, and report them; then
    watch the plan's guards (``before``: the live state read before the writes, from which a
    failed guard's account is rolled back)."""
    if not args.yes:
        if not sys.stdout.isatty():
            # stdout goes to a file or a pipe: whoever answers must see what they agree to.
            out.write(_plan_text(result, out, Style(out.err_color)), sys.stderr)
        if not confirm(len(result.changes)):
            out.error("apply cancelled: nothing was applied")
            return ExitCode.CANCELLED
    if args.format == "text" and not out.quiet:
        out.write("\n")
    since = datetime.now(timezone.utc)  # the guards count the messages sent from here
    # The progress line is cleared (its context ends) before the report, interrupted or not.
    with interruptible() as interruption, out.progress(len(result.changes)) as progress:
        outcomes = execute(result, clients, on_outcome=progress.update, stop=interruption.event)
    guarding = bool(result.guards) and interruption.exit_code is None
    # A JSON report waits for the guards, whose outcome it carries.
    code = _report(
        result, outcomes, args.format, out, write=not (guarding and args.format == "json")
    )
    if args.notify:
        from reconciler import notify

        notify.record_outcomes(outcomes)
    if guarding:  # guard hook (SPEC §11): watch, roll back, report
        from reconciler.guard.run import after_apply

        guarded = after_apply(result.guards, outcomes, clients, before, wants, since, args, out)
        if args.format == "json":
            document = _report_document(result, outcomes)
            if guarded is not None:
                document["guards"] = guarded.document()
            out.write(render.to_json(document))
        if guarded is None:
            return code
        if args.notify:
            from reconciler import notify

            notify.record_guards(guarded.notify_lines())
        return guarded.exit_code(code)
    if interruption.exit_code is not None:
        left = sum(1 for o in outcomes if o.status == "not attempted")
        out.error(
            f"interrupted ({signal.Signals(interruption.signum or 0).name}): the writes in "
            f"flight were awaited, {left} change{'s' if left != 1 else ''} not attempted; "
            "running apply again converges"
        )
        return interruption.exit_code
    return code


def _report(
    result: Plan, outcomes: Sequence[Outcome], fmt: str, out: Output, *, write: bool = True
) -> int:
    """Write the report (unless not ``write``) and return the exit code of the writes."""
    if not write:
        pass
    elif fmt == "json":
        out.write(render.to_json(_report_document(result, outcomes)))
    else:
        out.write(_report_text(outcomes, out))
    return ExitCode.PROVIDER if any(o.status != "applied" for o in outcomes) else ExitCode.OK


def _plan_text(result: Plan, out: Output, style: Style | None = None) -> str:
    """The plan as apply shows it: with --quiet nothing when it has changes (the prompt and the
    report's summary line count them), else its summary line."""
    if out.quiet and result.changes:
        return ""
    return plan_text(result, out, style)


def _report_text(outcomes: Sequence[Outcome], out: Output) -> str:
    """One line per outcome and the totals; with --quiet only the failures and the totals."""
    if not out.quiet:
        return render.report_text(outcomes, out.style)
    failed = [o for o in outcomes if o.status == "failed"]
    lines = render.report_text(failed, out.style).splitlines()[:-2] if failed else []
    return "\n".join([*lines, render.report_summary_line(outcomes)]) + "\n"


def _is_saved_plan(path: str) -> bool:
    """Whether ``path`` holds a saved plan rather than manifests: a JSON object with the keys
    ``format_version`` and ``changes`` (a manifest has ``apiVersion`` and ``kind``).

    Read as every local input is (``files``: a regular file, within the plan bound) and not
    parsed: a plan that is not valid JSON is still a plan, and loading it says what is wrong.
    A file that cannot be read is left to the manifest loader, which says why."""
    try:
        data = files.read_bytes(path, files.PLAN_LIMIT, "")
    except InputError:
        return False
    return data.lstrip()[:1] == b"{" and all(key.search(data) for key in _PLAN_KEYS)


_PLAN_KEYS = (re.compile(rb'"format_version"\s*:'), re.compile(rb'"changes"\s*:'))


def _in_effect(changes: Sequence[Change], stale: Sequence[StaleEntry]) -> bool:
    """Whether live state already shows every change's final state. A change is consistent
    with what the plan saw, so an entry it changes differs from that and is among ``stale``."""
    now = {(e.account, e.resource, e.key): e.now for e in stale}
    return bool(changes) and all(
        (c.account, c.resource.value, c.key) in now
        and _shows(c, now[(c.account, c.resource.value, c.key)])
        for c in changes
    )


def _shows(change: Change, now: object) -> bool:
    """Whether ``now`` (the live entry in the saved plan's snapshot form; None: absent) is the
    state ``change`` leaves behind."""
    return kind_of(change.resource).shows(change, now)


def _already_applied(result: Plan, args: argparse.Namespace, out: Output, created_at: str) -> int:
    """A saved plan whose every change live state already shows: say so, write nothing."""
    said = (
        f"Already applied: live state shows the {counted(len(result.changes), 'change')} "
        f"of the saved plan {args.plan_file} ({created_at}); nothing was written."
    )
    if args.format == "json":  # the report on stdout; the person reading the log is told
        out.write(render.to_json(_report_document(result, [])))
        out.note(said)
    else:
        out.write(said + "\n")
    return ExitCode.OK


def _report_document(
    result: Plan, outcomes: Sequence[Outcome], stale: Sequence[dict[str, object]] = ()
) -> dict[str, object]:
    """The apply report (``schemas/report.schema.json``); ``stale`` for a refused saved plan."""
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in STATUSES}
    if not counts["not attempted"]:  # only an interrupted run has the key
        del counts["not attempted"]
    document: dict[str, object] = {
        "format_version": render.FORMAT_VERSION,
        "plan": render.plan_document(result),
        "outcomes": [o.as_dict() for o in outcomes],
        "summary": counts,
    }
    if stale:
        document["stale"] = list(stale)
    return document
