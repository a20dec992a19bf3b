"""``plan PATH...``: show what apply would change, and save it with ``--out FILE``."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from reconciler import cost, live
from reconciler.commands.common import load, plan_text, sandbox_state, select
from reconciler.errors import ExitCode
from reconciler.files import check_writable, write_atomic
from reconciler.kinds import kinds, list_kind_read_by
from reconciler.model import AccountDesired, AccountLive
from reconciler.output import render
from reconciler.output.console import Output, counted
from reconciler.plan import Plan, diff
from reconciler.providers.answers import InconsistentAnswer
from reconciler.providers.base import ProviderClient
from reconciler.safety import INCOMPLETE, Refusal
from reconciler.savedplan import planfile, plantrust

if TYPE_CHECKING:
    from reconciler.prefetch import Prefetch


def run(args: argparse.Namespace, out: Output) -> int:
    # Live state is read while the manifests load, unless the sandbox or --changed-since
    # decides what is read.
    early = None if args.sandbox or args.changed_since or args.compare else _prefetch(args)
    try:
        state = load(args.paths, out)
        wants = select(state, args.account)
        if args.changed_since is not None:
            wants = _changed_only(wants, args, state.files, out)
        if args.out:
            check_writable(Path(args.out), state.files)
    except BaseException:
        if early is not None:
            early.close()
        raise
    if args.compare:  # read before live state, so that a bad file costs no provider call
        from reconciler.savedplan import compare

        old = compare.load(Path(args.compare))
    found = None
    if early is not None:
        try:
            found = early.take(wants)
        except InconsistentAnswer:
            # Read again below, so that the plan refuses that account and shows the others.
            found = None
    contradictions: dict[str, InconsistentAnswer] = {}
    if early is not None and found is not None:
        # The guess read what ``wants`` manages; the desired values are the loaded ones.
        seen = found.seen
        result = diff(wants, seen)
        result.cost = cost.of_clients(result, found.clients)
        early.close()
    else:
        with live.connect(wants, sandbox_state=sandbox_state(args), announce=not out.quiet) as (
            wants,
            clients,
        ):
            seen, contradictions = _read(wants, clients)
            result = diff(wants, seen)
            result.cost = cost.of_clients(result, clients)
    result.refusals.extend(
        _refusal(want, contradictions[want.account.name])
        for want in wants
        if want.account.name in contradictions
    )
    for error in contradictions.values():
        out.error(str(error))
    for want in wants:
        for kind in kinds():
            for note in kind.notes(want, seen.get(want.account.name, AccountLive())):
                out.note(note)
    from reconciler.guard.spec import planned  # guard hook (SPEC §11)

    result.guards = planned(state.checks, result)
    if args.notify:
        from reconciler import notify

        notify.record_plan(result)
    saving = bool(args.out) and not contradictions
    if args.out and not saving:  # apply --plan could not make the same refusal again
        out.error(f"{args.out} was not written: the live state of an account contradicts itself")
    if saving:
        saved = planfile.saved_document(
            result, state, seen, sandbox=args.sandbox, key=plantrust.plan_key()
        )
        write_atomic(Path(args.out), render.to_json(saved))
    if args.changed_since is not None and not wants and args.format == "text":
        # Not "live state matches": nothing was compared with live state.
        out.write(f"No account changed since {args.changed_since}; nothing was read.\n")
    elif not (args.compare and args.format == "json"):  # one JSON document on stdout
        _print_plan(result, args.format, out)
    if args.compare:
        comparison = compare.compare(old, render.plan_document(result))
        out.write(compare.render(comparison, args.format, args.compare))
    if saving:
        _say_saved(args, result, out)
    if result.refusals:
        return ExitCode.REFUSED
    if args.detailed_exitcode and result.changes:
        return ExitCode.CHANGES
    return ExitCode.OK


def _read(
    wants: Sequence[AccountDesired], clients: Mapping[str, ProviderClient]
) -> tuple[dict[str, AccountLive], dict[str, InconsistentAnswer]]:
    """Live state as ``live.read`` reads it, except that an account whose listing contradicts
    itself (SPEC §5 rule 4) is read as nothing and its error returned, so that the plan can
    refuse it as such while it shows the other accounts."""
    contradictions: dict[str, InconsistentAnswer] = {}
    readers = {name: _Refusing(name, c, contradictions) for name, c in clients.items()}
    return live.read(wants, cast(dict[str, ProviderClient], readers)), contradictions


class _Refusing:
    """A client whose ``read`` records an ``InconsistentAnswer`` instead of raising it."""

    def __init__(
        self, name: str, client: ProviderClient, found: dict[str, InconsistentAnswer]
    ) -> None:
        self._name, self._client, self._found = name, client, found

    def read(self, want: AccountDesired) -> AccountLive:
        try:
            return live.read_one(self._client, want)
        except InconsistentAnswer as error:
            self._found[self._name] = error
            return AccountLive()

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._client, attribute)


def _refusal(want: AccountDesired, error: InconsistentAnswer) -> Refusal:
    """Rule 4 for an account whose listing contradicts itself: nothing is planned for it."""
    name = want.account.name
    kind = list_kind_read_by(want.account.provider, error.action)
    request = f", request id {error.request_id}" if error.request_id else ""
    return Refusal(
        INCOMPLETE,
        f"{name}: the provider's {kind.list_name} listing contradicts itself "
        f"({error.provider} {error.action}{request}): {error.what}; nothing was planned for "
        "this account (run again later; --force does not override this)",
        name,
        kind.resource.value,
        overridable=False,
    )


def _prefetch(args: argparse.Namespace) -> Prefetch | None:
    """Start reading live state early; not before a bad ``--out`` is refused."""
    from reconciler.manifests.load import discover
    from reconciler.prefetch import Prefetch

    files, problems = discover(args.paths)
    if problems:
        return None  # loading reports them
    if args.out:
        check_writable(Path(args.out), files)
    return Prefetch(args.paths, args.account)


def _changed_only(
    wants: list[AccountDesired], args: argparse.Namespace, files: Sequence[str], out: Output
) -> list[AccountDesired]:
    """The accounts whose documents differ from ``--changed-since`` (``files``: the manifests
    loaded); the others are named on stderr as skipped."""
    from reconciler.changed import changed_accounts

    touched = changed_accounts(args.changed_since, args.paths, files)
    kept = [want for want in wants if want.account.name in touched]
    skipped = [want.account.name for want in wants if want.account.name not in touched]
    if skipped:
        out.note(
            f"Skipped {counted(len(skipped), 'account')} unchanged since "
            f"{args.changed_since}: {', '.join(skipped)}"
        )
    return kept


def _say_saved(args: argparse.Namespace, result: Plan, out: Output) -> None:
    """Where the plan went and the command that carries it out (stderr; not with --quiet)."""
    out.note(f"Saved the plan to {args.out}.")
    if result.refusals:
        return  # apply --plan would refuse it too: no command to suggest
    if not result.changes:
        out.note("It has no changes: applying it would change nothing.")
        return
    # With the manifest paths: apply then checks the plan was made from these very files.
    command = [
        "reconciler",
        "apply",
        "--plan",
        args.out,
        *args.paths,
        *(["--sandbox"] if args.sandbox else []),
    ]
    out.note(f"To carry out exactly this plan, run: {shlex.join(command)}")


def _print_plan(result: Plan, fmt: str, out: Output) -> None:
    if fmt == "json":
        out.write(render.to_json(render.plan_document(result)))
    elif fmt == "markdown":
        from reconciler.output.markdown import plan_markdown

        out.write(plan_markdown(result))
    else:
        out.write(plan_text(result, out))
