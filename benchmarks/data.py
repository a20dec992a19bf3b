"""Deterministic benchmark data: sandbox live state and the manifests that plan against it.

The unintercept list of size N: the manifest holds N entries in four shapes (email, email with
types, domain with an apiUser, email with apiUser and types). The live list also holds N records:
one in 30 manifest entries is missing live (a create), one in 30 has other types live (an update)
and one in 30 has a live record the manifest does not mention beside it (a delete) — 10 % of N
changes in all, well under the mass-deletion threshold. The whitelist has 10 entries, one of
them different live; protection is on live and in the manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CREATED = "2024-01-01 00:00:00"
ALL_TYPES = [1, 2, 4, 8]
WHITELIST_SIZE = 10

# Credentials come from these variables; ``environment()`` gives the sandbox's values.
DM_KEY_ID_ENV = "BENCH_DM_ACCESS_KEY_ID"
DM_SECRET_ENV = "BENCH_DM_ACCESS_KEY_SECRET"
SC_USER_ENV = "BENCH_SC_API_USER"
SC_KEY_ENV = "BENCH_SC_API_KEY"


def environment() -> dict[str, str]:
    """The variables the generated Account documents read their credentials from."""
    from reconciler import sandbox

    return {
        DM_KEY_ID_ENV: sandbox.ACCESS_KEY_ID,
        DM_SECRET_ENV: sandbox.ACCESS_KEY_SECRET,
        SC_USER_ENV: sandbox.API_USER,
        SC_KEY_ENV: sandbox.API_KEY,
    }


# -- one entry in both forms ----------------------------------------------------------------


def _entry(i: int) -> tuple[str, dict[str, Any]]:
    """Entry ``i`` as manifest YAML lines and as the sandbox record that matches it."""
    shape = i % 4
    if shape == 0:
        return f"    - email: user{i:06d}@example.com\n", _record("all", "email", i, ALL_TYPES)
    if shape == 1:
        yaml = f"    - email: user{i:06d}@example.com\n      types: [bounce, complaint]\n"
        return yaml, _record("all", "email", i, [1, 4])
    if shape == 2:
        yaml = f"    - domain: d{i:06d}.example.net\n      apiUser: marketing\n"
        return yaml, _record("marketing", "domain", i, ALL_TYPES)
    yaml = f"    - email: ops{i:06d}@example.org\n      apiUser: ops\n      types: [bounce]\n"
    return yaml, _record("ops", "email", i, [1])


def _record(api_user: str, target: str, i: int, types: list[int]) -> dict[str, Any]:
    if target == "domain":
        domain, email = f"d{i:06d}.example.net", ""
    else:
        prefix = "ops" if api_user == "ops" else "user"
        domain, email = "", f"{prefix}{i:06d}@example.{'org' if api_user == 'ops' else 'com'}"
    return {
        "apiUserName": api_user,
        "domain": domain,
        "email": email,
        "type": types,
        "createTime": CREATED,
    }


def _stale(i: int) -> dict[str, Any]:
    return _record("all", "email", i, ALL_TYPES) | {"email": f"left{i:06d}@example.org"}


# -- live state and manifests -----------------------------------------------------------------


def _whitelist_address(i: int) -> str:
    return f"203.0.113.{i + 1}"


def live_state(size: int, *, differ: bool = True) -> dict[str, Any]:
    """Sandbox state (state-file format) for an unintercept list of ``size``.

    With ``differ`` false the live list equals the manifest's exactly.
    """
    records: list[dict[str, Any]] = []
    for i in range(size):
        record = _entry(i)[1]
        if differ and i % 30 == 0:
            continue  # missing live: a create
        if differ and i % 30 == 10:
            record["type"] = [2] if record["type"] != [2] else [8]  # an update
        records.append(record)
        if differ and i % 30 == 20:
            records.append(_stale(i))  # not in the manifest: a delete
    addresses = [_whitelist_address(i) for i in range(WHITELIST_SIZE - 1)] + ["198.51.100.7"]
    ipfilters = [
        {"Id": str(10000 + n), "IpAddress": address, "CreateTime": "1700000000"}
        for n, address in enumerate(addresses)
    ]
    return {
        "directmail": {"ip_protection": "1", "next_id": 20000, "ipfilters": ipfilters},
        "sendcloud": {"unintercepts": records},
    }


def expected_changes(size: int) -> int:
    """How many changes ``plan`` shows for ``live_state(size)`` and ``write_manifests(size)``."""
    creates = len(range(0, size, 30))
    updates = len(range(10, size, 30))
    deletes = len(range(20, size, 30))
    return creates + updates + deletes + 2  # and one whitelist create and one delete


def accounts_yaml(url: str, *, requests_per_second: float, concurrency: int) -> str:
    limits = f"{{requestsPerSecond: {requests_per_second:g}, concurrency: {concurrency}}}"
    return f"""\
apiVersion: reconciler/v1
kind: Account
metadata: {{name: bench-dm}}
spec:
  provider: aliyun-directmail
  endpoint: {url}
  credentials:
    accessKeyId: {{env: {DM_KEY_ID_ENV}}}
    accessKeySecret: {{env: {DM_SECRET_ENV}}}
  limits: {limits}
---
apiVersion: reconciler/v1
kind: Account
metadata: {{name: bench-sc}}
spec:
  provider: sendcloud
  endpoint: {url}/apiv2
  credentials:
    apiUser: {{env: {SC_USER_ENV}}}
    apiKey: {{env: {SC_KEY_ENV}}}
  limits: {limits}
"""


DIRECTMAIL_YAML = """\
apiVersion: reconciler/v1
kind: IpProtection
metadata: {name: bench}
spec:
  account: bench-dm
  enabled: true
---
apiVersion: reconciler/v1
kind: IpWhitelist
metadata: {name: bench}
spec:
  account: bench-dm
  entries:
""" + "".join(f"    - {_whitelist_address(i)}\n" for i in range(WHITELIST_SIZE))


def unintercept_yaml(indexes: range, *, prune: bool = True) -> str:
    head = (
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: bench}\n"
        f"spec:\n  account: bench-sc\n  prune: {'true' if prune else 'false'}\n  entries:\n"
    )
    return head + "".join(_entry(i)[0] for i in indexes)


def write_manifests(
    directory: Path,
    url: str,
    size: int,
    *,
    requests_per_second: float = 1000,
    concurrency: int = 8,
    directmail: bool = True,
    prune: bool = True,
) -> list[Path]:
    """Write the manifests for an unintercept list of ``size`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        old.unlink()
    files = {
        "accounts.yaml": accounts_yaml(
            url, requests_per_second=requests_per_second, concurrency=concurrency
        ),
        "unintercepts.yaml": unintercept_yaml(range(size), prune=prune),
    }
    if directmail:
        files["directmail.yaml"] = DIRECTMAIL_YAML
    paths = []
    for name, text in sorted(files.items()):
        path = directory / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
