"""Builders for the guarded-apply tests (SPEC §11): sandboxes with steady traffic, manifests
of one guarded DirectMail account each, and the live state to compare before and after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler import sandbox as sb
from reconciler.sandbox import Sandbox
from reconciler.sandbox.demo import demo_state
from tests.cli_helpers import Result, run_cli, write

ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
}
# The demo senders' egress addresses (``traffic.DEFAULT_SENDERS``): newsletter sends most.
NEWSLETTER, NOTIFY, ALERTS = "198.51.100.10", "198.51.100.11", "198.51.100.12"
# Enough messages for a guard's first poll, 10 s after the writes, to judge.
RATE = 300


def box(path: Path, *, protection: bool, whitelist: list[str], rate: float = RATE) -> Sandbox:
    """A sandbox (not started) whose DirectMail account has this switch and whitelist. Its
    traffic fails only when IP protection rejects it, so that the guards' verdicts come from
    the change alone (a passing guard never trips over the model's 1 % of ordinary failures)."""
    state = demo_state()
    state["directmail"] = {
        "ip_protection": "1" if protection else "0",
        "next_id": 500 + len(whitelist),
        "ipfilters": [
            {"Id": str(500 + i), "IpAddress": address, "CreateTime": "1653547140"}
            for i, address in enumerate(whitelist)
        ],
    }
    return Sandbox(
        path, initial_state=state, messages_per_minute=rate, failure_percent=0, invalid_percent=0
    )


def account_yaml(
    name: str,
    endpoint: str,
    *,
    protection: bool | None,
    whitelist: list[str] | None,
    guard: str = "{watch: 1m}",
    check: str = "maxFailedPercent: 2",
    attempts: int = 5,
) -> str:
    """One DirectMail account with its IP documents and a guarded DeliveryCheck."""
    docs = [
        f"""\
apiVersion: reconciler/v1
kind: Account
metadata: {{name: {name}}}
spec:
  provider: aliyun-directmail
  endpoint: {endpoint}
  limits: {{requestsPerSecond: 1000}}
  retry: {{attempts: {attempts}, baseDelaySeconds: 0.01}}
"""
    ]
    if protection is not None:
        docs.append(
            f"""\
apiVersion: reconciler/v1
kind: IpProtection
metadata: {{name: {name}}}
spec: {{account: {name}, enabled: {str(protection).lower()}}}
"""
        )
    if whitelist is not None:
        docs.append(
            f"""\
apiVersion: reconciler/v1
kind: IpWhitelist
metadata: {{name: {name}}}
spec:
  account: {name}
  entries: [{", ".join(whitelist)}]
"""
        )
    docs.append(
        f"""\
apiVersion: reconciler/v1
kind: DeliveryCheck
metadata: {{name: {name}-health}}
spec:
  account: {name}
  window: 24h
  minRequests: 100
  {check}
  maxInvalidPercent: 5
  guard: {guard}
"""
    )
    return "---\n".join(docs)


def manifests(tmp_path: Path, *documents: str) -> str:
    """The documents written as one file; its path."""
    return str(write(tmp_path / "m" / "all.yaml", "---\n".join(documents)))


def live(sandbox: Sandbox) -> tuple[str, list[str]]:
    """The DirectMail switch and the whitelist's addresses, sorted: what a roll-back restores
    (a re-added entry gets a new id from the provider, as on the real service)."""
    return sandbox.ip_protection(), sorted(e["IpAddress"] for e in sandbox.ipfilters())


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    result = run_cli(*args, cwd=tmp_path, env={**ENV, **(env or {})})
    assert "Traceback" not in result.err, result
    assert sb.ACCESS_KEY_SECRET not in result.out + result.err
    return result


def guard_report(result: Result) -> dict[str, Any]:
    """The JSON report's guards by name."""
    return {g["name"]: g for g in result.json["guards"]}
