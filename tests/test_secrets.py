"""No secret ever shows: every failure path runs with known secret values, and all output —
stdout, stderr with -v, plan files, JSON reports — is searched for them."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import pytest

from reconciler.model import Account, Provider
from reconciler.providers import client_for
from reconciler.sandbox import Sandbox
from reconciler.sandbox.faults import Faults
from tests.cli_helpers import run_cli, write
from tests.hostile import Answer, HostileServer, Request

DM_SECRET = "dm-secret-Zq8Hv3pLx1"
DM_TOKEN = "sts-token-Wk5Rt9Yb2"
SC_KEY = "sc-api-key-Jm4Nc7Gd6"
SECRETS = (DM_SECRET, DM_TOKEN, SC_KEY)
ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "sandbox-access-key-id",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DM_SECRET,
    "ALIBABA_CLOUD_SECURITY_TOKEN": DM_TOKEN,
    "SENDCLOUD_API_USER": "sandbox_api_user",
    "SENDCLOUD_API_KEY": SC_KEY,
}


def _manifests(root: Path, dm_endpoint: str, sc_endpoint: str) -> None:
    retry = "  retry: {attempts: 2, maxSeconds: 5, baseDelaySeconds: 0.01}\n"
    limits = "  limits: {requestsPerSecond: 1000}\n"
    write(
        root / "m" / "all.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: dm}\n"
        f"spec:\n  provider: aliyun-directmail\n  endpoint: {dm_endpoint}\n{retry}{limits}---\n"
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: sc}\n"
        f"spec:\n  provider: sendcloud\n  endpoint: {sc_endpoint}\n{retry}{limits}---\n"
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
        "spec: {account: dm, enabled: false}\n---\n"
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
        "spec: {account: dm, entries: [203.0.113.7]}\n---\n"
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec:\n  account: sc\n  prune: false\n  entries: [{email: vip@example.com}]\n",
    )


def _runs(root: Path) -> str:
    """Everything a user could see from plan and apply, verbose, text and JSON, plus files."""
    seen = []
    for args in (
        ("plan", "m", "-v", "--out", "saved.json"),
        ("plan", "m", "-v", "--format", "json"),
        ("apply", "m", "-v", "--yes"),
        ("apply", "m", "-v", "--yes", "--format", "json"),
    ):
        result = run_cli(*args, cwd=root, env=ENV)
        assert "Traceback" not in result.err, result
        seen += [result.out, result.err]
    saved = root / "saved.json"
    if saved.exists():
        seen.append(saved.read_text(encoding="utf-8"))
    return "\n".join(seen)


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked"


@pytest.mark.parametrize("kind", ["throttling", "5xx", "drop-before", "drop-after"])
def test_no_secret_under_any_injected_fault(tmp_path: Path, kind: str) -> None:
    with Sandbox(faults=Faults(error_rate=1.0, kinds=(kind,), retry_after=0.01)) as server:
        _manifests(tmp_path, server.directmail_endpoint, server.sendcloud_endpoint)
        text = _runs(tmp_path)
    assert "failed" in text  # the failure path was really taken
    _assert_no_secret(text)


def test_no_secret_when_the_provider_rejects_the_credentials(tmp_path: Path) -> None:
    with Sandbox() as server:  # the sandbox knows other secrets: every call is refused
        _manifests(tmp_path, server.directmail_endpoint, server.sendcloud_endpoint)
        text = _runs(tmp_path)
    assert "SignatureDoesNotMatch" in text or "InvalidAccessKeyId" in text
    assert "40005" in text
    _assert_no_secret(text)


def test_no_secret_when_nothing_listens(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _manifests(tmp_path, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/apiv2")
    text = _runs(tmp_path)
    assert "network error" in text
    _assert_no_secret(text)


def test_no_secret_when_the_answer_is_not_json(tmp_path: Path) -> None:
    # A web server that is not the provider: SendCloud's paths there answer 404 HTML-ish text.
    with Sandbox() as server:
        _manifests(tmp_path, f"{server.url}/nowhere", f"{server.url}/nowhere/apiv2")
        text = _runs(tmp_path)
    _assert_no_secret(text)


def test_no_secret_in_a_credentials_file_error(tmp_path: Path) -> None:
    secret_file = write(tmp_path / "secret.txt", f"{DM_SECRET}\n")
    secret_file.chmod(0o000)
    write(
        tmp_path / "m" / "a.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: dm}\n"
        "spec:\n  provider: aliyun-directmail\n  endpoint: http://127.0.0.1:9\n"
        f"  credentials:\n    accessKeySecret: {{file: {secret_file}}}\n"
        # Every retry, each logged under -v, without the default half-second waits.
        "  retry: {baseDelaySeconds: 0.001}\n---\n"
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
        "spec: {account: dm, enabled: true}\n",
    )
    result = run_cli("plan", "m", "-v", cwd=tmp_path, env=ENV)
    secret_file.chmod(0o600)
    assert result.code != 0
    _assert_no_secret(result.out + result.err)


def test_tls_verification_is_on() -> None:
    for provider, secrets in (
        (Provider.ALIYUN_DM, {"accessKeyId": "a", "accessKeySecret": DM_SECRET}),
        (Provider.SENDCLOUD, {"apiUser": "u", "apiKey": SC_KEY}),
    ):
        with client_for(Account("a", provider, "https://example.com"), secrets) as client:
            assert client.session.verify not in (False, None, "")


# Secrets with characters that every encoding changes, echoed by a hostile provider.
ODD_SECRETS = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "odd-key-id",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "dm/se cret+Zq=8&x",
    "ALIBABA_CLOUD_SECURITY_TOKEN": "sts/to ken+Wk=5",
    "SENDCLOUD_API_USER": "odd_user",
    "SENDCLOUD_API_KEY": "sc/api key+Jm=4~",
}
ODD = tuple(ODD_SECRETS[name] for name in ODD_SECRETS if "SECRET" in name or "TOKEN" in name)
ODD = (*ODD, ODD_SECRETS["SENDCLOUD_API_KEY"])
ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda s: s,
    "quote": quote,
    "quote-empty-safe": lambda s: quote(s, safe=""),
    "quote_plus": quote_plus,
    "form": lambda s: urlencode({"apiKey": s}),
    "lower-hex": lambda s: re.sub("%[0-9A-F]{2}", lambda m: m[0].lower(), quote(s, safe="")),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_no_secret_echoed_in_any_provider_field(tmp_path: Path, encoding: str) -> None:
    encode = ENCODINGS[encoding]
    dm_echo = " ".join(encode(secret) for secret in ODD[:2])
    sc_echo = encode(ODD[2])

    def script(request: Request) -> Answer:
        if request.path.startswith("/apiv2"):
            body = {"result": False, "statusCode": sc_echo, "message": sc_echo, "info": {}}
            return Answer(400, json.dumps(body).encode(), reason=sc_echo)
        body = {"Code": dm_echo, "Message": dm_echo, "RequestId": dm_echo}
        headers = (("Content-Type", "application/json"), ("x-acs-request-id", dm_echo))
        return Answer(503, json.dumps(body).encode(), headers, reason=dm_echo)

    def reason_only(request: Request) -> Answer:
        echo = sc_echo if request.path.startswith("/apiv2") else dm_echo
        return Answer(502, b"not json", reason=echo)

    seen = []
    for answer in (script, reason_only):
        with HostileServer(script=answer) as server:
            _manifests(tmp_path, server.url, server.url + "/apiv2")
            for args in (("plan", "m", "-v"), ("plan", "m", "-v", "--format", "json")):
                result = run_cli(*args, cwd=tmp_path, env=ODD_SECRETS)
                assert result.code == 1, result
                assert "Traceback" not in result.err
                seen += [result.out, result.err]
    text = "\n".join(seen)
    assert "***" in text  # the echo was really shown, scrubbed
    for secret in ODD:
        for form in {encode(secret), secret, quote(secret, safe=""), quote_plus(secret)}:
            assert form not in text, f"{form!r} leaked"
