"""``export``'s place in the help and its arguments; it runs from ``commands/export.py``."""

from __future__ import annotations

import argparse

from reconciler.commands.args import common

SUMMARY = "write live state as manifests"
DESCRIPTION = (
    "Write the live state of the accounts defined in the manifests as manifests, such "
    "that plan on them shows no changes."
)
EPILOG = None
EXAMPLES = [
    ("write live state as manifests", "reconciler export manifests/ --out live.yaml"),
    ("try it on the sandbox", "reconciler export examples/ --sandbox"),
]


def arguments(parser: argparse.ArgumentParser) -> None:
    common.flags(parser)
    common.paths(parser)
    common.accounts(parser)
    parser.add_argument(
        "--out", metavar="FILE", help="write the manifests to FILE (default: stdout)"
    )
