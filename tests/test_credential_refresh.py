"""Keys obtained at run time are renewed before they expire: an apply that outlives its STS
keys still succeeds, against a sandbox whose STS grants keys for two seconds (its
``sts_min_duration`` lowered, ``RECONCILER_STS_DURATION`` asking for them) and whose calls are
slowed by its latency fault."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler.credentials.refresh import KeyHolder, TemporaryKeys
from reconciler.credentials.resolve import resolve_all
from reconciler.errors import InputError, ProviderError
from reconciler.model import Account, CredentialSource, Provider, RoleRef, SecretRef
from reconciler.providers.directmail import DirectMailClient
from reconciler.sandbox import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Sandbox, sts
from reconciler.sandbox.faults import Faults
from tests.cli_helpers import run_cli, write

ENTRIES = [f"203.0.113.{n}" for n in range(10, 16)]


def _manifests(root: Path, endpoint: str) -> None:
    write(
        root / "m" / "all.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: prod}\n"
        f"spec:\n  provider: aliyun-directmail\n  endpoint: {endpoint}\n"
        "  limits: {requestsPerSecond: 1000, concurrency: 1}\n"
        "  credentials: {chain: default}\n---\n"
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
        f"spec: {{account: prod, prune: false, entries: [{', '.join(ENTRIES)}]}}\n",
    )


def _env(tmp_path: Path, sandbox: Sandbox, seconds: int) -> dict[str, str]:
    token = write(tmp_path / "oidc" / "token", sts.OIDC_TOKEN + "\n")
    return {
        "ALIBABA_CLOUD_ROLE_ARN": sts.ROLE_WRITE,
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": sts.OIDC_PROVIDER_ARN,
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(token),
        "ALIBABA_CLOUD_STS_ENDPOINT": sandbox.url,
        "RECONCILER_STS_DURATION": str(seconds),
        "HOME": str(tmp_path / "home"),
    }


def test_apply_that_outlives_its_keys_renews_them(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.keys.min_duration = 1
    sandbox.faults = Faults(latency=0.3)
    _manifests(tmp_path, sandbox.directmail_endpoint)
    started = time.monotonic()
    result = run_cli("apply", "m", "--yes", "-v", cwd=tmp_path, env=_env(tmp_path, sandbox, 2))
    took = time.monotonic() - started
    assert result.code == 0, result
    assert took > 2.0  # longer than one key's life: the test shows what it claims
    assert sandbox.calls["AssumeRoleWithOIDC"] >= 2
    used = [key for key, calls in sandbox.keys.used.items() if key.startswith("STS.")]
    assert len(used) >= 2  # the calls were signed with more than one key
    assert "InvalidSecurityToken" not in result.out + result.err
    with sandbox.keys._lock:
        issued = [v for k in sandbox.keys._temporary.values() for v in (k.secret, k.token)]
    for secret in issued:
        assert secret not in result.out + result.err
    sandbox.faults = Faults()
    again = run_cli(
        "plan", "m", "--detailed-exitcode", cwd=tmp_path, env=_env(tmp_path, sandbox, 2)
    )
    assert again.code == 0, again  # every entry was added


def test_sandbox_refuses_expired_keys_as_the_provider_does(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without renewal the same run fails midway with the provider's error: the sandbox's
    expiry is real, so the test above can fail."""
    monkeypatch.setattr(KeyHolder, "current", lambda self: self._keys)
    monkeypatch.setattr(KeyHolder, "refused", lambda self, keys: False)
    sandbox.keys.min_duration = 1
    sandbox.faults = Faults(latency=0.3)
    _manifests(tmp_path, sandbox.directmail_endpoint)
    result = run_cli("apply", "m", "--yes", cwd=tmp_path, env=_env(tmp_path, sandbox, 2))
    assert result.code == 1, result
    assert "InvalidSecurityToken.Expired" in result.out + result.err
    assert sandbox.calls["AssumeRoleWithOIDC"] == 1


def test_sandbox_grants_durations_from_its_minimum(tmp_path: Path, sandbox: Sandbox) -> None:
    _manifests(tmp_path, sandbox.directmail_endpoint)
    refused = run_cli("plan", "m", cwd=tmp_path, env=_env(tmp_path, sandbox, 60))
    assert refused.code == 1, refused
    assert "InvalidParameter.DurationSeconds" in refused.err
    assert "between 900 and 43200" in refused.err
    wrong = run_cli(
        "plan",
        "m",
        cwd=tmp_path,
        env={**_env(tmp_path, sandbox, 1), "RECONCILER_STS_DURATION": "1h"},
    )
    assert wrong.code == 3, wrong
    assert "RECONCILER_STS_DURATION: expected a number of seconds" in wrong.err


def test_keys_the_provider_calls_expired_are_renewed_and_the_call_sent_again(
    sandbox: Sandbox,
) -> None:
    """A provider clock ahead of ours: keys we think valid for an hour are refused as expired.
    The refused call was not carried out; it is sent once more with renewed keys."""

    def issued(now: datetime) -> TemporaryKeys:
        key_id, key = sandbox.keys.issue(sts.ROLE_WRITE, 3600, now)
        keys = {"accessKeyId": key_id, "accessKeySecret": key.secret, "securityToken": key.token}
        return TemporaryKeys(keys, datetime.now(timezone.utc) + timedelta(hours=1))

    stale = issued(datetime.now(timezone.utc) - timedelta(hours=2))
    stale.renew = lambda: issued(datetime.now(timezone.utc))
    account = Account("prod", Provider.ALIYUN_DM, sandbox.directmail_endpoint)
    with DirectMailClient(account, stale) as client:
        assert client.get_ip_protection() in (True, False)
        assert client._keys.renewals == 1
        assert client.get_ip_protection() in (True, False)
        assert client._keys.renewals == 1
    assert sandbox.calls["GetIpProtection"] == 3  # refused, sent again, then once more
    fresh = [k for k in sandbox.keys.used if k != stale["accessKeyId"]]
    assert len(fresh) == 1 and sandbox.keys.used[fresh[0]] == 2


def _expiring(seconds: float) -> TemporaryKeys:
    keys = TemporaryKeys(
        {"accessKeyId": "STS.a", "accessKeySecret": "s", "securityToken": "t"},
        datetime.now(timezone.utc) + timedelta(seconds=seconds),
    )
    return keys


def test_concurrent_callers_renew_once() -> None:
    renewals: list[int] = []
    gate = threading.Event()

    def renew() -> TemporaryKeys:
        renewals.append(1)
        gate.wait(1)  # the others arrive while this renewal is under way
        return _expiring(3600)

    old = _expiring(1.0)  # not due yet: renewed within a quarter of its life (0.25 s)
    old.renew = renew
    holder = KeyHolder(old)
    assert holder.current() is old
    old.deadline = time.monotonic()  # now due
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(holder.current())) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    gate.set()
    for thread in threads:
        thread.join()
    assert len(renewals) == 1
    assert len({id(keys) for keys in seen}) == 1 and seen[0] is not old
    assert holder.renewals == 1
    assert getattr(seen[0], "renew", None) is renew  # and the new keys renew the same way


def test_failed_renewal_keeps_valid_keys_and_fails_cleanly_once_they_expire() -> None:
    def refuse() -> TemporaryKeys:
        raise ProviderError("refused", provider="sts", action="AssumeRoleWithOIDC")

    keys = _expiring(60)
    keys.renew = refuse
    keys.lifetime = 10_000  # its margin covers the whole minute: due now
    holder = KeyHolder(keys)
    assert holder.current() is keys  # still valid: kept
    keys.deadline = time.monotonic() - 1  # expired
    with pytest.raises(ProviderError, match="refused"):
        holder.current()


def test_the_sandbox_minimum_is_a_positive_number_of_seconds(tmp_path: Path) -> None:
    result = run_cli("sandbox", "--sts-min-duration", "0", cwd=tmp_path)
    assert result.code == 3, result
    assert "--sts-min-duration must be 1 or more" in result.err
    with pytest.raises(InputError, match="sts_min_duration must be 1 or more"):
        Sandbox(tmp_path / "state.json", sts_min_duration=0)


def test_a_role_assumed_with_an_access_key_renews_with_the_same_key(sandbox: Sandbox) -> None:
    account = Account(
        "prod",
        Provider.ALIYUN_DM,
        sandbox.directmail_endpoint,
        credentials={
            "accessKeyId": SecretRef(env="BASE_ID"),
            "accessKeySecret": SecretRef(env="BASE_SECRET"),
        },
        credential_source=CredentialSource(role=RoleRef(arn=sts.ROLE_WRITE)),
    )
    env = {
        "BASE_ID": ACCESS_KEY_ID,
        "BASE_SECRET": ACCESS_KEY_SECRET,
        "ALIBABA_CLOUD_STS_ENDPOINT": sandbox.url,
        "RECONCILER_STS_DURATION": "900",
    }
    keys = resolve_all([account], env)["prod"]
    assert isinstance(keys, TemporaryKeys) and keys.renew is not None
    assert keys.expires is not None
    assert 890 < (keys.expires - datetime.now(timezone.utc)).total_seconds() <= 900
    fresh = keys.renew()
    assert fresh["accessKeyId"] != keys["accessKeyId"]
    assert sandbox.calls["AssumeRole"] == 2
