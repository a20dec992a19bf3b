"""``sandbox``'s place in the help and its arguments; it runs from ``commands/sandbox.py``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from reconciler.commands.args import common

SUMMARY = "serve the local sandbox"
DESCRIPTION = (
    "Serve a local emulator of DirectMail and SendCloud until interrupted (Ctrl-C). Its "
    "credentials are public, so it binds to loopback addresses only."
)
EPILOG = None
EXAMPLES = [
    ("serve it on the default port", "reconciler sandbox"),
    ("with throttling", "reconciler sandbox --error-rate 0.2 --faults throttling --seed 1"),
]


def arguments(parser: argparse.ArgumentParser) -> None:
    common.flags(parser)
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8600, help="port to serve on (default: %(default)s)"
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=common.SANDBOX_STATE,
        metavar="FILE",
        help="state file, created with demo state if missing (default: %(default)s)",
    )
    parser.add_argument(
        "--count-means",
        choices=["total", "page"],
        default="total",
        help="what SendCloud's list count answers: every matching entry, or this page's rows "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--ipfilter-page-size",
        type=int,
        metavar="N",
        help="GetIpfilterList answers at most N entries (default: the page widens to fit)",
    )
    parser.add_argument(
        "--list-page-size",
        type=int,
        metavar="N",
        help="a page of the tag, domain and sender-address listings holds at most N rows "
        "(saved in the state file; default: what it holds, else the PageSize asked, up to 100)",
    )
    parser.add_argument(
        "--dns-published",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="the DNS records of this sending domain count as published, so CheckDomain "
        "verifies it (repeatable; added to the state file's dns_published)",
    )
    parser.add_argument(
        "--sts-min-duration",
        type=int,
        default=900,
        metavar="SECONDS",
        help="shortest lifetime STS grants temporary keys, as DurationSeconds asks "
        "(default: %(default)s, as the real service; lower it to watch keys renewed)",
    )
    _traffic(parser)
    _faults(parser)


def _traffic(parser: argparse.ArgumentParser) -> None:
    traffic = parser.add_argument_group(
        "synthetic sending data (saved in the state file; default: what it holds, else "
        "1% failed, 2% invalid, the demo senders)"
    )
    traffic.add_argument(
        "--failure-percent",
        type=_percent,
        metavar="PCT",
        help="percentage of requests that fail (spam or other failure)",
    )
    traffic.add_argument(
        "--invalid-percent",
        type=_percent,
        metavar="PCT",
        help="percentage of requests sent to invalid addresses",
    )
    traffic.add_argument(
        "--sender",
        type=_sender,
        action="append",
        metavar="SENDER=IPV4",
        help="the egress address a sender sends from; changes a demo sender or adds one "
        "(repeatable)",
    )
    traffic.add_argument(
        "--messages-per-minute",
        type=_messages_per_minute,
        metavar="N",
        help="a steady rate of N messages a minute, all senders together, at every hour (so "
        "that a guarded apply's one-minute watch holds enough messages); default: the model's "
        "own volume, busy by day and quiet at night",
    )
    traffic.add_argument(
        "--no-quotas",
        action="store_true",
        help="do not enforce the sending-data calls' calls-a-minute quotas",
    )


def _faults(parser: argparse.ArgumentParser) -> None:
    faults = parser.add_argument_group("fault injection (off by default)")
    faults.add_argument(
        "--latency",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="delay every call (default: %(default)s)",
    )
    faults.add_argument(
        "--error-rate",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="probability (0..1) that a call fails with one of --faults (default: %(default)s)",
    )
    faults.add_argument(
        "--faults",
        type=_fault_kinds,
        metavar="KIND,KIND",
        help="what --error-rate injects: throttling, 5xx, drop-before, drop-after (default: all)",
    )
    faults.add_argument(
        "--truncate-rate",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="probability (0..1) that a list answer loses records but keeps its total "
        "(default: %(default)s)",
    )
    faults.add_argument(
        "--retry-after",
        type=_seconds,
        metavar="SECONDS",
        help="retry hint on throttling answers (x-acs-retry-after, Retry-After)",
    )
    faults.add_argument("--seed", type=int, metavar="N", help="make the injected faults repeatable")


# -- argparse types -----------------------------------------------------------------------


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds (0 or more), got {text!r}")
    return value


def _fault_kinds(text: str) -> tuple[str, ...]:
    from reconciler.sandbox.faults import parse_kinds  # imported late: keeps --help fast

    try:
        return parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be from 0 to 100, not {text}")
    return value


def _sender(text: str) -> tuple[str, str]:
    import ipaddress

    name, equals, address = text.partition("=")
    try:
        if not equals or "@" not in name:
            raise ValueError
        ipaddress.IPv4Address(address)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected SENDER=IPV4, e.g. notify@mail.example.com=192.0.2.50, not {text!r}"
        ) from None
    return name, address


def _messages_per_minute(text: str) -> float:
    from reconciler.sandbox.traffic import MAX_MESSAGES_PER_MINUTE

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_MESSAGES_PER_MINUTE:
        raise argparse.ArgumentTypeError(
            f"must be above 0 and at most {MAX_MESSAGES_PER_MINUTE}, not {text}"
        )
    return value
