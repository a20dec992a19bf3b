"""``validate``'s place in the help and its arguments; it runs from ``commands/validate.py``."""

from __future__ import annotations

import argparse

from reconciler.commands.args import common

SUMMARY = "check manifests offline"
DESCRIPTION = (
    "Check manifests against the schemas and the semantic rules, offline: no network, "
    "no credentials. A lock-out the manifests decide alone (safety rule 3: the provider's IP "
    "protection would block sending, whatever the live state holds) is an error, as plan and "
    "apply would refuse it."
)
EPILOG = None
EXAMPLES = [
    ("check every manifest under a directory", "reconciler validate manifests/"),
    ("annotations in a GitHub workflow", "reconciler validate manifests/ --format github"),
]


def arguments(parser: argparse.ArgumentParser) -> None:
    common.flags(parser)
    common.paths(parser)
    common.output_format(
        parser,
        "text",
        "json",
        "github",
        help="text for people; json for scripts; github for workflow annotations",
    )
