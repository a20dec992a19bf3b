"""How a plan shows its cost (``cost``): the text plan's lines and the JSON plan's object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.cost import AccountCost, apply_seconds


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
