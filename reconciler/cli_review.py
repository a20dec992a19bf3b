"""The flags and commands for review, CI and shells, as ``cli.build_parser`` adds them:
``--redact``, ``--notify``, and the ``show``, ``accounts`` and ``completion`` commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar

P = TypeVar("P", bound=argparse.ArgumentParser)


def flags(parser_class: type[P]) -> tuple[P, P]:
    """The parent parsers of ``--redact`` and of ``--notify``."""
    redactable = parser_class(add_help=False)
    redactable.add_argument(
        "--redact",
        action="store_true",
        help="mask e-mail addresses in what is shown (v**@example.com#3f9a1c); "
        "files written stay complete",
    )
    notifying = parser_class(add_help=False)
    notifying.add_argument(
        "--notify",
        choices=["dingtalk", "feishu", "wecom", "slack"],
        metavar="PLATFORM",
        help="post a summary to the webhook in $RECONCILER_WEBHOOK_URL (signed with "
        "$RECONCILER_WEBHOOK_SECRET): dingtalk, feishu, wecom or slack",
    )
    notifying.add_argument(
        "--notify-mention",
        action="append",
        metavar="WHO",
        help="@-mention WHO in a summary of trouble (failure, failed check, refusal): all, a "
        "mobile number or a user id, comma-separated; repeatable "
        "(default: $RECONCILER_NOTIFY_MENTION)",
    )
    return redactable, notifying


def commands(
    command: Callable[..., argparse.ArgumentParser],
    bare: list[Any],
    with_paths: list[Any],
    redactable: list[Any],
    exit_codes: str,
) -> None:
    """``show``, ``accounts`` and ``completion``, made with ``cli``'s ``command`` helper."""
    show = command(
        "show",
        "show a saved plan",
        "Show a plan saved by plan --out, as apply --plan would carry it out: verified as apply "
        "verifies it (not its age), offline: no credentials, no provider calls.",
        parents=redactable,
        epilog=exit_codes,
    )
    show.add_argument("plan", metavar="PLAN", help="the saved plan (JSON)")
    show.add_argument(
        "--format",
        choices=["text", "markdown", "json"],
        default="text",
        help="output format (default: %(default)s)",
    )
    accounts = command(
        "accounts",
        "list the accounts of the manifests",
        "List the accounts the manifests define (name, provider, region), offline: for a CI "
        "matrix with one job per account.",
        parents=with_paths,
    )
    accounts.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text: one line each; json: a list of objects (default: %(default)s)",
    )
    completion = command(
        "completion",
        "print a shell completion script",
        "Print a completion script for bash, zsh or fish, made from this command line's own "
        "definition.",
        parents=[],
    )
    completion.add_argument("shell", choices=["bash", "zsh", "fish"], help="the shell")
