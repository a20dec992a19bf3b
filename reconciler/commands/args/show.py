"""``show``'s place in the help and its arguments; it runs from ``commands/show.py``."""

from __future__ import annotations

import argparse

from reconciler.commands.args import common

SUMMARY = "show a saved plan"
DESCRIPTION = (
    "Show a plan saved by plan --out, as apply --plan would carry it out: verified as apply "
    "verifies it (not its age), offline: no credentials, no provider calls."
)
EPILOG = common.EXIT_CODES
EXAMPLES = [
    ("read a saved plan", "reconciler show plan.json"),
    ("as a pull-request comment", "reconciler show plan.json --format markdown --redact"),
]


def arguments(parser: argparse.ArgumentParser) -> None:
    common.flags(parser)
    common.redact(parser)
    parser.add_argument("plan", metavar="PLAN", help="the saved plan (JSON)")
    common.output_format(parser, "text", "markdown", "json")
