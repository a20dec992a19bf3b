"""``completion``'s place in the help and its arguments; it runs from
``commands/completion.py``, which is handed the parser it describes."""

from __future__ import annotations

import argparse

SUMMARY = "print a shell completion script"
DESCRIPTION = (
    "Print a completion script for bash, zsh or fish, made from this command line's own definition."
)
EPILOG = None
EXAMPLES = [
    ("bash, for this shell", 'eval "$(reconciler completion bash)"'),
    ("fish", "reconciler completion fish > ~/.config/fish/completions/reconciler.fish"),
    ("zsh", "reconciler completion zsh > ~/.zfunc/_reconciler"),
]


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=["bash", "zsh", "fish"], help="the shell")
