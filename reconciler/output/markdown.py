"""The Markdown form of a Plan, for a pull-request comment (SPEC §4).

Layout: a marker line (the workflow finds its own comment by it), a heading with the totals,
the refusals as a warning block, a summary table per account, then each account's changes in a
``<details>`` block. GitHub rejects comments above 65,536 characters, so the text is built
within a character budget: rows that do not fit are summarized as "… and N more" with counts.

Data from manifests and providers (addresses, e-mails, apiUsers, messages) is escaped for the
context it lands in: code spans in table cells, Markdown text, or HTML inside ``<summary>``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from reconciler import __version__
from reconciler.kinds import kind_of
from reconciler.kinds.base import Cell, Code
from reconciler.model import Account
from reconciler.output.markdown_text import code, html_text, text
from reconciler.plan import Action, Change, Plan, Refusal

MARKER = "<!-- reconciler-plan -->"
LIMIT = 60_000  # SPEC §4; GitHub's own limit for a comment is 65,536
ROWS_PER_ACCOUNT = 200  # more is not reviewable in a comment anyway
OPEN_UP_TO = 30  # a plan with at most this many changes shows its details unfolded
REFUSALS_SHARE = 12_000
ACCOUNTS_SHARE = 10_000
# Room kept for what is added without a check of its own: closing tags, the footer and the
# "… and N more" lines (each bounded well below this).
RESERVE = 1_000

VERBS = {Action.CREATE: "create", Action.UPDATE: "update", Action.DELETE: "delete"}
PLURALS = {Action.CREATE: "creates", Action.UPDATE: "updates", Action.DELETE: "deletes"}


# -- counts -------------------------------------------------------------------------------


def _totals(counts: Counter[Action]) -> str:
    return (
        f"{counts[Action.CREATE]} to add, {counts[Action.UPDATE]} to change, "
        f"{counts[Action.DELETE]} to delete"
    )


def _breakdown(counts: Counter[Action]) -> str:
    """``40 creates, 1 delete``: only the actions that occur."""
    return ", ".join(
        f"{counts[a]:,} {VERBS[a] if counts[a] == 1 else PLURALS[a]}" for a in Action if counts[a]
    )


def _cut(markdown: str, length: int) -> str:
    """At most ``length`` characters of already escaped text, never ending inside an escape."""
    if len(markdown) <= length:
        return markdown
    cut = markdown[:length]
    # Drop a trailing backslash or a half entity ("&lt" without ";").
    cut = re.sub(r"(\\+|&[#a-z0-9]*)$", "", cut)
    return cut + "…"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'s' if count != 1 else ''}"


# -- rows ---------------------------------------------------------------------------------


def _change_row(change: Change) -> str:
    subject, detail = map(_cell, kind_of(change.resource).markdown_cells(change))
    return f"| {VERBS[change.action]} | {change.resource.value} | {subject} | {detail} |"


def _cell(parts: Cell) -> str:
    """A kind's cell in Markdown: its own words as they are, its values escaped."""
    shown = []
    for part in parts:
        if isinstance(part, str):
            shown.append(part)
        else:
            shown.append(code(part.value) if isinstance(part, Code) else text(part.value))
    return "".join(shown)


# -- the document -------------------------------------------------------------------------


@dataclass
class _Budget:
    """Characters left for the document; every part is added through ``take``."""

    left: int
    parts: list[str] = field(default_factory=list)

    def fits(self, part: str, reserve: int = 0) -> bool:
        return len(part) + 1 + reserve <= self.left

    def take(self, part: str) -> None:
        self.parts.append(part)
        self.left -= len(part) + 1


def plan_markdown(plan: Plan, limit: int = LIMIT) -> str:
    """The plan as a Markdown comment of fewer than ``limit`` characters, whatever its size."""
    budget = _Budget(limit - 1 - RESERVE)
    counts = Counter(change.action for change in plan.changes)
    budget.take(MARKER)
    budget.take(_heading(plan, counts))
    budget.take("")
    if plan.refusals:
        _refusals(plan.refusals, budget)
    if plan.changes:
        _summary_table(plan, budget)
        _details(plan, budget)
    elif not plan.refusals:  # with refusals, "live state matches" would not be true
        names = ", ".join(text(a.name) for a in plan.accounts[:20])
        more = f" and {len(plan.accounts) - 20:,} more" if len(plan.accounts) > 20 else ""
        what = _plural(len(plan.accounts), "account")
        budget.take(f"Live state matches the manifests ({what}: {names}{more}).")
        budget.take("")
    if plan.cost:
        _cost(plan, budget)
    _guards(plan, budget)  # guard hook (SPEC §11)
    # The reserve is there for this footer and for any "… and N more" line.
    budget.left += RESERVE
    budget.take(f"<sub>reconciler {__version__}</sub>")
    return "\n".join(budget.parts) + "\n"


def _guards(plan: Plan, budget: _Budget) -> None:
    """The guards an apply of the plan would run, one line each; the rest are counted."""
    shown = 0
    for guard in plan.guards:
        line = f"- {text(guard.line())}"
        if not budget.fits(line, reserve=80):
            break
        if not shown:
            budget.take("**Guards** (watched after apply):")
        budget.take(line)
        shown += 1
    if shown < len(plan.guards):
        budget.take(f"- … and {len(plan.guards) - shown:,} more guards")
    if plan.guards:
        budget.take("")


def _cost(plan: Plan, budget: _Budget) -> None:
    """What the plan cost and what apply will cost: the totals line of the text summary."""
    from reconciler.output.costs import summary

    line = text(summary(plan.cost)[0])
    if budget.fits(line):
        budget.take(line)
        budget.take("")


def _heading(plan: Plan, counts: Counter[Action]) -> str:
    if plan.refusals:
        status = "refused"
    elif not plan.changes:
        return "### reconciler plan: no changes"
    else:
        status = "changes"
    return f"### reconciler plan ({status}): {_totals(counts)}"


def _refusals(refusals: Sequence[Refusal], budget: _Budget) -> None:
    share = _Budget(min(REFUSALS_SHARE, budget.left - RESERVE))
    count = len(refusals)
    share.take("> [!CAUTION]")
    share.take(
        f"> **Refused by {_plural(count, 'safety rule')}: `apply` will not carry out this plan.**"
    )
    shown = 0
    for refusal in refusals:
        override = (
            "`--force` overrides it" if refusal.overridable else "`--force` does not override it"
        )
        line = f"> - **{text(refusal.rule)}**: {text(refusal.message)} ({override})"
        if not share.fits(line, reserve=500):
            break
        share.take(line)
        shown += 1
    if shown < count:
        rules = Counter(r.rule for r in refusals[shown:])
        listed = ", ".join(f"{n} × {text(rule)}" for rule, n in sorted(rules.items()))
        share.take(f"> - … and {count - shown:,} more: {_cut(listed, 300)}")
    share.take("")
    for part in share.parts:
        budget.take(part)


def _summary_table(plan: Plan, budget: _Budget) -> None:
    share = _Budget(min(ACCOUNTS_SHARE, budget.left - RESERVE))
    share.take("| account | provider | add | change | delete |")
    share.take("|---|---|--:|--:|--:|")
    per_account = _counts_by_account(plan.changes)
    shown = 0
    for account in plan.accounts:
        counts = per_account.get(account.name, Counter())
        row = (
            f"| {text(account.name)} | {text(account.describe())} | {counts[Action.CREATE]:,} "
            f"| {counts[Action.UPDATE]:,} | {counts[Action.DELETE]:,} |"
        )
        if not share.fits(row, reserve=200):
            break
        share.take(row)
        shown += 1
    rest = plan.accounts[shown:]
    if rest:
        left: Counter[Action] = Counter()
        for account in rest:
            left.update(per_account.get(account.name, Counter()))
        share.take(
            f"| … and {_plural(len(rest), 'more account')} | | {left[Action.CREATE]:,} "
            f"| {left[Action.UPDATE]:,} | {left[Action.DELETE]:,} |"
        )
    share.take("")
    for part in share.parts:
        budget.take(part)


def _counts_by_account(changes: Iterable[Change]) -> dict[str, Counter[Action]]:
    counts: dict[str, Counter[Action]] = {}
    for change in changes:
        counts.setdefault(change.account, Counter())[change.action] += 1
    return counts


def _details(plan: Plan, budget: _Budget) -> None:
    by_account = plan.by_account()
    accounts = [a for a in plan.accounts if a.name in by_account]
    opened = " open" if len(plan.changes) <= OPEN_UP_TO else ""
    for index, account in enumerate(accounts):
        changes = by_account[account.name]
        head = _details_head(account, changes, opened)
        if not budget.fits(head, reserve=RESERVE):
            rest = accounts[index:]
            left = Counter(c.action for a in rest for c in by_account[a.name])
            names = _cut(", ".join(text(a.name) for a in rest[:10]), 300)
            more = ", …" if len(rest) > 10 else ""
            budget.take(
                f"… and the changes of {_plural(len(rest), 'more account')} "
                f"({names}{more}): {_breakdown(left)}. See the full plan in the job's output."
            )
            budget.take("")
            return
        budget.take(head)
        _change_table(changes, budget)
        budget.take("</details>")
        budget.take("")


def _details_head(account: Account, changes: Sequence[Change], opened: str) -> str:
    counts = Counter(c.action for c in changes)
    return (
        f"<details{opened}><summary><b>{html_text(account.name)}</b> "
        f"({html_text(account.describe())}): {_totals(counts)}</summary>\n\n"
        "| | resource | entry | details |\n|---|---|---|---|"
    )


def _change_table(changes: Sequence[Change], budget: _Budget) -> None:
    shown = 0
    for change in changes[:ROWS_PER_ACCOUNT]:
        row = _change_row(change)
        if not budget.fits(row, reserve=RESERVE):
            break
        budget.take(row)
        shown += 1
    if shown < len(changes):
        left = Counter(c.action for c in changes[shown:])
        budget.take("")
        budget.take(
            f"… and {len(changes) - shown:,} more: {_breakdown(left)}. "
            "See the full plan in the job's output."
        )
    budget.take("")
