"""A saved plan is verified, not trusted (SPEC §6): its changes, summary and refusals are made
again from its own inputs, its accounts are sealed by its digest (and a MAC under
``RECONCILER_PLAN_KEY``), and it expires. Each refusal happens before a credential is resolved
or a request is sent: the edited endpoint is a server that records whatever reaches it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from reconciler.durations import parse_duration
from reconciler.sandbox import Sandbox
from reconciler.savedplan.plantrust import KEY_ENV, canonical, seal
from tests.builders import (
    SANDBOX_ENV,
    WRITES,
    demo_manifests,
    save_edited_plan,
    save_mass_deletion_plan,
)
from tests.cli_helpers import Result, run_cli, write
from tests.hostile import HostileServer

KEY = "a-plan-key-of-the-ci-environment"
CANARY_ID = "canary-id-7f3a9c"
CANARY_SECRET = "canary-secret-e41b77"
CANARY_ENV = {"CANARY_ID": CANARY_ID, "CANARY_SECRET": CANARY_SECRET}
Edit = Callable[[dict[str, Any]], None]


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _apply(tmp_path: Path, plan: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return run_cli(
        "apply", "--plan", plan, "--yes", *args, cwd=tmp_path, env={**SANDBOX_ENV, **(env or {})}
    )


def _nothing_written(sandbox: Sandbox) -> bool:
    return not any(sandbox.calls[action] for action in WRITES)


# -- recomputation: changes, summary, refusals ----------------------------------------------


@pytest.mark.parametrize("reseal", ["no", "drop-mac"])
def test_refusals_deleted_from_a_refused_plan_are_put_back(
    reseal: str, tmp_path: Path, sandbox: Sandbox
) -> None:
    saved = save_mass_deletion_plan(tmp_path, sandbox)
    assert [r["rule"] for r in saved["refusals"]] == ["mass-deletion"]
    before = sandbox.snapshot()
    sandbox.reset_calls()

    save_edited_plan(tmp_path / "edited.json", saved, lambda d: d["refusals"].clear(), reseal)
    refused = _apply(tmp_path, "edited.json")
    assert refused.code == 4, refused
    expected = "does not match its digest" if reseal == "no" else "its refusals differ"
    assert expected in refused.err, refused
    assert "Traceback" not in refused.err
    assert sandbox.snapshot() == before
    assert sum(sandbox.calls.values()) == 0, sandbox.calls  # nothing was even read


def test_deletes_added_to_a_reviewed_no_op_plan_are_refused(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    demo_manifests(tmp_path / "m", sandbox)
    assert run_cli("apply", "m", "--yes", cwd=tmp_path, env=SANDBOX_ENV).code == 0
    made = run_cli("plan", "m", "--out", "noop.json", cwd=tmp_path, env=SANDBOX_ENV)
    assert made.code == 0 and "No changes" in made.out, made
    saved = _load(tmp_path / "noop.json")
    assert saved["changes"] == []

    def delete_everything(document: dict[str, Any]) -> None:
        for address, ids in document["live"]["dm"]["ip_whitelist"].items():
            for ident in ids:
                document["changes"].append(
                    {
                        "account": "dm",
                        "resource": "ip_whitelist",
                        "action": "delete",
                        "key": address,
                        "before": {"address": address, "id": ident},
                        "after": None,
                    }
                )
                document["summary"]["delete"] += 1

    before = sandbox.snapshot()
    assert len(before["directmail"]["ipfilters"]) == 2
    sandbox.reset_calls()
    save_edited_plan(tmp_path / "edited.json", saved, delete_everything, "drop-mac")
    refused = _apply(tmp_path, "edited.json")
    assert refused.code == 4, refused
    assert "its changes differ (2 in the file, 0 recomputed)" in refused.err
    assert "its summary differs (" in refused.err  # one summary: "differs"
    assert sandbox.snapshot() == before
    assert sum(sandbox.calls.values()) == 0, sandbox.calls


def test_recorded_live_state_and_desired_state_must_agree(tmp_path: Path, sandbox: Sandbox) -> None:
    """Rewriting the inputs instead of the changes: the snapshot the plan is checked against
    for staleness is derived from the recorded live state, and the policies from the desired."""
    demo_manifests(tmp_path / "m", sandbox)
    made = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env=SANDBOX_ENV)
    assert made.code == 0, made
    saved = _load(tmp_path / "plan.json")

    def no_threshold(document: dict[str, Any]) -> None:
        policy = document["desired"]["sc"]["unintercept_policy"]
        policy["deletion_threshold"] = {"entries": 1000, "percent": 100.0}

    def forget_live(document: dict[str, Any]) -> None:
        document["observed"]["dm"]["whitelist"] = []

    for name, edit, expected in (
        ("policy.json", no_threshold, "policies.sc differ from the desired state's"),
        ("live.json", forget_live, "live.dm differs from the live state recorded"),
    ):
        save_edited_plan(tmp_path / name, saved, edit, "drop-mac")
        refused = _apply(tmp_path, name)
        assert refused.code == 4 and expected in refused.err, refused
    assert _nothing_written(sandbox)


# -- the accounts are sealed: nothing reaches an edited endpoint ----------------------------


def _redirect(url: str) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        dm = document["accounts"][0]
        assert dm["name"] == "dm"
        dm["endpoint"] = url
        dm["credentials"] = {
            "accessKeyId": {"env": "CANARY_ID"},
            "accessKeySecret": {"env": "CANARY_SECRET"},
        }

    return edit


@pytest.mark.parametrize(
    ("reseal", "key", "expected"),
    [
        pytest.param("no", None, "does not match its digest", id="edited"),
        pytest.param("digest", KEY, "its MAC is wrong", id="resealed-old-mac"),
        pytest.param("drop-mac", KEY, "has no MAC", id="resealed-no-mac"),
    ],
)
def test_an_edited_endpoint_and_credentials_get_nothing(
    reseal: str, key: str | None, expected: str, tmp_path: Path, sandbox: Sandbox
) -> None:
    keyed = {KEY_ENV: key} if key else {}
    demo_manifests(tmp_path / "m", sandbox)
    made = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env={**SANDBOX_ENV, **keyed})
    assert made.code == 0, made
    saved = _load(tmp_path / "plan.json")
    assert ("mac" in saved) is bool(key)

    with HostileServer() as server:
        save_edited_plan(tmp_path / "edited.json", saved, _redirect(server.url), reseal)
        refused = _apply(tmp_path, "edited.json", env={**CANARY_ENV, **keyed})
        assert refused.code == 4, refused
        assert expected in refused.err, refused
        assert server.requests == []
    for canary in (CANARY_ID, CANARY_SECRET):
        assert canary not in refused.out + refused.err
    assert _nothing_written(sandbox)


def test_a_keyed_plan_applies_only_with_its_key(tmp_path: Path, sandbox: Sandbox) -> None:
    demo_manifests(tmp_path / "m", sandbox)
    keyed = {**SANDBOX_ENV, KEY_ENV: KEY}
    made = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env=keyed)
    assert made.code == 0, made
    saved = _load(tmp_path / "plan.json")
    assert saved["mac"].startswith("hmac-sha256:") and KEY not in json.dumps(saved)
    unkeyed = run_cli("plan", "m", "--out", "unkeyed.json", cwd=tmp_path, env=SANDBOX_ENV)
    assert unkeyed.code == 0 and "mac" not in _load(tmp_path / "unkeyed.json"), unkeyed

    wrong = _apply(tmp_path, "plan.json", env={KEY_ENV: "another key"})
    assert wrong.code == 4 and "its MAC is wrong" in wrong.err, wrong
    missing = _apply(tmp_path, "unkeyed.json", env={KEY_ENV: KEY})
    assert missing.code == 4 and "has no MAC" in missing.err, missing
    assert _nothing_written(sandbox)

    applied = _apply(tmp_path, "plan.json", env={KEY_ENV: KEY})
    assert applied.code == 0, applied
    assert "Apply: 5 applied, 0 failed, 0 skipped." in applied.out
    assert KEY not in applied.out + applied.err


def test_a_mac_without_the_key_at_apply_time_is_refused_unless_allowed(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """A signed plan comes from an environment with a key: an apply without it checks
    nothing, so it is refused (before anything is read) unless --allow-unsigned says so."""
    demo_manifests(tmp_path / "m", sandbox)
    made = run_cli(
        "plan", "m", "--out", "plan.json", cwd=tmp_path, env={**SANDBOX_ENV, KEY_ENV: KEY}
    )
    assert made.code == 0, made
    sandbox.reset_calls()
    refused = _apply(tmp_path, "plan.json", "--format", "json", env={KEY_ENV: ""})  # undefined
    assert refused.code == 4, refused
    assert f"carries a MAC but {KEY_ENV} is not set" in refused.err
    assert "--allow-unsigned" in refused.err
    report = json.loads(refused.out)
    assert [r["rule"] for r in report["plan"]["refusals"]] == ["plan-mac-unchecked"]
    assert report["outcomes"] == []
    assert sum(sandbox.calls.values()) == 0, sandbox.calls  # nothing was even read

    applied = _apply(tmp_path, "plan.json", "--allow-unsigned", env={KEY_ENV: ""})
    assert applied.code == 0, applied
    assert f"warning: plan.json carries a MAC but {KEY_ENV} is not set" in applied.err
    assert "(--allow-unsigned)" in applied.err
    assert "Apply: 5 applied, 0 failed, 0 skipped." in applied.out


def test_allow_unsigned_never_excuses_a_missing_or_wrong_mac(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    demo_manifests(tmp_path / "m", sandbox)
    made = run_cli(
        "plan", "m", "--out", "plan.json", cwd=tmp_path, env={**SANDBOX_ENV, KEY_ENV: KEY}
    )
    unkeyed = run_cli("plan", "m", "--out", "unkeyed.json", cwd=tmp_path, env=SANDBOX_ENV)
    assert made.code == 0 and unkeyed.code == 0, (made, unkeyed)
    for plan, key, rule in (
        ("unkeyed.json", KEY, "plan-unsigned"),
        ("plan.json", "another key", "plan-mac"),
    ):
        refused = _apply(tmp_path, plan, "--allow-unsigned", "--format", "json", env={KEY_ENV: key})
        assert refused.code == 4, refused
        assert [r["rule"] for r in json.loads(refused.out)["plan"]["refusals"]] == [rule]
    assert _nothing_written(sandbox)


def test_the_mac_covers_the_digested_bytes() -> None:
    import hashlib
    import hmac

    document: dict[str, Any] = {"format_version": 1, "changes": [], "é": 1.5}
    seal(document, KEY.encode())
    body = canonical(document)
    assert body == '{"changes":[],"format_version":1,"é":1.5}'.encode()
    assert document["digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert document["mac"] == "hmac-sha256:" + hmac.new(KEY.encode(), body, "sha256").hexdigest()


# -- plans expire ---------------------------------------------------------------------------


def _made_at(moment: datetime) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        document["created_at"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    return edit


def test_an_old_plan_is_refused_and_max_age_sets_how_old(tmp_path: Path, sandbox: Sandbox) -> None:
    demo_manifests(tmp_path / "m", sandbox)
    keyed = {**SANDBOX_ENV, KEY_ENV: KEY}
    made = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env=keyed)
    assert made.code == 0, made
    saved = _load(tmp_path / "plan.json")
    now = datetime.now(timezone.utc)

    def signed(name: str, moment: datetime) -> None:
        document = json.loads(json.dumps(saved))
        _made_at(moment)(document)
        seal(document, KEY.encode())  # made by a holder of the key, days ago
        write(tmp_path / name, json.dumps(document))

    signed("old.json", now - timedelta(days=8))
    signed("future.json", now + timedelta(hours=1))
    old = _apply(tmp_path, "old.json", env={KEY_ENV: KEY})
    assert old.code == 4 and "more than 7d ago (--max-age)" in old.err, old
    day = _apply(tmp_path, "old.json", "--max-age", "190h", env={KEY_ENV: KEY})
    assert day.code == 4 and "more than 190h ago" in day.err, day
    future = _apply(tmp_path, "future.json", env={KEY_ENV: KEY})
    assert future.code == 4 and "in the future" in future.err, future
    bad = _apply(tmp_path, "old.json", "--max-age", "7x", env={KEY_ENV: KEY})
    assert bad.code == 3 and "expected a duration" in bad.err, bad
    assert _nothing_written(sandbox)
    longer = _apply(tmp_path, "old.json", "--max-age", "10d", env={KEY_ENV: KEY})
    assert longer.code == 0, longer


def test_max_age_without_a_saved_plan_is_an_input_error(tmp_path: Path, sandbox: Sandbox) -> None:
    """--max-age judges a saved plan; given to an apply of the manifests it would do nothing."""
    demo_manifests(tmp_path / "m", sandbox)
    sandbox.reset_calls()
    result = run_cli("apply", "m", "--yes", "--max-age", "1d", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 3, result
    assert "--max-age applies to a saved plan only (apply --plan FILE)" in result.err
    assert not any(sandbox.calls.values()), sandbox.calls  # nothing read or written
    # With the saved plan as the only path, it is a saved plan's apply: --max-age applies.
    made = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env=SANDBOX_ENV)
    assert made.code == 0, made
    again = run_cli("apply", "plan.json", "--yes", "--max-age", "0s", cwd=tmp_path, env=SANDBOX_ENV)
    assert again.code == 4 and "more than 0s ago (--max-age)" in again.err, again


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), ("1.5h", 5400), ("0s", 0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "7", "d", "-1d", "7 days", "1w", "nan", "1e3s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize("workflow", ["plan.yml", "apply.yml"])
def test_the_example_workflows_sign_and_check_plans_with_the_key(workflow: str) -> None:
    import yaml

    from tests.cli_helpers import REPO

    document = yaml.safe_load((REPO / "examples" / "github" / workflow).read_text())
    job = next(iter(document["jobs"].values()))
    environments = [job.get("env") or {}] + [step.get("env") or {} for step in job["steps"]]
    keyed = [env for env in environments if KEY_ENV in env]
    assert keyed and all(env[KEY_ENV] == "${{ secrets.RECONCILER_PLAN_KEY }}" for env in keyed)
    if workflow == "plan.yml":  # the step that saves the plan has it
        step = next(s for s in job["steps"] if s.get("with", {}).get("command") == "plan")
        assert KEY_ENV in step["env"]
