"""The command line: argparse, and the one place that turns errors into messages and exit codes."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import math
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from reconciler import __version__, cli_review, cli_telemetry

# Everything else is imported where it is used, so that `--version` (which scripts and CI
# call to probe the tool) and `--help` load next to nothing, and each command loads only
# what it needs (`validate` never loads the HTTP stack).
if TYPE_CHECKING:
    from datetime import timedelta

    from reconciler.output.console import Output

SANDBOX_STATE = Path(".reconciler/sandbox.json")


EXIT_CODES = """\
exit codes:
  0  success (for plan, also "changes present" unless --detailed-exitcode)
  1  a provider call or the network failed, or apply was cancelled at the prompt
  2  plan --detailed-exitcode only: the plan has changes
  3  invalid input: manifests, plan file, flags or usage
  4  refused: a safety rule, a stale saved plan, or incomplete live state"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the exit-code table of an epilog as written; defaults are spelt out in each help
    text with ``%(default)s``, so that flags without a meaningful default do not show one."""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; our contract says 3 (invalid input)."""

    def error(self, message: str) -> NoReturn:
        from reconciler.errors import ExitCode

        self.print_usage(sys.stderr)
        self.exit(ExitCode.INPUT, f"{self.prog}: error: {message}\n")


def _common_flags(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="log every provider call"
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="print only the summary line and errors",
    )
    parser.add_argument(
        "--no-color", action="store_true", default=default, help="never color the output"
    )


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


def _duration(text: str) -> timedelta:
    from reconciler.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


@functools.cache  # one parser a process: parsing leaves it as it was
def build_parser() -> argparse.ArgumentParser:
    # The common flags work before and after the command. After it they must not reset what
    # was given before it, so there they have no default of their own.
    common = _Parser(add_help=False)
    _common_flags(common, argparse.SUPPRESS)
    paths = _Parser(add_help=False)
    paths.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or directories")
    remote = _Parser(add_help=False)
    remote.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="NAME",
        help="only this account (repeatable; default: every account)",
    )
    remote.add_argument(
        "--sandbox",
        action="store_true",
        help=f"use an embedded local sandbox instead of the providers (state in {SANDBOX_STATE})",
    )
    remote.set_defaults(sandbox_state=SANDBOX_STATE)
    sandbox_flag = _Parser(add_help=False)
    sandbox_flag.add_argument(
        "--sandbox",
        action="store_true",
        help=f"use an embedded local sandbox instead of the providers (state in {SANDBOX_STATE})",
    )
    sandbox_flag.set_defaults(sandbox_state=SANDBOX_STATE)
    # Flags and commands for review, CI and shells: reconciler/cli_review.py.
    redactable, notifying = cli_review.flags(_Parser)

    parser = _Parser(
        prog="reconciler",
        description="Keep DirectMail IP protection and SendCloud unintercept settings "
        "equal to YAML manifests.",
    )
    _common_flags(parser, False)
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def command(
        name: str,
        summary: str,
        description: str,
        parents: list[_Parser],
        epilog: str | None = None,
    ) -> _Parser:
        from reconciler.helptext import examples

        parser: _Parser = sub.add_parser(
            name,
            help=summary,
            description=textwrap.fill(description, 78),
            epilog="\n\n".join(part for part in (epilog, examples(name)) if part) or None,
            parents=parents,
            formatter_class=_Formatter,
        )
        return parser

    validate = command(
        "validate",
        "check manifests offline",
        "Check manifests against the schemas and the semantic rules, offline: no network, "
        "no credentials. IP protection switched on with a whitelist the manifests decide whole "
        "(prune, nothing ignored) that ends up empty or leaves a declared sender out is an "
        "error, as plan and apply would refuse it (lock-out).",
        parents=[common],
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or directories")
    validate.add_argument(
        "--format",
        choices=["text", "json", "github"],
        default="text",
        help="text for people; json for scripts; github for workflow annotations "
        "(default: %(default)s)",
    )

    plan = command(
        "plan",
        "show what apply would change",
        "Read live state and show what apply would change; never writes. --out also saves the "
        "plan, for review and for apply --plan FILE.",
        parents=[common, paths, remote, redactable, notifying],
        epilog=EXIT_CODES,
    )
    plan.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        default="text",
        help="output format (default: %(default)s)",
    )
    plan.add_argument("--out", metavar="FILE", help="also save the plan as JSON to FILE")
    plan.add_argument(
        "--compare", metavar="OLD", help="show what changed since the plan saved in OLD"
    )
    plan.add_argument(
        "--changed-since",
        metavar="REF",
        help="read only the accounts whose documents differ from git REF (and say which "
        "accounts were skipped)",
    )
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when the plan has changes, 0 when it has none",
    )

    apply = command(
        "apply",
        "make live state match",
        "Read live state again, plan, check the safety rules, ask for confirmation on a "
        "terminal and carry out the changes. Given a saved plan (--plan FILE, or a plan file "
        "as the only PATH), carry out exactly that plan if live state still matches it.",
        parents=[common, remote, redactable, notifying],
        epilog=EXIT_CODES,
    )
    apply.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="manifest files or directories, or one saved plan (same as --plan); with --plan, "
        "the manifests the plan must have been made from",
    )
    apply.add_argument(
        "--plan",
        metavar="FILE",
        dest="plan_file",
        help="carry out a plan saved by plan --out; with PATHs, only if it was made from the "
        "manifests there",
    )
    apply.add_argument(
        "--max-age",
        type=_duration,
        metavar="DURATION",
        help="with --plan only: refuse a plan older than this (s, m, h or d; default 7d)",
    )
    apply.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="with --plan only: apply a plan that carries a MAC although RECONCILER_PLAN_KEY "
        "is not set (the MAC is not checked)",
    )
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument(
        "--force",
        action="store_true",
        help="override the safety rules on mass deletion, emptying a list and lock-out",
    )
    apply.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="output format of the report (default: %(default)s)",
    )

    export = command(
        "export",
        "write live state as manifests",
        "Write the live state of the accounts defined in the manifests as manifests, such "
        "that plan on them shows no changes.",
        parents=[common, paths, remote],
    )
    export.add_argument(
        "--out", metavar="FILE", help="write the manifests to FILE (default: stdout)"
    )

    dns = command(
        "dns",
        "print the DNS records of the sending domains",
        "Print the DNS records each sending domain of a MailDomainList needs (ownership, "
        "SPF, DKIM, DMARC, MX, tracking CNAME), as DescDomain gives them, with each record's "
        "verification status. A domain not created yet is known after apply. Writes nothing.",
        parents=[common, paths, remote],
    )
    dns.add_argument(
        "--format",
        choices=["bind", "octodns", "json"],
        default="bind",
        help="zone-file lines, octoDNS's record table for each zone, or JSON rows "
        "(default: %(default)s)",
    )

    # The delivery telemetry commands: reconciler/cli_telemetry.py.
    cli_telemetry.commands(
        command,
        [common, paths, sandbox_flag, redactable],
        [common, paths, remote, redactable, notifying],
        _duration,
    )
    cli_review.commands(command, [common], [common, paths], [common, redactable], EXIT_CODES)

    sandbox = command(
        "sandbox",
        "serve the local sandbox",
        "Serve a local emulator of DirectMail and SendCloud until interrupted (Ctrl-C). Its "
        "credentials are public, so it binds to loopback addresses only.",
        parents=[common],
    )
    sandbox.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default: %(default)s)"
    )
    sandbox.add_argument(
        "--port", type=int, default=8600, help="port to serve on (default: %(default)s)"
    )
    sandbox.add_argument(
        "--state",
        type=Path,
        default=SANDBOX_STATE,
        metavar="FILE",
        help="state file, created with demo state if missing (default: %(default)s)",
    )
    sandbox.add_argument(
        "--count-means",
        choices=["total", "page"],
        default="total",
        help="what SendCloud's list count answers: every matching entry, or this page's rows "
        "(default: %(default)s)",
    )
    sandbox.add_argument(
        "--ipfilter-page-size",
        type=int,
        metavar="N",
        help="GetIpfilterList answers at most N entries (default: the page widens to fit)",
    )
    sandbox.add_argument(
        "--list-page-size",
        type=int,
        metavar="N",
        help="a page of the tag, domain and sender-address listings holds at most N rows "
        "(saved in the state file; default: what it holds, else the PageSize asked, up to 100)",
    )
    sandbox.add_argument(
        "--dns-published",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="the DNS records of this sending domain count as published, so CheckDomain "
        "verifies it (repeatable; added to the state file's dns_published)",
    )
    sandbox.add_argument(
        "--sts-min-duration",
        type=int,
        default=900,
        metavar="SECONDS",
        help="shortest lifetime STS grants temporary keys, as DurationSeconds asks "
        "(default: %(default)s, as the real service; lower it to watch keys renewed)",
    )
    traffic = sandbox.add_argument_group(
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
        "--no-quotas",
        action="store_true",
        help="do not enforce the sending-data calls' calls-a-minute quotas",
    )
    faults = sandbox.add_argument_group("fault injection (off by default)")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        # What argparse would print, without building the parser.
        print(f"reconciler {__version__}")
        return 0

    from reconciler.output import redact

    args = build_parser().parse_args(argv)
    with redact.redacting(getattr(args, "redact", False)):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from reconciler.output.console import Output

    out = Output(args)
    if not getattr(args, "notify", None):
        if getattr(args, "notify_mention", None):
            from reconciler.errors import ExitCode

            out.error("--notify-mention needs --notify PLATFORM — nothing was done")
            return ExitCode.INPUT
        return _command(args, out)
    import os

    from reconciler import notify
    from reconciler.errors import InputError

    try:
        who = notify.mentions(args, os.environ)
    except InputError as exc:  # before anything runs: a page that cannot reach anyone
        out.error(f"{exc} — nothing was done")
        return exc.exit_code
    notify.FACTS.reset()
    code = _command(args, out)
    posted = notify.send(args.notify, args.command, code, out, os.environ, who)
    if not posted and notify.changes_exit(args.command, code):
        return notify.NOT_NOTIFIED  # a check that nobody hears of must be noticed
    return code


def _command(args: argparse.Namespace, out: Output) -> int:
    from reconciler.errors import ExitCode, ManifestError, ReconcilerError
    from reconciler.output.console import discard_stdout

    if args.verbose:
        import logging

        from reconciler.output.redact import LogFilter

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        for handler in logging.getLogger().handlers:
            handler.addFilter(LogFilter())
        # urllib3 logs full URLs; ours never carry secrets, but keep the noise down.
        logging.getLogger("urllib3").setLevel(logging.WARNING)
        # An embedded sandbox's access log repeats what the client lines already say.
        logging.getLogger("reconciler.sandbox").setLevel(logging.WARNING)
    try:
        from reconciler.manifests.yamlpos import paused_gc

        # What a run builds lives until it ends, and each cyclic collection would walk all of
        # it again: 0.7-1.3 s of a 100,000-entry plan. A run is short and makes few cycles, so
        # the collector waits until it is over; the long-running sandbox keeps it.
        with paused_gc() if args.command != "sandbox" else contextlib.nullcontext():
            # One module per command (reconciler/commands/), loaded only when it runs.
            command = importlib.import_module(f"reconciler.commands.{args.command}")
            code: int = command.run(args, out)
            return code
    except ManifestError as exc:
        from reconciler.output import problem_report

        fmt = getattr(args, "format", "text")
        if (args.command, fmt) in problem_report.ON_STDOUT:
            out.write(problem_report.render(fmt, exc.problems))
        for problem in exc.problems:
            out.problem(problem)
        out.error(f"{exc} — nothing was done")
        return exc.exit_code
    except ReconcilerError as exc:
        out.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    except BrokenPipeError:
        # Output.write outlives a closed stdout; a pipe broken elsewhere cut the run short,
        # which is not a success.
        discard_stdout()
        return ExitCode.PROVIDER
