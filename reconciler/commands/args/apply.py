"""``apply``'s place in the help and its arguments; it runs from ``commands/apply.py``."""

from __future__ import annotations

import argparse

from reconciler.commands.args import common

SUMMARY = "make live state match"
DESCRIPTION = (
    "Read live state again, plan, check the safety rules, ask for confirmation on a "
    "terminal and carry out the changes. Given a saved plan (--plan FILE, or a plan file "
    "as the only PATH), carry out exactly that plan if live state still matches it."
)
EPILOG = common.EXIT_CODES
EXAMPLES = [
    (
        "carry out a reviewed plan, if made from these manifests",
        "reconciler apply --plan plan.json manifests/ --yes",
    ),
    ("plan and apply on the sandbox", "reconciler apply examples/ --sandbox"),
    (
        "tell the team in DingTalk",
        "RECONCILER_WEBHOOK_URL=... reconciler apply plan.json --yes --notify dingtalk",
    ),
]


def arguments(parser: argparse.ArgumentParser) -> None:
    common.flags(parser)
    common.accounts(parser)
    common.redact(parser)
    common.notify(parser)
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="manifest files or directories, or one saved plan (same as --plan); with --plan, "
        "the manifests the plan must have been made from",
    )
    parser.add_argument(
        "--plan",
        metavar="FILE",
        dest="plan_file",
        help="carry out a plan saved by plan --out; with PATHs, only if it was made from the "
        "manifests there",
    )
    parser.add_argument(
        "--max-age",
        type=common.duration,
        metavar="DURATION",
        help="with --plan only: refuse a plan older than this (s, m, h or d; default 7d)",
    )
    parser.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="with --plan only: apply a plan that carries a MAC although RECONCILER_PLAN_KEY "
        "is not set (the MAC is not checked)",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--force",
        action="store_true",
        help="override the safety rules on mass deletion, emptying a list and lock-out",
    )
    guards = parser.add_argument_group(
        "guards (DeliveryCheck.spec.guard): watch delivery after the writes, roll back when it "
        "suffers"
    )
    guards.add_argument(
        "--no-guard",
        action="store_true",
        help="do not watch any guard after the writes (the report says so)",
    )
    guards.add_argument(
        "--watch",
        type=_watch,
        metavar="DURATION",
        help="watch every guard this long instead of its own watch (1m to 2h)",
    )
    common.output_format(parser, "text", "json", help="output format of the report")


def _watch(text: str) -> tuple[float, str]:
    """``--watch``: a guard's watch, 1m to 2h (SPEC §11), with the text as given."""
    from reconciler.durations import watch_duration

    try:
        return watch_duration(text).total_seconds(), text.strip()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
