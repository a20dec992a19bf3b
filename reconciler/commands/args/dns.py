"""``dns``'s place in the help and its arguments; it runs from ``commands/dns.py``."""

from __future__ import annotations

import argparse

from reconciler.commands.args import common

SUMMARY = "print the DNS records of the sending domains"
DESCRIPTION = (
    "Print the DNS records each sending domain of a MailDomainList needs (ownership, SPF, DKIM, "
    "DMARC, MX, tracking CNAME), as DescDomain gives them, with each record's verification "
    "status. A domain not created yet is known after apply. Writes nothing."
)
EPILOG = None
EXAMPLES = [
    ("the records for octoDNS", "reconciler dns manifests/ --format octodns"),
    ("zone-file lines of one account", "reconciler dns manifests/ --account prod-dm"),
    ("rows for a script, on the sandbox", "reconciler dns manifests/ --format json --sandbox"),
]


def arguments(parser: argparse.ArgumentParser) -> None:
    common.flags(parser)
    common.paths(parser)
    common.accounts(parser)
    common.output_format(
        parser,
        "bind",
        "octodns",
        "json",
        help="zone-file lines, octoDNS's record table for each zone, or JSON rows",
    )
