"""Connections grow with the calls in flight, not with the accounts: the clients of one
endpoint origin share one pool (``providers/pools.py``), and no account's state travels with
a shared connection. The real CLI against the sandbox or a recording server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler import live, sandbox
from reconciler.model import AccountDesired, Limits
from reconciler.providers import pools
from reconciler.sandbox import Sandbox
from tests.builders import DM, SANDBOX_ENV, SC
from tests.cli_helpers import process_env, run_cli, write
from tests.hostile import Answer, HostileServer, Request

STATE = {
    "directmail": {"ip_protection": "0", "next_id": 1, "ipfilters": []},
    "sendcloud": {"unintercepts": []},
}
EMPTY_LIST = {
    "result": True,
    "statusCode": 200,
    "message": "ok",
    "info": {"dataList": [], "count": 0},
}


def _account(name: str, provider: str, endpoint: str, concurrency: int, creds: str = "") -> str:
    return (
        f"apiVersion: reconciler/v1\nkind: Account\nmetadata: {{name: {name}}}\nspec:\n"
        f"  provider: {provider}\n  endpoint: {endpoint}\n{creds}"
        f"  limits: {{requestsPerSecond: 1000, concurrency: {concurrency}}}\n"
    )


def _fleet(directory: Path, url: str, size: int, concurrency: int) -> None:
    """``size`` DirectMail and ``size`` SendCloud accounts, all at ``url``."""
    accounts, documents = [], []
    for i in range(size):
        accounts.append(_account(f"dm{i}", "aliyun-directmail", url, concurrency))
        accounts.append(_account(f"sc{i}", "sendcloud", f"{url}/apiv2", concurrency))
        documents.append(
            f"apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {{name: dm{i}}}\n"
            f"spec: {{account: dm{i}, enabled: false}}\n"
        )
        documents.append(
            f"apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {{name: sc{i}}}\n"
            f"spec: {{account: sc{i}, prune: false, entries: []}}\n"
        )
    write(directory / "accounts.yaml", "---\n".join(accounts))
    write(directory / "documents.yaml", "---\n".join(documents))


def test_a_fleet_at_one_endpoint_opens_the_connections_of_its_calls_in_flight(
    tmp_path: Path,
) -> None:
    """60 accounts, two credentials (the sandbox's one key per provider), two calls in flight
    each: at most four connections, where one pool per account opened sixty."""
    with Sandbox(initial_state=STATE) as server:
        _fleet(tmp_path / "m", server.url, 30, concurrency=2)
        planned = run_cli("plan", "m", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
        assert planned.code == 0, planned
        assert sum(server.calls.values()) == 60
        assert planned.json["cost"]["reads"] == 60
        assert server.connections["accepted"] <= 4, server.connections
        assert server.connections["peak"] <= 4


def test_pools_are_sized_by_the_credentials_in_flight_at_each_origin() -> None:
    creds = {"accessKeyId": "AK1", "accessKeySecret": "s", "apiUser": "u", "apiKey": "k"}
    accounts = [
        replace(DM, name="a", limits=Limits(10, 3)),
        replace(DM, name="b", limits=Limits(10, 5)),  # the same key: its strictest, 3
        replace(SC, name="c", limits=Limits(10, 4)),
        replace(DM, name="d", endpoint="https://dm.us-east-1.aliyuncs.com", limits=Limits(10, 2)),
    ]
    secrets = {a.name: creds for a in accounts}
    most = live.PAGE_WORKERS + live.ACCOUNT_WORKERS
    found = pools.sized(
        accounts, {a.name: pools.caller(a, secrets[a.name]) for a in accounts}, most
    )
    sizes = {where: pool.size for where, pool in found.items()}
    assert sizes == {
        ("https", "dm.aliyuncs.com", None): 3,
        ("https", "api.sendcloud.net", None): 4,
        ("https", "dm.us-east-1.aliyuncs.com", None): 2,
    }
    many = [replace(SC, name=f"s{i}") for i in range(100)]
    callers = {a.name: pools.caller(a, {"apiUser": a.name, "apiKey": "k"}) for a in many}
    apart = pools.sized(many, callers, most)
    assert [pool.size for pool in apart.values()] == [live.PAGE_WORKERS + live.ACCOUNT_WORKERS]


def test_an_endpoint_read_in_full_keeps_no_connection_open(tmp_path: Path) -> None:
    """Accounts at several endpoints: once each endpoint's accounts are read, its idle
    connections are closed, so a fleet of many endpoints does not hold a socket to each."""
    with Sandbox(initial_state=STATE) as one, Sandbox(initial_state=STATE) as two:
        wants = [
            AccountDesired(replace(SC, name=f"sc{i}", endpoint=f"{box.sendcloud_endpoint}"),
                           unintercepts={})
            for i, box in enumerate([one, one, two])
        ]  # fmt: skip
        secrets = {"apiUser": sandbox.API_USER, "apiKey": sandbox.API_KEY}
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(live, "resolve_all", lambda accounts: {a.name: secrets for a in accounts})
            with live.connect(wants, announce=False) as (used, clients):
                live.read(used, clients)
                deadline = time.monotonic() + 5
                while (one.connections["open"] or two.connections["open"]) and (
                    time.monotonic() < deadline
                ):
                    time.sleep(0.01)
                assert one.connections["open"] == two.connections["open"] == 0
                assert one.connections["accepted"] >= 1 and two.connections["accepted"] >= 1


def test_shared_connections_carry_no_account_state(tmp_path: Path) -> None:
    """Three SendCloud accounts with their own credentials at one endpoint, one call in flight
    each, through one pool: every request carries its own account's apiUser and apiKey, and a
    cookie the server set for one account is never sent for another."""

    def script(request: Request) -> Answer:
        user, start = request.form.get("apiUser", ""), int(request.form.get("start", "0"))
        rows = [
            {"apiUserName": "all", "domain": "", "email": f"u{i}@example.com",
             "type": [1, 2, 4, 8], "createTime": "2024-01-01 00:00:00"}
            for i in range(start, min(start + 100, 150))
        ]  # fmt: skip
        answer = {**EMPTY_LIST, "info": {"dataList": rows, "count": 150}}
        headers = (("Content-Type", "application/json"), ("Set-Cookie", f"session={user}"))
        return Answer(200, json.dumps(answer).encode(), headers)

    env = dict(SANDBOX_ENV)
    accounts = []
    for i in range(3):
        env[f"SC_USER_{i}"], env[f"SC_KEY_{i}"] = f"user{i}", f"key{i}-secret"
        creds = f"  credentials: {{apiUser: {{env: SC_USER_{i}}}, apiKey: {{env: SC_KEY_{i}}}}}\n"
        accounts.append((f"sc{i}", creds))
    with HostileServer(script=script) as server:
        write(
            tmp_path / "m" / "accounts.yaml",
            "---\n".join(
                _account(name, "sendcloud", f"{server.url}/apiv2", 1, creds)
                for name, creds in accounts
            ),
        )
        write(
            tmp_path / "m" / "lists.yaml",
            "---\n".join(
                f"apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {{name: {n}}}\n"
                f"spec: {{account: {n}, prune: false, entries: []}}\n"
                for n, _ in accounts
            ),
        )
        planned = run_cli("plan", "m", cwd=tmp_path, env=env)
        assert planned.code == 0, planned
        requests = list(server.requests)
    assert len(requests) == 6  # two pages each: the second after the first set a cookie
    assert sum(1 for request in requests if "cookie" in request.headers) == 3
    for request in requests:
        user = request.form["apiUser"]
        assert request.form["apiKey"] == f"key{user[-1]}-secret"
        assert request.headers.get("cookie", f"session={user}") == f"session={user}"


@pytest.mark.skipif(sys.platform == "win32", reason="ulimit is a POSIX shell's")
def test_a_plan_of_a_thousand_accounts_runs_under_256_descriptors(tmp_path: Path) -> None:
    """A real process (the limit is the process's): 500 DirectMail and 500 SendCloud accounts
    on the embedded sandbox, whose own sockets count against the same limit."""
    _fleet(tmp_path / "m", "https://unused.example", 500, concurrency=4)
    command = f'ulimit -n 256 && exec "{sys.executable}" -m reconciler plan m --sandbox'
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "No changes. Live state matches the manifests." in result.stdout
    assert "Traceback" not in result.stderr
