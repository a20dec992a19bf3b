"""``check PATH...``: evaluate every DeliveryCheck against live telemetry (SPEC §9).

Exit 0 when every check passes (insufficient data is not a failure), 2 when one fails, 1 when
a provider call failed, 3 for invalid input. Also one cross-provider lint: an address exempted
from SendCloud's ``bounce`` interception that DirectMail lists as invalid in the window.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from reconciler import live
from reconciler.commands.common import load, sandbox_state, unknown_account
from reconciler.commands.stats import directmail_account
from reconciler.errors import ExitCode, InputError
from reconciler.kinds import kinds
from reconciler.measure import Measured, check_window, count_messages, crossed, share
from reconciler.model import DeliveryCheck, DesiredState
from reconciler.output import telemetry as render
from reconciler.output.console import Output, counted
from reconciler.providers.directmail import DirectMailClient
from reconciler.providers.telemetry import TAG_NEEDS_SENDER, Telemetry, now, since
from reconciler.providers.telemetry_rows import local_time


def run(args: argparse.Namespace, out: Output) -> int:
    state = load(args.paths, out)
    checks = _selected(state, args.account)
    if not checks:
        raise InputError("no DeliveryCheck documents in the manifests" + _for(args.account))
    names = list(dict.fromkeys(c.account for c in checks))
    wants = [directmail_account(state, name) for name in names]
    moment = now()
    results: list[dict[str, Any]] = []
    warnings: list[str] = []
    with live.connect(wants, sandbox_state=sandbox_state(args), announce=not out.quiet) as (
        _,
        clients,
    ):
        for check in checks:
            client = clients[check.account]
            assert isinstance(client, DirectMailClient)
            window = check_window(timedelta(seconds=check.window_seconds), moment)
            results.append(evaluate(check, Telemetry(client), window))
        for name in names:
            client = clients[name]
            assert isinstance(client, DirectMailClient)
            warnings += _bounce_lint(state, name, Telemetry(client), checks, moment)
        if getattr(args, "notify", None):
            from reconciler import notify
            from reconciler.notify import causes

            # What the failed messages were (the detail API), while the clients are open.
            notify.record_checks(results, causes.explain(checks, results, clients))
    for warning in warnings:
        out.warn(warning)
    if args.format == "json":
        out.write(render.check_document(results, warnings))
    elif args.format == "markdown":
        out.write(render.check_markdown(results, warnings))
    else:
        out.write(render.check_text(results, quiet=out.quiet))
    return ExitCode.CHANGES if any(r["status"] == "fail" for r in results) else ExitCode.OK


def _for(names: Sequence[str]) -> str:
    return f" for account {', '.join(names)}" if names else ""


def _selected(state: DesiredState, names: Sequence[str]) -> list[DeliveryCheck]:
    for name in names:
        if name not in state.accounts:
            raise unknown_account(name, list(state.accounts))
    return [c for c in state.checks if not names or c.account in names]


def evaluate(check: DeliveryCheck, telemetry: Telemetry, source: Measured) -> dict[str, Any]:
    """One check's result over the window ``check_window`` chose: the measured shares, the
    thresholds and pass / fail / insufficient-data, with the reasons of a failure."""
    window = source.window
    if source.per_message:
        counts = count_messages(telemetry, window, tag=check.tag, sender=check.sender)
        totals = {
            "requests": counts.requests,
            "succeeded": counts.delivered,
            "failed": counts.failed,
            "invalid": counts.invalid,
        }
    else:
        totals = {"requests": 0, "succeeded": 0, "failed": 0, "invalid": 0}
        for row in telemetry.summary(window, tag=check.tag, sender=check.sender):
            for key in totals:
                totals[key] += row[key]
    opens: int | None = None
    notes: list[str] = []
    if check.min_open_percent is not None and source.per_message:
        notes.append(
            "minOpenPercent not evaluated: opens are counted per day, and the window is "
            "shorter than a day"
        )
    elif check.min_open_percent is not None and check.tag and not check.sender:
        notes.append(f"minOpenPercent not evaluated: {TAG_NEEDS_SENDER}")
    elif check.min_open_percent is not None:
        opens = sum(
            r["unique_opens"]
            for page in telemetry.tracking(window, tag=check.tag, sender=check.sender)
            for r in page
        )
    requests = totals["requests"]
    measured: dict[str, Any] = {
        **totals,
        "failed_percent": share(totals["failed"], requests),
        "invalid_percent": share(totals["invalid"], requests),
        "open_percent": None if opens is None else share(opens, totals["succeeded"]),
    }
    thresholds = {
        "minRequests": check.min_requests,
        "maxFailedPercent": check.max_failed_percent,
        "maxInvalidPercent": check.max_invalid_percent,
        "minOpenPercent": check.min_open_percent,
    }
    reasons: list[str] = []
    if requests < check.min_requests:
        status = "insufficient-data"
        reasons.append(
            f"{counted(requests, 'request')} in the window, fewer than minRequests "
            f"{check.min_requests}"
        )
    else:
        reasons += crossed(
            measured["failed_percent"],
            measured["invalid_percent"],
            check.max_failed_percent,
            check.max_invalid_percent,
        )
        opened = measured["open_percent"]
        if (
            check.min_open_percent is not None
            and opened is not None
            and (opened < check.min_open_percent)
        ):
            reasons.append(
                f"opened {measured['open_percent']:.2f}% < minOpenPercent "
                f"{check.min_open_percent:g}"
            )
        status = "fail" if reasons else "pass"
    return {
        "name": check.name,
        "account": check.account,
        "status": status,
        "measured": measured,
        "thresholds": thresholds,
        "window": {
            "duration": check.window_text,
            "from": local_time(window.start),
            "to": local_time(window.end),
            "source": source.api,
            "filter": _filter(check),
        },
        "reasons": reasons,
        "notes": notes,
    }


def _filter(check: DeliveryCheck) -> dict[str, str]:
    if check.tag:
        return {"tag": check.tag}
    return {"sender": check.sender} if check.sender else {}


def _bounce_lint(
    state: DesiredState,
    account: str,
    telemetry: Telemetry,
    checks: Sequence[DeliveryCheck],
    moment: datetime,
) -> list[str]:
    """Addresses exempted from SendCloud's bounce interception that this DirectMail account
    lists as invalid in the longest window of its checks (SPEC §9): they will keep bouncing."""
    emails, domains = _bounce_exempt(state)
    if not (emails or domains):
        return []
    longest = max(c.window_seconds for c in checks if c.account == account)
    window = since(timedelta(seconds=longest), moment)
    warnings = []
    for page in telemetry.invalid(window):
        for row in page:
            address = str(row["address"]).strip().lower()
            where = emails.get(address) or domains.get(address.rpartition("@")[2])
            if where is not None:
                warnings.append(
                    f"{address} is exempted from SendCloud's bounce interception ({where}) but "
                    f"DirectMail account {account} lists it as invalid since {row['time']}: it "
                    "will keep bouncing on SendCloud"
                )
    return warnings


def _bounce_exempt(state: DesiredState) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """The manifests' addresses exempted from a provider's ``bounce`` interception
    (``Kind.bounce_exempt``): by e-mail and by domain, each with the account and where it is
    written."""
    emails: dict[str, str] = {}
    domains: dict[str, str] = {}
    for want in state.accounts.values():
        for kind in kinds():
            kind.bounce_exempt(want, emails, domains)
    return emails, domains
