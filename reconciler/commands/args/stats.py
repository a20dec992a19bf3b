"""``stats``' place in the help and its arguments (SPEC §9); it runs from ``commands/stats.py``."""

from __future__ import annotations

import argparse

from reconciler.commands.args import common

SUMMARY = "show an account's sending data"
DESCRIPTION = (
    "Show one view of a DirectMail account's sending data: daily totals with opens and "
    "clicks (summary), tracking records, invalid recipient addresses, or per-message "
    "deliveries (streamed as pages arrive). Days are the provider's, UTC+8, and times are "
    "printed with their offset. The tracking, invalid-address and delivery APIs keep 30 days: "
    "a window reaching further back is refused before any call, except in the summary, "
    "which shows the older days' totals with their opens and clicks left empty."
)
EPILOG = """\
exit codes:
  0  success
  1  a provider call or the network failed
  3  invalid input: manifests, flags, usage, or a window the APIs cannot serve"""
EXAMPLES: list[tuple[str, str]] = []


def arguments(parser: argparse.ArgumentParser) -> None:
    common.flags(parser)
    common.paths(parser)
    common.sandbox(parser)
    common.redact(parser)
    parser.add_argument(
        "--account", required=True, metavar="NAME", help="the aliyun-directmail account to read"
    )
    parser.add_argument(
        "--view",
        choices=["summary", "tracking", "invalid", "deliveries"],
        default="summary",
        help="what to show (default: %(default)s)",
    )
    when = parser.add_argument_group("window (UTC+8; default: the last 7 days)")
    when.add_argument(
        "--since", type=common.duration, metavar="DURATION", help="the last 24h, 7d, 30d, ..."
    )
    when.add_argument("--from", dest="start", metavar="DATE", help="YYYY-MM-DD[ HH:MM]")
    filters = parser.add_argument_group("filters")
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
    common.output_format(parser, "text", "json", "csv")
