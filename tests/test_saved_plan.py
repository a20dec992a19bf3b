"""Saved plans: ``plan --out FILE`` then ``apply --plan FILE``, through the real CLI against the
real sandbox; broken plan files through the CLI's entry point (they fail before any network)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import sandbox as sb
from reconciler.cli import main
from reconciler.dataclass_json import ShapeError, from_json, to_json
from reconciler.jsonschemas import validator
from reconciler.model import (
    Account,
    AccountDesired,
    AccountLive,
    DeletionThreshold,
    IpEntry,
    Limits,
    ListPolicy,
    Provider,
    RetryPolicy,
    SecretRef,
)
from reconciler.sandbox import Sandbox
from reconciler.savedplan.staleness import differences, digest, snapshot
from tests.builders import (
    DEMO_MANIFESTS,
    DM,
    SANDBOX_ENV,
    WRITES,
    demo_manifests,
    save_edited_plan,
    save_mass_deletion_plan,
)
from tests.cli_helpers import EXAMPLES, Result, run_cli, write

SECRETS = (sb.ACCESS_KEY_SECRET, sb.API_KEY)


def _record(email: str, types: list[int], api_user: str = "all") -> dict[str, Any]:
    return {
        "apiUserName": api_user,
        "domain": "",
        "email": email,
        "type": types,
        "createTime": "2024-01-01 00:00:00",
    }


def _assert_no_secret(plan_file: Path, *results: Result) -> None:
    text = plan_file.read_text()
    assert [s for s in SECRETS if s in text] == []
    for account in json.loads(text)["accounts"]:
        assert all(set(ref) <= {"env", "file"} for ref in account["credentials"].values())
    for result in results:
        assert [s for s in SECRETS if s in result.out + result.err] == []


def _edit(server: Sandbox, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    state = server.snapshot()
    change(state)
    server.set_state(state)
    return server.snapshot()


# -- units: the account codec and the live snapshot -----------------------------------------


def test_an_account_definition_survives_the_file_field_by_field() -> None:
    account = Account(
        "dm",
        Provider.ALIYUN_DM,
        "https://dm.ap-southeast-1.aliyuncs.com",
        region="ap-southeast-1",
        credentials={
            "accessKeyId": SecretRef(env="KEY_ID"),
            "accessKeySecret": SecretRef(file="s"),
        },
        limits=Limits(requests_per_second=2.5, concurrency=1),
        retry=RetryPolicy(attempts=2, max_seconds=9.0, base_delay=0.1),
    )
    data = json.loads(json.dumps(to_json(account)))
    assert data["credentials"] == {
        "accessKeyId": {"env": "KEY_ID"},
        "accessKeySecret": {"file": "s"},
    }
    assert from_json(Account, data, "a") == account
    policy = ListPolicy(prune=False, ignore=("a*",), deletion_threshold=DeletionThreshold(5, 50))
    assert from_json(ListPolicy, json.loads(json.dumps(to_json(policy))), "p") == policy
    with pytest.raises(ShapeError, match=r"a\.limits\.concurrency: a str is not a valid value"):
        from_json(Account, {**data, "limits": {"concurrency": "4"}}, "a")


WL_LIVE = [
    IpEntry("198.51.100.0/24", id="1"),
    IpEntry("203.0.113.9", id="2"),
    IpEntry("198.51.100.0/24", id="3"),  # a live duplicate
]
SNAPSHOTS = [
    # (policy, keep, expected whitelist snapshot)
    pytest.param(
        ListPolicy(), (), {"198.51.100.0/24": ["1", "3"], "203.0.113.9": ["2"]}, id="pruned"
    ),
    pytest.param(ListPolicy(ignore=("203.*",)), (), {"198.51.100.0/24": ["1", "3"]}, id="ignored"),
    pytest.param(
        ListPolicy(ignore=("203.*",)),
        ("203.0.113.9",),
        {"198.51.100.0/24": ["1", "3"], "203.0.113.9": ["2"]},
        id="ignored-but-kept",
    ),
    pytest.param(
        ListPolicy(prune=False),
        ("198.51.100.0/24",),
        {"198.51.100.0/24": ["1", "3"]},
        id="not-pruned",
    ),
]


@pytest.mark.parametrize(("policy", "keep", "expected"), SNAPSHOTS)
def test_snapshot_holds_what_the_plan_sees(
    policy: ListPolicy, keep: tuple[str, ...], expected: dict[str, list[str]]
) -> None:
    want = AccountDesired(DM, protection=True, whitelist={}, whitelist_policy=policy)
    have = AccountLive(protection=False, whitelist=WL_LIVE)
    seen = snapshot(want, have, {"ip_whitelist": keep, "unintercept": ()})
    assert seen == {"ip_protection": {"enabled": False}, "ip_whitelist": expected}


def test_differences_name_each_changed_entry() -> None:
    seen = {"ip_protection": {"enabled": False}, "ip_whitelist": {"203.0.113.9": ["2"]}}
    now = {"ip_protection": {"enabled": True}, "ip_whitelist": {"203.0.113.9": ["2", "4"]}}
    planned = {("ip_protection", "ip_protection"): "update"}
    assert [e.message() for e in differences("dm", seen, now, planned)] == [
        "dm  ip_protection: enabled false -> true (the plan would update it)",
        "dm  ip_whitelist 203.0.113.9: was present (id 2), now present (ids 2, 4)",
    ]
    assert differences("dm", seen, json.loads(json.dumps(seen)), planned) == []


# -- the workflow ---------------------------------------------------------------------------


def test_plan_out_then_apply_plan_converges_without_the_manifests(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    made = run_cli("plan", "examples/", "--sandbox", "--out", "plan.json", cwd=tmp_path)
    assert made.code == 0, made
    saved = json.loads((tmp_path / "plan.json").read_text())
    validator("plan").validate(saved)
    assert saved["sandbox"] is True and saved["summary"] == {"create": 5, "update": 2, "delete": 2}
    assert set(saved["manifests"]) == {
        str(p.relative_to(tmp_path)) for p in (tmp_path / "examples").rglob("*.yaml")
    }

    shutil.rmtree(tmp_path / "examples")  # apply --plan needs nothing but the file
    applied = run_cli("apply", "--plan", "plan.json", "--sandbox", "--yes", cwd=tmp_path)
    assert applied.code == 0, applied
    assert "Apply: 9 applied, 0 failed, 0 skipped." in applied.out

    shutil.copytree(EXAMPLES, tmp_path / "examples")
    again = run_cli("plan", "examples/", "--sandbox", "--out", "again.json", cwd=tmp_path)
    assert again.code == 0 and "No changes" in again.out, again
    nothing = run_cli("apply", "--plan", "again.json", "--sandbox", "--yes", cwd=tmp_path)
    assert nothing.code == 0, nothing
    assert "No changes" in nothing.out
    # The sandbox's own secrets were used throughout; none is written or shown.
    _assert_no_secret(tmp_path / "plan.json", made, applied, again, nothing)


def test_apply_plan_carries_out_the_reviewed_changes_not_the_edited_manifests(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    manifests = demo_manifests(tmp_path / "m", sandbox)
    made = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env=SANDBOX_ENV)
    assert made.code == 0, made
    assert "Plan: 1 to add, 2 to change, 2 to delete." in made.out

    # After review: the manifests gain an entry, and someone adds an entry the plan ignores.
    write(
        manifests / "lists.yaml", DEMO_MANIFESTS.replace("203.0.113.7]", "203.0.113.7, 192.0.2.1]")
    )
    _edit(
        sandbox, lambda s: s["sendcloud"]["unintercepts"].append(_record("a@ignored.example", [1]))
    )

    applied = run_cli("apply", "--plan", "plan.json", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert applied.code == 0, applied
    assert "Apply: 5 applied, 0 failed, 0 skipped." in applied.out
    assert sandbox.ip_protection() == "1"
    assert sorted(f["IpAddress"] for f in sandbox.ipfilters()) == ["198.51.100.0/24", "203.0.113.7"]

    rest = run_cli("plan", "m", cwd=tmp_path, env=SANDBOX_ENV)
    assert rest.code == 0, rest
    assert "+ ip_whitelist  192.0.2.1" in rest.out
    assert "Plan: 1 to add, 0 to change, 0 to delete." in rest.out

    # The secrets came from the environment; the file names the variables, never the values.
    _assert_no_secret(tmp_path / "plan.json", made, applied)
    dm = json.loads((tmp_path / "plan.json").read_text())["accounts"][0]
    assert dm["endpoint"] == sandbox.url
    assert dm["credentials"]["accessKeySecret"] == {"env": "ALIBABA_CLOUD_ACCESS_KEY_SECRET"}


def test_a_stale_plan_is_refused_entry_by_entry_and_nothing_is_written(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    demo_manifests(tmp_path / "m", sandbox)
    made = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env=SANDBOX_ENV)
    assert made.code == 0, made

    def drift(state: dict[str, Any]) -> None:
        state["directmail"]["ipfilters"].append(
            {"Id": "10090", "IpAddress": "203.0.113.7", "CreateTime": "1700000000"}
        )
        for record in state["sendcloud"]["unintercepts"]:
            if record["email"] == "vip@example.com":
                record["type"] = [1, 2]
        state["sendcloud"]["unintercepts"].append(_record("new@example.net", [1]))

    drifted = _edit(sandbox, drift)
    sandbox.reset_calls()
    refused = run_cli("apply", "--plan", "plan.json", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert refused.code == 4, refused
    assert "live state changed since it was made" in refused.err
    for line in (
        "dm  ip_whitelist 203.0.113.7: was absent, now present (id 10090) "
        "(the plan would create it)",
        "sc  unintercept email:vip@example.com apiUser=all: types bounce -> bounce,block "
        "(the plan would update it)",
        "sc  unintercept email:new@example.net apiUser=all: was absent, now present "
        "(types bounce)\n",
    ):
        assert f"  {line}" in refused.err
    assert "ip_protection" not in refused.err and "old-list" not in refused.err  # unchanged
    assert "Traceback" not in refused.err

    as_json = run_cli(
        "apply", "--plan", "plan.json", "--yes", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV
    )
    assert as_json.code == 4, as_json
    report = as_json.json
    validator("report").validate(report)
    assert report["outcomes"] == []
    assert [(s["resource"], s["key"], s["planned"]) for s in report["stale"]] == [
        ("ip_whitelist", "203.0.113.7", "create"),
        ("unintercept", "all:email:new@example.net", None),
        ("unintercept", "all:email:vip@example.com", "update"),
    ]
    assert report["stale"][0]["seen"] is None and report["stale"][0]["now"] == ["10090"]
    # Why it was refused, for a script: the rule, not the wording.
    assert [r["rule"] for r in report["plan"]["refusals"]] == ["plan-stale"]

    assert sandbox.snapshot() == drifted
    assert not any(sandbox.calls[action] for action in WRITES), sandbox.calls
    assert sandbox.calls["GetIpfilterList"] == 2  # live state was read again, twice

    # A list the provider returns short (safety rule 4) refuses the plan before comparing it.
    sandbox.faults.script("GetIpfilterList", *["truncate"] * 5)
    short = run_cli("apply", "--plan", "plan.json", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert short.code == 4, short
    assert "live state is incomplete" in short.err and "1 of the 3 entries" in short.err
    assert sandbox.snapshot() == drifted


def test_a_refused_plan_is_saved_and_only_force_applies_it(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    saved = save_mass_deletion_plan(tmp_path, sandbox)
    assert [(r["rule"], r["overridable"]) for r in saved["refusals"]] == [("mass-deletion", True)]

    before = sandbox.snapshot()
    refused = run_cli("apply", "--plan", "plan.json", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert refused.code == 4, refused
    assert "mass-deletion" in refused.err and "--force overrides" in refused.err

    # A refusal that does not say it may be overridden is not, --force or not.
    del saved["refusals"][0]["overridable"]
    write(tmp_path / "edited.json", json.dumps(saved))
    edited = run_cli(
        "apply", "--plan", "edited.json", "--yes", "--force", cwd=tmp_path, env=SANDBOX_ENV
    )
    assert edited.code == 4, edited
    assert sandbox.snapshot() == before

    forced = run_cli(
        "apply", "--plan", "plan.json", "--yes", "--force", cwd=tmp_path, env=SANDBOX_ENV
    )
    assert forced.code == 0, forced
    assert "warning: --force overrides mass-deletion" in forced.err
    assert [r["email"] for r in sandbox.unintercepts()] == ["ceo@example.com"]


# -- plan files that cannot be applied: exit 3, naming the file, before any network ----------


@pytest.fixture(scope="module")
def saved_plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real saved plan of the examples against the demo state (made with --sandbox)."""
    workdir = tmp_path_factory.mktemp("saved")
    shutil.copytree(EXAMPLES, workdir / "examples")
    made = run_cli("plan", "examples/", "--sandbox", "--out", "plan.json", cwd=workdir)
    assert made.code == 0, made
    loaded: dict[str, Any] = json.loads((workdir / "plan.json").read_text())
    return loaded


def _edited(saved: dict[str, Any], edit: Callable[[dict[str, Any]], object]) -> str:
    document = json.loads(json.dumps(saved))
    edit(document)
    return json.dumps(document, indent=2)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = document
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return edit


def _redigest(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """An edit of the live state that also fixes its digests: only the changes can tell."""

    def both(document: dict[str, Any]) -> None:
        edit(document)
        for section in document["live"].values():
            section["digest"] = digest({k: v for k, v in section.items() if k != "digest"})

    return both


BROKEN = [
    pytest.param(lambda s: "", "invalid JSON", id="empty"),
    pytest.param(lambda s: json.dumps(s, indent=2)[:700], "plan.json:", id="truncated"),
    pytest.param(lambda s: "[1, 2]", "JSON object", id="not-an-object"),
    pytest.param(
        lambda s: _edited(s, _set("format_version", 2)), "format_version 2", id="format-version"
    ),
    pytest.param(
        lambda s: _edited(s, lambda d: [d.pop(k) for k in ("live", "policies", "manifests")]),
        "plan --out",
        id="printed-not-saved",
    ),
    pytest.param(
        lambda s: _edited(s, _set("changes/0/action", "upsert")),
        "changes[0].action: 'upsert'",
        id="unknown-action",
    ),
    pytest.param(
        lambda s: _edited(s, _set("live/prod-dm/ip_protection", {"enabled": True})),
        "live.prod-dm: does not match its digest",
        id="live-edited",
    ),
    pytest.param(
        lambda s: _edited(s, _set("changes/3/before/id", "10083")),
        "changes[3]: deletes a record id the plan did not see",
        id="delete-other-id",
    ),
    pytest.param(
        lambda s: _edited(s, _redigest(_set("live/prod-dm/ip_whitelist/203.0.113.7", ["1"]))),
        "changes[1]: creates an address the plan saw present",
        id="create-present",
    ),
    pytest.param(
        lambda s: _edited(s, _set("changes/0/after/address", "10.0.0.1")),
        "changes[0]: its key is not its address",
        id="address-not-key",
    ),
    pytest.param(
        lambda s: _edited(s, _set("accounts/0/endpoint", "http://dm.example.com")),
        "accounts[0].endpoint: endpoint must use https://",
        id="http-endpoint",
    ),
    pytest.param(
        lambda s: _edited(s, _set("accounts/1/credentials/apiKey", {"value": "literal"})),
        "accounts[1].credentials.apiKey",
        id="literal-secret",
    ),
    pytest.param(
        lambda s: _edited(s, _set("accounts/1/limits/bursts", 3)),
        "accounts[1].limits: unknown key 'bursts'",
        id="unknown-setting",
    ),
    pytest.param(
        lambda s: _edited(s, _set("summary/delete", 0)),
        "summary: does not count the changes",
        id="summary",
    ),
]


@pytest.mark.parametrize(("make", "expected"), BROKEN)
def test_a_broken_plan_file_exits_3_naming_it(
    make: Callable[[dict[str, Any]], str],
    expected: str,
    saved_plan: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "plan.json", make(saved_plan))
    code = main(["apply", "--plan", "plan.json", "--sandbox", "--yes"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "plan.json" in err and expected in err
    assert not (tmp_path / ".reconciler").exists()  # no sandbox was started: nothing read


def test_apply_plan_usage_errors_exit_3(
    saved_plan: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "plan.json", json.dumps(saved_plan))
    cases = [
        (["apply", "--plan", "plan.json", "--yes"], "made with --sandbox: apply it with --sandbox"),
        (["apply", "--plan", "missing.json", "--sandbox", "--yes"], "missing.json does not exist"),
        (["apply", "examples", "--plan", "plan.json", "--sandbox", "--yes"], "examples: no such"),
        (["apply", "examples", "--sandbox", "--yes", "--allow-unsigned"], "--allow-unsigned"),
        (["apply", "--plan", "plan.json", "--sandbox", "--account", "prod-dm"], "--account"),
        (["apply", "--plan", "plan.json", "--sandbox"], "pass --yes"),
    ]
    for argv, expected in cases:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 3 and expected in err, (argv, err)
    # The flag is judged on an intact plan: flipped by an edit, it is the edit that is refused.
    write(tmp_path / "plan.json", _edited(saved_plan, _set("sandbox", False)))
    assert main(["apply", "--plan", "plan.json", "--sandbox", "--yes"]) == 4
    assert "does not match its digest" in capsys.readouterr().err
    save_edited_plan(tmp_path / "plan.json", saved_plan, _set("sandbox", False), "drop-mac")
    assert main(["apply", "--plan", "plan.json", "--sandbox", "--yes"]) == 3
    assert "made without --sandbox: apply it without --sandbox" in capsys.readouterr().err
