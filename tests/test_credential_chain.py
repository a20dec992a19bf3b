"""Keyless credentials end to end: the real CLI, the default chain, aliyun CLI profiles and
roles, against the sandbox's STS (``AssumeRoleWithOIDC``, ``AssumeRole``) and DirectMail."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from reconciler.credentials import sts as sts_client
from reconciler.sandbox import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Sandbox, sts
from tests.cli_helpers import EXAMPLES, run_cli, write
from tests.serving import serving

RETRY = "  retry: {attempts: 1}\n  limits: {requestsPerSecond: 1000}\n"


def _manifests(root: Path, endpoint: str, credentials: str) -> Path:
    write(
        root / "m" / "all.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: prod}\n"
        f"spec:\n  provider: aliyun-directmail\n  endpoint: {endpoint}\n{RETRY}"
        f"  credentials: {credentials}\n---\n"
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
        "spec: {account: prod, entries: [203.0.113.7]}\n",
    )
    return root / "m"


def _oidc_env(
    tmp_path: Path, sandbox: Sandbox, token: str = sts.OIDC_TOKEN, role: str = sts.ROLE_READ
) -> dict[str, str]:
    token_file = write(tmp_path / "oidc" / "token", token + "\n")
    return {
        "ALIBABA_CLOUD_ROLE_ARN": role,
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": sts.OIDC_PROVIDER_ARN,
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(token_file),
        "ALIBABA_CLOUD_STS_ENDPOINT": sandbox.url,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "HOME": str(tmp_path / "home"),
    }


def _temporary_keys_used(sandbox: Sandbox) -> list[str]:
    return [key for key in sandbox.keys.used if key.startswith("STS.")]


def _secrets_issued(sandbox: Sandbox) -> list[str]:
    with sandbox.keys._lock:
        return [v for k in sandbox.keys._temporary.values() for v in (k.secret, k.token)]


def _no_secret_in(sandbox: Sandbox, *texts: str) -> None:
    issued = _secrets_issued(sandbox)
    assert issued
    for text in texts:
        for secret in (*issued, sts.OIDC_TOKEN, ACCESS_KEY_SECRET):
            assert secret not in text


def test_oidc_chain_plans_with_a_temporary_key(tmp_path: Path, sandbox: Sandbox) -> None:
    _manifests(tmp_path, sandbox.directmail_endpoint, "{chain: default}")
    env = _oidc_env(tmp_path, sandbox)
    result = run_cli("plan", "m", "-v", "--out", "plan.json", cwd=tmp_path, env=env)
    assert result.code == 0, result
    assert "203.0.113.7" in result.out
    assert sandbox.calls["AssumeRoleWithOIDC"] == 1
    used = sandbox.keys.used
    assert ACCESS_KEY_ID not in used  # no static key reached DirectMail
    assert len(_temporary_keys_used(sandbox)) == 1
    saved = (tmp_path / "plan.json").read_text(encoding="utf-8")
    _no_secret_in(sandbox, result.out, result.err, saved)
    assert _temporary_keys_used(sandbox)[0] not in result.out + result.err + saved


def test_read_role_plans_but_cannot_apply_and_write_role_applies(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Plan in a pull request with the read role; apply with the write role: the same
    manifest, the role chosen by the job's environment."""
    _manifests(tmp_path, sandbox.directmail_endpoint, "{chain: default}")
    refused = run_cli("apply", "m", "--yes", cwd=tmp_path, env=_oidc_env(tmp_path, sandbox))
    assert refused.code == 1, refused
    assert "Forbidden.RAM" in refused.out + refused.err
    assert sandbox.calls["AddIpfilter"] == 1
    assert "203.0.113.7" not in [r["IpAddress"] for r in sandbox.ipfilters()]
    write_env = _oidc_env(tmp_path, sandbox, role=sts.ROLE_WRITE)
    applied = run_cli("apply", "m", "--yes", cwd=tmp_path, env=write_env)
    assert applied.code == 0, applied
    assert "203.0.113.7" in [r["IpAddress"] for r in sandbox.ipfilters()]
    _no_secret_in(sandbox, refused.out, refused.err, applied.out, applied.err)


def test_bad_oidc_token_is_a_clean_error(tmp_path: Path, sandbox: Sandbox) -> None:
    _manifests(tmp_path, sandbox.directmail_endpoint, "{chain: default}")
    env = _oidc_env(tmp_path, sandbox, token="not-the-token")
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 1, result
    assert "account prod" in result.err
    assert "AssumeRoleWithOIDC" in result.err
    assert "AuthenticationFail.OIDCToken.Invalid" in result.err
    assert "Traceback" not in result.err
    assert "not-the-token" not in result.out + result.err
    assert sum(sandbox.calls[a] for a in ("GetIpfilterList", "GetIpProtection")) == 0


def test_unknown_role_is_a_clean_error(tmp_path: Path, sandbox: Sandbox) -> None:
    role = f"acs:ram::{sts.ACCOUNT_ID}:role/nobody"
    _manifests(
        tmp_path,
        sandbox.directmail_endpoint,
        f"{{role: {{arn: '{role}', oidcProviderArn: '{sts.OIDC_PROVIDER_ARN}', "
        f"oidcTokenFile: oidc/token}}}}",
    )
    write(tmp_path / "oidc" / "token", sts.OIDC_TOKEN)
    env = {"ALIBABA_CLOUD_STS_ENDPOINT": sandbox.url}
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 1, result
    assert "EntityNotExist.Role" in result.err and "account prod" in result.err


def test_profile_from_the_aliyun_cli_config(tmp_path: Path, sandbox: Sandbox) -> None:
    home = tmp_path / "home"
    config = {
        "current": "default",
        "profiles": [
            {"name": "default", "mode": "AK", "access_key_id": "x", "access_key_secret": "y"},
            {
                "name": "mail",
                "mode": "AK",
                "access_key_id": ACCESS_KEY_ID,
                "access_key_secret": ACCESS_KEY_SECRET,
                "region_id": "cn-hangzhou",
            },
        ],
    }
    write(home / ".aliyun" / "config.json", json.dumps(config))
    _manifests(tmp_path, sandbox.directmail_endpoint, "{profile: mail}")
    result = run_cli("plan", "m", "-v", cwd=tmp_path, env={"HOME": str(home)})
    assert result.code == 0, result
    assert sandbox.keys.used[ACCESS_KEY_ID] >= 1
    assert ACCESS_KEY_SECRET not in result.out + result.err
    # The chain takes the profile ALIBABA_CLOUD_PROFILE names.
    _manifests(tmp_path, sandbox.directmail_endpoint, "{chain: default}")
    env = {"HOME": str(home), "ALIBABA_CLOUD_PROFILE": "mail"}
    assert run_cli("plan", "m", cwd=tmp_path, env=env).code == 0
    # and names what it lacks.
    env["ALIBABA_CLOUD_PROFILE"] = "nope"
    missing = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert missing.code == 3, missing
    assert "account 'prod'" in missing.err and "no profile 'nope'" in missing.err
    assert "default, mail" in missing.err


def test_ram_role_arn_profile_assumes_the_role(tmp_path: Path, sandbox: Sandbox) -> None:
    home = tmp_path / "home"
    profile = {
        "name": "default",
        "mode": "RamRoleArn",
        "access_key_id": ACCESS_KEY_ID,
        "access_key_secret": ACCESS_KEY_SECRET,
        "ram_role_arn": sts.ROLE_READ,
        "ram_session_name": "laptop",
    }
    write(home / ".aliyun" / "config.json", json.dumps({"profiles": [profile]}))
    _manifests(tmp_path, sandbox.directmail_endpoint, "{chain: default}")
    env = {"HOME": str(home), "ALIBABA_CLOUD_STS_ENDPOINT": sandbox.url}
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 0, result
    assert sandbox.calls["AssumeRole"] == 1
    assert len(_temporary_keys_used(sandbox)) == 1


def test_chain_takes_keys_and_their_token_from_the_environment(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Temporary keys a job already holds (ALIBABA_CLOUD_SECURITY_TOKEN beside the key pair)
    come first in the chain, and the token is sent with them."""
    key_id, key = sandbox.keys.issue(sts.ROLE_READ, 3600, datetime.now(timezone.utc))
    _manifests(tmp_path, sandbox.directmail_endpoint, "{chain: default}")
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": key.secret,
        "ALIBABA_CLOUD_SECURITY_TOKEN": key.token,
        "HOME": str(tmp_path / "home"),
    }
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 0, result
    assert sandbox.keys.used[key_id] >= 1 and sandbox.calls["AssumeRole"] == 0
    assert key.secret not in result.out + result.err and key.token not in result.out + result.err
    # The token is what makes the temporary key good: without it the provider refuses it.
    del env["ALIBABA_CLOUD_SECURITY_TOKEN"]
    refused = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert refused.code != 0 and "InvalidSecurityToken.Missing" in refused.err, refused


def test_oidc_profile_assumes_its_role_and_an_unknown_mode_is_named(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    home = tmp_path / "home"
    token_file = write(tmp_path / "oidc" / "token", sts.OIDC_TOKEN)
    profile = {
        "name": "ci",
        "mode": "OIDC",
        "ram_role_arn": sts.ROLE_READ,
        "oidc_provider_arn": sts.OIDC_PROVIDER_ARN,
        "oidc_token_file": str(token_file),
    }
    write(home / ".aliyun" / "config.json", json.dumps({"current": "ci", "profiles": [profile]}))
    _manifests(tmp_path, sandbox.directmail_endpoint, "{profile: ci}")
    env = {"HOME": str(home), "ALIBABA_CLOUD_STS_ENDPOINT": sandbox.url}
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 0, result
    assert sandbox.calls["AssumeRoleWithOIDC"] == 1
    assert len(_temporary_keys_used(sandbox)) == 1
    _no_secret_in(sandbox, result.out, result.err)
    profile["mode"] = "ChainableRamRoleArn"
    write(home / ".aliyun" / "config.json", json.dumps({"profiles": [profile]}))
    unknown = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert unknown.code == 3, unknown
    assert "profile 'ci' has mode 'ChainableRamRoleArn'" in unknown.err
    assert "AK, StsToken, RamRoleArn, OIDC, EcsRamRole" in unknown.err


def test_role_assumed_with_the_accounts_keys(tmp_path: Path, sandbox: Sandbox) -> None:
    _manifests(tmp_path, sandbox.directmail_endpoint, f"{{role: {{arn: '{sts.ROLE_READ}'}}}}")
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
        "ALIBABA_CLOUD_STS_ENDPOINT": sandbox.url,
    }
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 0, result
    assert sandbox.calls["AssumeRole"] == 1
    assert sandbox.keys.used[ACCESS_KEY_ID] == 1  # the AssumeRole call only
    assert len(_temporary_keys_used(sandbox)) == 1
    # Without base keys, the error says what is missing.
    del env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
    missing = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert missing.code == 3, missing
    assert "account 'prod'" in missing.err and "needs an AccessKey" in missing.err


def test_empty_chain_names_each_step(tmp_path: Path, sandbox: Sandbox) -> None:
    _manifests(tmp_path, sandbox.directmail_endpoint, "{chain: default}")
    env = {"HOME": str(tmp_path / "home"), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 3, result
    assert "account 'prod'" in result.err
    for needle in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_OIDC_TOKEN_FILE", "config.json"):
        assert needle in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ("{chain: default, profile: x}", "both chain and profile"),
        ("{chain: default, accessKeyId: {env: X}}", "cannot be given with it"),
        (
            "{role: {arn: 'acs:ram::1:role/r', oidcProviderArn: p, oidcTokenFile: f}, "
            "accessKeyId: {env: X}}",
            "cannot be given with it",
        ),
        ("{chain: other}", "not one of default"),
        ("{role: {arn: 'not-an-arn'}}", "invalid arn"),
        ("{role: {arn: 'acs:ram::1:role/r', oidcTokenFile: f}}", "credentials"),
    ],
)
def test_invalid_credential_sources_are_manifest_errors(
    tmp_path: Path, credentials: str, message: str
) -> None:
    _manifests(tmp_path, "http://127.0.0.1:9", credentials)
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 3, result
    assert message in result.err
    assert "all.yaml:" in result.err


def test_sendcloud_accounts_take_no_chain(tmp_path: Path) -> None:
    write(
        tmp_path / "m" / "a.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: sc}\n"
        "spec: {provider: sendcloud, credentials: {chain: default}}\n",
    )
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 3, result


def test_saved_plan_keeps_the_reference_and_applies_with_the_write_role(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """The CI flow: plan in the pull request with the read role, save it; after merge, apply
    that saved plan with the write role. The plan holds the chain reference, not a key."""
    _manifests(tmp_path, sandbox.directmail_endpoint, "{chain: default}")
    read_env = _oidc_env(tmp_path, sandbox)
    planned = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env=read_env)
    assert planned.code == 0, planned
    saved = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    assert saved["accounts"][0]["credential_source"] == {"chain": True}
    write_env = _oidc_env(tmp_path, sandbox, role=sts.ROLE_WRITE)
    applied = run_cli("apply", "--plan", "plan.json", "--yes", cwd=tmp_path, env=write_env)
    assert applied.code == 0, applied
    assert "203.0.113.7" in [r["IpAddress"] for r in sandbox.ipfilters()]
    assert sandbox.calls["AssumeRoleWithOIDC"] == 2
    assert ACCESS_KEY_ID not in sandbox.keys.used
    _no_secret_in(sandbox, (tmp_path / "plan.json").read_text(encoding="utf-8"), applied.out)


WORKFLOWS = EXAMPLES / "github"


def _token_step(workflow: dict[str, Any]) -> dict[str, Any]:
    steps = next(iter(workflow["jobs"].values()))["steps"]
    return next(s for s in steps if "ACTIONS_ID_TOKEN_REQUEST_URL" in s.get("run", ""))


@pytest.mark.parametrize("name", ["plan.yml", "apply.yml", "drift.yml"])
def test_example_workflows_use_oidc_not_stored_keys(name: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    workflow = yaml.safe_load(text)
    assert workflow["permissions"]["id-token"] == "write"
    assert "ACCESS_KEY" not in text
    assert "ALIBABA_CLOUD_ROLE_ARN: ${{ secrets." in text
    assert "ALIBABA_CLOUD_OIDC_PROVIDER_ARN: ${{ secrets." in text
    role = "PLAN" if name != "apply.yml" else "APPLY"  # read role for plans, write for apply
    assert f"secrets.RECONCILER_{role}_ROLE_ARN" in text
    assert 'ALIBABA_CLOUD_OIDC_TOKEN_FILE=$file" >> "$GITHUB_ENV"' in _token_step(workflow)["run"]


class _GitHubTokenService(BaseHTTPRequestHandler):
    """GitHub's ID-token endpoint as a runner sees it: bearer request token in, JSON out."""

    def do_GET(self) -> None:
        ok = self.headers.get("Authorization") == "bearer request-token" and (
            "audience=sts.aliyuncs.com" in self.path
        )
        body = json.dumps({"value": sts.OIDC_TOKEN}).encode() if ok else b"{}"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_workflow_token_step_feeds_the_chain(tmp_path: Path, sandbox: Sandbox) -> None:
    """The plan workflow's token step, run by bash against a local stand-in of GitHub's token
    service, writes a token file that the chain then exchanges at the sandbox's STS."""
    script = _token_step(yaml.safe_load((WORKFLOWS / "plan.yml").read_text(encoding="utf-8")))
    github_env = tmp_path / "github_env"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GitHubTokenService)
    with serving(server):
        done = subprocess.run(
            ["bash", "-e", "-c", script["run"]],
            env={
                "PATH": os.environ["PATH"],
                "RUNNER_TEMP": str(tmp_path),
                "GITHUB_ENV": str(github_env),
                "ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{server.server_port}/t?v=1",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert sts.OIDC_TOKEN not in done.stdout + done.stderr
    name, _, token_file = github_env.read_text(encoding="utf-8").strip().partition("=")
    assert name == "ALIBABA_CLOUD_OIDC_TOKEN_FILE"
    assert Path(token_file).stat().st_mode & 0o077 == 0  # readable by the runner's user only
    _manifests(tmp_path, sandbox.directmail_endpoint, "{chain: default}")
    env = {
        **_oidc_env(tmp_path, sandbox),
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE": token_file,
    }
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 0, result
    assert len(_temporary_keys_used(sandbox)) == 1


class _EcsMetadata(BaseHTTPRequestHandler):
    """The ECS metadata service: an IMDSv2 token, then the instance's RAM role and its keys."""

    keys: ClassVar[dict[str, str]] = {}

    def do_PUT(self) -> None:
        self._send(200, b"imds-token")

    def do_GET(self) -> None:
        if self.headers.get("X-aliyun-ecs-metadata-token") != "imds-token":
            self._send(401, b"")
        elif self.path == "/latest/meta-data/ram/security-credentials/":
            self._send(200, b"mail-role\n")
        elif self.path == "/latest/meta-data/ram/security-credentials/mail-role":
            self._send(200, json.dumps({"Code": "Success", **self.keys}).encode())
        else:
            self._send(404, b"")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_chain_ends_with_the_ecs_ram_role(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id, key = sandbox.keys.issue(sts.ROLE_WRITE, 3600, datetime.now(timezone.utc))
    _EcsMetadata.keys = {
        "AccessKeyId": key_id,
        "AccessKeySecret": key.secret,
        "SecurityToken": key.token,
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EcsMetadata)
    monkeypatch.setattr(sts_client, "ECS_METADATA_URL", f"http://127.0.0.1:{server.server_port}")
    with serving(server):
        _manifests(tmp_path, sandbox.directmail_endpoint, "{chain: default}")
        result = run_cli("plan", "m", "-v", cwd=tmp_path, env={"HOME": str(tmp_path / "home")})
    assert result.code == 0, result
    assert sandbox.keys.used[key_id] >= 1
    assert key.secret not in result.out + result.err
    assert key.token not in result.out + result.err
