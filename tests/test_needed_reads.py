"""A plan reads only what its rules need (SPEC §5 rule 3), and its cost is the calls it made:
the real CLI against the sandbox, counting the calls the sandbox receives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import accounts_yaml, run_cli, write


def _state(protection: str, *addresses: str) -> dict[str, Any]:
    ipfilters = [
        {"Id": str(i), "IpAddress": a, "CreateTime": "1653547140"}
        for i, a in enumerate(addresses, 1)
    ]
    return {
        "directmail": {"ip_protection": protection, "next_id": 20, "ipfilters": ipfilters},
        "sendcloud": {"unintercepts": []},
    }


def _protection(account: str, enabled: str) -> str:
    return (
        "apiVersion: reconciler/v1\nkind: IpProtection\n"
        f"metadata: {{name: {account}}}\nspec: {{account: {account}, enabled: {enabled}}}\n"
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "state.json", initial_state=_state("1", "203.0.113.7")) as running:
        yield running


def _manifests(tmp_path: Path, url: str, enabled: str) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(url))
    write(tmp_path / "m" / "dm.yaml", _protection("dm", enabled))


def _plan_json(tmp_path: Path, *args: str) -> Any:
    result = run_cli("plan", "m", "--format", "json", *args, cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 0, result
    return result.json


@pytest.mark.parametrize("enabled", ["false", "False"])
def test_switching_protection_off_reads_no_whitelist(
    tmp_path: Path, server: Sandbox, enabled: str
) -> None:
    """Protection ends off and no IpWhitelist document: no final whitelist can lock anyone out,
    so the plan (which reads while the manifests load) makes one GetIpProtection, and its cost
    says one read."""
    _manifests(tmp_path, server.url, enabled)
    planned = _plan_json(tmp_path)
    assert dict(server.calls) == {"GetIpProtection": 1}
    assert planned["cost"]["reads"] == planned["cost"]["accounts"]["dm"]["reads"] == 1
    assert [(c["resource"], c["action"]) for c in planned["changes"]] == [
        ("ip_protection", "update")
    ]
    server.reset_calls()
    applied = run_cli("apply", "m", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert applied.code == 0, applied
    assert dict(server.calls) == {"GetIpProtection": 1, "UpdateIpProtection": 1}
    assert server.ip_protection() == "0"


def test_switching_protection_on_still_reads_the_whitelist(tmp_path: Path, server: Sandbox) -> None:
    server.set_state(_state("0", "203.0.113.7"))
    _manifests(tmp_path, server.url, "true")
    planned = _plan_json(tmp_path)
    assert dict(server.calls) == {"GetIpProtection": 1, "GetIpfilterList": 1}
    assert planned["cost"]["reads"] == 2


def test_a_saved_plan_that_switches_off_is_applied_without_reading_the_whitelist(
    tmp_path: Path, server: Sandbox
) -> None:
    """What the plan saw is recorded without the whitelist it did not read; applying it reads
    the same (no whitelist), finds nothing stale, and switches protection off — whatever
    happened to the whitelist meanwhile."""
    _manifests(tmp_path, server.url, "false")
    made = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env=SANDBOX_ENV)
    assert made.code == 0, made
    saved = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    assert set(saved["live"]["dm"]) == {"ip_protection", "digest"}
    assert saved["observed"]["dm"].get("whitelist") is None
    server.set_state(_state("1"))  # the whitelist emptied: no rule depends on it
    server.reset_calls()
    applied = run_cli("apply", "--plan", "plan.json", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert applied.code == 0, applied
    assert dict(server.calls) == {"GetIpProtection": 1, "UpdateIpProtection": 1}
    assert server.ip_protection() == "0"


def test_a_fleet_costs_the_calls_it_made(tmp_path: Path, server: Sandbox) -> None:
    """Ten DirectMail accounts on one key, switched off or on, and one SendCloud account: the
    plan's cost is exactly the calls the sandbox received, with the early read (plan) and
    without it (apply)."""
    accounts = accounts_yaml(server.url).split("---\n")
    dm, sc = accounts[0], accounts[1]
    names = [f"dm{i}" for i in range(10)]
    write(
        tmp_path / "m" / "accounts.yaml",
        "---\n".join([*(dm.replace("{name: dm}", f"{{name: {n}}}") for n in names), sc]),
    )
    write(
        tmp_path / "m" / "dm.yaml",
        "---\n".join(_protection(n, "true" if i % 3 == 0 else "false") for i, n in enumerate(names))
        + "---\napiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec: {account: sc, entries: []}\n",
    )
    planned = _plan_json(tmp_path)
    made = dict(server.calls)
    assert made == {"GetIpProtection": 10, "GetIpfilterList": 4, "unintercept/list": 1}
    assert planned["cost"]["reads"] == sum(made.values())
    assert {n: planned["cost"]["accounts"][n]["reads"] for n in names} == {
        n: 2 if i % 3 == 0 else 1 for i, n in enumerate(names)
    }
    server.reset_calls()
    # apply reads without the early read: the same calls.
    applied = run_cli("apply", "m", "--yes", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert applied.code == 0, applied
    reads = {k: v for k, v in server.calls.items() if k != "UpdateIpProtection"}
    assert reads == {"GetIpProtection": 10, "GetIpfilterList": 4, "unintercept/list": 1}
    assert applied.json["plan"]["cost"]["reads"] == sum(reads.values())
