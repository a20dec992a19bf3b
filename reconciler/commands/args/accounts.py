"""``accounts``' place in the help and its arguments; it runs from ``commands/accounts.py``."""

from __future__ import annotations

import argparse

from reconciler.commands.args import common

SUMMARY = "list the accounts of the manifests"
DESCRIPTION = (
    "List the accounts the manifests define (name, provider, region), offline: for a CI "
    "matrix with one job per account."
)
EPILOG = None
EXAMPLES = [
    ("one line per account", "reconciler accounts manifests/"),
    ("a CI matrix", "reconciler accounts manifests/ --format json"),
]


def arguments(parser: argparse.ArgumentParser) -> None:
    common.flags(parser)
    common.paths(parser)
    common.output_format(
        parser, "text", "json", help="text: one line each; json: a list of objects"
    )
