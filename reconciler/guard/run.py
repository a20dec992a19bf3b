"""What ``apply`` does after its writes when its plan has guards (SPEC §11).

``after_apply`` watches each guard of an account the apply wrote to (``watch``), rolls an
account back as soon as one of its guards fails with ``rollback: auto`` (``rollback``), says
every step, and returns a ``GuardRun`` that knows the exit code, the JSON report's ``guards``
and the lines of a ``--notify`` summary.

Ctrl-C (or SIGTERM) during the watch asks nothing and rolls nothing back: it stops watching,
says the changes are kept unguarded, and the run exits 130 (143).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reconciler.apply import Outcome, interruptible
from reconciler.errors import ExitCode
from reconciler.guard.rollback import Rollback, roll_back
from reconciler.guard.spec import Guard
from reconciler.guard.watch import Watched, watch
from reconciler.model import AccountDesired, AccountLive, Change
from reconciler.output.console import CLEAR, Output, counted, escape
from reconciler.output.render import SYMBOLS, change_columns
from reconciler.providers.base import ProviderClient

LABELS = {
    "pass": "passed",
    "fail": "FAILED",
    "insufficient-data": "insufficient data",
    "unmeasured": "UNMEASURED",
    "ended": "ended",
    "watching": "not finished (interrupted)",
}


@dataclass
class GuardRun:
    """The guards of one apply: watched, skipped (``--no-guard``) or cut short."""

    watched: list[Watched] = field(default_factory=list)
    rollbacks: dict[str, Rollback] = field(default_factory=dict)
    skipped: list[Guard] = field(default_factory=list)
    signum: int | None = None  # the signal that stopped the watch

    def exit_code(self, base: int) -> int:
        """The apply's exit code given its writes' ``base`` code (SPEC §3, §11)."""
        if self.signum is not None:
            return 128 + self.signum
        failed = [w for w in self.watched if w.status == "fail"]
        if failed:
            if any(not rb.complete for rb in self.rollbacks.values()):
                return ExitCode.ROLLBACK_INCOMPLETE
            return ExitCode.ROLLED_BACK
        if any(w.status == "unmeasured" for w in self.watched):
            return ExitCode.PROVIDER
        return base

    def document(self) -> list[dict[str, Any]]:
        """The report's ``guards`` (``schemas/report.schema.json``)."""
        items: list[dict[str, Any]] = []
        for item in self.watched:
            data: dict[str, Any] = {
                **item.guard.as_dict(),
                "status": item.status if item.status != "watching" else "interrupted",
                "measured": _measured(item),
                "reasons": list(item.reasons),
                "polls": len(item.polls),
            }
            if item.status == "fail":
                rollback = self.rollbacks.get(item.guard.account)
                data["rollback_result"] = _rollback_document(rollback)
            items.append(data)
        items.extend(
            {**g.as_dict(), "status": "skipped", "reasons": ["--no-guard"]} for g in self.skipped
        )
        return items

    def notify_lines(self) -> list[str]:
        """What ``--notify`` posts of the guards: each guard's outcome and each roll-back."""
        lines = [f"guard {g.name} ({g.account}): skipped (--no-guard)" for g in self.skipped]
        for item in self.watched:
            line = f"guard {item.guard.name} ({item.guard.account}): {LABELS[item.status]}"
            if item.polls:
                line += f": {item.figures()}"
            if item.reasons:
                line += f": {'; '.join(item.reasons)}"
            lines.append(line)
        for account, rollback in self.rollbacks.items():
            lines.append(_rollback_line(account, rollback))
        if self.signum is not None:
            lines.append("the watch was interrupted: the changes are kept, unguarded")
        return lines


def after_apply(
    guards: Sequence[Guard],
    outcomes: Sequence[Outcome],
    clients: Mapping[str, ProviderClient],
    before: Mapping[str, AccountLive],
    wants: Sequence[AccountDesired],
    since: datetime,
    args: argparse.Namespace,
    out: Output,
) -> GuardRun | None:
    """Watch the ``guards`` of the accounts the apply wrote to, over the messages sent since
    ``since`` (its first write), and roll back as their ``rollback`` says; ``before`` is the
    live state read before the writes. ``None`` when no guard applies."""
    touched: dict[str, list[Change]] = {}
    for outcome in outcomes:
        # A failed write may have taken effect (an unknown outcome, an update half done):
        # the roll-back compares it with live state and undoes it only if it did.
        if outcome.status in ("applied", "failed"):
            touched.setdefault(outcome.change.account, []).append(outcome.change)
    wrote = {o.change.account for o in outcomes if o.status == "applied"}
    guards = [g for g in guards if g.account in wrote]
    if not guards:
        return None
    if args.no_guard:
        for guard in guards:
            out.warn(
                f"--no-guard: {guard.name} does not watch {guard.account}; the changes are "
                "kept, unguarded"
            )
        return GuardRun(skipped=list(guards))
    if args.watch is not None:
        guards = [g.watching(*args.watch) for g in guards]
    result = GuardRun()
    # The guards' story goes with the report: on stdout as text; beside a JSON report (which
    # carries the outcome as data) on stderr, so that stdout stays one JSON document.
    stream = sys.stdout if args.format == "text" else sys.stderr

    def say(text: str) -> None:
        out.write(text, stream)

    by_name = {w.account.name: w for w in wants}
    terminal = sys.stderr.isatty() and not out.quiet

    def on_poll(item: Watched) -> None:
        last = item.polls[-1]
        at = datetime.now(timezone.utc).strftime("%H:%M:%S")
        what = item.figures() if last.counts is not None else f"poll failed: {last.error}"
        line = f"{at} {item.guard.name} ({item.guard.account}) {last.at:.0f} s: {what}"
        if terminal:
            sys.stderr.write(f"{CLEAR}{escape(line)}")
            sys.stderr.flush()
        else:
            out.note(line)

    def on_end(item: Watched) -> None:
        if terminal:
            sys.stderr.write(CLEAR)
            sys.stderr.flush()
        say(_outcome_line(item) + "\n")
        if item.status == "insufficient-data":
            out.warn(f"guard {item.guard.name}: {item.reasons[0]}; the changes are kept")
        elif item.status == "unmeasured":
            out.error(
                f"guard {item.guard.name} could not measure {item.guard.account}: "
                f"{item.error}; the changes are kept, the apply went unguarded"
            )
        elif item.status == "fail":
            account = item.guard.account
            if item.guard.rollback == "never":
                say(
                    f"Nothing was rolled back (rollback: never): the changes to {account} "
                    "are kept.\n"
                )
                return
            say(f"Rolling back {account}: undoing this apply's changes, last first\n")
            rollback = roll_back(
                by_name[account],
                before.get(account, AccountLive()),
                touched.get(account, []),
                clients[account],
                force=bool(getattr(args, "force", False)),
                stop=stop,
            )
            result.rollbacks[account] = rollback
            say(_rollback_text(rollback))

    with interruptible() as interruption:
        stop = interruption.event
        for guard in guards:  # said once Ctrl-C is taken as "stop watching"
            out.note(
                f"Watching {guard.account} for {guard.watch_text} (guard {guard.name}: failed "
                f"> {guard.max_failed_percent:g}% or invalid > {guard.max_invalid_percent:g}% "
                f"with at least {guard.min_requests} messages fails it; a poll every "
                f"{guard.interval:g} s; rollback {guard.rollback})"
            )
        result.watched = watch(guards, clients, since, stop, on_poll=on_poll, on_end=on_end)
    if terminal:
        sys.stderr.write(CLEAR)
        sys.stderr.flush()
    if interruption.signum is not None:
        result.signum = interruption.signum
        name = signal.Signals(interruption.signum).name
        cut = [w.guard.name for w in result.watched if w.status == "watching"]
        out.error(
            f"interrupted ({name}): stopped watching "
            + (", ".join(cut) or "the guards")
            + "; nothing was rolled back: the changes are kept, unguarded"
        )
    return result


def _measured(item: Watched) -> dict[str, Any]:
    c = item.counts
    return {
        "requests": c.requests,
        "delivered": c.delivered,
        "failed": c.failed,
        "invalid": c.invalid,
        "failed_percent": c.failed_percent,
        "invalid_percent": c.invalid_percent,
    }


def _rollback_document(rollback: Rollback | None) -> dict[str, Any]:
    if rollback is None:
        return {"status": "not rolled back", "undone": [], "left": []}
    data: dict[str, Any] = {
        "status": "complete" if rollback.complete else "incomplete",
        "undone": [o.as_dict() for o in rollback.outcomes],
        "left": [c.as_dict() for c in rollback.left],
    }
    if rollback.refusals:
        data["refusals"] = [r.as_dict() for r in rollback.refusals]
    if rollback.error:
        data["error"] = rollback.error
    return data


def _outcome_line(item: Watched) -> str:
    guard = item.guard
    head = f"Guard {guard.name} ({guard.account}): {LABELS[item.status]}"
    if item.polls:
        head += f" after {item.polls[-1].at:.0f} s: {item.figures()}"
    if item.reasons and item.status in ("fail", "unmeasured"):
        head += f": {'; '.join(item.reasons)}"
    return escape(head)


def _change_text(change: Change) -> str:
    resource, subject, detail = change_columns(change)
    return escape(" ".join(filter(None, (SYMBOLS[change.action], resource, subject, detail))))


def _rollback_text(rollback: Rollback) -> str:
    lines = []
    for outcome in rollback.outcomes:
        tag = "undone" if outcome.status == "applied" else f"NOT undone ({outcome.status})"
        line = f"  {tag}  {_change_text(outcome.change)}"
        if outcome.status != "applied" and outcome.detail:
            line += f": {escape(outcome.detail)}"
        lines.append(line)
    if rollback.error:
        lines.append(f"  {escape(rollback.error)}")
    for refusal in rollback.refusals:
        lines.append(f"  refused by {refusal.rule}: {escape(refusal.message)}")
    if not rollback.plan.changes and rollback.complete:
        lines.append("  nothing to undo: live state already matches the state before the apply")
    lines.append(_rollback_line(rollback.account, rollback))
    left = rollback.left
    if left:
        lines.append(f"Left to undo by hand ({counted(len(left), 'change')}):")
        lines.extend(f"  {_change_text(change)}" for change in left)
    return "\n".join(lines) + "\n"


def _rollback_line(account: str, rollback: Rollback) -> str:
    if rollback.complete:
        return f"Rolled back {account}: live state is as before the apply."
    return (
        f"Roll-back of {account} INCOMPLETE: {counted(len(rollback.left), 'change')} "
        "could not be undone."
    )
