"""``sandbox``: serve the local emulator of both providers until interrupted."""

from __future__ import annotations

import argparse

from reconciler.addresses import is_loopback
from reconciler.errors import ExitCode, InputError
from reconciler.output.console import Output
from reconciler.sandbox import Faults, serve_forever
from reconciler.sandbox.dns import is_domain_name
from reconciler.sandbox.faults import FAULT_KINDS


def run(args: argparse.Namespace, out: Output) -> int:
    if args.faults is not None and args.error_rate == 0:
        raise InputError("--faults picks what --error-rate injects: give --error-rate too")
    faults = Faults(
        latency=args.latency,
        seed=args.seed,
        error_rate=args.error_rate,
        kinds=args.faults or FAULT_KINDS,
        truncate_rate=args.truncate_rate,
        retry_after=args.retry_after,
    )
    if not is_loopback(args.host):
        # Said here, not by the library: it names no way around it, because the command has
        # none.
        raise InputError(
            f"--host {args.host}: the sandbox's credentials are public, so it serves on a "
            "loopback address only (127.0.0.1, ::1 or localhost)"
        )
    if args.ipfilter_page_size is not None and args.ipfilter_page_size < 1:
        raise InputError("--ipfilter-page-size must be 1 or more")
    if args.list_page_size is not None and args.list_page_size < 1:
        raise InputError("--list-page-size must be 1 or more")
    for domain in args.dns_published:
        if not is_domain_name(domain.strip().lower()):
            raise InputError(f"--dns-published {domain!r}: not a domain name (mail.example.com)")
    if args.sts_min_duration < 1:
        raise InputError("--sts-min-duration must be 1 or more")
    # The sandbox itself reports a port it cannot bind.
    serve_forever(
        args.state,
        args.host,
        args.port,
        faults,
        count_means=args.count_means,
        ipfilter_page_size=args.ipfilter_page_size,
        sts_min_duration=args.sts_min_duration,
        list_page_size=args.list_page_size,
        dns_published=args.dns_published,
        traffic={
            "failure_percent": args.failure_percent,
            "invalid_percent": args.invalid_percent,
            "senders": dict(args.sender) if args.sender else None,
            "messages_per_minute": args.messages_per_minute,
            "telemetry_quotas": not args.no_quotas,
        },
    )
    return ExitCode.OK
