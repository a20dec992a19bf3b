"""The fleet measure: ``plan`` of 200 accounts against the bound their limits set.

100 DirectMail accounts share one AccessKeyId (one sandbox, its one key): to the provider they
are one caller, paced at one ``requestsPerSecond`` and held to one ``GetIpfilterList`` quota of
60 calls a minute, so their 200 reads cannot take less than a minute. 100 SendCloud accounts,
each its own caller (its own sandbox: another endpoint), read a list of ``SC_ENTRIES`` at
their own pace, side by side. The bound is the slowest caller's: its calls at its pace, or its
quota, whichever is longer; the calls are those the plan's own ``cost`` reports.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import data

from reconciler.sandbox import Sandbox

DM_ACCOUNTS = 100
SC_ACCOUNTS = 100
SC_ENTRIES = 500
DM_RATE = 20.0
SC_RATE = 10.0
CONCURRENCY = 4
QUOTA_CALLS, QUOTA_WINDOW = 60, 60.0  # DirectMail's GetIpfilterList, per key


def _account(name: str, provider: str, url: str, rate: float) -> str:
    if provider == "aliyun-directmail":
        creds = (
            f"accessKeyId: {{env: {data.DM_KEY_ID_ENV}}}, "
            f"accessKeySecret: {{env: {data.DM_SECRET_ENV}}}"
        )
    else:
        creds = f"apiUser: {{env: {data.SC_USER_ENV}}}, apiKey: {{env: {data.SC_KEY_ENV}}}"
    return (
        f"apiVersion: reconciler/v1\nkind: Account\nmetadata: {{name: {name}}}\nspec:\n"
        f"  provider: {provider}\n  endpoint: {url}\n  credentials: {{{creds}}}\n"
        f"  limits: {{requestsPerSecond: {rate:g}, concurrency: {CONCURRENCY}}}\n"
    )


def write_manifests(directory: Path, dm_url: str, sc_urls: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    accounts, documents = [], []
    for i in range(DM_ACCOUNTS):
        name = f"dm{i:03d}"
        accounts.append(_account(name, "aliyun-directmail", dm_url, DM_RATE))
        documents.append(
            data.DIRECTMAIL_YAML.replace("bench-dm", name).replace(
                "{name: bench}", f"{{name: {name}}}"
            )
        )
    for i, url in enumerate(sc_urls):
        name = f"sc{i:03d}"
        accounts.append(_account(name, "sendcloud", f"{url}/apiv2", SC_RATE))
        yaml = data.unintercept_yaml(range(SC_ENTRIES))
        documents.append(
            yaml.replace("bench-sc", name).replace("{name: bench}", f"{{name: {name}}}")
        )
    (directory / "accounts.yaml").write_text("---\n".join(accounts), encoding="utf-8")
    (directory / "documents.yaml").write_text("---\n".join(documents), encoding="utf-8")


def bound(cost: dict[str, Any]) -> tuple[float, str]:
    """The least time the limits allow for the reads ``cost`` reports, and how it is set."""
    accounts = cost["accounts"]
    dm_reads = sum(a["reads"] for name, a in accounts.items() if name.startswith("dm"))
    quota_calls = DM_ACCOUNTS  # one GetIpfilterList per account
    dm_pace = (dm_reads - 1) / DM_RATE
    # The quota's calls as early as the pace allows, the others in the gaps: call j (from 0)
    # starts no sooner than j / rate, nor than a window after call j - QUOTA_CALLS.
    starts: list[float] = []
    for j in range(quota_calls):
        earliest = j / DM_RATE
        if j >= QUOTA_CALLS:
            earliest = max(earliest, starts[j - QUOTA_CALLS] + QUOTA_WINDOW)
        starts.append(earliest)
    dm_quota = starts[-1]
    sc = max((a["reads"] - 1) / SC_RATE for name, a in accounts.items() if name.startswith("sc"))
    sc_all = sum(a["reads"] for name, a in accounts.items() if name.startswith("sc")) / SC_RATE
    how = (
        f"DirectMail key: {dm_reads} reads at {DM_RATE:g} rps = {dm_pace:.1f} s, "
        f"{quota_calls} GetIpfilterList at {QUOTA_CALLS}/min = {dm_quota:.2f} s; each SendCloud "
        f"key {sc:.1f} s (one after another: {sc_all:.0f} s)"
    )
    return max(dm_pace, dm_quota, sc), how


def measure(run: Callable[[list[str]], Any], workdir: Path) -> tuple[Any, float, str, int]:
    """Run ``plan --format json`` of the fleet through ``run``; the child, the bound, how the
    bound is set, and the number of accounts."""
    directory = workdir / "fleet"
    with ExitStack() as stack:
        dm = stack.enter_context(Sandbox(initial_state=data.live_state(0)))
        sc_urls = [
            stack.enter_context(Sandbox(initial_state=data.live_state(SC_ENTRIES))).url
            for _ in range(SC_ACCOUNTS)
        ]
        write_manifests(directory, dm.url, sc_urls)
        child = run(["plan", str(directory), "--format", "json"])
        calls = dm.calls["GetIpfilterList"]
    if calls != DM_ACCOUNTS:
        raise SystemExit(f"fleet: {calls} GetIpfilterList calls for {DM_ACCOUNTS} accounts")
    cost = json.loads(child.out)["cost"]
    limit, how = bound(cost)
    return child, limit, how, DM_ACCOUNTS + SC_ACCOUNTS
