"""What several commands share: loading manifests, choosing accounts, the sandbox switch and
asking before a write. Imports nothing that talks to a provider."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from reconciler.errors import InputError
from reconciler.kinds import kinds
from reconciler.manifests.load import load_manifests
from reconciler.model import AccountDesired, DesiredState
from reconciler.output import render
from reconciler.output.console import Output, Style, counted, escape
from reconciler.plan import Plan


def load(paths: Sequence[str], out: Output) -> DesiredState:
    """The desired state of the manifests at ``paths``; their warnings are printed."""
    state, warnings = load_manifests(paths)
    for warning in warnings:
        out.problem(warning)
    return state


def select(state: DesiredState, names: Sequence[str]) -> list[AccountDesired]:
    """The accounts to work on: those named by --account, else every account that manages
    something."""
    for name in names:
        if name not in state.accounts:
            raise unknown_account(name, list(state.accounts))
    return [
        want
        for name, want in state.accounts.items()
        if (name in names if names else _manages_anything(want))
    ]


def _manages_anything(want: AccountDesired) -> bool:
    return any(kind.managed(want) for kind in kinds())


def unknown_account(name: str, known: Sequence[str]) -> InputError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return InputError(
        f"--account {name!r} is not defined in the manifests{hint}; "
        f"accounts: {', '.join(known) or 'none'}"
    )


def sandbox_state(args: argparse.Namespace) -> Path | None:
    """The embedded sandbox's state file with ``--sandbox``; None: the real providers."""
    state: Path = args.sandbox_state
    return state if args.sandbox else None


def require_confirmation_channel(args: argparse.Namespace) -> None:
    if not args.yes and not sys.stdin.isatty():
        raise InputError("stdin is not a terminal: pass --yes to apply without confirmation")


def plan_text(result: Plan, out: Output, style: Style | None = None) -> str:
    """The text plan in ``style`` (stdout's by default); with --quiet only what refuses it and
    its summary line."""
    if not out.quiet:
        return render.plan_text(result, style or out.style)
    refused = [f"refused: {r.rule}: {escape(r.message)}\n" for r in result.refusals]
    return "".join(refused) + render.summary_line(result) + "\n"


def confirm(count: int) -> bool:
    # The question goes to stderr so that it stays visible when stdout is redirected to a file.
    sys.stderr.write(f"Apply {counted(count, 'change')}? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")
