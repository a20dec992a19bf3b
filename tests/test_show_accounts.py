"""``show PLAN.json`` renders a saved plan offline; ``accounts PATH...`` lists the accounts."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.output.redact import mask
from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV, save_edited_plan
from tests.cli_helpers import EXAMPLES, accounts_yaml, run_cli, write
from tests.hostile import HostileServer


def _saved(tmp_path: Path, endpoint: str) -> Path:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(endpoint))
    write(
        tmp_path / "m" / "u.yaml",
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\nspec:\n"
        "  account: sc\n  entries: [{email: ceo@example.com}, {email: new.one@example.com}, "
        "{email: vip@example.com, types: [bounce]}, {domain: partner.example, "
        "apiUser: marketing, types: [bounce, block]}, "
        "{email: old-list@example.org, apiUser: marketing, types: [unsubscribe]}]\n",
    )
    made = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env=SANDBOX_ENV)
    assert made.code == 0, made
    return tmp_path / "plan.json"


def test_show_reads_no_credentials_and_calls_nothing(tmp_path: Path, sandbox: Sandbox) -> None:
    plan = _saved(tmp_path, sandbox.url)
    before = sum(sandbox.calls.values())
    shown = run_cli("show", str(plan), cwd=tmp_path)  # no credentials in the environment
    assert shown.code == 0, shown
    assert sum(sandbox.calls.values()) == before
    assert "+ unintercept" in shown.out and "new.one@example.com" in shown.out
    assert "Plan: 1 to add" in shown.out
    assert "made" in shown.err

    as_json = run_cli("show", str(plan), "--format", "json", cwd=tmp_path)
    saved = json.loads(plan.read_text())
    assert as_json.json["changes"] == saved["changes"]
    assert as_json.json["summary"] == saved["summary"]

    markdown = run_cli("show", str(plan), "--format", "markdown", "--redact", cwd=tmp_path)
    assert markdown.code == 0, markdown
    assert "new.one@" not in markdown.out and mask("new.one@example.com") in markdown.out
    assert sum(sandbox.calls.values()) == before


def test_show_of_a_plan_pointed_at_a_hostile_endpoint_sends_nothing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    plan = _saved(tmp_path, sandbox.url)
    document = json.loads(plan.read_text())
    with HostileServer() as server:

        def edit(doc: dict) -> None:
            for account in doc["accounts"]:
                account["endpoint"] = server.url

        save_edited_plan(tmp_path / "edited.json", document, edit, "drop-mac")
        shown = run_cli("show", "edited.json", cwd=tmp_path, env=SANDBOX_ENV)
        assert shown.code == 0, shown
        assert server.requests == []


def test_show_refuses_an_edited_plan(tmp_path: Path, sandbox: Sandbox) -> None:
    plan = _saved(tmp_path, sandbox.url)
    document = json.loads(plan.read_text())
    document["changes"] = []
    write(tmp_path / "edited.json", json.dumps(document))
    shown = run_cli("show", "edited.json", cwd=tmp_path)
    assert shown.code in (3, 4), shown
    assert "Traceback" not in shown.err


def test_show_of_a_missing_file_is_invalid_input(tmp_path: Path) -> None:
    shown = run_cli("show", "nope.json", cwd=tmp_path)
    assert shown.code == 3, shown


def test_accounts_lists_every_account_for_a_matrix(tmp_path: Path) -> None:
    listed = run_cli("accounts", str(EXAMPLES), "--format", "json", cwd=tmp_path)
    assert listed.code == 0, listed
    assert listed.json == [
        {"name": "prod-dm", "provider": "aliyun-directmail", "region": "cn-hangzhou"},
        {"name": "prod-sc", "provider": "sendcloud", "region": None},
    ]
    text = run_cli("accounts", str(EXAMPLES), cwd=tmp_path)
    assert text.out.splitlines() == ["prod-dm  aliyun-directmail", "prod-sc  sendcloud"]
    bad = run_cli("accounts", "missing/", cwd=tmp_path)
    assert bad.code == 3 and bad.out == ""
