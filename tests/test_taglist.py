"""TagList (SPEC §10): DirectMail tags managed through the kinds registry, end to end through
the real CLI against the real sandbox over 127.0.0.1, plus the loading checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.dataclass_json import ShapeError
from reconciler.kinds import kind_of, list_kind_read_by
from reconciler.kinds.tag import TagEntry
from reconciler.model import (
    Account,
    AccountDesired,
    AccountLive,
    Action,
    Change,
    Provider,
    Resource,
)
from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import accounts_yaml, run_cli, write
from tests.list_clients import dm_client

TAGS = """\
apiVersion: reconciler/v1
kind: TagList
metadata: {{name: tags}}
spec:
  account: dm
  tags:
{tags}
{extra}
"""


def tag_list(*tags: str, extra: str = "") -> str:
    lines = "".join(f"    - {t}\n" for t in tags) or "    []\n"
    if not tags:
        return TAGS.replace("  tags:\n{tags}", "  tags: []").format(extra=extra)
    return TAGS.format(tags=lines.rstrip("\n"), extra=extra)


def manifests(root: Path, server: Sandbox, tags: str) -> Path:
    write(root / "m" / "accounts.yaml", accounts_yaml(server.url))
    write(root / "m" / "tags.yaml", tags)
    return root


def seed(server: Sandbox, *tags: tuple[str, str]) -> dict[str, str]:
    with dm_client(server) as client:
        return {name: client.create_tag(name, description) for name, description in tags}


def live_tags(server: Sandbox) -> dict[str, str]:
    with dm_client(server) as client:
        return {t.name: t.description for t in client.list_tags()}


def test_plan_shows_creates_updates_and_deletes_in_every_format(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    ids = seed(sandbox, ("newsletter", "Old"), ("stale", ""), ("kept", "Same"))
    body = tag_list(
        "{name: newsletter, description: Monthly news}",
        "{name: kept, description: Same}",
        "{name: alerts}",
    )
    root = manifests(tmp_path, sandbox, body)
    text = run_cli("--no-color", "plan", "m", cwd=root, env=SANDBOX_ENV)
    assert text.code == 0, text
    assert text.out.splitlines()[:4] == [
        "dm  (aliyun-directmail, cn-hangzhou)",
        "  + tag           alerts",
        "  ~ tag           newsletter description: 'Old' -> 'Monthly news'",
        f"  - tag           stale      (id {ids['stale']})",
    ]
    assert "Plan: 1 to add, 1 to change, 1 to delete." in text.out

    doc = run_cli("plan", "m", "--format", "json", cwd=root, env=SANDBOX_ENV).json
    assert [(c["resource"], c["action"], c["key"]) for c in doc["changes"]] == [
        ("tag", "create", "alerts"),
        ("tag", "update", "newsletter"),
        ("tag", "delete", "stale"),
    ]
    update = doc["changes"][1]
    assert update["before"] == {"name": "newsletter", "description": "Old", "id": ids["newsletter"]}
    assert update["after"] == {"name": "newsletter", "description": "Monthly news"}

    markdown = run_cli("plan", "m", "--format", "markdown", cwd=root, env=SANDBOX_ENV)
    assert "| update | tag | `newsletter` | description `Old` → `Monthly news` |" in markdown.out
    assert live_tags(sandbox) == {"newsletter": "Old", "stale": "", "kept": "Same"}  # no write


def test_apply_converges_and_modify_keeps_the_tag_id(tmp_path: Path, sandbox: Sandbox) -> None:
    ids = seed(sandbox, ("newsletter", "Old"), ("stale", ""))
    body = tag_list("{name: newsletter, description: Monthly news}", "{name: alerts}")
    root = manifests(tmp_path, sandbox, body)
    applied = run_cli("--no-color", "apply", "m", "--yes", cwd=root, env=SANDBOX_ENV)
    assert applied.code == 0, applied
    assert "Apply: 3 applied, 0 failed, 0 skipped." in applied.out
    assert live_tags(sandbox) == {"newsletter": "Monthly news", "alerts": ""}
    with dm_client(sandbox) as client:
        kept = {t.name: t.id for t in client.list_tags()}
    assert kept["newsletter"] == ids["newsletter"]  # ModifyTag, not delete then create
    again = run_cli("plan", "m", "--detailed-exitcode", cwd=root, env=SANDBOX_ENV)
    assert again.code == 0, again
    assert "No changes" in again.out


def test_prune_false_and_ignore_keep_unnamed_tags(tmp_path: Path, sandbox: Sandbox) -> None:
    seed(sandbox, ("legacy_one", ""), ("temp_1", ""), ("temp_2", ""))
    root = manifests(tmp_path, sandbox, tag_list("{name: alerts}", extra="  prune: false"))
    kept = run_cli("plan", "m", "--format", "json", cwd=root, env=SANDBOX_ENV).json
    assert [c["action"] for c in kept["changes"]] == ["create"]
    write(root / "m" / "tags.yaml", tag_list("{name: alerts}", extra="  ignore: ['temp_*']"))
    ignored = run_cli("plan", "m", "--format", "json", cwd=root, env=SANDBOX_ENV).json
    assert [(c["action"], c["key"]) for c in ignored["changes"]] == [
        ("create", "alerts"),
        ("delete", "legacy_one"),
    ]


def test_mass_deletion_and_emptying_refuse(tmp_path: Path, sandbox: Sandbox) -> None:
    seed(sandbox, ("a", ""), ("b", ""), ("c", ""))
    root = manifests(tmp_path, sandbox, tag_list())
    refused = run_cli("apply", "m", "--yes", cwd=root, env=SANDBOX_ENV)
    assert refused.code == 4, refused
    assert "mass-deletion" in refused.out + refused.err
    assert "its tag list would be emptied" in refused.out + refused.err
    assert len(live_tags(sandbox)) == 3
    forced = run_cli("apply", "m", "--yes", "--force", cwd=root, env=SANDBOX_ENV)
    assert forced.code == 0, forced
    assert live_tags(sandbox) == {}


def test_tags_run_first_and_their_deletes_last(tmp_path: Path, sandbox: Sandbox) -> None:
    seed(sandbox, ("stale", ""))
    whitelist = """\
apiVersion: reconciler/v1
kind: IpWhitelist
metadata: {name: wl}
spec:
  account: dm
  entries: [203.0.113.7]
  prune: false
"""
    root = manifests(tmp_path, sandbox, tag_list("{name: alerts}"))
    write(root / "m" / "whitelist.yaml", whitelist)
    doc = run_cli("plan", "m", "--format", "json", cwd=root, env=SANDBOX_ENV).json
    assert [(c["resource"], c["action"]) for c in doc["changes"]] == [
        ("tag", "create"),
        ("ip_whitelist", "create"),
        ("tag", "delete"),
    ]


def test_export_writes_the_tags_and_plan_on_it_shows_no_changes(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    seed(sandbox, ("zeta", ""), ("alpha", "First of all"))
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(sandbox.url))
    exported = run_cli("export", "m", "--account", "dm", cwd=tmp_path, env=SANDBOX_ENV)
    assert exported.code == 0, exported
    assert "kind: TagList" in exported.out
    assert exported.out.index("name: alpha") < exported.out.index("name: zeta")
    write(tmp_path / "again" / "all.yaml", exported.out)
    plan = run_cli("plan", "again", "--detailed-exitcode", cwd=tmp_path, env=SANDBOX_ENV)
    assert plan.code == 0, plan


def test_a_saved_plan_applies_and_refuses_once_a_tag_changed(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    seed(sandbox, ("newsletter", "Old"))
    root = manifests(tmp_path, sandbox, tag_list("{name: newsletter, description: New}"))
    saved = run_cli("plan", "m", "--out", "plan.json", cwd=root, env=SANDBOX_ENV)
    assert saved.code == 0, saved
    document = json.loads((root / "plan.json").read_text())
    assert document["live"]["dm"]["tag"]["newsletter"]["description"] == "Old"
    shown = run_cli("--no-color", "show", "plan.json", cwd=root, env=SANDBOX_ENV)
    assert "~ tag           newsletter description: 'Old' -> 'New'" in shown.out, shown

    seed(sandbox, ("intruder", ""))
    stale = run_cli("apply", "--plan", "plan.json", "--yes", cwd=root, env=SANDBOX_ENV)
    assert stale.code == 4, stale
    assert "tag intruder: was absent, now present" in stale.out + stale.err

    fresh = run_cli("plan", "m", "--out", "plan2.json", cwd=root, env=SANDBOX_ENV)
    assert fresh.code == 0, fresh
    applied = run_cli("apply", "--plan", "plan2.json", "--yes", cwd=root, env=SANDBOX_ENV)
    assert applied.code == 0, applied
    assert live_tags(sandbox) == {"newsletter": "New"}


def test_duplicate_names_and_two_documents_are_errors(tmp_path: Path) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    write(tmp_path / "m" / "tags.yaml", tag_list("{name: a}", "{name: A}", "{name: a}"))
    write(tmp_path / "m" / "more.yaml", tag_list("{name: b}").replace("name: tags", "name: t2"))
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 3, result
    assert "tags.yaml:9:14: error: duplicate tag 'a' (first at m/tags.yaml:7:14)" in result.err
    assert "duplicate tag 'A'" not in result.err  # names are case-sensitive
    assert "account 'dm' already has a TagList" in result.err


def test_a_name_outside_the_pattern_is_an_error_at_it(tmp_path: Path) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    write(tmp_path / "m" / "tags.yaml", tag_list("{name: ok}", "{name: 'has space'}"))
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 3, result
    assert "tags.yaml:8:14: error: 'has space' is not a valid name" in result.err


def test_more_than_100_tags_and_a_check_naming_a_missing_tag_warn(tmp_path: Path) -> None:
    names = [f"{{name: t{i}}}" for i in range(101)]
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    write(tmp_path / "m" / "tags.yaml", tag_list(*names))
    write(
        tmp_path / "m" / "check.yaml",
        """\
apiVersion: reconciler/v1
kind: DeliveryCheck
metadata: {name: news}
spec:
  account: dm
  window: 1h
  minRequests: 10
  maxFailedPercent: 5
  maxInvalidPercent: 5
  tag: T1
""",
    )
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 0, result
    assert "warning: 101 tags: DirectMail's console allows at most 100" in result.err
    assert "DeliveryCheck 'news' names tag 'T1', which the TagList of account 'dm'" in result.err
    assert "101 tags" in result.out


@pytest.mark.parametrize(
    ("action", "before", "after", "columns"),
    [
        (Action.CREATE, None, TagEntry("a", "x"), ("a", "description='x'")),
        (Action.CREATE, None, TagEntry("a"), ("a", "")),
        (Action.DELETE, TagEntry("a", "", "7"), None, ("a", "(id 7)")),
        (
            Action.UPDATE,
            TagEntry("a", "", "7"),
            TagEntry("a", "y"),
            ("a", "description: '' -> 'y'"),
        ),
    ],
)
def test_text_columns(
    action: Action, before: TagEntry | None, after: TagEntry | None, columns: tuple[str, str]
) -> None:
    change = Change("dm", Resource.TAG, action, "a", before, after)
    assert kind_of(Resource.TAG).text_columns(change) == columns


def test_a_saved_plan_already_carried_out_says_so(tmp_path: Path, sandbox: Sandbox) -> None:
    seed(sandbox, ("stale", ""))
    root = manifests(tmp_path, sandbox, tag_list("{name: alerts, description: On call}"))
    assert run_cli("plan", "m", "--out", "plan.json", cwd=root, env=SANDBOX_ENV).code == 0
    first = run_cli("apply", "--plan", "plan.json", "--yes", cwd=root, env=SANDBOX_ENV)
    assert first.code == 0, first
    again = run_cli("apply", "--plan", "plan.json", "--yes", cwd=root, env=SANDBOX_ENV)
    assert again.code == 0, again
    assert "Already applied" in again.out + again.err
    assert live_tags(sandbox) == {"alerts": "On call"}


def test_deleting_a_tag_already_gone_counts_as_done(sandbox: Sandbox) -> None:
    gone = Change("dm", Resource.TAG, Action.DELETE, "x", TagEntry("x", "", "424242"))
    with dm_client(sandbox) as client:
        assert kind_of(Resource.TAG).apply(client, gone) == "already gone"


def test_a_contradicting_tag_listing_names_the_tag_list() -> None:
    assert list_kind_read_by(Provider.ALIYUN_DM, "QueryTagByParam") is kind_of(Resource.TAG)
    whitelist = kind_of(Resource.IP_WHITELIST)
    assert list_kind_read_by(Provider.ALIYUN_DM, "GetIpfilterList") is whitelist
    assert list_kind_read_by(Provider.ALIYUN_DM, "SomethingElse") is whitelist


def test_a_saved_plans_entry_of_another_form_is_a_shape_error() -> None:
    want = AccountDesired(Account("dm", Provider.ALIYUN_DM, "http://127.0.0.1:9"))
    want.lists[Resource.TAG] = {"a": {"nom": "a"}}
    with pytest.raises(ShapeError, match="tag: an entry is not of this kind's form"):
        kind_of(Resource.TAG).decode(want, AccountLive())
    want.lists[Resource.TAG] = {"a": {"name": "a", "description": "x"}}
    have = AccountLive(lists={Resource.TAG: [{"name": "a", "description": "", "id": "7"}]})
    kind_of(Resource.TAG).decode(want, have)
    assert want.lists[Resource.TAG] == {"a": TagEntry("a", "x")}
    assert have.lists[Resource.TAG] == [TagEntry("a", "", "7")]


def test_a_guards_roll_back_wants_the_tags_held_before_the_apply() -> None:
    from reconciler.guard.rollback import inverse_desired

    want = AccountDesired(Account("dm", Provider.ALIYUN_DM, "http://127.0.0.1:9"))
    before = AccountLive(lists={Resource.TAG: [TagEntry("a", "x", "7")]})
    touched = [Change("dm", Resource.TAG, Action.CREATE, "b", None, TagEntry("b"))]
    inverse = inverse_desired(want, before, touched)
    assert inverse.lists[Resource.TAG] == {"a": TagEntry("a", "x")}
    assert inverse.policies[Resource.TAG].prune
    assert inverse.whitelist is None and inverse.protection is None
