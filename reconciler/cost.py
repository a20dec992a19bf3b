"""What a plan cost in provider calls, and what applying it will cost (calls and time).

Reads are the calls the plan made (every attempt, retries included). Writes are the calls apply
will make: as many as each change's kind says (``Kind.writes``: two for an update carried out
as delete then add). The time is what the limits imply: apply spaces call starts at the
account's ``requestsPerSecond``; accounts that share a credential share that pace, so their
writes add up; separate credentials run side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.model import Provider
from reconciler.plan import Change, Plan


@dataclass(frozen=True)
class AccountCost:
    reads: int
    writes: int
    requests_per_second: float  # the pace of the account's credential
    shared_by: str  # the credential's first account: accounts with the same one share a pace

    def as_dict(self) -> dict[str, Any]:
        return {
            "reads": self.reads,
            "writes": self.writes,
            "requests_per_second": self.requests_per_second,
            "read_seconds": round(self.reads / self.requests_per_second, 3),
            "apply_seconds": round(self.writes / self.requests_per_second, 3),
        }


def writes_of(change: Change, provider: Provider) -> int:
    """Calls apply makes for ``change``."""
    from reconciler.kinds import kind_of

    return kind_of(change.resource).writes(change)


def estimate(
    plan: Plan, reads: Mapping[str, int], paces: Mapping[str, tuple[float, str]]
) -> dict[str, AccountCost]:
    """Each account's cost: ``reads`` made, and ``paces`` (requests per second, and the first
    account sharing the credential) by account name."""
    writes = dict.fromkeys((a.name for a in plan.accounts), 0)
    providers = {a.name: a.provider for a in plan.accounts}
    for change in plan.changes:
        writes[change.account] += writes_of(change, providers[change.account])
    return {
        name: AccountCost(reads.get(name, 0), count, *paces[name]) for name, count in writes.items()
    }


def apply_seconds(costs: Mapping[str, AccountCost]) -> float:
    """Time the limits imply for apply: the slowest credential's writes at its pace."""
    by_credential: dict[str, tuple[int, float]] = {}
    for cost in costs.values():
        writes, _ = by_credential.get(cost.shared_by, (0, cost.requests_per_second))
        by_credential[cost.shared_by] = (writes + cost.writes, cost.requests_per_second)
    return max((w / rate for w, rate in by_credential.values()), default=0.0)


def document(costs: Mapping[str, AccountCost]) -> dict[str, Any]:
    """The ``cost`` object of the JSON plan."""
    return {
        "reads": sum(c.reads for c in costs.values()),
        "writes": sum(c.writes for c in costs.values()),
        "apply_seconds": round(apply_seconds(costs), 3),
        "accounts": {name: cost.as_dict() for name, cost in costs.items()},
    }


# Accounts a text plan names in its cost; a fleet's others are counted ("and N more"), and
# listed in full in the JSON plan.
FEW = 5


def summary(costs: Mapping[str, AccountCost]) -> list[str]:
    """Text lines: ``Cost: 1,012 reads, 40 writes, about 4 s at 10 req/s`` for one account;
    with several, the totals and then each account that apply would write to: all of them
    in manifest order up to ``FEW``, else the ``FEW`` slowest to apply and how many more."""
    if not costs:
        return []
    reads = sum(c.reads for c in costs.values())
    writes = sum(c.writes for c in costs.values())
    if len(costs) == 1:
        (cost,) = costs.values()
        return [f"Cost: {_calls(reads, writes)}, {_time(cost.writes, cost.requests_per_second)}"]
    apply = f"apply {_seconds(apply_seconds(costs))}" if writes else "nothing to apply"
    lines = [f"Cost: {_calls(reads, writes)} over {len(costs):,} accounts; {apply}"]
    writing = [(name, c) for name, c in costs.items() if c.writes]
    shown = writing
    if len(writing) > FEW:  # the slowest first; sorted is stable: ties in manifest order
        shown = sorted(writing, key=lambda item: -item[1].writes / item[1].requests_per_second)
        shown = shown[:FEW]
    lines.extend(
        f"  {name}: {_calls(c.reads, c.writes)}, {_time(c.writes, c.requests_per_second)}"
        for name, c in shown
    )
    if len(writing) > len(shown):
        more = len(writing) - len(shown)
        lines.append(
            f"  and {_n(more, 'more account')} to write to (--format json lists every account)"
        )
    return lines


def ends_plan(costs: Mapping[str, AccountCost]) -> bool:
    """Whether the text plan ends with its cost, after the ``Plan:`` line: for a few accounts;
    a fleet's plan shows its cost first and ends with the ``Plan:`` line."""
    return len(costs) <= FEW


def _calls(reads: int, writes: int) -> str:
    return f"{_n(reads, 'read')}, {_n(writes, 'write')}"


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _time(writes: int, rate: float) -> str:
    if not writes:
        return "nothing to apply"
    return f"{_seconds(writes / rate)} at {rate:g} req/s"


def _seconds(seconds: float) -> str:
    if seconds == 0:
        return "no time"
    if seconds < 1:
        return "under 1 s"
    if seconds < 120:
        return f"about {seconds:.0f} s"
    return f"about {seconds / 60:.0f} min"


def paces(accounts: Sequence[str], limiters: Mapping[str, Any]) -> dict[str, tuple[float, str]]:
    """(requests per second, first account of the same credential) by account, from each
    account's client ``limiter`` (shared by the clients of one credential)."""
    first: dict[int, str] = {}
    out = {}
    for name in accounts:
        limiter = limiters[name]
        owner = first.setdefault(id(limiter), name)
        out[name] = (1.0 / limiter.interval, owner)
    return out


def of_clients(plan: Plan, clients: Mapping[str, Any]) -> dict[str, AccountCost]:
    """The cost of ``plan``, made by reading through ``clients`` (``ProviderClient`` by
    account name; their ``calls`` so far are the plan's reads)."""
    names = [account.name for account in plan.accounts]
    reads = {name: clients[name].calls for name in names}
    return estimate(plan, reads, paces(names, {name: clients[name].limiter for name in names}))
