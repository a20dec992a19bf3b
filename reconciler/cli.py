"""The command line: argparse, and the one place that turns errors into messages and exit codes."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from reconciler import __version__

# Everything else is imported where it is used, so that `--version` (which scripts and CI
# call to probe the tool) and `--help` load next to nothing.
if TYPE_CHECKING:
    from reconciler.errors import InputError, Problem

SANDBOX_STATE = Path(".reconciler/sandbox.json")


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
        "-q", "--quiet", action="store_true", default=default, help="print only what matters"
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


def _fault_kinds(text: str) -> tuple[str, ...]:
    from reconciler.sandbox.faults import parse_kinds  # imported late: keeps --help fast

    try:
        return parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        help="only this account (repeatable)",
    )
    remote.add_argument(
        "--sandbox",
        action="store_true",
        help=f"use an embedded local sandbox instead of the providers (state in {SANDBOX_STATE})",
    )

    parser = _Parser(
        prog="reconciler",
        description="Keep DirectMail IP protection and SendCloud unintercept settings "
        "equal to YAML manifests.",
    )
    _common_flags(parser, False)
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    validate = sub.add_parser("validate", parents=[common], help="check manifests offline")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--format", choices=["text", "json", "github"], default="text")

    plan = sub.add_parser(
        "plan", parents=[common, paths, remote], help="show what apply would change"
    )
    plan.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    plan.add_argument("--out", metavar="FILE", help="also save the plan as JSON to FILE")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when the plan has changes, 0 when it has none",
    )

    apply = sub.add_parser("apply", parents=[common, remote], help="make live state match")
    apply.add_argument(
        "paths", nargs="*", metavar="PATH", help="manifest files or directories (or --plan)"
    )
    apply.add_argument(
        "--plan", metavar="FILE", dest="plan_file", help="carry out a plan saved by plan --out"
    )
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument(
        "--force",
        action="store_true",
        help="override the safety rules on mass deletion, emptying a list and lock-out",
    )
    apply.add_argument("--format", choices=["text", "json"], default="text")

    export = sub.add_parser(
        "export", parents=[common, paths, remote], help="write live state as manifests"
    )
    export.add_argument("--out", metavar="FILE", help="write the manifests to FILE, not stdout")

    sandbox = sub.add_parser("sandbox", parents=[common], help="serve the local sandbox")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8600)
    sandbox.add_argument("--state", type=Path, default=SANDBOX_STATE, metavar="FILE")
    faults = sandbox.add_argument_group("fault injection (off by default)")
    faults.add_argument(
        "--latency", type=_seconds, default=0.0, metavar="SECONDS", help="delay every call"
    )
    faults.add_argument(
        "--error-rate",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="probability (0..1) that a call fails with one of --faults",
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
        help="probability (0..1) that a list answer loses records but keeps its total",
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
    from reconciler.errors import ExitCode, ManifestError, ReconcilerError

    args = build_parser().parse_args(argv)
    out = Output(args)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        # urllib3 logs full URLs; ours never carry secrets, but keep the noise down.
        logging.getLogger("urllib3").setLevel(logging.WARNING)
        # An embedded sandbox's access log repeats what the client lines already say.
        logging.getLogger("reconciler.sandbox").setLevel(logging.WARNING)
    try:
        # Imported here so that `--version` and `--help` stay fast.
        from reconciler import commands
        from reconciler.yamlpos import paused_gc

        # What a run builds lives until it ends, and each cyclic collection would walk all of
        # it again: 0.7-1.3 s of a 100,000-entry plan. A run is short and makes few cycles, so
        # the collector waits until it is over; the long-running sandbox keeps it.
        with paused_gc() if args.command != "sandbox" else contextlib.nullcontext():
            match args.command:
                case "validate":
                    return commands.validate(args, out)
                case "plan":
                    return commands.plan(args, out)
                case "apply":
                    return commands.apply(args, out)
                case "export":
                    return commands.export(args, out)
                case "sandbox":
                    return commands.sandbox(args, out)
            raise AssertionError(args.command)
    except ManifestError as exc:
        from reconciler import problem_report

        if (args.command, args.format) in problem_report.ON_STDOUT:
            out.write(problem_report.render(args.format, exc.problems))
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
        # The reader went away (`| head`); do not let Python complain at exit either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK


class Output:
    """Where and how to print: stdout for results, stderr for everything else."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quiet: bool = args.quiet
        self.verbose: bool = args.verbose
        no_color = args.no_color or bool(os.environ.get("NO_COLOR"))
        self.color = not no_color and sys.stdout.isatty()
        self.err_color = not no_color and sys.stderr.isatty()

    def write(self, text: str, stream: TextIO | None = None) -> None:
        (stream or sys.stdout).write(text)
        (stream or sys.stdout).flush()

    def note(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr)

    def problem(self, problem: Problem) -> None:
        if problem.warning and self.quiet:
            return
        text = str(problem)
        if self.err_color:
            label = "warning" if problem.warning else "error"
            text = text.replace(
                f"{label}:", f"\033[{33 if problem.warning else 31}m{label}\033[0m:", 1
            )
        print(text, file=sys.stderr)

    def warn(self, text: str) -> None:
        """A warning is shown even with --quiet: it says something was overridden or odd."""
        prefix = "\033[33mwarning\033[0m" if self.err_color else "warning"
        print(f"{prefix}: {text}", file=sys.stderr)

    def error(self, text: str) -> None:
        prefix = "\033[31merror\033[0m" if self.err_color else "error"
        print(f"{prefix}: {text}", file=sys.stderr)


def unknown_account(name: str, known: Sequence[str]) -> InputError:
    import difflib

    from reconciler.errors import InputError

    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return InputError(
        f"--account {name!r} is not defined in the manifests{hint}; "
        f"accounts: {', '.join(known) or 'none'}"
    )
