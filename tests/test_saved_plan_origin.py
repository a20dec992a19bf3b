"""``apply --plan FILE PATH...`` applies a saved plan only to the manifests it was made from
(SPEC §6), and every refusal of a saved plan names its rule in the JSON report, so that CI
tells a stale plan from an edited, expired, unsigned or misdirected one without reading
prose. Each refusal happens before live state is read: the sandbox counts every call."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from reconciler.jsonschemas import validator
from reconciler.sandbox import Sandbox
from reconciler.savedplan import origin, verdict
from reconciler.savedplan.plantrust import KEY_ENV
from tests.builders import (
    DEMO_MANIFESTS,
    SANDBOX_ENV,
    demo_manifests,
    save_edited_plan,
    save_mass_deletion_plan,
)
from tests.cli_helpers import Result, run_cli, write


def _plan(tmp_path: Path, sandbox: Sandbox, env: dict[str, str] | None = None) -> dict[str, Any]:
    demo_manifests(tmp_path / "m", sandbox)
    made = run_cli(
        "plan", "m", "--out", "plan.json", cwd=tmp_path, env={**SANDBOX_ENV, **(env or {})}
    )
    assert made.code == 0, made
    saved: dict[str, Any] = json.loads((tmp_path / "plan.json").read_text())
    return saved


def _apply(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return run_cli(
        "apply",
        "--plan",
        "plan.json",
        "--yes",
        *args,
        cwd=tmp_path,
        env={**SANDBOX_ENV, **(env or {})},
    )


def _rules(result: Result) -> list[str]:
    report = result.json
    validator("report").validate(report)
    assert report["outcomes"] == []
    return [refusal["rule"] for refusal in report["plan"]["refusals"]]


# -- the manifests at PATH ------------------------------------------------------------------


def test_a_plan_applies_to_the_manifests_it_was_made_from(tmp_path: Path, sandbox: Sandbox) -> None:
    _plan(tmp_path, sandbox)
    # Spelt differently, the same files.
    applied = _apply(tmp_path, "./m/")
    assert applied.code == 0, applied
    assert "Apply: 5 applied, 0 failed, 0 skipped." in applied.out


def test_other_manifests_refuse_the_plan_naming_each_file(tmp_path: Path, sandbox: Sandbox) -> None:
    _plan(tmp_path, sandbox)
    manifests = tmp_path / "m"
    # The reviewed change is not in the checked-out manifests; a file came, one went.
    write(manifests / "lists.yaml", DEMO_MANIFESTS.replace(", 203.0.113.7]", "]"))
    (manifests / "accounts.yaml").rename(manifests / "accounts.yml")
    before = sandbox.snapshot()
    sandbox.reset_calls()

    refused = _apply(tmp_path, "m")
    assert refused.code == 4, refused
    assert "saved plan plan.json was not made from the manifests at m:" in refused.err
    assert "\n  differ from the plan's: m/lists.yaml\n" in refused.err
    assert "\n  missing (the plan was made from them): m/accounts.yaml\n" in refused.err
    assert "\n  extra (not in the plan): m/accounts.yml\n" in refused.err
    assert "nothing was read or applied" in refused.err and "Traceback" not in refused.err
    assert sum(sandbox.calls.values()) == 0, sandbox.calls  # not even read
    assert sandbox.snapshot() == before

    as_json = _apply(tmp_path, "m", "--format", "json")
    assert as_json.code == 4 and _rules(as_json) == [verdict.MANIFESTS], as_json
    # A manifest path that is not there at all is invalid input, as for plan.
    missing = _apply(tmp_path, "manifests/")
    assert missing.code == 3 and "manifests/: no such file or directory" in missing.err, missing


def test_without_paths_nothing_but_the_plan_is_read(tmp_path: Path, sandbox: Sandbox) -> None:
    _plan(tmp_path, sandbox)
    # A FIFO where a manifest was: reading it would fail the run (or hang it).
    (tmp_path / "m" / "lists.yaml").unlink()
    os.mkfifo(tmp_path / "m" / "lists.yaml")
    with_paths = _apply(tmp_path, "m")
    assert with_paths.code == 3, with_paths
    assert "cannot read manifest m/lists.yaml: it is a FIFO" in with_paths.err
    applied = _apply(tmp_path)
    assert applied.code == 0, applied


def test_differences_name_at_most_ten_files_of_a_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(12):
        write(tmp_path / "m" / f"{i:02}.yaml", "x: 1\n")
    monkeypatch.chdir(tmp_path)
    lines = origin.differences({"m/gone.yaml": "sha256:" + "0" * 64}, ["m"])
    assert lines == [
        "missing (the plan was made from them): m/gone.yaml",
        "extra (not in the plan): "
        + ", ".join(f"m/{i:02}.yaml" for i in range(10))
        + " and 2 more",
    ]


# -- every refusal names its rule -----------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _made_at(hours_ago: float) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        moment = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
        document["created_at"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    return edit


def _no_changes(document: dict[str, Any]) -> None:
    document["changes"].clear()
    document["summary"] = {"create": 0, "update": 0, "delete": 0}


@pytest.mark.parametrize(
    ("edit", "reseal", "args", "code", "rule"),
    [
        pytest.param(_made_at(1), "no", (), 4, verdict.DIGEST, id="edited"),
        pytest.param(_no_changes, "drop-mac", (), 4, verdict.INCONSISTENT, id="inconsistent"),
        pytest.param(_made_at(200), "drop-mac", (), 4, verdict.EXPIRED, id="expired"),
        pytest.param(_made_at(-2), "drop-mac", (), 4, verdict.EXPIRED, id="future"),
        pytest.param(_made_at(0), "drop-mac", ("--sandbox",), 3, verdict.SANDBOX, id="sandbox"),
    ],
)
def test_each_refusal_of_a_saved_plan_names_its_rule(
    edit: Edit,
    reseal: str,
    args: tuple[str, ...],
    code: int,
    rule: str,
    tmp_path: Path,
    sandbox: Sandbox,
) -> None:
    saved = _plan(tmp_path, sandbox)
    save_edited_plan(tmp_path / "plan.json", saved, edit, reseal)
    sandbox.reset_calls()
    refused = _apply(tmp_path, "--format", "json", *args)
    assert refused.code == code, refused
    assert _rules(refused) == [rule]
    assert sum(sandbox.calls.values()) == 0, sandbox.calls


def test_a_plan_that_cannot_be_read_names_why(tmp_path: Path, sandbox: Sandbox) -> None:
    saved = _plan(tmp_path, sandbox)
    newer = {**saved, "format_version": 2}
    write(tmp_path / "plan.json", json.dumps(newer))
    unsupported = _apply(tmp_path, "--format", "json")
    assert unsupported.code == 3 and "format_version 2 is not supported" in unsupported.err
    assert _rules(unsupported) == [verdict.FORMAT_VERSION]
    assert unsupported.json["plan"]["changes"] == []  # nothing of it could be read

    write(tmp_path / "plan.json", json.dumps(saved)[:-40])
    truncated = _apply(tmp_path, "--format", "json")
    assert truncated.code == 3 and _rules(truncated) == [verdict.INVALID], truncated


def test_a_stale_or_unsafe_plan_names_its_rule(tmp_path: Path, sandbox: Sandbox) -> None:
    save_mass_deletion_plan(tmp_path, sandbox)
    unsafe = _apply(tmp_path, "--format", "json")
    assert unsafe.code == 4 and _rules(unsafe) == ["mass-deletion"], unsafe


def test_the_rules_are_documented_where_a_script_reads_them() -> None:
    from tests.cli_helpers import REPO

    described = json.loads((REPO / "schemas" / "plan.schema.json").read_text())["$defs"]["refusal"][
        "properties"
    ]["rule"]["description"]
    readme = (REPO / "README.md").read_text()
    for rule in verdict.RULES:
        assert rule in described and f"`{rule}`" in readme, rule
    assert KEY_ENV in readme


def test_allow_unsigned_is_in_the_help_and_every_completion(tmp_path: Path) -> None:
    shown = run_cli("apply", "--help", cwd=tmp_path)
    assert shown.code == 0 and "--allow-unsigned" in shown.out
    assert "reconciler apply --plan plan.json manifests/ --yes" in shown.out
    for shell in ("bash", "zsh", "fish"):
        made = run_cli("completion", shell, cwd=tmp_path)
        assert made.code == 0 and "allow-unsigned" in made.out, shell
