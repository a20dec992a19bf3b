"""The command line: argparse, and the one place that turns errors into messages and exit codes."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from reconciler import __version__
from reconciler.errors import ExitCode, InputError, ManifestError, Problem, ReconcilerError

SANDBOX_STATE = Path(".reconciler/sandbox.json")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; our contract says 3 (invalid input)."""

    def error(self, message: str) -> NoReturn:
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


def build_parser() -> argparse.ArgumentParser:
    # The common flags work before and after the command. After it they must not reset what
    # was given before it, so there they have no default of their own.
    common = _Parser(add_help=False)
    _common_flags(common, argparse.SUPPRESS)
    remote = _Parser(add_help=False)
    remote.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or directories")
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

    plan = sub.add_parser("plan", parents=[common, remote], help="show what apply would change")
    plan.add_argument("--format", choices=["text", "json"], default="text")
    plan.add_argument("--out", metavar="FILE", help="also save the plan as JSON to FILE")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when the plan has changes, 0 when it has none",
    )

    apply = sub.add_parser("apply", parents=[common, remote], help="make live state match")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--format", choices=["text", "json"], default="text")

    sandbox = sub.add_parser("sandbox", parents=[common], help="serve the local sandbox")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8600)
    sandbox.add_argument("--state", type=Path, default=SANDBOX_STATE, metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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

        match args.command:
            case "validate":
                return commands.validate(args, out)
            case "plan":
                return commands.plan(args, out)
            case "apply":
                return commands.apply(args, out)
            case "sandbox":
                return commands.sandbox(args, out)
        raise AssertionError(args.command)
    except ManifestError as exc:
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

    def error(self, text: str) -> None:
        prefix = "\033[31merror\033[0m" if self.err_color else "error"
        print(f"{prefix}: {text}", file=sys.stderr)


def unknown_account(name: str, known: Sequence[str]) -> InputError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return InputError(
        f"--account {name!r} is not defined in the manifests{hint}; "
        f"accounts: {', '.join(known) or 'none'}"
    )
