"""The flags several commands share, each written once, and argparse as our contract wants it
(usage errors exit 3). Imports nothing but argparse: it is loaded to build the parser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from datetime import timedelta

SANDBOX_STATE = Path(".reconciler/sandbox.json")

EXIT_CODES = """\
exit codes:
  0  success (for plan, also "changes present" unless --detailed-exitcode)
  1  a provider call or the network failed, or apply was cancelled at the prompt
  2  plan --detailed-exitcode only: the plan has changes
  3  invalid input: manifests, plan file, flags or usage
  4  refused: a safety rule, a stale saved plan, or incomplete live state
  5  apply: a guard failed and the changes were rolled back (or, rollback: never, kept)
  6  apply: a guard failed and the roll-back did not complete (the report says what is left)"""


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the exit-code table of an epilog as written; defaults are spelt out in each help
    text with ``%(default)s``, so that flags without a meaningful default do not show one."""


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; our contract says 3 (invalid input)."""

    def error(self, message: str) -> NoReturn:
        from reconciler.errors import ExitCode

        self.print_usage(sys.stderr)
        self.exit(ExitCode.INPUT, f"{self.prog}: error: {message}\n")


def epilog(text: str | None, examples: Sequence[tuple[str, str]]) -> str | None:
    """What ends a command's help: ``text`` (its exit codes), then its ``examples:`` block."""
    lines = ["examples:"]
    for what, line in examples:
        lines += [f"  # {what}", f"  {line}"]
    shown = "\n".join(lines) if examples else ""
    return "\n\n".join(part for part in (text, shown) if part) or None


def flags(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    """-v, -q and --no-color. They work before and after the command; after it they must not
    reset what was given before it, so there they have no default of their own."""
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


def paths(parser: argparse.ArgumentParser) -> None:
    """One or more manifest PATHs."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or directories")


def sandbox(parser: argparse.ArgumentParser) -> None:
    """--sandbox: the embedded sandbox instead of the providers."""
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help=f"use an embedded local sandbox instead of the providers (state in {SANDBOX_STATE})",
    )
    parser.set_defaults(sandbox_state=SANDBOX_STATE)


def accounts(parser: argparse.ArgumentParser) -> None:
    """--account (repeatable) and --sandbox: which accounts, on which side."""
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="NAME",
        help="only this account (repeatable; default: every account)",
    )
    sandbox(parser)


def redact(parser: argparse.ArgumentParser) -> None:
    """--redact: addresses masked in what is shown."""
    parser.add_argument(
        "--redact",
        action="store_true",
        help="mask e-mail addresses in what is shown (v**@example.com#3f9a1c); "
        "files written stay complete",
    )


def notify(parser: argparse.ArgumentParser) -> None:
    """--notify and --notify-mention: a summary posted to a chat webhook."""
    parser.add_argument(
        "--notify",
        choices=["dingtalk", "feishu", "wecom", "slack"],
        metavar="PLATFORM",
        help="post a summary to the webhook in $RECONCILER_WEBHOOK_URL (https, or http to a "
        "loopback address; checked before anything runs) signed with "
        "$RECONCILER_WEBHOOK_SECRET: dingtalk, feishu, wecom or slack",
    )
    parser.add_argument(
        "--notify-mention",
        action="append",
        metavar="WHO",
        help="@-mention WHO in a summary of trouble (failure, failed check, refusal): all, a "
        "mobile number or a user id, comma-separated; repeatable "
        "(default: $RECONCILER_NOTIFY_MENTION)",
    )


def output_format(
    parser: argparse.ArgumentParser, *choices: str, help: str = "output format"
) -> None:
    """--format, one of ``choices``, the first by default."""
    parser.add_argument(
        "--format", choices=list(choices), default=choices[0], help=f"{help} (default: %(default)s)"
    )


def duration(text: str) -> timedelta:
    """An argparse type: ``30m``, ``12h``, ``7d``."""
    from reconciler.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
