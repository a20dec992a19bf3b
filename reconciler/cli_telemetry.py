"""The argparse definitions of ``stats`` and ``check`` (SPEC §9), kept beside ``cli``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

STATS_EXIT_CODES = """\
exit codes:
  0  success
  1  a provider call or the network failed
  3  invalid input: manifests, flags, usage, or a window the APIs cannot serve"""

CHECK_EXIT_CODES = """\
exit codes:
  0  every check passed (or had too little data to judge)
  1  a provider call or the network failed
  2  a check failed
  3  invalid input: manifests, flags or usage
  7  --notify: the checks ran (see the output) but the summary was not posted"""


def commands(
    command: Callable[..., argparse.ArgumentParser],
    with_sandbox: list[Any],
    with_accounts: list[Any],
    duration: Callable[[str], Any],
) -> None:
    """``stats`` and ``check``, made with ``cli``'s ``command`` helper."""
    stats = command(
        "stats",
        "show an account's sending data",
        "Show one view of a DirectMail account's sending data: daily totals with opens and "
        "clicks (summary), tracking records, invalid recipient addresses, or per-message "
        "deliveries (streamed as pages arrive). Days are the provider's, UTC+8, and times are "
        "printed with their offset; the APIs keep 30 days, and a window reaching further back "
        "is refused before any call.",
        parents=with_sandbox,
        epilog=STATS_EXIT_CODES,
    )
    stats.add_argument(
        "--account", required=True, metavar="NAME", help="the aliyun-directmail account to read"
    )
    stats.add_argument(
        "--view",
        choices=["summary", "tracking", "invalid", "deliveries"],
        default="summary",
        help="what to show (default: %(default)s)",
    )
    when = stats.add_argument_group("window (UTC+8; default: the last 7 days)")
    when.add_argument(
        "--since", type=duration, metavar="DURATION", help="the last 24h, 7d, 30d, ..."
    )
    when.add_argument("--from", dest="start", metavar="DATE", help="YYYY-MM-DD[ HH:MM]")
    filters = stats.add_argument_group("filters")
    filters.add_argument("--tag", default="", metavar="T", help="only mail sent with this tag")
    filters.add_argument("--sender", default="", metavar="ADDR", help="only this sender address")
    filters.add_argument(
        "--to",
        dest="to_values",
        action="append",
        default=[],
        metavar="DATE|ADDR",
        help="a date ends the window started by --from; anything else is the recipient "
        "(deliveries) or keyword (invalid); may be given once as each",
    )
    filters.add_argument(
        "--status", choices=["ok", "invalid", "spam", "failed"], help="deliveries: only this status"
    )
    filters.add_argument(
        "--esp",
        default="",
        metavar="ESP",
        help="summary, tracking: gmail.com, yahoo.com, outlook.com, icloud.com or others",
    )
    stats.add_argument(
        "--format",
        choices=["text", "json", "csv"],
        default="text",
        help="output format (default: %(default)s)",
    )

    check = command(
        "check",
        "evaluate DeliveryCheck documents",
        "Evaluate every DeliveryCheck document against the account's recent sending data: "
        "pass, fail or insufficient data. A window under a day is counted message by message, "
        "to the minute; a day or more in whole days (UTC+8), and printed as counted. With -q, "
        "only the checks that failed or lacked data are shown. Also warns about an address "
        "exempted from SendCloud's bounce interception that DirectMail lists as invalid.",
        parents=with_accounts,
        epilog=CHECK_EXIT_CODES,
    )
    check.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        default="text",
        help="output format (default: %(default)s)",
    )
