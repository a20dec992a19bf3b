"""Rule 3 on the account's final state, declared senders, and updates counted as deletions
(SPEC §5): the real CLI against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.model import AccountDesired, AccountLive, IpEntry
from reconciler.plan import diff
from reconciler.sandbox import Sandbox
from reconciler.sandbox.faults import Faults
from tests.builders import DM, SANDBOX_ENV, ips, live_ips
from tests.cli_helpers import accounts_yaml, run_cli, write

WRITES = ("AddIpfilter", "DeleteIpfilterByEdmId", "UpdateIpProtection")


def _record(email: str, types: list[int]) -> dict[str, Any]:
    return {"apiUserName": "all", "domain": "", "email": email, "type": types,
            "createTime": "2024-01-01 00:00:00"}  # fmt: skip


def _state(protection: str, *addresses: str) -> dict[str, Any]:
    return {
        "directmail": {
            "ip_protection": protection,
            "next_id": 20,
            "ipfilters": [
                {"Id": str(i), "IpAddress": a, "CreateTime": "1653547140"}
                for i, a in enumerate(addresses, 1)
            ],
        },
        "sendcloud": {
            "unintercepts": [
                _record("a@example.com", [1, 2, 4, 8]),
                _record("b@example.com", [1, 2, 4, 8]),
                _record("c@example.com", [1, 2, 4, 8]),
                _record("change@example.com", [1]),
            ]
        },
    }


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def server(tmp_path: Path, faults: Faults) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "state.json", faults=faults, initial_state=_state("0")) as running:
        yield running


def _setup(server: Sandbox, protection: str, *addresses: str) -> None:
    server.set_state(_state(protection, *addresses))
    server.reset_calls()


PROTECTION = "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {{name: p}}\nspec:\n{}"
WHITELIST = (
    "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {{name: w}}\n"
    "spec:\n  account: dm\n  entries: {}\n"
)


def _manifests(tmp_path: Path, url: str, *documents: str) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(url))
    write(tmp_path / "m" / "dm.yaml", "---\n".join(documents))


def _protection(enabled: bool, senders: str | None = None) -> str:
    spec = f"  account: dm\n  enabled: {str(enabled).lower()}\n"
    if senders is not None:
        spec += f"  senders: {senders}\n"
    return PROTECTION.format(spec)


def _rules(result: Any) -> list[str]:
    return [r["rule"] for r in result.json["refusals"]]


# -- protection managed, whitelist not ----------------------------------------------------


def test_switching_on_with_no_whitelist_document_reads_the_whitelist(
    tmp_path: Path, server: Sandbox
) -> None:
    _setup(server, "0")
    _manifests(tmp_path, server.url, _protection(True))
    result = run_cli("apply", "m", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 4, result
    assert "lock-out" in result.err
    assert "Traceback" not in result.err
    assert server.calls["GetIpfilterList"] >= 1
    assert not any(server.calls[action] for action in WRITES)
    assert server.snapshot()["directmail"]["ip_protection"] == "0"
    # With a live entry the same manifests apply.
    _setup(server, "0", "203.0.113.7")
    result = run_cli("apply", "m", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 0, result
    assert server.snapshot()["directmail"]["ip_protection"] == "1"
    assert len(server.ipfilters()) == 1  # an unmanaged whitelist is read, never written


# -- whitelist managed, protection not ----------------------------------------------------


def test_emptying_the_whitelist_under_unmanaged_protection_is_a_lock_out(
    tmp_path: Path, server: Sandbox
) -> None:
    _setup(server, "1", "203.0.113.7")
    _manifests(tmp_path, server.url, WHITELIST.format("[]"))
    planned = run_cli("plan", "m", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert planned.code == 4, planned
    assert _rules(planned) == ["emptying", "lock-out"]
    assert server.calls["GetIpProtection"] == 1
    server.reset_calls()
    forced = run_cli("apply", "m", "--yes", "--force", cwd=tmp_path, env=SANDBOX_ENV)
    assert forced.code == 0, forced
    assert "--force overrides lock-out" in forced.err
    assert server.calls["GetIpProtection"] == 1
    assert not server.calls["UpdateIpProtection"]
    # With protection off, emptying is only emptying.
    _setup(server, "0", "203.0.113.7")
    planned = run_cli("plan", "m", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert planned.code == 4, planned
    assert _rules(planned) == ["emptying"]


# -- declared senders ---------------------------------------------------------------------


def test_an_uncovered_sender_is_refused_with_its_position(tmp_path: Path, server: Sandbox) -> None:
    _setup(server, "0", "203.0.113.7")
    _manifests(
        tmp_path,
        server.url,
        _protection(True, "[203.0.113.7, 198.51.100.9]"),
        WHITELIST.format("[203.0.113.7]"),
    )
    result = run_cli("apply", "m", "--yes", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 4, result
    [refusal] = result.json["plan"]["refusals"]
    assert refusal["rule"] == "lock-out"
    assert "sender 198.51.100.9" in refusal["message"]
    assert "m/dm.yaml:7:" in refusal["message"]
    assert "203.0.113.7 " not in refusal["message"]
    assert not any(server.calls[action] for action in WRITES)


def test_senders_inside_cidr_and_range_entries_are_covered(tmp_path: Path, server: Sandbox) -> None:
    _setup(server, "0")
    _manifests(
        tmp_path,
        server.url,
        _protection(True, "[198.51.100.9, 192.0.2.12-192.0.2.14]"),
        WHITELIST.format("[198.51.100.0/24, 192.0.2.10-192.0.2.20]"),
    )
    result = run_cli("apply", "m", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 0, result
    assert server.snapshot()["directmail"]["ip_protection"] == "1"


def test_senders_against_an_unmanaged_live_whitelist(tmp_path: Path, server: Sandbox) -> None:
    _setup(server, "0", "203.0.113.7")
    _manifests(tmp_path, server.url, _protection(True, "[198.51.100.9]"))
    result = run_cli("plan", "m", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 4, result
    assert _rules(result) == ["lock-out"]


@pytest.mark.parametrize(
    ("senders", "message"),
    [
        ("[10.0.0.300]", "m/dm.yaml:7:13: error: invalid sender '10.0.0.300'"),
        ("203.0.113.7", "m/dm.yaml:7:12: error: expected a list"),
    ],
)
def test_invalid_senders_are_errors_with_positions(
    tmp_path: Path, senders: str, message: str
) -> None:
    _manifests(tmp_path, "http://127.0.0.1:9", _protection(True, senders))
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 3, result
    assert message in result.err


def test_senders_unit_table() -> None:
    desired = AccountDesired(
        DM,
        protection=True,
        whitelist=ips("203.0.113.0/28"),
        senders=(IpEntry("203.0.113.15"), IpEntry("203.0.113.16")),
    )
    plan = diff([desired], {"dm": AccountLive(protection=False, whitelist=live_ips())})
    [refusal] = plan.refusals
    assert "sender 203.0.113.16" in refusal.message


# -- an update whose re-add failed ----------------------------------------------------------


def test_report_says_deleted_when_re_adding_failed(
    tmp_path: Path, server: Sandbox, faults: Faults
) -> None:
    _setup(server, "0")
    write(
        tmp_path / "m" / "accounts.yaml",
        accounts_yaml(server.url).replace(
            "  endpoint: " + server.url + "/apiv2\n",
            "  endpoint: " + server.url + "/apiv2\n"
            "  retry: {attempts: 2, baseDelaySeconds: 0.01}\n",
        ),
    )
    entries = "".join(f"    - email: {e}@example.com\n" for e in ("a", "b", "c", "change"))
    write(
        tmp_path / "m" / "sc.yaml",
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        f"spec:\n  account: sc\n  entries:\n{entries}",
    )
    faults.script("unintercept/add", "throttling", "throttling", "throttling")
    result = run_cli("apply", "m", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 1, result
    assert "deleted; re-adding failed" in result.out
    assert "Traceback" not in result.err
    as_json = run_cli("plan", "m", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert as_json.json["summary"] == {"create": 1, "update": 0, "delete": 0}


# -- the half read only for rule 3 is part of a saved plan's live state -------------------


def test_a_saved_plan_is_stale_when_the_unmanaged_whitelist_was_emptied(
    tmp_path: Path, server: Sandbox
) -> None:
    """Issue 11: the plan that switches protection on was reviewed with 203.0.113.7 listed;
    someone empties the whitelist: applying it now would lock mail out."""
    _setup(server, "0", "203.0.113.7")
    _manifests(tmp_path, server.url, _protection(True))
    made = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env=SANDBOX_ENV)
    assert made.code == 0, made
    _setup(server, "0")
    refused = run_cli("apply", "--plan", "plan.json", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert refused.code == 4, refused
    assert "live state changed since it was made" in refused.err
    assert "dm  ip_whitelist 203.0.113.7: was present (id 1), now absent" in refused.err
    assert not any(server.calls[action] for action in WRITES), server.calls
    assert server.snapshot()["directmail"]["ip_protection"] == "0"
    # The whitelist back as it was: the reviewed plan applies.
    _setup(server, "0", "203.0.113.7")
    applied = run_cli("apply", "--plan", "plan.json", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert applied.code == 0, applied
    assert server.snapshot()["directmail"]["ip_protection"] == "1"


def test_a_saved_plan_is_stale_when_the_unmanaged_switch_was_turned_on(
    tmp_path: Path, server: Sandbox
) -> None:
    """The plan that empties the whitelist was reviewed with protection off, refused only as
    emptying; protection was switched on since: forcing it now would lock mail out."""
    _setup(server, "0", "203.0.113.7")
    _manifests(tmp_path, server.url, WHITELIST.format("[]"))
    made = run_cli(
        "plan", "m", "--out", "plan.json", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV
    )
    assert made.code == 4, made
    assert _rules(made) == ["emptying"]
    _setup(server, "1", "203.0.113.7")
    refused = run_cli(
        "apply", "--plan", "plan.json", "--yes", "--force", cwd=tmp_path, env=SANDBOX_ENV
    )
    assert refused.code == 4, refused
    assert "live state changed since it was made" in refused.err
    assert "dm  ip_protection: enabled false -> true" in refused.err
    assert not any(server.calls[action] for action in WRITES), server.calls
    assert [f["IpAddress"] for f in server.ipfilters()] == ["203.0.113.7"]
