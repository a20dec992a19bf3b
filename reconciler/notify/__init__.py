"""``--notify PLATFORM``: a short summary of a plan, an apply or a check, posted to a chat webhook.

The webhook's URL comes from ``RECONCILER_WEBHOOK_URL`` (it holds the token: never printed) and
its signing secret, for DingTalk and Feishu, from ``RECONCILER_WEBHOOK_SECRET``; who is
@-mentioned from ``--notify-mention`` or ``RECONCILER_NOTIFY_MENTION`` (``platforms``).

The summary says what the run did: the changes of an apply by account (the first
``MAX_CHANGES``, then how many more), what refused a plan, the delivery checks counted by
outcome with each failed check's causes (``causes``), the error that ended the run, and a link
to the CI run. Addresses in it are always masked, since a chat group is read by many. Mentions
are added only to a summary of trouble: a failed run, a failed check, a refused plan.

The URL is checked before the command runs (``webhook_url``): unset, or neither https nor http
to a loopback address, is invalid input, and nothing is done. The post itself is bounded as a
provider call is (``transport``). A post that fails is said on stderr; for ``check`` it is also
the exit code, ``NOT_NOTIFIED`` (7) when the check would otherwise have exited 0 or 2, since a
check that nobody hears of is not a check.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.errors import InputError
from reconciler.notify.platforms import (
    MENTION_ENV,
    NO_MOBILES,
    PLATFORMS,
    Mentions,
    answer_problem,
    parse_mentions,
    signed,
)
from reconciler.output import redact

if TYPE_CHECKING:
    import argparse

    from reconciler.outcome import Outcome
    from reconciler.output.console import Output
    from reconciler.plan import Plan

__all__ = [
    "FACTS",
    "MENTION_ENV",
    "NOT_NOTIFIED",
    "PLATFORMS",
    "SECRET_ENV",
    "URL_ENV",
    "Mentions",
    "changes_exit",
    "mentions",
    "message",
    "parse_mentions",
    "record_checks",
    "record_guards",
    "record_outcomes",
    "record_plan",
    "run_link",
    "send",
    "signed",
    "webhook_url",
]

URL_ENV = "RECONCILER_WEBHOOK_URL"
SECRET_ENV = "RECONCILER_WEBHOOK_SECRET"
# What URL_ENV accepts (README, "Notifications"); anything else is refused before a run.
ACCEPTED = "https://HOST/..., or http:// only to localhost, 127.0.0.0/8 or ::1"
MAX_LINES = 40  # lines of facts and errors posted; the rest are counted
MAX_CHANGES = 10  # changes of an apply listed; the rest are counted
OUTCOMES = {
    0: "succeeded",
    1: "FAILED",
    2: "has changes",
    3: "invalid input",
    4: "REFUSED",
    5: "a guard FAILED, changes rolled back",
    6: "a guard FAILED, roll-back INCOMPLETE",
}
# check --notify whose summary was not posted (README, "Exit codes").
NOT_NOTIFIED = 7
# How the checks' outcomes are counted, in this order; any other status after them.
CHECK_OUTCOMES = {"fail": "failed", "insufficient-data": "insufficient data", "pass": "passed"}


class _Facts:
    """What the command did, gathered as it runs (one command per process)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.title: str | None = None  # check: what the checks came to
        self.trouble = False  # a refusal or a failed check: worth an @-mention

    def reset(self) -> None:
        self.lines, self.title, self.trouble = [], None, False


FACTS = _Facts()


def record_plan(plan: Plan) -> None:
    from reconciler.output.render import summary_line

    FACTS.lines.append(summary_line(plan))
    FACTS.lines.extend(f"refused: {r.rule}: {r.message}" for r in plan.refusals)
    FACTS.trouble = FACTS.trouble or bool(plan.refusals)


def record_outcomes(outcomes: Sequence[Outcome]) -> None:
    """The apply's totals, each account's, and its changes: failed ones first, at most
    ``MAX_CHANGES``, then how many more."""
    from reconciler.output.render import SYMBOLS, change_columns, report_summary_line

    FACTS.lines.append(report_summary_line(outcomes))
    by_account: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        by_account.setdefault(outcome.change.account, Counter())[outcome.status] += 1
    FACTS.lines.extend(
        f"{account}: " + ", ".join(f"{n} {status}" for status, n in counts.items())
        for account, counts in by_account.items()
    )
    ordered = sorted(outcomes, key=lambda o: o.status != "failed")  # stable: failed first
    for outcome in ordered[:MAX_CHANGES]:
        resource, subject, detail = change_columns(outcome.change)
        line = f"{outcome.status}: {outcome.change.account}: "
        line += " ".join(filter(None, (SYMBOLS[outcome.change.action], resource, subject, detail)))
        if outcome.status == "failed" and outcome.detail:
            line += f": {outcome.detail}"
        FACTS.lines.append(line)
    if len(ordered) > MAX_CHANGES:
        FACTS.lines.append(f"… and {len(ordered) - MAX_CHANGES} more changes (see the run's log)")


def record_checks(
    results: Sequence[Mapping[str, Any]],
    causes: Mapping[tuple[str, str], Sequence[str]] | None = None,
) -> None:
    """The delivery checks counted per outcome; each one that failed with why and, from the
    detail API, what the failed messages were; each one without enough data."""
    counts = Counter(str(r["status"]) for r in results)
    order = [*CHECK_OUTCOMES, *sorted(set(counts) - set(CHECK_OUTCOMES))]
    shown = [f"{counts[s]} {CHECK_OUTCOMES.get(s, s)}" for s in order if counts[s]]
    FACTS.lines.append(f"Checks: {', '.join(shown)} (of {len(results)}).")
    failed = [r for r in results if r["status"] == "fail"]
    FACTS.trouble = FACTS.trouble or bool(failed)
    if failed:
        FACTS.title = "a check FAILED"
    elif counts["insufficient-data"]:
        FACTS.title = f"no check failed, {counts['insufficient-data']} with insufficient data"
    else:
        FACTS.title = "every check passed"
    for result in failed:
        why = "; ".join(result["reasons"])
        FACTS.lines.append(f"check failed: {result['name']} ({result['account']}): {why}")
        FACTS.lines.extend(f"  {line}" for line in (causes or {}).get(_key(result), ()))
    for result in results:
        if result["status"] not in ("fail", "pass"):
            why = "; ".join(result["reasons"]) or str(result["status"])
            label = CHECK_OUTCOMES.get(result["status"], result["status"])
            FACTS.lines.append(f"{label}: {result['name']} ({result['account']}): {why}")


def _key(result: Mapping[str, Any]) -> tuple[str, str]:
    return str(result["name"]), str(result["account"])


def run_link(environ: Mapping[str, str]) -> str | None:
    """The CI run: GitHub Actions' run page, or GitLab CI's job."""
    github = [environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if all(github):
        return "{}/{}/actions/runs/{}".format(*github)
    return environ.get("CI_JOB_URL") or None


def message(command: str, code: int, errors: Sequence[str], environ: Mapping[str, str]) -> str:
    """The summary posted: a title line, the facts, the errors and the link, masked."""
    outcome = FACTS.title if command == "check" and code in (0, 2) else None
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


def mentions(args: argparse.Namespace, environ: Mapping[str, str]) -> Mentions:
    """Who to @-mention: ``--notify-mention`` when given, else ``RECONCILER_NOTIFY_MENTION``.
    Raises ``InputError`` for a value that is not a mention."""
    given = getattr(args, "notify_mention", None)
    if given:
        return parse_mentions(given, "--notify-mention")
    return parse_mentions([environ.get(MENTION_ENV, "")], MENTION_ENV)


def trouble(command: str, code: int) -> bool:
    """Whether the summary reports trouble (and so @-mentions): anything but success, and
    plan's "has changes"; a refusal or a failed check recorded on the way."""
    return FACTS.trouble or not (code == 0 or (command == "plan" and code == 2))


def webhook_url(platform: str, environ: Mapping[str, str]) -> str:
    """The webhook's URL from ``URL_ENV``, checked before the command runs: set, and https or
    http to a loopback address. Raises ``InputError`` otherwise, naming the variable and what
    it accepts, never its value (the URL holds the token)."""
    url = environ.get(URL_ENV, "")
    if not url:
        raise InputError(
            f"--notify {platform}: {URL_ENV} is not set: set it to the webhook's URL ({ACCEPTED})"
        )
    if not _allowed(url):
        raise InputError(f"--notify {platform}: {URL_ENV} must be an https URL ({ACCEPTED})")
    return url


def send(
    platform: str,
    url: str,
    command: str,
    code: int,
    out: Output,
    environ: Mapping[str, str],
    who: Mentions | None = None,
) -> bool:
    """Post the summary to ``url`` (from ``webhook_url``): whether the platform took it. Any
    failure is said on stderr, naming the host, never the URL's token."""
    from reconciler.notify.transport import PostFailed, post

    failure = f"--notify {platform}: the summary was NOT posted"
    host = urllib.parse.urlsplit(url).hostname or "?"
    who = who if who and trouble(command, code) else Mentions()
    if who.mobiles and platform in NO_MOBILES:
        out.warn(f"--notify {platform}: it cannot mention mobile numbers, only user ids")
    text = message(command, code, out.errors, environ)
    target, body = signed(platform, url, text, environ.get(SECRET_ENV) or None, mentions=who)
    try:
        status, answer = post(target, json.dumps(body).encode())
    except PostFailed as exc:
        why: str | None = str(exc)
    else:
        why = answer_problem(platform, status, answer)
    if why:
        _failed(out, command, code, f"{failure}: the webhook at {host} did not take it: {why}")
        return False
    mentioned = who.count(platform)
    out.note(
        f"Sent a summary to {platform} ({host})"
        + (f", mentioning {mentioned}." if mentioned else ".")
    )
    return True


def changes_exit(command: str, code: int) -> bool:
    """Whether a post that failed turns the run's ``code`` into ``NOT_NOTIFIED``: a check
    that ran (passed or failed) and that nobody hears of."""
    return command == "check" and code in (0, 2)


def _failed(out: Output, command: str, code: int, text: str) -> None:
    if changes_exit(command, code):
        out.error(f"{text}; exit {NOT_NOTIFIED} (README, Exit codes)")
    elif command == "check":
        out.error(f"{text}; nobody was notified of this check")
    else:
        out.warn(f"{text}; nobody was notified of this {command} (its exit code is its own)")


def _allowed(url: str) -> bool:
    """https, or http to a loopback address."""
    from reconciler.addresses import is_loopback

    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises for a port that is not a number
    except ValueError:  # "https://[::1", "https://h:x/": no URL at all
        return False
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and bool(parts.hostname) and is_loopback(parts.hostname or "")


def record_guards(lines: Sequence[str]) -> None:
    """What the guards of an apply came to (SPEC §11). A failed or unmeasured guard, or a
    watch cut short, is trouble worth an @-mention through the exit code it gives the apply
    (5, 6, 1, 130/143: ``trouble``), not through these lines' words."""
    FACTS.lines.extend(lines)
