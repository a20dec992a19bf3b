"""Making a plan: the accounts' desired state against their live state (SPEC §4–§5).

``plan`` and ``apply`` share it. Live state is taken from an early read (``prefetch``) when it
read exactly these accounts, else read now through one client per account (``live``); the plan
is the difference (``plan.diff``, which judges the safety rules), priced (``cost``), with the
guards an apply of it would run (SPEC §11) and what the kinds say of the live state besides.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import cost, live
from reconciler.guard.spec import planned
from reconciler.kinds import kinds, list_kind_read_by
from reconciler.model import AccountDesired, AccountLive, DeliveryCheck
from reconciler.plan import Plan, diff
from reconciler.providers.answers import InconsistentAnswer
from reconciler.providers.base import ProviderClient
from reconciler.safety import INCOMPLETE, Refusal

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
    wants: Sequence[AccountDesired],
    checks: Iterable[DeliveryCheck],
    *,
    early: Prefetch | None = None,
    sandbox_state: Path | None = None,
    announce: bool = True,
    each_account: bool = False,
) -> Iterator[Made]:
    """The plan for ``wants``, its clients open while the block runs (``apply`` carries it
    out through them). With ``each_account`` (``plan``), an account whose listing contradicts
    itself is refused in the plan while the others are shown; else that error is raised."""
    with ExitStack() as stack:
        wants, seen, clients, contradictions = _found(
            stack, wants, early, sandbox_state, announce, each_account
        )
        yield _made(wants, seen, clients, contradictions, checks)


# The accounts as read (endpoints may differ), their live state, their clients, and the
# listings that contradicted themselves.
Found = tuple[
    list[AccountDesired],
    dict[str, AccountLive],
    Mapping[str, ProviderClient],
    dict[str, InconsistentAnswer],
]


def _found(
    stack: ExitStack,
    wants: Sequence[AccountDesired],
    early: Prefetch | None,
    sandbox_state: Path | None,
    announce: bool,
    each_account: bool,
) -> Found:
    """What the early read found, if it read exactly ``wants`` (a listing that contradicts
    itself is read again, so that the plan refuses that account and shows the others), else
    what is read now, through clients that ``stack`` closes."""
    taken = None
    if early is not None:
        try:
            taken = early.take(wants)
        except InconsistentAnswer:
            taken = None
        finally:
            early.close()
    if taken is not None:
        return list(wants), taken.seen, taken.clients, {}
    # The accounts as read: with the sandbox, at its endpoints.
    wants, clients = stack.enter_context(
        live.connect(wants, sandbox_state=sandbox_state, announce=announce)
    )
    contradictions: dict[str, InconsistentAnswer] = {}

    def refusing(client: ProviderClient, want: AccountDesired) -> AccountLive:
        """An account whose listing contradicts itself is read as nothing, and refused in
        the plan (``_refusal``)."""
        try:
            return live.read_one(client, want)
        except InconsistentAnswer as error:
            contradictions[client.account.name] = error
            return AccountLive()

    seen = live.read(wants, clients, refusing if each_account else None)
    return list(wants), seen, clients, contradictions


def _made(
    wants: list[AccountDesired],
    seen: dict[str, AccountLive],
    clients: Mapping[str, ProviderClient],
    contradictions: dict[str, InconsistentAnswer],
    checks: Iterable[DeliveryCheck],
) -> Made:
    result = diff(wants, seen)
    result.refusals.extend(
        _refusal(want, contradictions[want.account.name])
        for want in wants
        if want.account.name in contradictions
    )
    result.guards = planned(checks, result)
    result.cost = cost.of_clients(result, clients)
    return Made(result, wants, seen, clients, contradictions)


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
