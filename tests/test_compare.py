"""``plan --compare OLD``: what a new plan changes relative to a saved one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.errors import InputError
from reconciler.savedplan import compare
from tests.cli_helpers import EXAMPLES, REPO

VIP = "all:email:vip@example.com"


def _change(key: str, action: str = "create", types: list[str] | None = None) -> dict[str, Any]:
    after = {"apiUser": "all", "email": key.split(":")[-1], "types": types or ["bounce"]}
    return {
        "account": "sc",
        "resource": "unintercept",
        "action": action,
        "key": key,
        "before": None if action == "create" else {**after, "types": ["bounce"]},
        "after": None if action == "delete" else after,
    }


def _refusal(rule: str, message: str = "m") -> dict[str, Any]:
    return {"rule": rule, "message": message, "account": "sc", "resource": "unintercept"}


def _plan(changes: list[dict[str, Any]], refusals: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    summary = {a: sum(c["action"] == a for c in changes) for a in ("create", "update", "delete")}
    return {
        "format_version": 1,
        "changes": changes,
        "summary": summary,
        "refusals": list(refusals),
    }


# (old changes, new changes, old refusals, new refusals) -> (added keys, removed keys,
# changed keys with their changed field paths, refusal rules added, refusal rules removed)
CASES = {
    "same plan": (
        [_change(VIP)],
        [_change(VIP)],
        [],
        [],
        ([], [], {}, [], []),
    ),
    "a change appears": (
        [],
        [_change(VIP)],
        [],
        [],
        ([VIP], [], {}, [], []),
    ),
    "a change disappears": (
        [_change(VIP)],
        [],
        [],
        [],
        ([], [VIP], {}, [], []),
    ),
    "types change inside the entry": (
        [_change(VIP, "update", ["bounce", "block"])],
        [_change(VIP, "update", ["bounce", "complaint"])],
        [],
        [],
        ([], [], {VIP: ["after.types"]}, [], []),
    ),
    "create becomes delete": (
        [_change(VIP, "create")],
        [_change(VIP, "delete")],
        [],
        [],
        ([], [], {VIP: ["action", "after", "before"]}, [], []),
    ),
    "a refusal appears": (
        [],
        [],
        [],
        [_refusal("mass-deletion")],
        ([], [], {}, ["mass-deletion"], []),
    ),
    "a refusal goes away": (
        [],
        [],
        [_refusal("emptying")],
        [],
        ([], [], {}, [], ["emptying"]),
    ),
    "a refusal's message changes": (
        [],
        [],
        [_refusal("mass-deletion", "40 of 120")],
        [_refusal("mass-deletion", "41 of 120")],
        ([], [], {"mass-deletion": ["message"]}, [], []),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_compare_finds_what_changed_entry_by_entry_and_field_by_field(case: Any) -> None:
    old_changes, new_changes, old_refusals, new_refusals, expected = case
    added, removed, changed, refusals_added, refusals_removed = expected
    result = compare.compare(_plan(old_changes, old_refusals), _plan(new_changes, new_refusals))
    assert [c["key"] for c in result.changes.added] == added
    assert [c["key"] for c in result.changes.removed] == removed
    found = {c.key[2]: [f.path for f in c.fields] for c in result.changes.changed}
    found |= {c.key[2]: [f.path for f in c.fields] for c in result.refusals.changed}
    assert found == changed
    assert [r["rule"] for r in result.refusals.added] == refusals_added
    assert [r["rule"] for r in result.refusals.removed] == refusals_removed
    assert result.same == (expected == ([], [], {}, [], []))


def test_a_changed_list_is_shown_whole_in_every_format() -> None:
    old = _plan([_change(VIP, "update", ["bounce", "block"])])
    new = _plan([_change(VIP, "update", ["bounce", "complaint"])])
    result = compare.compare(old, new)
    assert result.changes.changed[0].fields == (
        compare.FieldChange("after.types", ["bounce", "block"], ["bounce", "complaint"]),
    )
    assert "after.types: bounce,block -> bounce,complaint" in compare.render(result, "text", "o")
    assert "after.types: bounce,block -> bounce,complaint" in compare.render(
        result, "markdown", "o"
    )
    document = json.loads(compare.render(result, "json", "o"))
    assert document["changes"]["changed"] == [
        {
            "account": "sc",
            "resource": "unintercept",
            "key": VIP,
            "fields": [
                {"path": "after.types", "old": ["bounce", "block"], "new": ["bounce", "complaint"]}
            ],
        }
    ]
    assert document["same"] is False


def test_the_markdown_section_stays_within_its_budget() -> None:
    old = _plan([])
    new = _plan([_change(f"all:email:u{i}@example.com") for i in range(2_000)])
    text = compare.markdown(compare.compare(old, new), "old.json")
    assert len(text) <= compare.MARKDOWN_BUDGET
    assert "more differences." in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not JSON"),
        ("[]", "not a JSON object"),
        ('{"format_version": 2}', "format_version is 2"),
        ('{"format_version": 1, "changes": {}, "refusals": []}', "changes is not a list"),
        (
            '{"format_version": 1, "changes": [{"key": "k"}], "refusals": []}',
            "changes[0] lacks one of account, resource, key",
        ),
        ('{"format_version": 1, "changes": [], "refusals": []}', "summary is not an object"),
    ],
)
def test_a_file_that_is_not_a_plan_is_invalid_input(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "old.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="--compare") as caught:
        compare.load(path)
    assert message in str(caught.value)


def test_plan_compare_through_the_cli_against_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "examples/", "--sandbox", "-q", "--out", "old.json"]) == 0
    capsys.readouterr()

    assert main(["plan", "examples/", "--sandbox", "-q", "--compare", "old.json"]) == 0
    same = capsys.readouterr().out
    assert "Plan: 5 to add" in same and "the plans are the same." in same

    manifest = next(p for p in (tmp_path / "examples").rglob("*.yaml") if "vip@" in p.read_text())
    manifest.write_text(
        manifest.read_text().replace("[bounce, complaint]", "[bounce, block]"), encoding="utf-8"
    )
    assert main(["plan", "examples/", "--sandbox", "-q", "--compare", "old.json"]) == 0
    text = capsys.readouterr().out
    assert f"~ change prod-sc  unintercept {VIP}" in text
    assert "after.types: bounce,complaint -> bounce,block" in text
    # The words of plan's own summary line, for both plans.
    plan_line = next(line for line in text.splitlines() if line.startswith("Plan: "))
    counts = plan_line.removeprefix("Plan: ").rstrip(".")
    assert f"Old plan: {counts}; new plan: {counts}." in text

    code = main(
        ["plan", "examples/", "--sandbox", "-q", "--compare", "old.json", "--format", "json"]
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)  # one document: the comparison alone
    assert [c["key"] for c in document["changes"]["changed"]] == [VIP]


def test_a_bad_compare_file_fails_before_any_provider_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["plan", str(EXAMPLES), "--sandbox", "--compare", "missing.json"]) == 3
    err = capsys.readouterr().err
    assert "cannot read --compare missing.json" in err
    assert "Using the local sandbox" not in err


def test_a_plain_plan_never_imports_deepdiff() -> None:
    probe = (
        "import sys, reconciler.cli, reconciler.commands.plan, reconciler.output.render,"
        " reconciler.savedplan.planfile;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'deepdiff'))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
    # ...and the comparison does import it, so the probe above can tell.
    probe = (
        "import sys, reconciler.savedplan.compare as c; c.fields({'a': 1}, {'a': 2});"
        "print('deepdiff' in sys.modules)"
    )
    assert (
        subprocess.run(
            [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        == "True"
    )


def test_the_text_names_each_difference_in_plan_order() -> None:
    old = _plan(
        [_change("all:email:gone@example.com", "delete"), _change(VIP, "update")],
        [_refusal("emptying"), _refusal("mass-deletion", "40 of 120")],
    )
    old["created_at"] = "2024-05-01T12:00:00Z"
    new = _plan(
        [_change(VIP, "update", ["bounce", "block"]), _change("all:domain:new.example")],
        [_refusal("mass-deletion", "41 of 120"), {"rule": "lock-out", "message": "m"}],
    )
    rendered = compare.render(compare.compare(old, new), "text", "old.json")
    assert rendered == (
        "Compared with old.json (2024-05-01T12:00:00Z):\n"
        "  + change sc  unintercept all:domain:new.example (create)\n"
        "  - change sc  unintercept all:email:gone@example.com (delete)\n"
        f"  ~ change sc  unintercept {VIP}\n"
        "      after.types: bounce -> bounce,block\n"
        "  + refusal lock-out: m\n"
        "  - refusal emptying: m\n"
        "  ~ refusal mass-deletion: sc\n"
        "      message: 40 of 120 -> 41 of 120\n"
        "Old plan: 0 to add, 1 to change, 1 to delete; "
        "new plan: 1 to add, 1 to change, 0 to delete.\n"
    )
    markdown = compare.render(compare.compare(old, new), "markdown", "old.json")
    assert markdown.count("\n| added |") == 2 and markdown.count("\n| removed |") == 2
    assert "| changed | refusal | `mass-deletion: sc` | `message: 40 of 120 -> 41 of 120` |" in (
        markdown
    )


def test_values_that_are_not_text_are_shown_as_json() -> None:
    old = {"account": "dm", "resource": "ip_protection", "key": "ip_protection", "action": "update",
           "before": {"enabled": False}, "after": {"enabled": True}}  # fmt: skip
    new = {**old, "before": None, "after": {"enabled": False}}
    result = compare.compare(_plan([old]), _plan([new]))
    assert compare.text(result, "o").splitlines()[2:4] == [
        "      after.enabled: true -> false",
        '      before: {"enabled": false} -> (none)',
    ]


def test_an_edited_plan_holding_one_key_twice_keeps_both() -> None:
    twice = [_change(VIP), _change(VIP, "delete")]
    result = compare.compare(_plan(twice), _plan([_change(VIP)]))
    assert [c["action"] for c in result.changes.removed] == ["delete"]
    assert not result.changes.changed
