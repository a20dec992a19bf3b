"""``--notify PLATFORM``: a short summary of a plan or an apply, posted to a chat webhook.

The webhook's URL comes from ``RECONCILER_WEBHOOK_URL`` (it holds the token: never printed) and
its signing secret, for DingTalk and Feishu, from ``RECONCILER_WEBHOOK_SECRET``. Each platform
signs as it documents:

- DingTalk: ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(key=secret,
  msg=timestamp + "\\n" + secret)), URL-encoded, as query parameters;
- Feishu / Lark: ``timestamp`` (s) and ``sign`` = base64(HMAC-SHA256(key=timestamp + "\\n" +
  secret, msg="")) in the JSON body;
- WeCom and Slack: the URL is the credential, there is no signature.

The summary says what changed or failed, what refused the plan, the error that ended the run,
and links the CI run (GitHub Actions or GitLab CI). Addresses in it are always masked, since a
chat group is read by many. A notification that fails is a warning: the exit code stays the
run's own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.output import redact

if TYPE_CHECKING:
    from reconciler.apply import Outcome
    from reconciler.output.console import Output
    from reconciler.plan import Plan

PLATFORMS = ("dingtalk", "feishu", "wecom", "slack")
URL_ENV = "RECONCILER_WEBHOOK_URL"
SECRET_ENV = "RECONCILER_WEBHOOK_SECRET"
TIMEOUT = 10.0  # seconds
MAX_LINES = 20  # of failed changes and refusals listed; the rest are counted
OUTCOMES = {0: "succeeded", 1: "FAILED", 2: "has changes", 3: "invalid input", 4: "REFUSED"}


class _Facts:
    """What the command did, gathered as it runs (one command per process)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def reset(self) -> None:
        self.lines = []


FACTS = _Facts()


def record_plan(plan: Plan) -> None:
    from reconciler.output.render import summary_line

    FACTS.lines.append(summary_line(plan))
    FACTS.lines.extend(f"refused: {r.rule}: {r.message}" for r in plan.refusals)


def record_outcomes(outcomes: Sequence[Outcome]) -> None:
    from reconciler.output.render import change_columns, report_summary_line

    FACTS.lines.append(report_summary_line(outcomes))
    for outcome in outcomes:
        if outcome.status == "failed":
            resource, subject, _ = change_columns(outcome.change)
            where = f"{outcome.change.account}: {resource} {subject}"
            FACTS.lines.append(f"failed: {where}: {outcome.detail}")


def record_checks(results: Sequence[Mapping[str, Any]]) -> None:
    """The delivery checks: how many passed, and each one that failed with why."""
    failed = [r for r in results if r["status"] == "fail"]
    FACTS.lines.append(f"Checks: {len(results) - len(failed)} of {len(results)} did not fail.")
    for result in failed:
        why = "; ".join(result["reasons"])
        FACTS.lines.append(f"check failed: {result['name']} ({result['account']}): {why}")


def run_link(environ: Mapping[str, str]) -> str | None:
    """The CI run: GitHub Actions' run page, or GitLab CI's job."""
    github = [environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if all(github):
        return "{}/{}/actions/runs/{}".format(*github)
    return environ.get("CI_JOB_URL") or None


def message(command: str, code: int, errors: Sequence[str], environ: Mapping[str, str]) -> str:
    """The summary posted: a title line, the facts, the errors and the link, masked."""
    outcome = "a check FAILED" if (command, code) == ("check", 2) else None
    outcome = outcome or OUTCOMES.get(code, f"exit {code}")
    lines = [f"reconciler {command}: {outcome} (exit {code})"]
    details = [*FACTS.lines, *(f"error: {e}" for e in errors)]
    lines += details[:MAX_LINES]
    if len(details) > MAX_LINES:
        lines.append(f"… and {len(details) - MAX_LINES} more")
    link = run_link(environ)
    if link:
        lines.append(f"run: {link}")
    with redact.redacting():
        return "\n".join(redact.text(line) for line in lines)


def signed(
    platform: str, url: str, text: str, secret: str | None, now: float | None = None
) -> tuple[str, dict[str, Any]]:
    """The URL to post to and the JSON body, signed as ``platform`` documents."""
    now = time.time() if now is None else now
    if platform == "dingtalk":
        body: dict[str, Any] = {"msgtype": "text", "text": {"content": text}}
        if secret:
            timestamp = str(int(now * 1000))
            digest = hmac.new(
                secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256
            ).digest()
            sign = urllib.parse.quote_plus(base64.b64encode(digest).decode())
            url += f"{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign}"
        return url, body
    if platform == "feishu":
        body = {"msg_type": "text", "content": {"text": text}}
        if secret:
            timestamp = str(int(now))
            key = f"{timestamp}\n{secret}".encode()
            sign = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            body = {"timestamp": timestamp, "sign": sign, **body}
        return url, body
    if platform == "wecom":
        return url, {"msgtype": "text", "text": {"content": text}}
    return url, {"text": text}  # slack


def _refusal(url: str) -> str | None:
    """Why ``url`` is not posted to (None: it is fine): https, or http to a loopback address."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname:
        try:
            if ipaddress.ip_address(parts.hostname).is_loopback:
                return None
        except ValueError:
            if parts.hostname == "localhost":
                return None
    return f"{URL_ENV} must be an https URL"


def send(platform: str, command: str, code: int, out: Output, environ: Mapping[str, str]) -> None:
    """Post the summary; any failure is a warning naming the host, never the URL's token."""
    url = environ.get(URL_ENV, "")
    if not url:
        out.warn(f"--notify {platform}: {URL_ENV} is not set; no notification was sent")
        return
    refused = _refusal(url)
    host = urllib.parse.urlsplit(url).hostname or "?"
    if refused:
        out.warn(f"--notify {platform}: {refused}; no notification was sent")
        return
    text = message(command, code, out.errors, environ)
    target, body = signed(platform, url, text, environ.get(SECRET_ENV) or None)
    import requests

    why = None
    try:
        response = requests.post(
            target, data=json.dumps(body).encode(), timeout=TIMEOUT, allow_redirects=False,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )  # fmt: skip
    except requests.RequestException as exc:  # its text may quote the URL: only its kind
        why = type(exc).__name__
    else:
        why = _answer_problem(platform, response)
    if why:
        out.warn(f"--notify {platform}: the webhook at {host} did not take the summary: {why}")
    else:
        out.note(f"Sent a summary to {platform} ({host}).")


def _answer_problem(platform: str, response: Any) -> str | None:
    """What the platform's answer says went wrong (None: accepted)."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        answer = response.json()
    except ValueError:
        return None if platform == "slack" else "an answer that is not JSON"
    if not isinstance(answer, dict):
        return None
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
    if code not in (0, None):
        message = str(answer.get("errmsg", answer.get("msg", "")))[:200]
        return f"error {code}: {message}" if message else f"error {code}"
    return None
