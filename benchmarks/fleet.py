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
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
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


PROTECTION_OFF_YAML = """\
apiVersion: reconciler/v1
kind: IpProtection
metadata: {name: bench}
spec:
  account: bench-dm
  enabled: false
"""


def write_manifests(
    directory: Path, dm_url: str, sc_urls: list[str], dm_accounts: int, *, off: bool = False
) -> None:
    """The fleet's manifests; with ``off``, each DirectMail account manages only its switch,
    off (no final state of its whitelist can lock anyone out: it need not be read)."""
    directory.mkdir(parents=True, exist_ok=True)
    accounts, documents = [], []
    for i in range(dm_accounts):
        name = f"dm{i:03d}"
        accounts.append(_account(name, "aliyun-directmail", dm_url, DM_RATE))
        documents.append(
            (PROTECTION_OFF_YAML if off else data.DIRECTMAIL_YAML)
            .replace("bench-dm", name)
            .replace("{name: bench}", f"{{name: {name}}}")
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


def bound(cost: dict[str, Any], quota_calls: int, unneeded: int = 0) -> tuple[float, str]:
    """The least time the limits allow for the reads ``cost`` reports but ``unneeded`` of the
    DirectMail key's (``quota_calls`` of them ``GetIpfilterList``: the calls the rules need),
    and how it is set."""
    accounts = cost["accounts"]
    dm_reads = sum(a["reads"] for name, a in accounts.items() if name.startswith("dm"))
    dm_reads -= unneeded
    dm_pace = (dm_reads - 1) / DM_RATE
    # The quota's calls as early as the pace allows, the others in the gaps: call j (from 0)
    # starts no sooner than j / rate, nor than a window after call j - QUOTA_CALLS.
    starts: list[float] = []
    for j in range(quota_calls):
        earliest = j / DM_RATE
        if j >= QUOTA_CALLS:
            earliest = max(earliest, starts[j - QUOTA_CALLS] + QUOTA_WINDOW)
        starts.append(earliest)
    dm_quota = starts[-1] if starts else 0.0
    sc = max((a["reads"] - 1) / SC_RATE for name, a in accounts.items() if name.startswith("sc"))
    sc_all = sum(a["reads"] for name, a in accounts.items() if name.startswith("sc")) / SC_RATE
    how = (
        f"DirectMail key: {dm_reads} reads at {DM_RATE:g} rps = {dm_pace:.1f} s, "
        f"{quota_calls} GetIpfilterList at {QUOTA_CALLS}/min = {dm_quota:.2f} s; each SendCloud "
        f"key {sc:.1f} s (one after another: {sc_all:.0f} s)"
    )
    return max(dm_pace, dm_quota, sc), how


@dataclass
class Fleet:
    """One fleet plan: the child, its bound and how it is set, the number of accounts, the
    calls the sandboxes received and the reads the plan's cost reports, and the connections
    the sandboxes saw (the most open at once over all of them, and accepted in all)."""

    child: Any
    bound: float
    how: str
    accounts: int
    calls: int
    cost_reads: int
    ipfilter_calls: int
    peak_connections: int
    accepted_connections: int


def measure(
    run: Callable[[list[str]], Any],
    workdir: Path,
    *,
    dm_accounts: int = DM_ACCOUNTS,
    sc_accounts: int = SC_ACCOUNTS,
    off: bool = False,
) -> Fleet:
    """Run ``plan --format json`` of the fleet through ``run``. With ``off`` the DirectMail
    accounts manage only their switch, off: the rules need no ``GetIpfilterList``."""
    directory = workdir / f"fleet-{dm_accounts}-{sc_accounts}{'-off' if off else ''}"
    with ExitStack() as stack:
        dm = stack.enter_context(Sandbox(initial_state=data.live_state(0)))
        scs = [
            stack.enter_context(Sandbox(initial_state=data.live_state(SC_ENTRIES)))
            for _ in range(sc_accounts)
        ]
        write_manifests(directory, dm.url, [sc.url for sc in scs], dm_accounts, off=off)
        sampler = _Sampler([dm, *scs])
        with sampler:
            child = run(["plan", str(directory), "--format", "json"])
        ipfilter = dm.calls["GetIpfilterList"]
        calls = sum(sum(box.calls.values()) for box in (dm, *scs))
        accepted = sum(box.connections["accepted"] for box in (dm, *scs))
    needed = 0 if off else dm_accounts
    if ipfilter != needed:
        print(
            f"fleet: {ipfilter} GetIpfilterList calls for {dm_accounts} accounts ({needed} needed)"
        )
    cost = json.loads(child.out)["cost"]
    limit, how = bound(cost, needed, max(0, ipfilter - needed))
    return Fleet(
        child,
        limit,
        how,
        dm_accounts + sc_accounts,
        calls,
        cost["reads"],
        ipfilter,
        sampler.peak,
        accepted,
    )


class _Sampler:
    """The most connections open at once over several sandboxes, sampled every few ms."""

    def __init__(self, boxes: list[Sandbox]) -> None:
        self.boxes = boxes
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, sum(box.connections["open"] for box in self.boxes))

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        # A sandbox's own peak bounds what sampling may have missed between two samples.
        self.peak = max(self.peak, max(box.connections["peak"] for box in self.boxes))


def many(
    cli: Callable[..., list[str]],
    env: dict[str, str],
    cwd: Path,
    workdir: Path,
    size: int,
    files: int,
) -> Any:
    """``plan`` of ``size`` accounts (half DirectMail, half SendCloud, all on one sandbox)
    under ``ulimit -n files``: the child, whatever its exit status."""
    from measure import run_child

    directory = workdir / f"fleet-many-{size}"
    directory.mkdir(parents=True, exist_ok=True)
    with Sandbox(initial_state=data.live_state(SC_ENTRIES)) as box:
        accounts, documents = [], []
        for i in range(size // 2):
            dm, sc = f"dm{i:04d}", f"sc{i:04d}"
            accounts.append(_account(dm, "aliyun-directmail", box.url, 1000))
            accounts.append(_account(sc, "sendcloud", f"{box.url}/apiv2", 1000))
            documents.append(
                PROTECTION_OFF_YAML.replace("bench-dm", dm).replace(
                    "{name: bench}", f"{{name: {dm}}}"
                )
            )
            documents.append(
                data.unintercept_yaml(range(SC_ENTRIES))
                .replace("bench-sc", sc)
                .replace("{name: bench}", f"{{name: {sc}}}")
            )
        (directory / "accounts.yaml").write_text("---\n".join(accounts), encoding="utf-8")
        (directory / "documents.yaml").write_text("---\n".join(documents), encoding="utf-8")
        limited = ["bash", "-c", f'ulimit -n {files} && exec "$@"', "bash"]
        return run_child([*limited, *cli("plan", str(directory))], env, cwd)
