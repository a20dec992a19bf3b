"""``check``'s place in the help and its arguments (SPEC §9); it runs from ``commands/check.py``."""

from __future__ import annotations

import argparse

from reconciler.commands.args import common

SUMMARY = "evaluate DeliveryCheck documents"
DESCRIPTION = (
    "Evaluate every DeliveryCheck document against the account's recent sending data: "
    "pass, fail or insufficient data. A window under a day is counted message by message, "
    "to the minute; a day or more in whole days (UTC+8), and printed as counted. With -q, "
    "only the checks that failed or lacked data are shown. Also warns about an address "
    "exempted from SendCloud's bounce interception that DirectMail lists as invalid."
)
EPILOG = """\
exit codes:
  0  every check passed (or had too little data to judge)
  1  a provider call or the network failed
  2  a check failed
  3  invalid input: manifests, flags or usage
  7  --notify: the checks ran (see the output) but the summary was not posted"""
EXAMPLES: list[tuple[str, str]] = []


def arguments(parser: argparse.ArgumentParser) -> None:
    common.flags(parser)
    common.paths(parser)
    common.accounts(parser)
    common.redact(parser)
    common.notify(parser)
    common.output_format(parser, "text", "json", "markdown")
