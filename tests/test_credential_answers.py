"""The credential chain's own calls take answers as untrusted as any provider's (SPEC §6): the
ECS metadata service and STS, played by a hostile server on 127.0.0.1, cannot redirect the
chain, make it read a huge answer, or hold it with an answer sent a byte at a time. Through
the real CLI: ``plan`` on an account whose keys come from the default chain."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from reconciler.credentials import sts as sts_client
from reconciler.sandbox import sts
from tests.cli_helpers import run_cli, write
from tests.hostile import Answer, HostileServer, Request

ROLE = "/latest/meta-data/ram/security-credentials/"
KEYS = {"Code": "Success", "AccessKeyId": "STS.k", "AccessKeySecret": "s3cr3t-value"}


def _manifests(root: Path) -> None:
    write(
        root / "m" / "all.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: prod}\n"
        "spec:\n  provider: aliyun-directmail\n  endpoint: http://127.0.0.1:9\n"
        "  retry: {attempts: 1}\n  credentials: {chain: default}\n---\n"
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
        "spec: {account: prod, entries: [203.0.113.7]}\n",
    )


def _metadata(listing: Answer) -> HostileServer:
    """The metadata service: a token, then ``listing`` for the role list."""

    def script(request: Request) -> Answer:
        if request.method == "PUT":
            return Answer(200, b"imds-token")
        if request.path == ROLE:
            return listing
        return Answer(404, b"")

    return HostileServer(script=script)


def _plan_on_ecs(tmp_path: Path) -> tuple[int, str, float]:
    _manifests(tmp_path)
    started = time.monotonic()
    result = run_cli("plan", "m", cwd=tmp_path, env={"HOME": str(tmp_path / "home")})
    return result.code, result.err, time.monotonic() - started


def test_metadata_redirect_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer(default=Answer(200, b"mail-role\n")) as elsewhere:
        with _metadata(Answer.redirect(elsewhere.url + ROLE, 302)) as server:
            monkeypatch.setattr(sts_client, "ECS_METADATA_URL", server.url)
            code, err, _ = _plan_on_ecs(tmp_path)
            assert [r.method for r in server.requests] == ["PUT", "GET"]
        assert elsewhere.requests == []
    assert code == 3, err
    assert "m/all.yaml:" in err and "account 'prod'" in err
    assert "HTTP 302: a redirect, which is never followed" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, b"r" * (sts_client.ECS_ANSWER_LIMIT + 1)),
        Answer(200, gzip.compress(b"r" * 10_000_000), (("Content-Encoding", "gzip"),)),
    ],
    ids=["huge", "gzip-bomb"],
)
def test_metadata_answer_over_its_small_bound_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: Answer
) -> None:
    with _metadata(answer) as server:
        monkeypatch.setattr(sts_client, "ECS_METADATA_URL", server.url)
        code, err, _ = _plan_on_ecs(tmp_path)
    assert code == 3, err
    assert "the answer is larger than 16 KiB; it was not read to the end" in err


def test_metadata_answer_dripped_slowly_ends_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One byte every 0.2 s: every single read is quick, the answer would take 20 s.
    drip = Answer(200, b"mail-role\n" * 10, trickle=0.2)
    with _metadata(drip) as server:
        monkeypatch.setattr(sts_client, "ECS_METADATA_URL", server.url)
        monkeypatch.setattr(sts_client, "ECS_DEADLINE", 0.8)
        code, err, took = _plan_on_ecs(tmp_path)
    assert code == 3, err
    assert "took over 0.8 s" in err
    assert took < 3.0


def test_metadata_keys_read_within_the_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same chain against a well-behaved service gets past the metadata calls (the
    provider at port 9 then cannot be reached): the bounds do not refuse a good answer."""

    def script(request: Request) -> Answer:
        if request.method == "PUT":
            return Answer(200, b"imds-token")
        if request.path == ROLE:
            return Answer(200, b"mail-role\n")
        return Answer.json({**KEYS, "SecurityToken": "tok", "Expiration": "2099-01-01T00:00:00Z"})

    with HostileServer(script=script) as server:
        monkeypatch.setattr(sts_client, "ECS_METADATA_URL", server.url)
        code, err, _ = _plan_on_ecs(tmp_path)
        assert [r.path for r in server.requests][-1] == ROLE + "mail-role"
    assert code == 1, err
    assert "DirectMail" in err and "connection refused" in err
    assert "s3cr3t-value" not in err


def test_sts_answer_dripped_slowly_ends_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.dumps({"RequestId": "r", "Credentials": {"AccessKeyId": "k"}}).encode()
    with HostileServer(default=Answer(200, body, trickle=0.2)) as server:
        monkeypatch.setattr(sts_client, "DEADLINE", 0.8)
        token = write(tmp_path / "token", sts.OIDC_TOKEN)
        _manifests(tmp_path)
        started = time.monotonic()
        result = run_cli(
            "plan",
            "m",
            cwd=tmp_path,
            env={
                "ALIBABA_CLOUD_ROLE_ARN": sts.ROLE_READ,
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": sts.OIDC_PROVIDER_ARN,
                "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(token),
                "ALIBABA_CLOUD_STS_ENDPOINT": server.url,
                "HOME": str(tmp_path / "home"),
            },
        )
        took = time.monotonic() - started
        assert server.actions() == ["AssumeRoleWithOIDC"]
    assert result.code == 1, result
    assert "sts AssumeRoleWithOIDC failed: the answer took over 0.8 s" in result.err
    assert took < 3.0
    assert sts.OIDC_TOKEN not in result.err
