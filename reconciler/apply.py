"""Carry out a Plan through provider clients: in order, with dependencies, into a report.

Each account's changes run in phases, the slots their kinds give them (``kinds.slot``: make
before break, SPEC §4 and §10). The changes of one phase are independent of each other and run
concurrently, within the account's limits (its client bounds the calls in flight and their
pace); a phase starts once the one before has finished.

Independent changes go on after a failure; a change that depends on a failed one (its kind's
``depends_on``, a group an earlier phase's failure marked) is skipped.

An interruption (SIGINT, SIGTERM: ``interruptible``) sends no further write: the writes in flight
are awaited, and every change not yet sent is reported as "not attempted".
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from reconciler.errors import ProviderError
from reconciler.kinds import kind_of, slot
from reconciler.model import Account, Action, Change
from reconciler.outcome import STATUSES, Outcome, Status
from reconciler.plan import Plan
from reconciler.providers.base import ProviderClient, naming_errors

# What became of a change lives in ``outcome``, below the engine; named here too, where it
# is made.
__all__ = [
    "INTERRUPTED",
    "STATUSES",
    "Interruption",
    "Outcome",
    "Status",
    "carry_out",
    "execute",
    "interruptible",
]

INTERRUPTED = "not sent: the run was interrupted"


@dataclass
class Interruption:
    """Set by SIGINT or SIGTERM during ``execute``: no write is sent after it."""

    event: threading.Event = field(default_factory=threading.Event)
    signum: int | None = None

    @property
    def exit_code(self) -> int | None:
        """128 + the signal's number (130, 143), as a shell reports a process it stopped."""
        return None if self.signum is None else 128 + self.signum

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Only flags: printing here could re-enter a write the main thread is in the middle of.
        if self.signum is None:
            self.signum = signum
        self.event.set()


@contextmanager
def interruptible() -> Iterator[Interruption]:
    """Within the block, SIGINT and SIGTERM set an ``Interruption`` instead of stopping the
    process at once, so that writes in flight end and the report says what was done. A signal
    the process was started with ignored (a background job) stays ignored."""
    interruption = Interruption()
    if threading.current_thread() is not threading.main_thread():
        yield interruption
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, interruption._handle)
    try:
        yield interruption
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def execute(
    plan: Plan,
    clients: Mapping[str, ProviderClient],
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
) -> list[Outcome]:
    """Apply every change of ``plan``; never raises for a provider failure.

    Returns the outcomes in plan order. ``on_outcome`` is called once per outcome as it is
    known, always from the calling thread. Once ``stop`` is set, no further write is sent:
    the changes not yet sent are "not attempted", those in flight are awaited.
    """
    stop = stop or threading.Event()
    outcomes: list[Outcome] = []
    by_account = plan.by_account()
    for account in plan.accounts:
        outcomes.extend(
            _execute_account(
                account,
                by_account.get(account.name, []),
                clients.get(account.name),
                on_outcome,
                stop,
            )
        )
    return outcomes


def _execute_account(
    account: Account,
    changes: list[Change],
    client: ProviderClient | None,
    on_outcome: Callable[[Outcome], None] | None,
    stop: threading.Event,
) -> list[Outcome]:
    done: dict[int, Outcome] = {}  # position in ``changes`` -> outcome
    failed: set[str] = set()  # dependency groups with a failure (Kind.group, Kind.depends_on)

    def record(index: int, outcome: Outcome) -> None:
        done[index] = outcome
        if outcome.status == "failed":
            failed.add(kind_of(outcome.change.resource).group(outcome.change))
        if on_outcome is not None:
            on_outcome(outcome)

    workers = max(1, account.limits.concurrency)
    with ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix=f"apply-{account.name}"
    ) as pool:
        phases: dict[int, list[int]] = {}  # slot -> positions in ``changes``, in plan order
        for index, change in enumerate(changes):
            phases.setdefault(slot(change), []).append(index)
        for current in sorted(phases):
            running: dict[Future[Outcome], int] = {}
            for index in phases[current]:
                change = changes[index]
                # Every change this one depends on ran in an earlier phase: `failed` is final.
                blocker = kind_of(change.resource).depends_on(change) & failed
                if stop.is_set():
                    record(index, Outcome(change, "not attempted", INTERRUPTED))
                elif client is None or blocker:
                    reason = f"skipped: {', '.join(sorted(blocker))} failed" if blocker else None
                    record(index, Outcome(change, "skipped", reason))
                else:
                    running[pool.submit(_apply_one, client, change, stop)] = index
            for future in as_completed(running):
                record(running[future], future.result())
    return [done[index] for index in sorted(done)]


@naming_errors
def carry_out(client: ProviderClient, change: Change) -> str | None:
    """Carry out one change through ``client`` (its kind's calls); a short detail for the
    report (a new id), if any."""
    kind = kind_of(change.resource)
    if kind.provider is not client.account.provider:
        raise AssertionError(f"{client.account.provider.value} cannot carry out {kind}")
    return kind.apply(client, change)


def _apply_one(client: ProviderClient, change: Change, stop: threading.Event) -> Outcome:
    # Queued writes of the phase are already submitted: each looks before it is sent.
    if stop.is_set():
        return Outcome(change, "not attempted", INTERRUPTED)
    try:
        return Outcome(change, "applied", carry_out(client, change))
    except ProviderError as exc:
        if (
            change.action is Action.UPDATE
            and kind_of(change.resource).update_deletes(change)
            and "delete" not in exc.action.lower()
        ):
            # An update is carried out as delete then add: a failure after the delete means
            # the entry is gone until the next run re-adds it.
            return Outcome(change, "failed", f"deleted; re-adding failed: {exc}", exc)
        return Outcome(change, "failed", str(exc), exc)
