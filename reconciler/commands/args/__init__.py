"""What each command declares about itself, one module each: ``args/<name>.py``.

A declaration is everything ``reconciler <name> --help`` shows, and what argparse needs to read
the command line; the command itself runs from ``reconciler/commands/<name>.py``. The two are
apart so that building the parser loads argparse and these modules only: ``--help`` is fast and
``validate`` never loads the HTTP stack that ``plan`` runs on. ``cli`` adds the declarations in
the order of its ``COMMANDS``; ``common`` holds the flags several commands share.

The examples are real commands, runnable as shown (those with ``--sandbox`` against the
embedded sandbox, from a checkout with ``examples/``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Protocol


class Declaration(Protocol):
    """What a module of ``reconciler/commands/args/`` holds."""

    SUMMARY: str  # its line in ``reconciler --help``
    DESCRIPTION: str  # the paragraph under its usage (wrapped to 78 columns)
    EPILOG: str | None  # what follows its options, before the examples (the exit codes)
    EXAMPLES: Sequence[tuple[str, str]]  # (what it does, the command line)

    def arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's arguments, shared flags first, to its parser."""
