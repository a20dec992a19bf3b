"""``plan PATH...``: show what apply would change, and save it with ``--out FILE``.

One pass, each step handed what it needs and no more: the arguments are read once into a
``Request``; the manifests are loaded (live state is read meanwhile, when nothing decides
otherwise what is read); the plan is made (``planner``); it is saved, shown, and compared.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import planner
from reconciler.commands.common import load, plan_text, sandbox_state, select
from reconciler.errors import ExitCode
from reconciler.files import check_writable, write_atomic
from reconciler.model import AccountDesired, DesiredState
from reconciler.output import render
from reconciler.output.console import Output, counted
from reconciler.plan import Plan
from reconciler.prefetch import Prefetch
from reconciler.savedplan import planfile, plantrust


@dataclass(frozen=True)
class Request:
    """What ``plan`` was asked, read once from its arguments."""

    paths: tuple[str, ...]
    accounts: tuple[str, ...]
    out: str | None  # --out FILE
    compare: str | None  # --compare OLD
    changed_since: str | None  # --changed-since REF
    sandbox: Path | None  # the embedded sandbox's state file with --sandbox
    notify: bool
    fmt: str
    detailed_exitcode: bool

    @classmethod
    def of(cls, args: argparse.Namespace) -> Request:
        return cls(
            tuple(args.paths),
            tuple(args.account),
            args.out,
            args.compare,
            args.changed_since,
            sandbox_state(args),
            args.notify,
            args.format,
            args.detailed_exitcode,
        )

    @property
    def reads_early(self) -> bool:
        """Whether live state may be read while the manifests load: not when the sandbox
        or --changed-since decides what is read, nor when --compare's file must be read
        first (a bad file then costs no provider call)."""
        return not (self.sandbox or self.changed_since or self.compare)


def run(args: argparse.Namespace, out: Output) -> int:
    request = Request.of(args)
    early = Prefetch(request.paths, request.accounts, request.out) if request.reads_early else None
    try:
        state = load(request.paths, out)
        wants = _wanted(state, request, out)
    except BaseException:
        if early is not None:
            early.close()
        raise
    old = _old(request)
    source: planner.Source = planner.ReadNow(request.sandbox, not out.quiet, each_account=True)
    if early is not None:
        source = planner.TakeEarly(early, source)
    with planner.made(wants, state.checks, source) as made:
        pass  # the clients close here: showing and saving the plan calls no provider
    return _report(made, state, old, request, out)


def _wanted(state: DesiredState, request: Request, out: Output) -> list[AccountDesired]:
    """The accounts to plan: those --account names, else every account that manages
    something; with --changed-since, only those whose documents differ from REF (the others
    are named on stderr as skipped)."""
    wants = select(state, request.accounts)
    if request.changed_since is not None:
        from reconciler.changed import changed_accounts

        touched = changed_accounts(request.changed_since, request.paths, state.files)
        skipped = [want.account.name for want in wants if want.account.name not in touched]
        wants = [want for want in wants if want.account.name in touched]
        if skipped:
            out.note(
                f"Skipped {counted(len(skipped), 'account')} unchanged since "
                f"{request.changed_since}: {', '.join(skipped)}"
            )
    if request.out:
        check_writable(Path(request.out), state.files)
    return wants


def _old(request: Request) -> dict[str, Any] | None:
    """The plan saved in --compare's file, read before live state."""
    if request.compare is None:
        return None
    from reconciler.savedplan import compare

    return compare.load(Path(request.compare))


def _report(
    made: planner.Made,
    state: DesiredState,
    old: dict[str, Any] | None,
    request: Request,
    out: Output,
) -> int:
    """Say what was found, save the plan, show it (and what changed since --compare's), and
    return the exit code."""
    result = made.plan
    saving = bool(request.out) and not made.contradictions
    told = _saved(request, result) if saving else []
    shown = _shown(made, old, request, out)
    for error in made.contradictions.values():
        out.error(str(error))
    for note in made.notes():
        out.note(note)
    if request.notify:
        from reconciler import notify

        notify.record_plan(result)
    if request.out and not saving:  # apply --plan could not make the same refusal again
        out.error(f"{request.out} was not written: the live state of an account contradicts itself")
    if saving and request.out:
        saved = planfile.saved_document(
            result,
            state,
            made.seen,
            sandbox=request.sandbox is not None,
            key=plantrust.plan_key(),
        )
        write_atomic(Path(request.out), render.to_json(saved))
    out.write(shown)
    for line in told:
        out.note(line)
    if result.refusals:
        return ExitCode.REFUSED
    if request.detailed_exitcode and result.changes:
        return ExitCode.CHANGES
    return ExitCode.OK


def _shown(made: planner.Made, old: dict[str, Any] | None, request: Request, out: Output) -> str:
    """What stdout shows: the plan in --format and, with --compare, what changed since OLD
    (in JSON that comparison alone: one document on stdout)."""
    result, fmt = made.plan, request.fmt
    shown = ""
    if request.changed_since is not None and not made.wants and fmt == "text":
        # Not "live state matches": nothing was compared with live state.
        shown = f"No account changed since {request.changed_since}; nothing was read.\n"
    elif not (old is not None and fmt == "json"):
        if fmt == "json":
            shown = render.to_json(render.plan_document(result))
        elif fmt == "markdown":
            from reconciler.output.markdown import plan_markdown

            shown = plan_markdown(result)
        else:
            shown = plan_text(result, out)
    if old is not None and request.compare is not None:
        from reconciler.savedplan import compare

        document = render.plan_document(result)
        shown += compare.render(compare.compare(old, document), fmt, request.compare)
    return shown


def _saved(request: Request, result: Plan) -> list[str]:
    """Where the plan went and the command that carries it out (stderr; not with --quiet)."""
    told = [f"Saved the plan to {request.out}."]
    if result.refusals:
        return told  # apply --plan would refuse it too: no command to suggest
    if not result.changes:
        return [*told, "It has no changes: applying it would change nothing."]
    # With the manifest paths: apply then checks the plan was made from these very files.
    command = [
        "reconciler",
        "apply",
        "--plan",
        str(request.out),
        *request.paths,
        *(["--sandbox"] if request.sandbox is not None else []),
    ]
    return [*told, f"To carry out exactly this plan, run: {shlex.join(command)}"]
