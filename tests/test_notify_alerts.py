"""Alerts that page: ``check --notify`` counts each outcome and says why a check failed (from
the detail API), an apply's post names accounts and changes, @-mentions reach the on-call
person on each platform, a post that fails makes ``check`` exit 7, and the post is bounded as a
provider call is. Through the real CLI, against the sandbox and a receiver on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from reconciler import notify
from reconciler import sandbox as sb
from reconciler.apply import Outcome
from reconciler.errors import InputError
from reconciler.model import IpEntry
from reconciler.notify import causes, transport
from reconciler.notify.platforms import answer_problem
from reconciler.output.redact import mask
from reconciler.plan import Action, Change, Resource
from reconciler.providers.telemetry import Window
from reconciler.sandbox import Sandbox
from tests.cli_helpers import EXAMPLES, Result, accounts_yaml, run_cli, write
from tests.hostile import Answer, HostileServer
from tests.sandbox_calls import NOTIFY
from tests.webhook import SECRET, TOKEN, receiving, text_of

ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
    "SENDCLOUD_API_USER": sb.API_USER,
    "SENDCLOUD_API_KEY": sb.API_KEY,
}
DETAIL = "SenderStatisticsDetailByParam"
NEWSLETTER = "newsletter@mail.example.com"
LOCKED_OUT = "192.0.2.200"  # notify@'s egress address: in no whitelist entry


def _check(name: str, key: str, value: str, min_requests: int = 100) -> str:
    return (
        f"apiVersion: reconciler/v1\nkind: DeliveryCheck\nmetadata: {{name: {name}}}\n"
        f"spec:\n  account: dm\n  window: 24h\n  {key}: {value}\n  minRequests: {min_requests}\n"
        "  maxFailedPercent: 2\n  maxInvalidPercent: 5\n---\n"
    )


CHECKS = (
    _check("notify", "sender", NOTIFY)
    + _check("news", "sender", NEWSLETTER)
    + _check("quiet", "tag", "survey")  # a handful of mails a day: insufficient data
)
PROTECTION = (
    "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
    "spec: {account: dm, enabled: true}\n"
)


def _run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, hostile: bool = False
) -> Result:
    result = run_cli(*args, cwd=tmp_path, env={**ENV, **(env or {})})
    # A hostile server's own thread may print its traceback (a connection we closed on it)
    # into the same stderr; an exception of the CLI would have ended run_cli.
    assert hostile or "Traceback" not in result.err, result
    for secret in (TOKEN, SECRET, ENV["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]):
        assert secret not in result.out + result.err, result
    return result


@pytest.fixture
def locked_out(tmp_path: Path) -> Iterator[tuple[Sandbox, str]]:
    """The sandbox after protection went on two days ago with notify@ left out of the
    whitelist (``apply --force`` past the lock-out refusal), and the manifests of three checks:
    notify (fails), news (passes), quiet (insufficient data)."""
    with Sandbox(tmp_path / "s.json", senders={NOTIFY: LOCKED_OUT}) as sandbox:
        manifests = tmp_path / "m"
        write(manifests / "accounts.yaml", accounts_yaml(sandbox.url))
        write(manifests / "checks.yaml", CHECKS)
        write(manifests / "protection.yaml", PROTECTION)
        applied = _run(tmp_path, "apply", str(manifests), "--yes", "--force")
        assert applied.code == 0, applied
        state = sandbox.snapshot()
        state["directmail"]["ip_protection_since"] -= 86_400 * 2
        sandbox.set_state(state)
        sandbox.reset_calls()
        yield sandbox, str(manifests)


def test_a_failing_check_pages_with_counts_causes_and_mentions(
    tmp_path: Path, locked_out: tuple[Sandbox, str]
) -> None:
    sandbox, manifests = locked_out
    with receiving("dingtalk") as receiver:
        env = {notify.URL_ENV: receiver.url, notify.SECRET_ENV: SECRET}
        result = _run(
            tmp_path, "check", manifests, "--notify", "dingtalk",
            "--notify-mention", "13800000000,user:oncall01", env=env,
        )  # fmt: skip
    assert result.code == 2, result
    assert [r.valid for r in receiver.received] == [True]
    body = receiver.received[0].body
    lines = text_of(receiver.received[0]).splitlines()
    assert lines[0] == "reconciler check: a check FAILED (exit 2)"
    # Counted per outcome: the check without enough data is not one that "did not fail".
    assert lines[1] == "Checks: 1 failed, 1 insufficient data, 1 passed (of 3)."
    assert lines[2].startswith("check failed: notify (dm): failed ")
    # Why, from the detail API: the classification, the provider's own message, the sender
    # (masked as every address in a post is).
    cause = lines[3]
    read = re.fullmatch(r"  causes \((\d+) of (\d+) failed read, the latest first\): (.*)", cause)
    assert read and read[1] == str(causes.SAMPLE) and int(read[2]) > causes.SAMPLE, cause
    # The top classification first: the lock-out, with the provider's message.
    top = re.match(
        rf"IpProtection (\d+) \(554 IP protection is on and sender address {LOCKED_OUT} is "
        r"not whitelisted\)(;|$)",
        read[3],
    )
    assert top and int(top[1]) > causes.SAMPLE * 0.8, cause
    senders = re.fullmatch(r"  senders: (\S+) (\d+)(, .*)?", lines[4])
    assert senders and senders[1] == mask(NOTIFY) and int(senders[2]) >= int(top[1]), lines[4]
    assert lines[5].startswith("insufficient data: quiet (dm): ")
    assert "fewer than minRequests 100" in lines[5]
    assert not any("news" in line for line in lines)  # a passing check is only counted
    assert NOTIFY not in json.dumps(body)
    # The on-call person: DingTalk's at block, and each named in the text so it renders.
    assert body["at"] == {"atMobiles": ["13800000000"], "atUserIds": ["oncall01"], "isAtAll": False}
    assert lines[-1] == "@13800000000 @oncall01"
    assert "mentioning 2" in result.err and "13800000000" not in result.err
    # The causes cost a bounded read: the latest hour's failed and spam pages, no more.
    assert 1 <= sandbox.calls[DETAIL] <= causes.MAX_PAGES + 1


def test_a_check_that_passes_mentions_nobody_and_says_so(
    tmp_path: Path, locked_out: tuple[Sandbox, str]
) -> None:
    _, manifests = locked_out
    with receiving("wecom") as receiver:
        env = {notify.URL_ENV: receiver.url, notify.MENTION_ENV: "oncall01"}
        result = _run(tmp_path, "check", manifests, "--account", "dm", "--notify", "wecom", env=env)
        assert result.code == 2
        # Only the passing check: a summary of good news pages nobody.
        write(Path(manifests) / "checks.yaml", _check("news", "sender", NEWSLETTER))
        passing = _run(tmp_path, "check", manifests, "--notify", "wecom", env=env)
    assert passing.code == 0, passing
    paged, quiet = (r.body for r in receiver.received)
    assert paged["text"]["mentioned_list"] == ["oncall01"]
    assert "mentioned_list" not in quiet["text"]
    assert quiet["text"]["content"].splitlines()[:2] == [
        "reconciler check: every check passed (exit 0)",
        "Checks: 1 passed (of 1).",
    ]


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, notify.NOT_NOTIFIED), (200, 0)],
)
def test_a_post_that_fails_makes_check_exit_7(
    tmp_path: Path, locked_out: tuple[Sandbox, str], status: int, code: int
) -> None:
    _, manifests = locked_out
    write(Path(manifests) / "checks.yaml", _check("news", "sender", NEWSLETTER))
    with receiving("feishu") as receiver:
        receiver.status = status
        env = {notify.URL_ENV: receiver.url, notify.SECRET_ENV: SECRET}
        result = _run(tmp_path, "check", manifests, "--notify", "feishu", env=env)
    assert result.code == code, result
    assert len(receiver.received) == 1
    if status != 200:
        assert "error: --notify feishu: the summary was NOT posted" in result.err
        assert "HTTP 500; exit 7" in result.err


def test_a_failed_check_whose_post_fails_exits_7_and_broken_input_keeps_3(
    tmp_path: Path, locked_out: tuple[Sandbox, str]
) -> None:
    _, manifests = locked_out
    # An unset or plain-http URL is refused before the check runs (test_notify_url): a post
    # fails here because nothing listens on the port.
    unreachable = {notify.URL_ENV: "http://127.0.0.1:9/hook?key=" + TOKEN}
    failed = _run(tmp_path, "check", manifests, "--notify", "dingtalk", env=unreachable)
    assert failed.code == notify.NOT_NOTIFIED, failed
    assert "could not connect; exit 7" in failed.err
    assert "FAIL" in failed.out  # the check's own outcome is still reported
    # The run's own failure (bad input) is kept: it is what must be fixed first.
    missing = str(tmp_path / "nowhere")
    invalid = _run(tmp_path, "check", missing, "--notify", "slack", env=unreachable)
    assert invalid.code == 3, invalid
    assert "could not connect; nobody was notified of this check" in invalid.err, invalid


def test_an_apply_post_names_accounts_and_changes_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "MAX_CHANGES", 4)
    with receiving("wecom") as receiver:
        env = {notify.URL_ENV: receiver.url, notify.MENTION_ENV: "all"}
        result = _run(
            tmp_path, "apply", str(EXAMPLES), "--sandbox", "--yes", "--notify", "wecom", env=env
        )
    assert result.code == 0, result
    lines = text_of(receiver.received[0]).splitlines()
    assert lines[:4] == [
        "reconciler apply: succeeded (exit 0)",
        "Apply: 9 applied, 0 failed, 0 skipped.",
        "prod-dm: 4 applied",
        "prod-sc: 5 applied",
    ], lines
    changes = lines[4:8]
    assert all(line.startswith(("applied: prod-dm: ", "applied: prod-sc: ")) for line in changes)
    assert "applied: prod-dm: + ip_whitelist 192.0.2.10-192.0.2.20" in changes
    assert lines[8] == "… and 5 more changes (see the run's log)"
    assert "@" not in "".join(line.split("#")[0] for line in lines if "**@" not in line)
    assert "mentioned_list" not in receiver.received[0].body["text"]  # success pages nobody


def test_an_apply_post_that_fails_is_said_on_stderr_and_keeps_the_exit_code(
    tmp_path: Path,
) -> None:
    with receiving("dingtalk") as receiver:
        receiver.status = 502
        env = {notify.URL_ENV: receiver.url}
        result = _run(
            tmp_path, "apply", str(EXAMPLES), "--sandbox", "--yes", "--notify", "dingtalk", env=env
        )
    assert result.code == 0, result
    assert (
        "warning: --notify dingtalk: the summary was NOT posted: the webhook at 127.0.0.1 did "
        "not take it: HTTP 502; nobody was notified of this apply" in result.err
    )


@pytest.mark.parametrize("platform", ["dingtalk", "feishu", "wecom", "slack"])
def test_a_failed_apply_mentions_on_each_platform(tmp_path: Path, platform: str) -> None:
    with receiving(platform) as receiver:
        env = {notify.URL_ENV: receiver.url, notify.SECRET_ENV: SECRET}
        result = _run(
            tmp_path, "apply", "--plan", "missing.json", "--yes", "--notify", platform,
            "--notify-mention", "all", "--notify-mention", "ou_7d8a6e", env=env,
        )  # fmt: skip
    assert result.code == 3, result
    (received,) = receiver.received
    assert received.valid
    text, body = text_of(received), received.body
    assert text.startswith("reconciler apply: invalid input (exit 3)")
    expected = {
        "dingtalk": lambda: body["at"] == {
            "atMobiles": [], "atUserIds": ["ou_7d8a6e"], "isAtAll": True
        } and text.endswith("\n@ou_7d8a6e"),
        "feishu": lambda: text.endswith(
            '\n<at user_id="ou_7d8a6e"></at> <at user_id="all">所有人</at>'
        ),
        "wecom": lambda: body["text"]["mentioned_list"] == ["ou_7d8a6e", "@all"],
        "slack": lambda: text.endswith("\n<@ou_7d8a6e> <!channel>"),
    }  # fmt: skip
    assert expected[platform](), body


def test_mobiles_are_dropped_where_a_platform_has_none(tmp_path: Path) -> None:
    with receiving("feishu") as receiver:
        env = {notify.URL_ENV: receiver.url, notify.MENTION_ENV: "mobile:13800000000"}
        result = _run(
            tmp_path, "apply", "--plan", "missing.json", "--yes", "--notify", "feishu", env=env
        )
    assert result.code == 3
    assert "13800000000" not in json.dumps(receiver.received[0].body)
    assert "cannot mention mobile numbers" in result.err


def test_a_bad_mention_is_invalid_input_before_anything_runs(tmp_path: Path) -> None:
    with receiving("feishu") as receiver:
        env = {notify.URL_ENV: receiver.url, notify.MENTION_ENV: 'ou_1"><at user_id="all'}
        result = _run(
            tmp_path, "apply", str(EXAMPLES), "--sandbox", "--yes", "--notify", "feishu", env=env
        )
        flagged = _run(
            tmp_path, "plan", str(EXAMPLES), "--sandbox", "--notify", "feishu",
            "--notify-mention", "mobile:12ab", env=env,
        )  # fmt: skip
    assert result.code == 3, result
    assert "RECONCILER_NOTIFY_MENTION: 'ou_1\"><at' is not a mention" in result.err
    assert "nothing was done" in result.err
    assert not (tmp_path / ".reconciler").exists()  # no sandbox started, nothing applied
    assert flagged.code == 3 and "--notify-mention: 'mobile:12ab' is not a mention" in flagged.err
    alone = _run(tmp_path, "plan", str(EXAMPLES), "--sandbox", "--notify-mention", "all")
    assert alone.code == 3 and "--notify-mention needs --notify PLATFORM" in alone.err
    assert receiver.received == []


# -- the post is bounded as a provider call is ---------------------------------------------


def _post_to(tmp_path: Path, server: HostileServer, path: str = "/hook") -> Result:
    env = {notify.URL_ENV: f"{server.url}{path}?access_token={TOKEN}"}
    return _run(
        tmp_path, "plan", str(EXAMPLES), "--sandbox", "--notify", "dingtalk", env=env, hostile=True
    )


def test_a_redirect_is_not_followed(tmp_path: Path) -> None:
    with HostileServer(script=lambda r: Answer.json({"errcode": 0})) as elsewhere:
        target = f"{elsewhere.url}/stolen"
        with HostileServer(script=lambda r: Answer.redirect(target)) as hook:
            result = _post_to(tmp_path, hook)
        assert len(hook.requests) == 1
        assert elsewhere.requests == []
    assert result.code == 0
    assert "a redirect (HTTP 307), which is never followed" in result.err


def test_a_large_or_compressed_answer_is_not_read_whole(tmp_path: Path) -> None:
    big = Answer(200, b"{" + b" " * (2 * transport.MAX_ANSWER) + b"}")
    bomb = Answer(
        200,
        gzip.compress(b"{" + b" " * 5_000_000 + b"}"),
        (("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
    )
    for answer in (big, bomb):
        with HostileServer(default=answer) as hook:
            started = time.monotonic()
            result = _post_to(tmp_path, hook)
        assert result.code == 0
        assert "the answer is larger than 64 KiB; it was not read to the end" in result.err
        assert time.monotonic() - started < 10


def test_a_slow_answer_ends_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "DEADLINE", 1.0)
    slow = Answer(200, json.dumps({"errcode": 0, "errmsg": "ok"}).encode(), trickle=0.3)
    with HostileServer(script=lambda r: slow) as hook:
        started = time.monotonic()
        result = _run(
            tmp_path, "check", str(tmp_path / "nowhere"), "--notify", "dingtalk",
            env={notify.URL_ENV: f"{hook.url}/hook?access_token={TOKEN}"}, hostile=True,
        )  # fmt: skip
        took = time.monotonic() - started
    assert result.code == 3  # the check's own invalid input; the post failed on top
    assert "the answer took over 1 s; it was not read to the end" in result.err
    assert took < 1.0 + 2.0, took  # 24 bytes at 0.3 s each would take 7 s


def test_mentions_parse_and_render_as_each_platform_documents() -> None:
    who = notify.parse_mentions(["+8613800000000, user:alice.w", "all bob-2"], "flag")
    assert who.mobiles == ("+8613800000000",) and who.users == ("alice.w", "bob-2")
    assert who.everyone and who.count("dingtalk") == 4 and who.count("feishu") == 3
    _, ding = notify.signed("dingtalk", "https://h/r", "t", None, mentions=who)
    assert ding["text"]["content"] == "t\n@+8613800000000 @alice.w @bob-2"
    _, wecom = notify.signed("wecom", "https://h/r", "t", None, mentions=who)
    assert wecom["text"] == {
        "content": "t",
        "mentioned_list": ["alice.w", "bob-2", "@all"],
        "mentioned_mobile_list": ["+8613800000000"],
    }
    everyone = notify.parse_mentions(["@all"], "flag")
    _, ding = notify.signed("dingtalk", "https://h/r", "t", None, mentions=everyone)
    assert ding["text"]["content"] == "t\n@all" and ding["at"]["isAtAll"] is True
    assert not notify.parse_mentions([""], "flag")


# -- the summary's pieces, table-driven ----------------------------------------------------


def _outcome(index: int, status: str, detail: str | None = None) -> Outcome:
    entry = IpEntry(f"203.0.113.{index}")
    change = Change("prod-dm", Resource.IP_WHITELIST, Action.CREATE, entry.address, None, entry)
    return Outcome(change, status, detail)  # type: ignore[arg-type]


def test_an_apply_summary_lists_failed_changes_first_with_why() -> None:
    notify.FACTS.reset()
    outcomes = [_outcome(i, "applied") for i in range(1, 13)]
    outcomes.append(_outcome(13, "failed", "DirectMail AddIpfilter failed: Throttling.User"))
    notify.record_outcomes(outcomes)
    lines = notify.message("apply", 1, [], {}).splitlines()
    assert lines[:4] == [
        "reconciler apply: FAILED (exit 1)",
        "Apply: 12 applied, 1 failed, 0 skipped.",
        "prod-dm: 12 applied, 1 failed",
        "failed: prod-dm: + ip_whitelist 203.0.113.13: DirectMail AddIpfilter failed: "
        "Throttling.User",
    ]
    assert lines[4] == "applied: prod-dm: + ip_whitelist 203.0.113.1"
    assert lines[13] == "… and 3 more changes (see the run's log)"
    assert notify.trouble("apply", 1) and not notify.trouble("apply", 0)


def test_a_check_summary_with_only_missing_data_says_so_and_long_ones_are_cut() -> None:
    notify.FACTS.reset()
    quiet = {"name": "q", "account": "dm", "status": "insufficient-data", "reasons": ["3 < 100"]}
    notify.record_checks([quiet, {**quiet, "name": "p", "status": "pass"}])
    assert notify.message("check", 0, [], {}).splitlines() == [
        "reconciler check: no check failed, 1 with insufficient data (exit 0)",
        "Checks: 1 insufficient data, 1 passed (of 2).",
        "insufficient data: q (dm): 3 < 100",
    ]
    assert not notify.trouble("check", 0)
    errors = [f"e{i}" for i in range(notify.MAX_LINES + 5)]
    lines = notify.message("check", 0, errors, {}).splitlines()
    assert lines[-1] == "… and 7 more" and len(lines) == notify.MAX_LINES + 2


@pytest.mark.parametrize(
    ("platform", "status", "body", "problem"),
    [
        ("slack", 200, b"ok", None),
        ("wecom", 200, b"ok", "an answer that is not JSON"),
        ("wecom", 200, b'{"errcode": 93000, "errmsg": "invalid webhook url"}', "error 93000: "),
        ("feishu", 200, b'{"code": 19021, "msg": "sign match fail"}', "error 19021: sign"),
        ("feishu", 200, b'{"StatusCode": 0, "StatusMessage": "success"}', None),
        ("dingtalk", 200, b"[]", None),
        ("dingtalk", 302, b"", "HTTP 302"),
    ],
)
def test_what_each_answer_means(platform: str, status: int, body: bytes, problem: str) -> None:
    said = answer_problem(platform, status, body)
    assert said == problem if problem is None else said is not None and said.startswith(problem)


class _Telemetry:
    """Stands in for ``Telemetry``: pages of failed messages, or an error."""

    def __init__(self, pages: list[list[dict]], error: Exception | None = None) -> None:
        self.pages, self.error, self.asked = pages, error, 0

    def deliveries(self, window: Window, **filters: str) -> Iterator[list[dict]]:
        self.asked += 1
        if self.error:
            raise self.error
        yield from self.pages


def _failed_result(measured: dict) -> dict:
    return {
        "status": "fail",
        "measured": {"failed": 50, "invalid": 0, "failed_percent": 0, "invalid_percent": 0,
                     **measured},
        "thresholds": {"maxFailedPercent": 2, "maxInvalidPercent": 5},
        "window": {"from": "2026-12-06 10:00", "to": "2026-12-07T10:00+08:00"},
    }  # fmt: skip


def test_causes_say_when_they_cannot_be_read() -> None:
    check = cast(Any, SimpleNamespace(sender=NOTIFY, tag=None))
    opens_only = _failed_result({})
    assert causes._lines(check, opens_only, cast(Any, _Telemetry([]))) == []
    broken = _Telemetry([], InputError("the window starts too far back"))
    failing = _failed_result({"failed_percent": 9.5})
    assert causes._lines(check, failing, cast(Any, broken)) == [
        "causes not read: the window starts too far back"
    ]
    empty = _Telemetry([])
    assert causes._lines(check, failing, cast(Any, empty)) == [
        "causes: the detail API listed none of these messages"
    ]
    # Read backwards: the last hour, the 5 before, the 18 before that; failed, then spam.
    assert empty.asked == 3 * 2
    row = {"classification": "", "status": "spam", "message": "", "sender": ""}
    many = _Telemetry([[row] * 100] * 20)
    lines = causes._lines(check, failing, cast(Any, many))
    assert lines == [
        f"causes ({causes.SAMPLE} of 50 failed read, the latest first): spam {causes.SAMPLE}",
        f"senders: ? {causes.SAMPLE}",
    ]
