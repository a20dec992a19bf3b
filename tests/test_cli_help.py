"""Help and wording through the real CLI: descriptions, defaults, exit codes, plurals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli, write

COMMANDS = ["validate", "plan", "apply", "export", "sandbox"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_a_description(command: str, tmp_path: Path) -> None:
    result = run_cli(command, "--help", cwd=tmp_path)
    assert result.code == 0, result
    usage, description = result.out.split("\n\n")[:2]
    assert usage.startswith(f"usage: reconciler {command}")
    assert not description.startswith(("positional arguments", "options")), result.out
    assert len(description.split()) >= 8, description


@pytest.mark.parametrize(
    ("command", "defaults"),
    [
        ("plan", ["(default: text)"]),
        ("apply", ["(default: text)"]),
        ("export", ["(default: stdout)"]),
        (
            "sandbox",
            ["(default: 127.0.0.1)", "(default: 8600)", "(default: .reconciler/sandbox.json)"],
        ),
    ],
)
def test_help_shows_the_defaults(command: str, defaults: list[str], tmp_path: Path) -> None:
    shown = " ".join(run_cli(command, "--help", cwd=tmp_path).out.split())
    for default in defaults:
        assert default in shown, shown


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_plan_and_apply_help_list_the_exit_codes(command: str, tmp_path: Path) -> None:
    shown = run_cli(command, "--help", cwd=tmp_path).out
    # The table ends at the blank line before the examples.
    table = shown[shown.index("exit codes:") :].split("\n\n")[0].splitlines()[1:]
    assert [line.split()[0] for line in table] == ["0", "1", "2", "3", "4", "5", "6"], shown


# The flags several commands share (reconciler/commands/args/common.py), and who takes them.
SHARED_FLAGS = {
    "--verbose": ["validate", "plan", "apply", "export", "stats", "check", "show", "accounts"],
    "--account": ["plan", "apply", "export", "check"],  # stats has its own, required, one
    "--sandbox": ["plan", "apply", "export", "stats", "check"],
    "--redact": ["plan", "apply", "stats", "check", "show"],
    "--notify": ["plan", "apply", "check"],
    "--notify-mention": ["plan", "apply", "check"],
    "--format": ["validate", "plan", "apply", "stats", "check", "show", "accounts"],
}


@pytest.mark.parametrize(("flag", "commands"), SHARED_FLAGS.items())
def test_a_shared_flag_is_read_alike_by_every_command(flag: str, commands: list[str]) -> None:
    import argparse

    from reconciler.cli import build_parser

    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    found = {
        name: next((a for a in sub.choices[name]._actions if flag in a.option_strings), None)
        for name in commands
    }
    assert None not in found.values(), found
    read = {
        name: repr((a.option_strings, a.dest, a.default, a.metavar, a.nargs, type(a)))
        for name, a in found.items()
        if a is not None
    }
    assert len(set(read.values())) == 1, read
    if flag != "--format":  # whose choices, default and help each command words
        assert len({a.help for a in found.values() if a is not None}) == 1


def test_sandbox_public_host_names_no_flag_that_does_not_exist(tmp_path: Path) -> None:
    result = run_cli("sandbox", "--host", "0.0.0.0", cwd=tmp_path)
    assert result.code == 3, result
    assert "loopback" in result.err
    assert "allowed" not in result.err and "--allow" not in result.err
    for flag in (word for word in result.err.split() if word.startswith("--")):
        assert flag in run_cli("sandbox", "--help", cwd=tmp_path).out, flag


def test_validate_counts_in_the_singular(tmp_path: Path) -> None:
    write(
        tmp_path / "one.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: dm}\n"
        "spec: {provider: aliyun-directmail}\n---\n"
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: sc}\n"
        "spec: {provider: sendcloud}\n---\n"
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
        "spec: {account: dm, entries: [203.0.113.7]}\n---\n"
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec: {account: sc, entries: [{email: a@example.com}]}\n",
    )
    result = run_cli("validate", "one.yaml", cwd=tmp_path)
    assert result.code == 0, result
    assert result.out == "Valid: 1 file, 2 accounts, 1 whitelist entry, 1 unintercept entry.\n"
