"""Renderers of a Plan and of an apply report: build rows, then format them."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from itertools import groupby
from typing import TYPE_CHECKING, Any

from reconciler.kinds import kind_of
from reconciler.model import Account
from reconciler.output.console import Style, escape
from reconciler.output.costs import document as cost_document
from reconciler.output.costs import ends_plan
from reconciler.output.costs import summary as cost_lines
from reconciler.plan import Action, Change, Plan

if TYPE_CHECKING:
    from reconciler.outcome import Outcome

FORMAT_VERSION = 1
SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}
COLORS = {Action.CREATE: "32", Action.UPDATE: "33", Action.DELETE: "31"}
# The resource column is at least this wide, wider only in a plan that shows a longer name,
# so that plans keep one layout whichever kinds they touch.
RESOURCE_WIDTH = 13
REPORT_TAGS = {
    "applied": ("applied", "32"),
    "failed": ("FAILED ", "31;1"),
    "skipped": ("skipped", "33"),
    "not attempted": ("not attempted", "33"),
}


# -- one change as columns ----------------------------------------------------------------


def change_columns(change: Change) -> tuple[str, str, str]:
    """``(resource, subject, detail)`` of a change, as the text plan shows it."""
    return (change.resource.value, *kind_of(change.resource).text_columns(change))


# -- text ---------------------------------------------------------------------------------


def summary_line(plan: Plan) -> str:
    counts = plan.summary
    if not plan.changes:
        return "No changes. Live state matches the manifests."
    return (
        f"Plan: {counts['create']} to add, {counts['update']} to change, "
        f"{counts['delete']} to delete."
    )


def account_heading(account: Account) -> str:
    return f"{account.name}  ({account.describe()})"


def plan_text(plan: Plan, style: Style) -> str:
    lines: list[str] = []
    by_account = plan.by_account()
    for account in plan.accounts:
        changes = by_account.get(account.name)
        if not changes:
            continue
        lines.append(style.bold(account_heading(account)))
        lines.extend(_rows(changes, style))
    if plan.refusals:
        if lines:
            lines.append("")
        lines.append(style.paint("Refused:", "31;1"))
        lines.extend(f"  {r.rule}: {escape(r.message)}" for r in plan.refusals)
    if lines:
        lines.append("")
    costs: list[str] = []
    last = True  # the cost after the summary line (a few accounts), or before it (a fleet)
    if plan.cost:
        costs, last = cost_lines(plan.cost), ends_plan(plan.cost)
    guards = [guard.line() for guard in plan.guards]  # guard hook (SPEC §11)
    if not last:
        lines.extend(guards + costs)
    lines.append(summary_line(plan))
    if last:
        lines.extend(guards + costs)
    return "\n".join(lines) + "\n"


def _rows(changes: Sequence[Change], style: Style, status: Sequence[str] = ()) -> list[str]:
    rows = [tuple(escape(column) for column in change_columns(c)) for c in changes]
    width = max(len(r[1]) for r in rows)
    resources = max(RESOURCE_WIDTH, *(len(r[0]) for r in rows))
    lines = []
    for i, (change, (resource, subject, detail)) in enumerate(zip(changes, rows, strict=True)):
        symbol = style.paint(SYMBOLS[change.action], COLORS[change.action])
        text = f"{resource.ljust(resources)} "
        text += f"{subject.ljust(width)} {detail}" if detail else subject
        prefix = f"{status[i]}  " if status else ""
        lines.append(f"  {prefix}{symbol} {text.rstrip()}")
    return lines


# -- json ---------------------------------------------------------------------------------


def plan_document(plan: Plan) -> dict[str, Any]:
    """The stable JSON form of a plan (``format_version`` 1), documented in the README."""
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "accounts": [
            {"name": a.name, "provider": a.provider.value, "region": a.region}
            for a in plan.accounts
        ],
        "changes": [c.as_dict() for c in plan.changes],
        "summary": plan.summary,
        "refusals": [r.as_dict() for r in plan.refusals],
    }
    if plan.cost:
        document["cost"] = cost_document(plan.cost)
    if plan.guards:  # guard hook (SPEC §11): only a plan with guards has the key
        document["guards"] = [guard.as_dict() for guard in plan.guards]
    return document


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# -- apply report -------------------------------------------------------------------------


def report_text(outcomes: Sequence[Outcome], style: Style) -> str:
    """One line per change with its outcome, grouped by account, then the totals."""
    lines: list[str] = []
    for account, group in groupby(outcomes, key=lambda o: o.change.account):
        done = list(group)
        lines.append(style.bold(account))
        tags = [style.paint(*REPORT_TAGS[o.status]) for o in done]
        rows = _rows([o.change for o in done], style, tags)
        lines.extend(
            f"{row}  {escape(o.detail)}" if o.detail else row
            for row, o in zip(rows, done, strict=True)
        )
    lines.append("")
    lines.append(report_summary_line(outcomes))
    return "\n".join(lines) + "\n"


def report_summary_line(outcomes: Sequence[Outcome]) -> str:
    counts = Counter(o.status for o in outcomes)
    untried = f", {counts['not attempted']} not attempted" if counts["not attempted"] else ""
    return (
        f"Apply: {counts['applied']} applied, {counts['failed']} failed, "
        f"{counts['skipped']} skipped{untried}."
    )
