"""``plan``'s place in the help and its arguments; it runs from ``commands/plan.py``."""

from __future__ import annotations

import argparse

from reconciler.commands.args import common

SUMMARY = "show what apply would change"
DESCRIPTION = (
    "Read live state and show what apply would change; never writes. --out also saves the "
    "plan, for review and for apply --plan FILE."
)
EPILOG = common.EXIT_CODES
EXAMPLES = [
    ("try it on the sandbox", "reconciler plan examples/ --sandbox"),
    (
        "save a plan for review, addresses masked",
        "reconciler plan manifests/ --out plan.json --redact",
    ),
    (
        "one account, exit 2 on changes",
        "reconciler plan manifests/ --account prod-sc --detailed-exitcode",
    ),
]


def arguments(parser: argparse.ArgumentParser) -> None:
    common.flags(parser)
    common.paths(parser)
    common.accounts(parser)
    common.redact(parser)
    common.notify(parser)
    common.output_format(parser, "text", "json", "markdown")
    parser.add_argument("--out", metavar="FILE", help="also save the plan as JSON to FILE")
    parser.add_argument(
        "--compare", metavar="OLD", help="show what changed since the plan saved in OLD"
    )
    parser.add_argument(
        "--changed-since",
        metavar="REF",
        help="read only the accounts whose documents differ from git REF (and say which "
        "accounts were skipped)",
    )
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when the plan has changes, 0 when it has none",
    )
