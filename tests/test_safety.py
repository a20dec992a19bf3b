"""Safety rules (SPEC §5): tables through ``diff``, then the real CLI against the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.model import (
    AccountDesired,
    AccountLive,
    DeletionThreshold,
    ListPolicy,
)
from reconciler.plan import diff
from reconciler.sandbox import Sandbox
from tests.builders import DM, SANDBOX_ENV, SC, email, ips, live_ips
from tests.cli_helpers import accounts_yaml, run_cli, write

WRITES = ("AddIpfilter", "DeleteIpfilterByEdmId", "UpdateIpProtection")
SC_WRITES = ("unintercept/add", "unintercept/delete")


def live_list(count: int) -> list[Any]:
    return live_ips(*((str(i), f"203.0.113.{i}") for i in range(1, count + 1)))


def rules(desired: AccountDesired, live: AccountLive) -> list[str]:
    return [r.rule for r in diff([desired], {desired.account.name: live}).refusals]


# -- rule 1: mass deletion; rule 2: emptying ------------------------------------------------

DELETION_CASES = [
    # (live entries, kept entries, threshold, expected rules)
    pytest.param(10, 8, DeletionThreshold(), [], id="2-of-10-below-count"),
    pytest.param(10, 7, DeletionThreshold(), [], id="3-of-10-is-30%-not-more"),
    pytest.param(10, 6, DeletionThreshold(), ["mass-deletion"], id="4-of-10"),
    pytest.param(2, 0, DeletionThreshold(), ["emptying"], id="empty-a-short-list"),
    pytest.param(5, 0, DeletionThreshold(), ["mass-deletion", "emptying"], id="empty-5"),
    pytest.param(100, 90, DeletionThreshold(entries=5, percent=5), ["mass-deletion"], id="tight"),
    pytest.param(10, 0, DeletionThreshold(entries=1, percent=100), ["emptying"], id="loose"),
    pytest.param(0, 0, DeletionThreshold(), [], id="empty-stays-empty"),
]


@pytest.mark.parametrize(("live", "kept", "threshold", "expected"), DELETION_CASES)
def test_whitelist_deletion_rules(
    live: int, kept: int, threshold: DeletionThreshold, expected: list[str]
) -> None:
    have = live_list(live)
    want = {e.address: e for e in have[:kept]}
    policy = ListPolicy(deletion_threshold=threshold)
    desired = AccountDesired(DM, whitelist=want, whitelist_policy=policy)
    assert rules(desired, AccountLive(whitelist=have)) == expected


def test_unintercept_mass_deletion_counts_the_whole_account_list() -> None:
    have = [email(f"u{i}@example.com") for i in range(10)]
    desired = AccountDesired(SC, unintercepts={e.key: e for e in have[:5]})
    plan = diff([desired], {"sc": AccountLive(unintercepts=have)})
    [refusal] = plan.refusals
    assert (refusal.rule, refusal.resource, refusal.overridable) == (
        "mass-deletion",
        "unintercept",
        True,
    )
    assert "5 of 10" in refusal.message
    assert len(plan.changes) == 5  # the plan still shows what would happen


def test_prune_false_and_ignored_entries_are_never_counted_as_deletions() -> None:
    have = live_list(5)
    keep_none = AccountDesired(DM, whitelist={}, whitelist_policy=ListPolicy(prune=False))
    assert rules(keep_none, AccountLive(whitelist=have)) == []
    ignored = AccountDesired(DM, whitelist={}, whitelist_policy=ListPolicy(ignore=("203.0.113.*",)))
    assert rules(ignored, AccountLive(whitelist=have)) == []


def test_updates_count_their_delete_half() -> None:
    # SPEC §5: a types change is carried out as delete then add; a failed add loses the entry.
    have = [email(f"u{i}@example.com", types=frozenset({1})) for i in range(5)]
    want = [email(f"u{i}@example.com") for i in range(5)]
    desired = AccountDesired(SC, unintercepts={e.key: e for e in want})
    assert rules(desired, AccountLive(unintercepts=have)) == ["mass-deletion", "emptying"]
    one = AccountDesired(SC, unintercepts={e.key: e for e in [*want[:1], *have[1:]]})
    assert rules(one, AccountLive(unintercepts=have)) == []


# -- rule 3: lock-out ---------------------------------------------------------------------

LOCK_OUT_CASES = [
    # (desired protection, live protection, desired whitelist, live whitelist, expected)
    pytest.param(True, False, [], [], ["lock-out"], id="switch-on-with-empty-list"),
    pytest.param(True, True, [], ["203.0.113.1"], ["emptying", "lock-out"], id="empty-while-on"),
    pytest.param(None, True, [], ["203.0.113.1"], ["emptying", "lock-out"], id="unmanaged-on"),
    pytest.param(True, False, ["203.0.113.1"], [], [], id="switch-on-with-an-entry"),
    pytest.param(False, True, [], ["203.0.113.1"], ["emptying"], id="switch-off-and-empty"),
    pytest.param(True, True, [], [], [], id="already-locked-nothing-changes"),
]


@pytest.mark.parametrize(("want_on", "have_on", "want", "have", "expected"), LOCK_OUT_CASES)
def test_lock_out(
    want_on: bool | None, have_on: bool, want: list[str], have: list[str], expected: list[str]
) -> None:
    desired = AccountDesired(DM, protection=want_on, whitelist=ips(*want))
    live = AccountLive(
        protection=have_on, whitelist=live_ips(*((str(i), a) for i, a in enumerate(have)))
    )
    assert rules(desired, live) == expected


# -- rule 4: incomplete live state ---------------------------------------------------------


def test_incomplete_list_gets_no_changes_and_cannot_be_forced() -> None:
    have = [email(f"u{i}@example.com") for i in range(3)]
    want = {e.key: e for e in [*have, email("new@example.com")]}
    desired = AccountDesired(SC, unintercepts=want, unintercept_policy=ListPolicy())
    plan = diff([desired], {"sc": AccountLive(unintercepts=have, unintercept_total=5)})
    assert plan.changes == []
    [refusal] = plan.refusals
    assert (refusal.rule, refusal.overridable) == ("incomplete-live-state", False)
    assert "3 of the 5" in refusal.message


def test_incomplete_whitelist_keeps_the_protection_change_but_refuses() -> None:
    desired = AccountDesired(DM, protection=True, whitelist=ips("203.0.113.1"))
    live = AccountLive(protection=False, whitelist=[], whitelist_total=1)
    plan = diff([desired], {"dm": live})
    assert [c.resource.value for c in plan.changes] == ["ip_protection"]
    assert [r.rule for r in plan.refusals] == ["incomplete-live-state"]


# -- through the CLI ------------------------------------------------------------------------

STATE: dict[str, Any] = {
    "directmail": {
        "ip_protection": "1",
        "next_id": 20,
        "ipfilters": [
            {"Id": str(i), "IpAddress": f"203.0.113.{i}", "CreateTime": "1653547140"}
            for i in range(1, 6)
        ],
    },
    "sendcloud": {"unintercepts": []},
}


@pytest.fixture
def server(tmp_path: Path):
    with Sandbox(tmp_path / "state.json", initial_state=STATE) as running:
        yield running


def _manifests(tmp_path: Path, url: str, entries: str, extra: str = "") -> Path:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(url))
    write(
        tmp_path / "m" / "dm.yaml",
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
        f"spec:\n  account: dm\n  entries: {entries}\n{extra}",
    )
    return tmp_path / "m"


def test_plan_lists_refusals_and_exits_4(tmp_path: Path, server: Sandbox) -> None:
    _manifests(tmp_path, server.url, "['203.0.113.1']")
    result = run_cli("plan", "m", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 4, result
    assert "Refused:" in result.out
    assert "mass-deletion: dm: would delete 4 of 5 live entries" in result.out
    as_json = run_cli("plan", "m", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert as_json.code == 4, as_json
    assert [r["rule"] for r in as_json.json["refusals"]] == ["mass-deletion"]
    assert as_json.json["refusals"][0]["overridable"] is True


def test_apply_refuses_and_writes_nothing(tmp_path: Path, server: Sandbox) -> None:
    _manifests(tmp_path, server.url, "[]")
    before = server.snapshot()
    server.reset_calls()
    result = run_cli("apply", "m", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 4, result
    assert "nothing was applied" in result.err
    assert "--force overrides" in result.err
    assert "Traceback" not in result.err
    assert server.snapshot() == before
    assert not any(server.calls[action] for action in WRITES)


def test_force_overrides_and_says_what_it_overrode(tmp_path: Path, server: Sandbox) -> None:
    _manifests(tmp_path, server.url, "['203.0.113.1']")
    result = run_cli("apply", "m", "--yes", "--force", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 0, result
    assert "warning: --force overrides mass-deletion: dm: would delete 4 of 5" in result.err
    assert [f["IpAddress"] for f in server.ipfilters()] == ["203.0.113.1"]


def test_lock_out_is_refused_even_when_deletions_are_few(tmp_path: Path, server: Sandbox) -> None:
    server.set_state(
        {
            **STATE,
            "directmail": {
                **STATE["directmail"],
                "ipfilters": STATE["directmail"]["ipfilters"][:1],
            },
        }
    )
    protection = (
        "---\napiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
        "spec: {account: dm, enabled: true}\n"
    )
    _manifests(tmp_path, server.url, "[]", protection)
    result = run_cli("apply", "m", "--yes", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 4, result
    assert "(emptying, lock-out)" in result.err
    report = result.json
    assert [r["rule"] for r in report["plan"]["refusals"]] == ["emptying", "lock-out"]
    assert report["outcomes"] == []
    assert len(server.ipfilters()) == 1


def test_threshold_from_the_manifest(tmp_path: Path, server: Sandbox) -> None:
    # 4 of 5 is above the default threshold; a list may allow it.
    _manifests(
        tmp_path,
        server.url,
        "['203.0.113.1']",
        "  deletionThreshold: {entries: 5, percent: 30}\n",
    )
    result = run_cli("plan", "m", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 0, result
    assert "Plan: 0 to add, 0 to change, 4 to delete." in result.out


def test_threshold_must_agree_across_unintercept_documents(tmp_path: Path) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    for name, percent in (("a", 30), ("b", 50)):
        write(
            tmp_path / "m" / f"{name}.yaml",
            f"apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {{name: {name}}}\n"
            f"spec:\n  account: sc\n  entries: []\n"
            f"  deletionThreshold: {{percent: {percent}}}\n",
        )
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 3, result
    assert "m/b.yaml:7:22: error: deletionThreshold for account 'sc' differs" in result.err


@pytest.mark.parametrize(
    ("returned", "total", "words"), [(0, 1, "0 of the 1 entry"), (1, 2, "1 of the 2 entries")]
)
def test_incomplete_lists_are_counted_in_the_right_number(
    returned: int, total: int, words: str
) -> None:
    from reconciler.model import Resource
    from reconciler.providers.base import incomplete_list
    from reconciler.safety import Shortfall

    message = Shortfall(Resource.IP_WHITELIST, returned, total).message("dm")
    assert message == f"dm: the provider returned {words} its IP whitelist says it holds"
    error = incomplete_list("aliyun-directmail", "GetIpfilterList", returned, total)
    assert f"the list came back with {words} it counts" in str(error)
