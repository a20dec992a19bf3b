"""The Markdown plan: layout, escaping (checked by rendering it), and the size cap."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from reconciler.model import (
    ALL_TYPES,
    Account,
    IpEntry,
    Provider,
    Target,
    UninterceptEntry,
)
from reconciler.output.markdown import LIMIT, MARKER, plan_markdown
from reconciler.plan import Action, Change, Plan, Refusal, Resource
from tests.cli_helpers import EXAMPLES, process_env, read_until, run_cli

DM = Account("prod-dm", Provider.ALIYUN_DM, "https://dm.aliyuncs.com", "cn-hangzhou")
SC = Account("prod-sc", Provider.SENDCLOUD, "https://api.sendcloud.net/apiv2")


def _render(markdown: str) -> str:
    """HTML as a CommonMark renderer with GitHub's tables makes it."""
    return MarkdownIt("commonmark").enable("table").render(markdown)


class _Tables(HTMLParser):
    """The body rows of every table, each a list of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _rows(markdown: str) -> list[list[str]]:
    parser = _Tables()
    parser.feed(_render(markdown))
    return parser.rows


def _email(account: str, value: str, action: Action, api_user: str = "all") -> Change:
    entry = UninterceptEntry(api_user, Target.EMAIL, value, frozenset({1, 4}))
    before, after = (None, entry) if action is Action.CREATE else (entry, None)
    if action is Action.UPDATE:
        before, after = UninterceptEntry(api_user, Target.EMAIL, value, ALL_TYPES), entry
    return Change(account, Resource.UNINTERCEPT, action, entry.key, before, after)


def _ip(account: str, address: str, action: Action, ident: str | None = None) -> Change:
    entry = IpEntry(address, id=ident)
    before, after = (None, entry) if action is Action.CREATE else (entry, None)
    return Change(account, Resource.IP_WHITELIST, action, address, before, after)


def test_layout_marker_heading_summary_and_details() -> None:
    plan = Plan(
        [DM, SC],
        [
            _ip("prod-dm", "203.0.113.7", Action.CREATE),
            Change("prod-dm", Resource.IP_PROTECTION, Action.UPDATE, "ip_protection", False, True),
            _ip("prod-dm", "198.51.100.0/24", Action.DELETE, "10083"),
            _email("prod-sc", "vip@example.com", Action.UPDATE),
        ],
    )
    markdown = plan_markdown(plan)
    lines = markdown.splitlines()
    assert lines[0] == MARKER
    assert lines[1] == "### reconciler plan (changes): 1 to add, 2 to change, 1 to delete"
    rows = _rows(markdown)
    assert rows[:2] == [
        ["prod-dm", "aliyun-directmail, cn-hangzhou", "1", "1", "1"],
        ["prod-sc", "sendcloud", "0", "1", "0"],
    ]
    assert rows[2:] == [
        ["create", "ip_whitelist", "203.0.113.7", ""],
        ["update", "ip_protection", "enabled", "false → true"],
        ["delete", "ip_whitelist", "198.51.100.0/24", "id 10083"],
        [
            "update",
            "unintercept",
            "email vip@example.com",
            "apiUser all; types bounce, block, complaint, unsubscribe → bounce, complaint",
        ],
    ]
    assert "<details open><summary><b>prod-dm</b>" in markdown


def test_data_with_markdown_and_html_characters_cannot_break_the_table() -> None:
    nasty = "a|b<script>`x``y\\|z*_[l](u)&amp;@example.com"
    api_user = "ops|<b>team</b>"
    plan = Plan([SC], [_email("prod-sc", nasty, Action.CREATE, api_user)])
    markdown = plan_markdown(plan)
    rows = _rows(markdown)
    change = rows[-1]
    assert len(change) == 4, change
    assert change[2] == f"email {nasty}"
    assert change[3] == f"apiUser {api_user}; types bounce, complaint"
    html = _render(markdown)
    assert "<script>" not in html and "<b>team" not in html


def test_account_names_in_html_summary_are_escaped() -> None:
    odd = Account("a<i>b</i>|c", Provider.SENDCLOUD, "https://api.sendcloud.net/apiv2")
    markdown = plan_markdown(Plan([odd], [_email(odd.name, "x@example.com", Action.DELETE)]))
    assert "<i>" not in _render(markdown)
    assert _rows(markdown)[0][0] == odd.name


def test_refusals_come_first_as_a_caution_block() -> None:
    plan = Plan(
        [SC],
        [_email("prod-sc", f"u{i}@example.com", Action.DELETE) for i in range(5)],
        [
            Refusal("mass-deletion", "prod-sc: would delete 5 of 6 | *all*", "prod-sc"),
            Refusal("incomplete-live-state", "prod-sc: 3 of 9", "prod-sc", overridable=False),
        ],
    )
    markdown = plan_markdown(plan)
    assert markdown.splitlines()[1].startswith("### reconciler plan (refused): ")
    caution = markdown.index("> [!CAUTION]")
    assert caution < markdown.index("| account |")
    assert "Refused by 2 safety rules" in markdown
    assert "**mass\\-deletion**" not in markdown  # '-' needs no escape
    html = _render(markdown)
    assert "would delete 5 of 6 | *all*" in html  # literal, not emphasis or a table
    assert "<code>--force</code> does not override it" in html


def test_no_changes_is_short() -> None:
    markdown = plan_markdown(Plan([DM, SC]))
    assert markdown.startswith(MARKER + "\n### reconciler plan: no changes\n")
    assert "Live state matches the manifests (2 accounts: prod-dm, prod-sc)." in markdown
    assert "<details" not in markdown and len(markdown) < 300


def test_refused_without_changes_does_not_claim_a_match() -> None:
    refusal = Refusal("incomplete-live-state", "prod-sc: 3 of 9", "prod-sc", overridable=False)
    markdown = plan_markdown(Plan([SC], [], [refusal]))
    assert markdown.splitlines()[1] == (
        "### reconciler plan (refused): 0 to add, 0 to change, 0 to delete"
    )
    assert "> [!CAUTION]" in markdown and "matches" not in markdown


def _counts_in(line: str) -> dict[str, int]:
    return {
        word.rstrip("s"): int(number.replace(",", ""))
        for number, word in re.findall(r"([\d,]+) (creates?|updates?|deletes?)", line)
    }


def test_a_plan_of_100000_changes_stays_under_the_cap_and_counts_add_up() -> None:
    changes = [
        _email("prod-sc", f"user{i}@example.com", (Action.CREATE, Action.DELETE)[i % 2])
        for i in range(60_000)
    ] + [_ip("prod-dm", f"203.0.{i // 256 % 256}.{i % 256}", Action.CREATE) for i in range(40_000)]
    plan = Plan([DM, SC], changes)
    markdown = plan_markdown(plan)
    assert len(markdown) < LIMIT
    assert "| prod-sc | sendcloud | 30,000 | 0 | 30,000 |" in markdown
    assert "| prod-dm | aliyun-directmail, cn-hangzhou | 40,000 | 0 | 0 |" in markdown
    # Each account: the rows shown plus "… and N more: ..." give its changes, by action.
    sections = markdown.split("<details")[1:]
    assert len(sections) == 2
    for section, expected in zip(
        sections, ({"create": 40_000}, {"create": 30_000, "delete": 30_000}), strict=True
    ):
        shown = [line for line in section.splitlines() if line.startswith(("| create", "| delete"))]
        more = next(line for line in section.splitlines() if line.startswith("… and "))
        counted = _counts_in(more)
        total = int(re.search(r"… and ([\d,]+) more", more)[1].replace(",", ""))  # type: ignore[index]
        assert total == sum(counted.values())
        for action in ("create", "delete"):
            seen = sum(1 for line in shown if line.startswith(f"| {action}"))
            assert seen + counted.get(action, 0) == expected.get(action, 0)
        assert shown  # the first rows are there to read


def test_thousands_of_accounts_and_refusals_stay_under_the_cap() -> None:
    accounts = [
        Account(f"sc-{i:04d}", Provider.SENDCLOUD, "https://api.sendcloud.net/apiv2")
        for i in range(3000)
    ]
    changes = [_email(a.name, "x@example.com", Action.DELETE) for a in accounts]
    refusals = [Refusal("emptying", f"{a.name}: emptied " + "x" * 150, a.name) for a in accounts]
    markdown = plan_markdown(Plan(accounts, changes, refusals))
    assert len(markdown) < LIMIT
    assert re.search(r"> - … and [\d,]+ more: [\d,]+ × emptying", markdown)
    assert re.search(r"\| … and [\d,]+ more accounts \| \| 0 \| 0 \| [\d,]+ \|", markdown)
    assert "… and the changes of " in markdown
    assert markdown.rstrip().endswith("</sub>")


_ANY_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z", "Cc"]),
    max_size=400,
)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(_ANY_TEXT, min_size=1, max_size=30), message=_ANY_TEXT)
def test_any_data_keeps_every_row_at_four_cells(values: list[str], message: str) -> None:
    changes = [_email("prod-sc", v, Action.CREATE, api_user=v) for v in values]
    markdown = plan_markdown(Plan([SC], changes, [Refusal("emptying", message, "prod-sc")]))
    assert len(markdown) < LIMIT
    rows = _rows(markdown)
    assert len(rows) == 1 + len(values)
    assert all(len(row) == 4 for row in rows[1:]), rows


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path


def test_cli_markdown_plan_matches_the_json_plan(workdir: Path) -> None:
    markdown = run_cli("plan", "examples/", "--sandbox", "--format", "markdown", cwd=workdir)
    assert markdown.code == 0, markdown
    assert markdown.out.startswith(MARKER + "\n")
    document = run_cli("plan", "examples/", "--sandbox", "--format", "json", cwd=workdir).json
    rows = _rows(markdown.out)
    summary = {row[0]: [int(n) for n in row[2:]] for row in rows if len(row) == 5}
    for account, counts in summary.items():
        mine = [c for c in document["changes"] if c["account"] == account]
        assert counts == [sum(1 for c in mine if c["action"] == a) for a in Action], account
    assert len([row for row in rows if len(row) == 4]) == len(document["changes"])


def test_markdown_has_no_colors_even_on_a_terminal(workdir: Path) -> None:
    # A real process: stdout must be a terminal.
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "plan", "examples/", "--sandbox", "--format",
         "markdown"],
        cwd=workdir, env=process_env(), stdin=terminal, stdout=terminal, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(terminal)
    try:
        shown = read_until(controller, b"</sub>").decode()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        os.close(controller)
    assert shown.startswith(MARKER) and "\x1b[" not in shown
