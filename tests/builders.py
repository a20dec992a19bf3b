"""Builders shared by the test modules: accounts, entries and the sandbox's credentials.

Tests import these from here, never from one another.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler import sandbox as sb
from reconciler.model import ALL_TYPES, Account, IpEntry, Provider, Target, UninterceptEntry
from reconciler.sandbox import Sandbox
from reconciler.savedplan.plantrust import seal
from tests.cli_helpers import accounts_yaml, write

DM = Account("dm", Provider.ALIYUN_DM, "https://dm.aliyuncs.com", region="cn-hangzhou")
SC = Account("sc", Provider.SENDCLOUD, "https://api.sendcloud.net/apiv2")

# The environment a CLI run needs to reach a sandbox started by the test itself.
SANDBOX_ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
    "SENDCLOUD_API_USER": sb.API_USER,
    "SENDCLOUD_API_KEY": sb.API_KEY,
}


def ips(*addresses: str) -> dict[str, IpEntry]:
    return {a: IpEntry(a) for a in addresses}


def live_ips(*pairs: tuple[str, str]) -> list[IpEntry]:
    return [IpEntry(address, id=ident, raw=address) for ident, address in pairs]


def email(value: str, api_user: str = "all", types: frozenset[int] = ALL_TYPES) -> UninterceptEntry:
    return UninterceptEntry(api_user, Target.EMAIL, value, types)


def domain(
    value: str, api_user: str = "all", types: frozenset[int] = ALL_TYPES
) -> UninterceptEntry:
    return UninterceptEntry(api_user, Target.DOMAIN, value, types)


# Every action that writes to a provider, as counted in ``Sandbox.calls``.
WRITES = (
    "AddIpfilter",
    "DeleteIpfilterByEdmId",
    "UpdateIpProtection",
    "unintercept/add",
    "unintercept/delete",
)
# Against the sandbox's demo state: + 203.0.113.7, protection on, - 203.0.113.99 (id 10084);
# vip@ types bounce -> bounce,complaint, - old-list@ (marketing). Entries under
# *@ignored.example are left alone.
DEMO_MANIFESTS = """\
apiVersion: reconciler/v1
kind: IpProtection
metadata: {name: p}
spec: {account: dm, enabled: true}
---
apiVersion: reconciler/v1
kind: IpWhitelist
metadata: {name: w}
spec:
  account: dm
  entries: [198.51.100.0/24, 203.0.113.7]
---
apiVersion: reconciler/v1
kind: UninterceptList
metadata: {name: u}
spec:
  account: sc
  ignore: ["*@ignored.example"]
  entries:
    - email: ceo@example.com
    - {email: vip@example.com, types: [bounce, complaint]}
    - {domain: partner.example, apiUser: marketing, types: [bounce, block]}
"""


def demo_manifests(directory: Path, server: Sandbox, extra: str = "") -> Path:
    """``accounts.yaml`` for ``server`` and ``DEMO_MANIFESTS`` (+ ``extra``) in ``directory``."""
    write(directory / "accounts.yaml", accounts_yaml(server.url))
    write(directory / "lists.yaml", DEMO_MANIFESTS + extra)
    return directory


def save_mass_deletion_plan(root: Path, sandbox: Sandbox) -> dict[str, Any]:
    """``plan --out root/plan.json`` keeping only ceo@ of the sandbox's 4 live unintercept
    entries: a mass deletion (overridable), so the plan is refused (exit 4) yet saved."""
    from tests.cli_helpers import run_cli

    write(root / "m" / "accounts.yaml", accounts_yaml(sandbox.url))
    write(
        root / "m" / "u.yaml",
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec:\n  account: sc\n  entries: [{email: ceo@example.com}]\n",
    )
    made = run_cli("plan", "m", "--out", "plan.json", cwd=root, env=SANDBOX_ENV)
    assert made.code == 4, made
    saved: dict[str, Any] = json.loads((root / "plan.json").read_text(encoding="utf-8"))
    return saved


def save_edited_plan(
    path: Path, document: dict[str, Any], edit: Callable[[dict[str, Any]], None], reseal: str
) -> Path:
    """Write an edited copy of ``document``: ``reseal`` is "no" (the digest is left as it
    was), "digest" (recomputed, the MAC left as it was) or "drop-mac" (recomputed, no MAC):
    what someone who knows the format but not the key can do."""
    edited = json.loads(json.dumps(document))
    edit(edited)
    if reseal != "no":
        mac = edited.get("mac")
        seal(edited, None)
        if reseal == "digest" and mac is not None:
            edited["mac"] = mac
    return write(path, json.dumps(edited, indent=2))
