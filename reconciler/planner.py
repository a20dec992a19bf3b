"""Making a plan: the accounts' desired state against their live state (SPEC §4–§5).

``plan`` and ``apply`` share it. Live state comes from a ``Source``: read now through one
client per account (``ReadNow``), or taken from an early read (``prefetch``) when it read
exactly these accounts (``TakeEarly``). The plan is the difference (``plan.diff``, which
judges the safety rules), with the guards an apply of it would run (SPEC §11), priced
(``cost``); ``Made.notes`` is what the kinds say of the live state besides.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from reconciler import cost, live
from reconciler.guard.spec import planned
from reconciler.kinds import kinds, list_kind_read_by
from reconciler.model import AccountDesired, AccountLive, DeliveryCheck
from reconciler.plan import Plan, diff
from reconciler.providers.answers import InconsistentAnswer
from reconciler.providers.base import ProviderClient
from reconciler.refusals import INCOMPLETE, Refusal

if TYPE_CHECKING:
    from reconciler.prefetch import Prefetch


@dataclass
class Made:
    """A plan and what it was made from. ``contradictions``: the accounts whose listing
    contradicted itself (SPEC §5 rule 4), refused in the plan, by name."""

    plan: Plan
    wants: list[AccountDesired]
    seen: dict[str, AccountLive]
    clients: Mapping[str, ProviderClient]
    contradictions: dict[str, InconsistentAnswer] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """What the kinds say of the live state besides the changes (``plan`` prints it)."""
        return [
            note
            for want in self.wants
            for kind in kinds()
            for note in kind.notes(want, self.seen.get(want.account.name, AccountLive()))
        ]


@contextmanager
def made(
    wants: Sequence[AccountDesired], checks: Iterable[DeliveryCheck], source: Source
) -> Iterator[Made]:
    """The plan for ``wants`` against the live state ``source`` finds, its clients open while
    the block runs (``apply`` carries it out through them)."""
    with ExitStack() as stack:
        wants, seen, clients, contradictions = source.found(stack, wants)
        result = diff(wants, seen)
        result.refusals.extend(
            _refusal(want, contradictions[want.account.name])
            for want in wants
            if want.account.name in contradictions
        )
        result.guards = planned(checks, result)
        result.cost = cost.of_clients(result, clients)
        yield Made(result, wants, seen, clients, contradictions)


# The accounts as read (endpoints may differ), their live state, their clients, and the
# listings that contradicted themselves.
Found = tuple[
    list[AccountDesired],
    dict[str, AccountLive],
    Mapping[str, ProviderClient],
    dict[str, InconsistentAnswer],
]


class Source(Protocol):
    """Where a plan's live state comes from."""

    def found(self, stack: ExitStack, wants: Sequence[AccountDesired]) -> Found:
        """The live state of ``wants``, through clients that ``stack`` closes."""


@dataclass(frozen=True)
class ReadNow:
    """Live state read now, one client per account (``live``): at the embedded sandbox with
    ``sandbox_state``. With ``each_account`` (``plan``), an account whose listing contradicts
    itself is read as nothing and refused in the plan while the others are shown; else that
    error is raised."""

    sandbox_state: Path | None = None
    announce: bool = True
    each_account: bool = False

    def found(self, stack: ExitStack, wants: Sequence[AccountDesired]) -> Found:
        # The accounts as read: with the sandbox, at its endpoints.
        wants, clients = stack.enter_context(
            live.connect(wants, sandbox_state=self.sandbox_state, announce=self.announce)
        )
        contradictions: dict[str, InconsistentAnswer] = {}

        def refusing(client: ProviderClient, want: AccountDesired) -> AccountLive:
            try:
                return live.read_one(client, want)
            except InconsistentAnswer as error:
                contradictions[client.account.name] = error
                return AccountLive()

        seen = live.read(wants, clients, refusing if self.each_account else live.read_one)
        return list(wants), seen, clients, contradictions


@dataclass(frozen=True)
class TakeEarly:
    """The early read's live state (``prefetch``) if it read exactly these accounts, else
    ``otherwise``'s. A listing that contradicts itself is read again, so that the plan
    refuses that account and shows the others."""

    early: Prefetch
    otherwise: Source

    def found(self, stack: ExitStack, wants: Sequence[AccountDesired]) -> Found:
        stack.callback(self.early.close)  # its clients stay open while the plan is used
        try:
            taken = self.early.take(wants)
        except InconsistentAnswer:
            taken = None
        if taken is None:
            return self.otherwise.found(stack, wants)
        return list(wants), taken.seen, taken.clients, {}


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
