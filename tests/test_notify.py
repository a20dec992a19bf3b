"""``--notify``: a summary received by a local webhook that checks each platform's signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import notify
from reconciler.output.redact import mask
from tests.cli_helpers import EXAMPLES, run_cli
from tests.webhook import SECRET, TOKEN, Receiver, receiving, text_of

GITHUB = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/mail",
    "GITHUB_RUN_ID": "4242",
}


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    with receiving(getattr(request, "param", "dingtalk")) as state:
        yield state


@pytest.mark.parametrize("receiver", ["dingtalk", "feishu"], indirect=True)
def test_apply_posts_a_signed_summary(receiver: Receiver, tmp_path: Path) -> None:
    env = {notify.URL_ENV: receiver.url, notify.SECRET_ENV: SECRET, **GITHUB}
    result = run_cli(
        "apply", str(EXAMPLES), "--sandbox", "--yes", "-v", "--notify", receiver.platform,
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.code == 0, result
    assert [r.valid for r in receiver.received] == [True]
    text = text_of(receiver.received[0])
    assert text.startswith("reconciler apply: succeeded (exit 0)")
    assert "Apply: 9 applied, 0 failed, 0 skipped." in text
    assert "run: https://github.com/acme/mail/actions/runs/4242" in text
    assert TOKEN not in result.out + result.err and SECRET not in result.out + result.err
    assert "127.0.0.1" in result.err  # which host, never the token


@pytest.mark.parametrize("receiver", ["wecom", "slack"], indirect=True)
def test_plan_posts_to_unsigned_platforms(receiver: Receiver, tmp_path: Path) -> None:
    env = {notify.URL_ENV: receiver.url, "CI_JOB_URL": "https://gitlab.example/job/7"}
    result = run_cli(
        "plan", str(EXAMPLES), "--sandbox", "--detailed-exitcode", "--notify",
        receiver.platform, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.code == 2, result
    text = text_of(receiver.received[0])
    assert text.splitlines() == [
        "reconciler plan: has changes (exit 2)",
        "Plan: 5 to add, 2 to change, 2 to delete.",
        "run: https://gitlab.example/job/7",
    ]


def test_an_error_is_in_the_summary_and_addresses_are_masked(
    receiver: Receiver, tmp_path: Path
) -> None:
    result = run_cli(
        "apply", "--plan", "missing.json", "--yes", "--notify", "dingtalk",
        cwd=tmp_path, env={notify.URL_ENV: receiver.url, notify.SECRET_ENV: SECRET},
    )  # fmt: skip
    assert result.code == 3, result
    text = text_of(receiver.received[0])
    assert text.startswith("reconciler apply: invalid input (exit 3)")
    assert "error: " in text
    with_address = notify.message("apply", 4, ["refused: keeps ann@example.com"], {})
    assert mask("ann@example.com") in with_address and "ann@" not in with_address


def test_a_failed_notification_is_a_warning(receiver: Receiver, tmp_path: Path) -> None:
    receiver.status = 500
    env = {notify.URL_ENV: receiver.url, notify.SECRET_ENV: SECRET}
    result = run_cli(
        "plan", str(EXAMPLES), "--sandbox", "--notify", "dingtalk", cwd=tmp_path, env=env
    )
    assert result.code == 0, result
    assert (
        "warning: --notify dingtalk: the summary was NOT posted: the webhook at 127.0.0.1 did "
        "not take it: HTTP 500; nobody was notified of this plan" in result.err
    )
    assert TOKEN not in result.err

    wrong = {notify.URL_ENV: receiver.url, notify.SECRET_ENV: "not-the-secret"}
    receiver.status = 200
    signed_badly = run_cli(
        "plan", str(EXAMPLES), "--sandbox", "--notify", "dingtalk", cwd=tmp_path, env=wrong
    )
    assert signed_badly.code == 0 and "error 310000" in signed_badly.err
    assert "not-the-secret" not in signed_badly.err


def test_unreachable_urls_are_warnings_missing_or_plain_http_are_invalid_input(
    tmp_path: Path,
) -> None:
    cases = {
        "http://127.0.0.1:9/hook?key=" + TOKEN: (0, "connection refused, could not connect"),
        # Found before the plan runs (test_notify_url has the rest).
        "": (3, "RECONCILER_WEBHOOK_URL is not set"),
        "http://hooks.example/x?key=" + TOKEN: (3, "must be an https URL"),
    }
    for url, (code, said) in cases.items():
        result = run_cli(
            "plan", str(EXAMPLES), "--sandbox", "--notify", "slack",
            cwd=tmp_path, env={notify.URL_ENV: url},
        )  # fmt: skip
        assert result.code == code, result
        assert said in result.err and TOKEN not in result.err


def test_signing_matches_the_documented_examples() -> None:
    url, _ = notify.signed("dingtalk", "https://h/robot?access_token=t", "x", "s", now=1.5)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    digest = hmac.new(b"s", b"1500\ns", hashlib.sha256).digest()
    assert query["timestamp"] == ["1500"]
    assert query["sign"] == [base64.b64encode(digest).decode()]
    _, body = notify.signed("feishu", "https://h/hook", "x", "s", now=7.9)
    digest = hmac.new(b"7\ns", b"", hashlib.sha256).digest()
    assert body["timestamp"] == "7" and body["sign"] == base64.b64encode(digest).decode()


def test_check_posts_each_failed_check_with_why(receiver: Receiver, tmp_path: Path) -> None:
    import shutil

    manifests = tmp_path / "m"
    shutil.copytree(EXAMPLES, manifests)
    (manifests / "checks" / "strict.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: DeliveryCheck\nmetadata: {name: strict}\n"
        "spec: {account: prod-dm, window: 7d, minRequests: 1, maxFailedPercent: 0,"
        " maxInvalidPercent: 100}\n",
        encoding="utf-8",
    )
    env = {notify.URL_ENV: receiver.url, notify.SECRET_ENV: SECRET, **GITHUB}
    result = run_cli(
        "check", str(manifests), "--sandbox", "--notify", "dingtalk", cwd=tmp_path, env=env
    )
    assert result.code == 2, result
    assert [r.valid for r in receiver.received] == [True]
    lines = text_of(receiver.received[0]).splitlines()
    assert lines[0] == "reconciler check: a check FAILED (exit 2)"
    assert any(line.startswith("check failed: strict (prod-dm): failed ") for line in lines)
    assert "> maxFailedPercent 0" in "\n".join(lines)
    assert not any("prod-health" in line for line in lines[2:-1])  # only failed checks listed
