"""Shell completion made from the parser, and the examples that end each command's help."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

COMMANDS = [
    "validate",
    "plan",
    "apply",
    "export",
    "dns",
    "show",
    "accounts",
    "completion",
    "sandbox",
]


def _complete(script: str, line: str) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end), with the script loaded."""
    words = line.split(" ")
    program = (
        f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n_reconciler\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    )
    # A real process: the script is bash.
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w]


def test_bash_completes_commands_flags_and_choices(tmp_path: Path) -> None:
    made = run_cli("completion", "bash", cwd=tmp_path)
    assert made.code == 0, made
    assert set(_complete(made.out, "reconciler ")) >= set(COMMANDS)
    assert _complete(made.out, "reconciler pl") == ["plan"]
    assert "--detailed-exitcode" in _complete(made.out, "reconciler plan examples/ --d")
    assert _complete(made.out, "reconciler plan --format ") == ["text", "json", "markdown"]
    assert _complete(made.out, "reconciler show x.json --format m") == ["markdown"]
    assert _complete(made.out, "reconciler completion ") == ["bash", "zsh", "fish"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command_and_choice(shell: str, tmp_path: Path) -> None:
    made = run_cli("completion", shell, cwd=tmp_path)
    assert made.code == 0, made
    for command in COMMANDS:
        assert command in made.out
    assert "text json markdown" in made.out
    if shutil.which(shell):  # a real process: the shell checks its own syntax
        checked = subprocess.run([shell, "-n"], input=made.out, text=True, capture_output=True)
        assert checked.returncode == 0, checked.stderr


def test_completion_of_an_unknown_shell_is_invalid_input(tmp_path: Path) -> None:
    assert run_cli("completion", "tcsh", cwd=tmp_path).code == 3


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_examples(command: str, tmp_path: Path) -> None:
    shown = run_cli(command, "--help", cwd=tmp_path)
    assert shown.code == 0
    tail = shown.out[shown.out.rindex("examples:") :]
    examples = importlib.import_module(f"reconciler.commands.args.{command}").EXAMPLES
    assert len(examples) >= 2
    for _, line in examples:
        assert f"  {line}\n" in tail
        assert line.startswith(("reconciler ", "RECONCILER_", "eval "))


def test_exit_codes_stay_in_the_help_of_plan_and_apply(tmp_path: Path) -> None:
    for command in ("plan", "apply", "show"):
        out = run_cli(command, "--help", cwd=tmp_path).out
        assert "exit codes:" in out and out.index("exit codes:") < out.index("examples:")


def test_completion_describes_the_parser_it_is_handed(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from reconciler.commands import completion
    from reconciler.output.console import Output

    parser = argparse.ArgumentParser(prog="reconciler")
    parser.add_argument("--loud", action="store_true", help="say it louder")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("frobnicate", help="frob it").add_argument("--level", choices=["low", "high"])
    args = argparse.Namespace(shell="bash", parser=parser, quiet=False, verbose=False)
    args.no_color = True
    assert completion.run(args, Output(args)) == 0
    script = capsys.readouterr().out
    assert _complete(script, "reconciler ") == ["frobnicate", "-h", "--help", "--loud"]
    assert _complete(script, "reconciler frobnicate --level ") == ["low", "high"]


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "completion"] + ["stats", "check"])
def test_completion_offers_every_flag_the_help_shows(command: str, tmp_path: Path) -> None:
    """Both are made from the one parser: a flag in ``--help`` is in the bash completion."""
    shown = run_cli(command, "--help", cwd=tmp_path).out
    # The option lines: "  -v, --verbose  log every provider call", "  --out FILE  ..."
    flags = {
        word.split()[0]
        for line in shown.splitlines()
        if line.startswith("  -")
        for word in line.strip().split("  ")[0].split(", ")
    } - {"-h", "--help"}
    assert len(flags) >= 3, shown
    offered = _complete(run_cli("completion", "bash", cwd=tmp_path).out, f"reconciler {command} -")
    assert flags <= set(offered), sorted(flags - set(offered))
