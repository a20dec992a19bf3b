"""End to end: the real CLI against the real sandbox over 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler import sandbox as sb
from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import EXAMPLES, accounts_yaml, run_cli, write

EMPTY_STATE = {
    "directmail": {"ip_protection": "0", "next_id": 1, "ipfilters": []},
    "sendcloud": {"unintercepts": []},
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path


def test_quick_start_plan_apply_plan_converges(workdir: Path) -> None:
    first = run_cli("plan", "examples/", "--sandbox", cwd=workdir)
    assert first.code == 0, first
    assert "prod-dm  (aliyun-directmail, cn-hangzhou)" in first.out
    assert "prod-sc  (sendcloud)" in first.out
    assert "~ ip_protection enabled: false -> true" in first.out
    assert "Plan: 5 to add, 2 to change, 2 to delete." in first.out, first
    assert (workdir / ".reconciler" / "sandbox.json").exists()

    drift = run_cli("plan", "examples/", "--sandbox", "--detailed-exitcode", cwd=workdir)
    assert drift.code == 2, drift
    assert drift.out == first.out  # plan never writes

    applied = run_cli("apply", "examples/", "--sandbox", "--yes", cwd=workdir)
    assert applied.code == 0, applied
    assert "Apply: 9 applied, 0 failed, 0 skipped." in applied.out

    again = run_cli("plan", "examples/", "--sandbox", "--detailed-exitcode", cwd=workdir)
    assert again.code == 0, again
    assert "No changes" in again.out


def test_apply_refuses_without_yes_when_stdin_is_not_a_terminal(workdir: Path) -> None:
    before = run_cli("plan", "examples/", "--sandbox", "--format", "json", cwd=workdir).json
    refused = run_cli("apply", "examples/", "--sandbox", cwd=workdir, stdin="y\n")
    assert refused.code == 3, refused
    assert "--yes" in refused.err
    after = run_cli("plan", "examples/", "--sandbox", "--format", "json", cwd=workdir).json
    assert after == before  # nothing written


def test_json_plan_shape(workdir: Path) -> None:
    result = run_cli("plan", "examples/", "--sandbox", "--format", "json", cwd=workdir)
    assert result.code == 0, result
    doc = result.json
    assert doc["format_version"] == 1
    assert doc["summary"] == {"create": 5, "update": 2, "delete": 2}
    assert doc["refusals"] == []
    assert len(doc["changes"]) == 9
    for change in doc["changes"]:
        assert set(change) >= {"account", "resource", "action", "key", "before", "after"}
        assert isinstance(change["key"], str)
    protection = [c for c in doc["changes"] if c["resource"] == "ip_protection"]
    assert protection == [
        {
            "account": "prod-dm",
            "resource": "ip_protection",
            "action": "update",
            "key": "ip_protection",
            "before": {"enabled": False},
            "after": {"enabled": True},
        }
    ]
    update = next(c for c in doc["changes"] if c["key"] == "all:email:vip@example.com")
    assert update["before"]["types"] == ["bounce"]
    assert update["after"]["types"] == ["bounce", "complaint"]


def test_plan_out_writes_the_json_plan(workdir: Path) -> None:
    result = run_cli("plan", "examples/", "--sandbox", "--out", "plans/p.json", cwd=workdir)
    assert result.code == 0, result
    assert "Plan:" in result.out
    saved = (workdir / "plans" / "p.json").read_text()
    assert '"format_version": 1' in saved


def test_account_filter(workdir: Path) -> None:
    result = run_cli("plan", "examples/", "--sandbox", "--account", "prod-sc", cwd=workdir)
    assert result.code == 0, result
    assert "prod-sc" in result.out and "prod-dm" not in result.out
    unknown = run_cli("plan", "examples/", "--sandbox", "--account", "prod-s", cwd=workdir)
    assert unknown.code == 3
    assert "did you mean" in unknown.err


def test_validate_is_offline_and_reports_positions(tmp_path: Path) -> None:
    ok = run_cli("validate", str(EXAMPLES), cwd=tmp_path)
    assert ok.code == 0, ok
    bad = write(
        tmp_path / "bad.yaml",
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: x}\n"
        "spec:\n  account: nowhere\n  entries: [10.0.0.1]\n",
    )
    result = run_cli("validate", str(bad), cwd=tmp_path)
    assert result.code == 3, result
    assert "Traceback" not in result.err
    assert f"{bad}:6:" in result.err  # the private address, by line
    assert f"{bad}:5:" in result.err  # the unknown account, by line


def test_usage_errors_exit_3(tmp_path: Path) -> None:
    assert run_cli("plan", cwd=tmp_path).code == 3
    assert run_cli("frobnicate", cwd=tmp_path).code == 3
    missing = run_cli("plan", "no-such-dir", "--sandbox", cwd=tmp_path)
    assert missing.code == 3 and "no-such-dir" in missing.err


def test_missing_credentials_name_the_variable(workdir: Path) -> None:
    result = run_cli("plan", "examples/", cwd=workdir)
    assert result.code == 3, result
    # Every missing credential of every account, in one run.
    for variable in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                     "SENDCLOUD_API_USER", "SENDCLOUD_API_KEY"):  # fmt: skip
        assert variable in result.err
    assert "ALIBABA_CLOUD_SECURITY_TOKEN" not in result.err  # optional
    assert "accounts/accounts.yaml:" in result.err  # where the reference is
    assert "Traceback" not in result.err


def test_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.code == 0 and result.out.startswith("reconciler ")


# -- against a sandbox the test runs, with credentials from the environment ---------------


@pytest.fixture(params=["total", "page"], ids=["count-means-total", "count-means-page"])
def server(tmp_path: Path, request: pytest.FixtureRequest):
    """SendCloud's list ``count`` may mean the total or the page's rows: run under both."""
    with Sandbox(
        tmp_path / "state.json", initial_state=EMPTY_STATE, count_means=request.param
    ) as running:
        yield running


def test_paging_over_more_than_100_unintercept_entries(tmp_path: Path, server: Sandbox) -> None:
    entries = "".join(f"    - email: user{i:03d}@example.com\n" for i in range(250))
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
    write(
        tmp_path / "m" / "list.yaml",
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: many}\n"
        f"spec:\n  account: sc\n  entries:\n{entries}",
    )
    applied = run_cli("apply", "m", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert applied.code == 0, applied
    assert len(server.unintercepts()) == 250

    server.reset_calls()
    again = run_cli("plan", "m", "--detailed-exitcode", cwd=tmp_path, env=SANDBOX_ENV)
    assert again.code == 0, again
    assert server.calls["unintercept/list"] == 3  # pages of 100, 100 and 50


def test_mixed_case_email_does_not_cause_a_perpetual_diff(tmp_path: Path, server: Sandbox) -> None:
    state = {
        **EMPTY_STATE,
        "sendcloud": {
            "unintercepts": [
                {
                    "apiUserName": "all",
                    "domain": "",
                    "email": "vip@example.com",
                    "type": [1, 2, 4, 8],
                    "createTime": "2024-01-01 00:00:00",
                },
            ]
        },
    }
    server.set_state(state)
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
    write(
        tmp_path / "m" / "list.yaml",
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: vip}\n"
        "spec:\n  account: sc\n  entries:\n    - email: VIP@Example.COM\n"
        "    - email: New.Person@Example.COM\n",
    )
    applied = run_cli("apply", "m", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
    assert applied.code == 0, applied
    assert "Apply: 1 applied" in applied.out
    again = run_cli("plan", "m", "--detailed-exitcode", cwd=tmp_path, env=SANDBOX_ENV)
    assert again.code == 0, again


def test_wrong_secret_fails_with_provider_code_and_never_prints_it(
    tmp_path: Path, server: Sandbox
) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
    write(
        tmp_path / "m" / "p.yaml",
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
        "spec: {account: dm, enabled: true}\n",
    )
    secret = "wrong-secret-value-4711"
    env = {**SANDBOX_ENV, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret}
    for command in (["plan", "m"], ["apply", "m", "--yes"], ["plan", "m", "-v"]):
        result = run_cli(*command, cwd=tmp_path, env=env)
        assert result.code == 1, result
        assert "SignatureDoesNotMatch" in result.err
        assert "request id" in result.err
        assert secret not in result.out + result.err
        assert "Traceback" not in result.err
    assert server.ip_protection() == "0"  # nothing was written


def test_whitelist_and_protection_applied_in_order(tmp_path: Path, server: Sandbox) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
    write(
        tmp_path / "m" / "dm.yaml",
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
        "spec: {account: dm, enabled: true}\n---\n"
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
        "spec:\n  account: dm\n  entries: ['203.0.113.7/32', ' 198.051.100.0 / 24 ', "
        "'192.0.2.0-192.0.2.255']\n",
    )
    applied = run_cli("apply", "m", "--yes", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert applied.code == 0, applied
    report = applied.json
    assert [(o["resource"], o["status"]) for o in report["outcomes"]] == [
        ("ip_whitelist", "applied"),
        ("ip_whitelist", "applied"),
        ("ip_whitelist", "applied"),
        ("ip_protection", "applied"),
    ]
    assert sorted(f["IpAddress"] for f in server.ipfilters()) == [
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.7",
    ]
    assert server.ip_protection() == "1"
    again = run_cli("plan", "m", "--detailed-exitcode", cwd=tmp_path, env=SANDBOX_ENV)
    assert again.code == 0, again


def test_credentials_from_files(tmp_path: Path, server: Sandbox) -> None:
    write(tmp_path / "secrets" / "key", sb.API_KEY + "\n")
    write(
        tmp_path / "m" / "accounts.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: sc}\nspec:\n"
        f"  provider: sendcloud\n  endpoint: {server.sendcloud_endpoint}\n"
        "  credentials:\n    apiUser: {env: SC_USER}\n    apiKey: {file: secrets/key}\n",
    )
    write(
        tmp_path / "m" / "list.yaml",
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: l}\n"
        "spec:\n  account: sc\n  entries: [{email: a@example.com}]\n",
    )
    result = run_cli("plan", "m", "--detailed-exitcode", cwd=tmp_path, env={"SC_USER": sb.API_USER})
    assert result.code == 2, result
    assert "+ unintercept   email a@example.com" in result.out

    (tmp_path / "secrets" / "key").unlink()
    missing = run_cli("plan", "m", cwd=tmp_path, env={"SC_USER": sb.API_USER})
    assert missing.code == 3, missing
    assert "secrets/key" in missing.err and "Traceback" not in missing.err


def test_plan_out_to_a_directory_is_refused_before_reading_live_state(workdir: Path) -> None:
    result = run_cli("plan", "examples/", "--sandbox", "--out", "examples", cwd=workdir)
    assert result.code == 3, result
    assert "error: cannot write examples: it is a directory" in result.err
    assert "Traceback" not in result.err
    assert not (workdir / ".reconciler").exists()  # no sandbox was started: nothing was read


def test_a_wrong_key_on_one_of_two_accounts_names_that_account_and_its_host(
    tmp_path: Path,
) -> None:
    """Issue 16 item 2: with two DirectMail accounts, which one failed, and where."""
    with Sandbox(tmp_path / "state.json", initial_state=EMPTY_STATE) as running:
        host = running.url.split("//", 1)[1]
        accounts = "".join(
            "apiVersion: reconciler/v1\nkind: Account\n"
            f"metadata: {{name: {name}}}\nspec:\n  provider: aliyun-directmail\n"
            f"  endpoint: {running.url}\n{extra}"
            "---\napiVersion: reconciler/v1\nkind: IpProtection\n"
            f"metadata: {{name: p-{name}}}\nspec: {{account: {name}, enabled: false}}\n---\n"
            for name, extra in (
                ("dm-good", ""),
                ("dm-bad", "  credentials: {accessKeySecret: {env: BAD_SECRET}}\n"),
            )
        )
        write(tmp_path / "m.yaml", accounts.removesuffix("---\n"))
        env = {**SANDBOX_ENV, "BAD_SECRET": "wrong-secret-value-4711"}
        quiet = run_cli("plan", "m.yaml", cwd=tmp_path, env=env)
        verbose = run_cli("-v", "plan", "m.yaml", cwd=tmp_path, env=env)
    for result in (quiet, verbose):
        assert result.code == 1, result
        assert f"error: account dm-bad ({host}): DirectMail GetIpProtection failed: " in result.err
        assert (
            "SignatureDoesNotMatch" in result.err
            and "dm-good" not in result.err.split("error:")[-1]
        )
        assert "wrong-secret-value-4711" not in result.out + result.err
    assert "account dm-bad: DirectMail GetIpProtection -> HTTP 400" in verbose.err
    assert "account dm-good: DirectMail GetIpProtection -> HTTP 200" in verbose.err
