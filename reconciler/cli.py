"""The command line: the parser made of the commands' declarations, and the one place that
turns errors into messages and exit codes."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from reconciler import __version__

# Everything else is imported where it is used, so that `--version` (which scripts and CI
# call to probe the tool) and `--help` load next to nothing, and each command loads only
# what it needs (`validate` never loads the HTTP stack).
if TYPE_CHECKING:
    from reconciler.output.console import Output

# The commands, in the order `reconciler --help` lists them. Each declares its help and its
# arguments in reconciler/commands/args/<name>.py (light: read to build the parser) and runs
# from reconciler/commands/<name>.py (loaded only when it runs).
COMMANDS = (
    "validate",
    "plan",
    "apply",
    "export",
    "dns",
    "stats",
    "check",
    "show",
    "accounts",
    "completion",
    "sandbox",
)


@functools.cache  # one parser a process: parsing leaves it as it was
def build_parser() -> argparse.ArgumentParser:
    from reconciler.commands.args import Declaration, common

    parser = common.Parser(
        prog="reconciler",
        description="Keep DirectMail IP protection and SendCloud unintercept settings "
        "equal to YAML manifests.",
    )
    common.flags(parser, default=False)
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    # `completion` describes this very parser: it is handed over with what was parsed.
    parser.set_defaults(parser=parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=common.Parser)
    sub.required = True
    for name in COMMANDS:
        declared = cast(Declaration, importlib.import_module(f"reconciler.commands.args.{name}"))
        declared.arguments(
            sub.add_parser(
                name,
                help=declared.SUMMARY,
                description=textwrap.fill(declared.DESCRIPTION, 78),
                epilog=common.epilog(declared.EPILOG, declared.EXAMPLES),
                formatter_class=common.Formatter,
            )
        )
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

    try:  # before anything runs: a page that cannot be posted, or cannot reach anyone
        url = notify.webhook_url(args.notify, os.environ)
        who = notify.mentions(args, os.environ)
    except InputError as exc:
        out.error(f"{exc} — nothing was done")
        return exc.exit_code
    notify.FACTS.reset()
    code = _command(args, out)
    posted = notify.send(args.notify, url, args.command, code, out, os.environ, who)
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
