"""Credential errors that find the mistake: every account's problem in one run, each at the
position of its credential reference, naming the variable or file to fix. Through the real
CLI, against the sandbox (its keys are public: ``ACCESS_KEY_ID`` and the rest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.sandbox import ACCESS_KEY_ID, ACCESS_KEY_SECRET, API_KEY, API_USER, Sandbox
from tests.cli_helpers import run_cli, write

WRONG_SECRET = "wrong-secret-5f1c"
WRONG_KEY = "wrong-api-key-93ab"


def _accounts(root: Path, sandbox: Sandbox, dm: str, sc: str) -> Path:
    """accounts.yaml: a DirectMail account whose credentials block is ``dm`` and a SendCloud
    one whose block is ``sc`` (four lines each, in the second document), then what they
    manage."""
    return write(
        root / "m" / "accounts.yaml",
        "apiVersion: reconciler/v1\n"  # 1
        "kind: Account\n"
        "metadata: {name: dm}\n"
        "spec:\n"
        "  provider: aliyun-directmail\n"  # 5
        f"  endpoint: {sandbox.directmail_endpoint}\n"
        "  retry: {attempts: 1}\n"
        "  credentials:\n"
        f"{dm}"  # 9, 10
        "---\n"  # 11
        "apiVersion: reconciler/v1\n"
        "kind: Account\n"
        "metadata: {name: sc}\n"
        "spec:\n"  # 15
        "  provider: sendcloud\n"
        f"  endpoint: {sandbox.sendcloud_endpoint}\n"
        "  retry: {attempts: 1}\n"
        "  credentials:\n"
        f"{sc}"  # 20, 21
        "---\n"
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
        "spec: {account: dm, entries: [203.0.113.7]}\n---\n"
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec: {account: sc, entries: [{email: vip@example.com}]}\n",
    )


DM = "    accessKeyId: {env: DM_ID}\n    accessKeySecret: {env: DM_SECRET}\n"
SC = "    apiUser: {env: SC_USER}\n    apiKey: {env: SC_KEY}\n"
GOOD = {"DM_ID": ACCESS_KEY_ID, "DM_SECRET": ACCESS_KEY_SECRET, "SC_USER": API_USER}


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_missing_variable_in_the_second_document_points_at_its_line(
    tmp_path: Path, sandbox: Sandbox, command: str
) -> None:
    _accounts(tmp_path, sandbox, DM, SC)
    sandbox.reset_calls()
    extra = ["--yes"] if command == "apply" else []
    result = run_cli(command, "m", *extra, cwd=tmp_path, env=GOOD)
    assert result.code == 3, result
    assert (
        "m/accounts.yaml:21:13: apiKey of account 'sc': environment variable SC_KEY is not set"
        in result.err
    )
    assert "accounts.yaml:9:" not in result.err and "accounts.yaml:10:" not in result.err
    assert sum(sandbox.calls.values()) == 0


def test_every_account_is_reported_empty_and_unset_told_apart(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    _accounts(tmp_path, sandbox, DM, SC)
    env = {"DM_ID": ACCESS_KEY_ID, "DM_SECRET": "", "SC_USER": "  "}
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 3, result
    lines = [line.strip() for line in result.err.splitlines()]
    assert lines[1:4] == [
        "m/accounts.yaml:10:22: accessKeySecret of account 'dm': "
        "environment variable DM_SECRET is empty",
        "m/accounts.yaml:20:14: apiUser of account 'sc': environment variable SC_USER is empty",
        "m/accounts.yaml:21:13: apiKey of account 'sc': environment variable SC_KEY is not set",
    ], result.err


def test_missing_credential_files_name_account_position_and_file(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    _accounts(
        tmp_path,
        sandbox,
        "    accessKeyId: {env: DM_ID}\n    accessKeySecret: {file: secrets/dm}\n",
        "    apiUser: {env: SC_USER}\n    apiKey: {file: secrets/sc}\n",
    )
    write(tmp_path / "secrets" / "sc", "\n")
    sandbox.reset_calls()
    result = run_cli("plan", "m", cwd=tmp_path, env=GOOD)
    assert result.code == 3, result
    assert (
        "m/accounts.yaml:10:22: accessKeySecret of account 'dm': cannot read credential file "
        "secrets/dm: " in result.err
    )
    assert "m/accounts.yaml:21:13: apiKey of account 'sc': file secrets/sc is empty" in result.err
    assert "Traceback" not in result.err
    assert sum(sandbox.calls.values()) == 0


def test_keys_refused_for_both_accounts_are_both_reported_at_their_references(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    _accounts(tmp_path, sandbox, DM, SC)
    env = {**GOOD, "DM_SECRET": WRONG_SECRET, "SC_KEY": WRONG_KEY}
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 1, result
    err = result.err
    assert "2 accounts failed" in err
    assert "account dm (" in err and "SignatureDoesNotMatch" in err
    assert (
        "m/accounts.yaml:10:22: check accessKeySecret of account 'dm' (environment variable "
        "DM_SECRET)" in err
    )
    assert "account sc (" in err and "40005" in err
    assert (
        "m/accounts.yaml:20:14: check apiUser of account 'sc' (environment variable SC_USER)" in err
    )
    assert (
        "m/accounts.yaml:21:13: check apiKey of account 'sc' (environment variable SC_KEY)" in err
    )
    # The canonical request the gateway quotes is for -v, not for the error.
    assert "canonical request" not in err and "x-acs-signature-nonce" not in err
    assert "-v shows what the provider signed" in err
    for secret in (WRONG_SECRET, WRONG_KEY):
        assert secret not in result.out + err

    verbose = run_cli("plan", "m", "-v", cwd=tmp_path, env=env)
    assert verbose.code == 1, verbose
    assert "server canonical request is:" in verbose.err
    assert "x-acs-signature-nonce" in verbose.err
    for secret in (WRONG_SECRET, WRONG_KEY):
        assert secret not in verbose.out + verbose.err


def test_an_unknown_key_id_points_at_its_reference_and_apply_changes_nothing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    _accounts(tmp_path, sandbox, DM, SC)
    env = {**GOOD, "DM_ID": "LTAI-not-a-key", "SC_KEY": API_KEY}
    result = run_cli("apply", "m", "--yes", cwd=tmp_path, env=env)
    assert result.code == 1, result
    assert "InvalidAccessKeyId.NotFound" in result.err
    assert (
        "m/accounts.yaml:9:18: check accessKeyId of account 'dm' (environment variable DM_ID)"
        in result.err
    )
    assert "accounts failed" not in result.err  # the other account's keys were right
    assert sandbox.calls.get("AddIpfilter", 0) == 0
    assert sandbox.calls.get("unintercept/add", 0) == 0


def test_chain_and_variable_problems_are_reported_together(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    _accounts(tmp_path, sandbox, "    # found at run time\n    chain: default\n", SC)
    env = {
        "SC_USER": API_USER,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "HOME": str(tmp_path / "home"),
    }
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 3, result
    lines = result.err.splitlines()
    chain = (
        "  m/accounts.yaml:10:12: account 'dm': the default credential chain found no credentials:"
    )
    assert lines[1] == chain, result.err
    assert "  m/accounts.yaml:21:13: apiKey of account 'sc'" in lines[-2], result.err


@pytest.mark.parametrize(
    ("command", "account", "line"),
    [
        (["stats", "m", "--account", "dm"], "dm", "10:22: check accessKeySecret"),
        (["check", "m"], "dm", "10:22: check accessKeySecret"),
        (["export", "m", "--account", "sc"], "sc", "21:13: check apiKey"),
        (["apply", "m", "--yes"], "dm", "10:22: check accessKeySecret"),
    ],
    ids=["stats", "check", "export", "apply"],
)
def test_every_command_names_the_reference_of_refused_keys(
    tmp_path: Path, sandbox: Sandbox, command: list[str], account: str, line: str
) -> None:
    """The hint is added where every client error passes, not by one command's reader."""
    _accounts(tmp_path, sandbox, DM, SC)
    if command[0] == "check":
        write(
            tmp_path / "m" / "check.yaml",
            "apiVersion: reconciler/v1\nkind: DeliveryCheck\nmetadata: {name: c}\n"
            "spec: {account: dm, window: 1d, minRequests: 1, maxFailedPercent: 5,"
            " maxInvalidPercent: 5}\n",
        )
    env = {**GOOD, "DM_SECRET": WRONG_SECRET, "SC_KEY": WRONG_KEY}
    result = run_cli(*command, cwd=tmp_path, env=env)
    assert result.code == 1, result
    assert f"m/accounts.yaml:{line} of account '{account}'" in result.err, result.err
    assert WRONG_SECRET not in result.err and WRONG_KEY not in result.err
