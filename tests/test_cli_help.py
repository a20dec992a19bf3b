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
