"""``schemas/plan.schema.json`` and ``schemas/report.schema.json``: well-formed, documented, and
matching what the real CLI prints and saves."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.jsonschemas import SCHEMA_DIR, schema, validator
from reconciler.sandbox import Faults, Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import EXAMPLES, REPO, accounts_yaml, run_cli, write

NAMES = ("plan", "report")


def _properties(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, subschema) under a ``properties`` keyword, anywhere in ``node``."""
    if isinstance(node, dict):
        for name, value in node.get("properties", {}).items():
            yield f"{where}.{name}", value
        for key, value in node.items():
            # if/then/else restate properties only to narrow them; they are documented where
            # they are defined.
            if key not in ("if", "then", "else"):
                yield from _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _properties(value, f"{where}[{i}]")


def _documented(document: dict[str, Any], sub: Any) -> bool:
    """A description of its own, or one on the definition it refers to."""
    if "description" in sub:
        return True
    ref = sub.get("$ref", "")
    return ref.startswith("#/$defs/") and "description" in document["$defs"][ref[8:]]


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_draft_2020_12_and_documents_every_property(name: str) -> None:
    document = schema(name)
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    undocumented = [path for path, sub in _properties(document) if not _documented(document, sub)]
    assert undocumented == []


def test_schemas_ship_in_the_package() -> None:
    # The package reads them through the reconciler/schemas link, so a wheel carries them.
    assert SCHEMA_DIR == REPO / "reconciler" / "schemas"
    for name in NAMES:
        assert (SCHEMA_DIR / f"{name}.schema.json").read_bytes() == (
            REPO / "schemas" / f"{name}.schema.json"
        ).read_bytes()


def test_json_plan_and_saved_plan_validate(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    result = run_cli(
        "plan", "examples/", "--sandbox", "--format", "json", "--out", "p.json", cwd=tmp_path
    )
    assert result.code == 0, result
    printed = result.json
    validator("plan").validate(printed)
    saved = json.loads((tmp_path / "p.json").read_text())
    validator("plan").validate(saved)
    # The saved plan is the printed one plus what apply needs.
    assert {k: saved[k] for k in ("changes", "summary", "refusals")} == {
        k: printed[k] for k in ("changes", "summary", "refusals")
    }
    assert [{k: a[k] for k in ("name", "provider", "region")} for a in saved["accounts"]] == (
        printed["accounts"]
    )


def test_the_schemas_reject_what_they_should() -> None:
    change = {
        "account": "a",
        "resource": "ip_whitelist",
        "action": "create",
        "key": "203.0.113.7",
        "before": None,
        "after": {"address": "203.0.113.7"},
    }
    plan = {
        "format_version": 1,
        "accounts": [{"name": "a", "provider": "aliyun-directmail", "region": "cn-hangzhou"}],
        "changes": [change],
        "summary": {"create": 1, "update": 0, "delete": 0},
        "refusals": [],
    }
    validator("plan").validate(plan)
    bad = [
        {**plan, "format_version": 2},
        {**plan, "extra": 1},
        {**plan, "changes": [{**change, "action": "update"}]},  # whitelist entries never update
        {**plan, "changes": [{**change, "before": {"address": "203.0.113.7"}}]},  # create
        {**plan, "changes": [{**change, "after": {"address": "203.0.113.7", "secret": "x"}}]},
        {**plan, "live": {}},  # a saved plan has all its parts or none
        {**plan, "refusals": [{"rule": "emptying"}]},
    ]
    for document in bad:
        assert not validator("plan").is_valid(document), document
    report = {"format_version": 1, "plan": plan, "outcomes": [], "summary": {}}
    assert not validator("report").is_valid(report)
    failed = {**change, "status": "failed"}  # a failure must say why
    report = {
        "format_version": 1,
        "plan": plan,
        "outcomes": [failed],
        "summary": {"applied": 0, "failed": 1, "skipped": 0},
    }
    assert not validator("report").is_valid(report)


def test_apply_report_validates_with_applied_failed_and_skipped_changes(tmp_path: Path) -> None:
    faults = Faults()
    with Sandbox(tmp_path / "state.json", faults=faults) as server:
        # One throttled whitelist addition, not retried: it fails, and switching protection on,
        # which depends on it, is skipped; the unintercept change is independent and applied.
        faults.script("AddIpfilter", "throttling")
        write(
            tmp_path / "m" / "accounts.yaml",
            accounts_yaml(server.url).replace("  limits:", "  retry: {attempts: 1}\n  limits:"),
        )
        write(
            tmp_path / "m" / "lists.yaml",
            "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
            "spec: {account: dm, enabled: true}\n---\n"
            "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
            "spec: {account: dm, prune: false, entries: [198.51.100.0/24, 203.0.113.7]}\n---\n"
            "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
            "spec: {account: sc, prune: false, entries: [{email: new@example.com}]}\n",
        )
        result = run_cli("apply", "m", "--yes", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 1, result
    report = result.json
    validator("report").validate(report)
    assert [(o["resource"], o["status"]) for o in report["outcomes"]] == [
        ("ip_whitelist", "failed"),
        ("ip_protection", "skipped"),
        ("unintercept", "applied"),
    ]
    assert report["outcomes"][0]["error"]["code"] == "Throttling.User"
    assert report["summary"] == {"applied": 1, "failed": 1, "skipped": 1}
