"""``--notify``'s webhook URL is input: unset, or neither https nor http to a loopback address,
is refused before the command runs (exit 3, nothing planned, applied or checked), not found
out after the run. Through the real CLI, against a sandbox running on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import notify
from reconciler import sandbox as sb
from reconciler.errors import InputError
from reconciler.sandbox import Sandbox
from tests.cli_helpers import EXAMPLES, Result, accounts_yaml, run_cli, write
from tests.webhook import TOKEN, receiving

ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
    "SENDCLOUD_API_USER": sb.API_USER,
    "SENDCLOUD_API_KEY": sb.API_KEY,
}
MANIFESTS = (
    "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
    "spec: {account: dm, entries: [203.0.113.7, 198.51.100.0/24]}\n---\n"
    "apiVersion: reconciler/v1\nkind: DeliveryCheck\nmetadata: {name: health}\n"
    "spec: {account: dm, window: 24h, minRequests: 1, maxFailedPercent: 2, maxInvalidPercent: 5}\n"
)
NOT_SET = (
    "error: --notify slack: RECONCILER_WEBHOOK_URL is not set: set it to the webhook's URL "
    f"({notify.ACCEPTED}) — nothing was done"
)
NOT_HTTPS = (
    "error: --notify slack: RECONCILER_WEBHOOK_URL must be an https URL "
    f"({notify.ACCEPTED}) — nothing was done"
)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Sandbox, str]]:
    """A running sandbox with nothing called yet, and manifests that change it (a whitelist)
    and check it (a delivery check)."""
    with Sandbox(tmp_path / "s.json") as sandbox:
        manifests = tmp_path / "m"
        write(manifests / "accounts.yaml", accounts_yaml(sandbox.url))
        write(manifests / "w.yaml", MANIFESTS)
        sandbox.reset_calls()
        yield sandbox, str(manifests)


def _run(tmp_path: Path, *args: str, url: str | None) -> Result:
    env = {**ENV, **({notify.URL_ENV: url} if url is not None else {})}
    result = run_cli(*args, cwd=tmp_path, env=env)
    assert "Traceback" not in result.err, result
    assert TOKEN not in result.out + result.err, result
    return result


def test_apply_without_a_url_changes_nothing_and_exits_3(
    tmp_path: Path, live: tuple[Sandbox, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, manifests = live
    monkeypatch.delenv(notify.URL_ENV, raising=False)  # unset, not merely empty
    before = sandbox.snapshot()
    refused = _run(tmp_path, "apply", manifests, "--yes", "--notify", "slack", url=None)
    assert refused.code == 3, refused
    assert NOT_SET in refused.err, refused
    assert refused.out == ""
    assert sandbox.calls == {}  # not even a read: nothing ran
    assert sandbox.snapshot() == before
    # The same apply with a URL to post to writes the whitelist: the check above could fail.
    with receiving("slack") as receiver:
        applied = _run(tmp_path, "apply", manifests, "--yes", "--notify", "slack", url=receiver.url)
    assert applied.code == 0, applied
    assert sandbox.calls and sandbox.snapshot() != before
    assert len(receiver.received) == 1


def test_apply_with_the_embedded_sandbox_and_no_url_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(notify.URL_ENV, raising=False)
    args = ("apply", str(EXAMPLES), "--sandbox", "--notify", "slack", "--yes")
    refused = _run(tmp_path, *args, url=None)
    assert refused.code == 3, refused
    assert NOT_SET in refused.err and "Apply:" not in refused.out + refused.err
    assert not (tmp_path / ".reconciler").exists()  # no sandbox started, nothing applied


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example/x?key=" + TOKEN,  # http to another host
        "hooks.slack.example/services/" + TOKEN,  # no scheme
        "ftp://127.0.0.1/" + TOKEN,
        "https:///services/" + TOKEN,  # no host
        "https://[::1/" + TOKEN,  # not a URL: urlsplit raises
        "https://hooks.example:port/" + TOKEN,  # a port that is not a number
    ],
)
def test_check_with_a_url_not_allowed_makes_no_provider_call_and_exits_3(
    tmp_path: Path, live: tuple[Sandbox, str], url: str
) -> None:
    sandbox, manifests = live
    refused = _run(tmp_path, "check", manifests, "--notify", "slack", url=url)
    assert refused.code == 3, refused
    assert NOT_HTTPS in refused.err, refused
    assert refused.out == ""
    assert sandbox.calls == {}


def test_check_with_an_allowed_url_calls_the_provider(
    tmp_path: Path, live: tuple[Sandbox, str]
) -> None:
    """The control of the test above: the same check, with a URL that is allowed, does call
    the provider and posts."""
    sandbox, manifests = live
    with receiving("slack") as receiver:
        result = _run(tmp_path, "check", manifests, "--notify", "slack", url=receiver.url)
    assert result.code in (0, 2), result
    assert sandbox.calls and len(receiver.received) == 1


def test_the_mention_and_the_url_are_both_checked_first(tmp_path: Path) -> None:
    """A bad URL with a good mention, and a good URL with a bad mention: each is exit 3."""
    bad_url = _run(
        tmp_path, "plan", str(EXAMPLES), "--sandbox", "--notify", "slack",
        "--notify-mention", "all", url="http://hooks.example/x",
    )  # fmt: skip
    assert bad_url.code == 3 and NOT_HTTPS in bad_url.err, bad_url
    bad_mention = _run(
        tmp_path, "plan", str(EXAMPLES), "--sandbox", "--notify", "slack",
        "--notify-mention", "mobile:12ab", url="https://hooks.example/x",
    )  # fmt: skip
    assert bad_mention.code == 3 and "is not a mention" in bad_mention.err, bad_mention
    assert not (tmp_path / ".reconciler").exists()


def test_which_urls_are_accepted() -> None:
    for url in (
        "https://hooks.slack.com/services/T0/B0/x",
        "https://oapi.dingtalk.com:443/robot/send?access_token=t",
        "http://127.0.0.1:8080/hook",
        "http://127.8.9.10/hook",
        "http://localhost/hook",
        "http://[::1]:9/hook",
    ):
        assert notify.webhook_url("dingtalk", {notify.URL_ENV: url}) == url
    for url in ("", "http://hooks.example/x", "http://10.0.0.1/x", "https://", "//h/x"):
        with pytest.raises(InputError, match=notify.URL_ENV) as raised:
            notify.webhook_url("dingtalk", {notify.URL_ENV: url})
        assert "/x" not in str(raised.value)  # never the URL itself: it holds the token
