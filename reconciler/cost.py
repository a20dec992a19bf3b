"""What a plan cost in provider calls, and what applying it will cost (calls and time); how a
plan shows it is ``output.costs``.

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


def writes_of(change: Change) -> int:
    """Calls apply makes for ``change``."""
    from reconciler.kinds import kind_of

    return kind_of(change.resource).writes(change)


def estimate(
    plan: Plan, reads: Mapping[str, int], paces: Mapping[str, tuple[float, str]]
) -> dict[str, AccountCost]:
    """Each account's cost: ``reads`` made, and ``paces`` (requests per second, and the first
    account sharing the credential) by account name."""
    writes = dict.fromkeys((a.name for a in plan.accounts), 0)
    for change in plan.changes:
        writes[change.account] += writes_of(change)
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
