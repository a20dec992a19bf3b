"""Terraform habits through the real CLI against the sandbox: a saved plan given as a path,
where ``plan --out`` saved it, a plan already applied, a "no" at the prompt, a redirected
stdout, ``--quiet``, and ``export`` of every account."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import copy_examples, run_cli
from tests.cli_helpers import process_env as _env
from tests.cli_helpers import read_until as _read_until

SANDBOX_STATE = Path(".reconciler/sandbox.json")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    copy_examples(tmp_path / "examples")
    return tmp_path


def _plan_out(workdir: Path, name: str = "plan.json") -> None:
    made = run_cli("plan", "examples/", "--sandbox", "--out", name, cwd=workdir)
    assert made.code == 0, made


def _converged(workdir: Path) -> bool:
    again = run_cli("plan", "examples/", "--sandbox", "--detailed-exitcode", cwd=workdir)
    assert again.code in (0, 2), again
    return again.code == 0


# -- apply PLAN.json ------------------------------------------------------------------------


def test_apply_given_a_saved_plan_as_its_path_applies_it_as_plan_does(workdir: Path) -> None:
    _plan_out(workdir)
    result = run_cli("apply", "plan.json", "--sandbox", "--yes", cwd=workdir)
    assert result.code == 0, result
    assert "Live state still matches the saved plan" in result.err
    assert "Apply: 9 applied, 0 failed, 0 skipped." in result.out
    assert "schema" not in result.err
    assert _converged(workdir)


def test_a_saved_plan_as_a_path_gets_every_check_of_plan(workdir: Path) -> None:
    _plan_out(workdir)
    # The same checks as --plan: made with --sandbox, so applied with it.
    unsandboxed = run_cli("apply", "plan.json", "--yes", cwd=workdir)
    assert unsandboxed.code == 3, unsandboxed
    assert "was made with --sandbox" in unsandboxed.err
    # A plan printed for reading, not saved: the saved-plan error, not manifest schema errors.
    printed = run_cli("plan", "examples/", "--sandbox", "--format", "json", cwd=workdir)
    (workdir / "printed.json").write_text(printed.out)
    read_only = run_cli("apply", "printed.json", "--sandbox", "--yes", cwd=workdir)
    assert read_only.code == 3, read_only
    assert "has no saved live state" in read_only.err
    assert read_only.err.count("error") == 1, read_only
    assert not _converged(workdir)


def test_a_saved_plan_then_its_manifests_is_apply_plan_with_paths(workdir: Path) -> None:
    made = run_cli("plan", "examples/", "--sandbox", "--out", "plan.json", cwd=workdir)
    assert made.code == 0, made
    # The suggested command names the manifests, so that apply checks the plan against them.
    assert "run: reconciler apply --plan plan.json examples/ --sandbox" in made.err
    # `apply plan.json examples/` is `apply --plan plan.json examples/`: a manifest edited
    # since the plan was made is refused before anything is read.
    manifest = next((workdir / "examples").rglob("*.yaml"))
    original = manifest.read_bytes()
    manifest.write_bytes(original + b"\n# edited\n")
    edited = run_cli("apply", "plan.json", "examples/", "--sandbox", "--yes", cwd=workdir)
    assert edited.code == 4, edited
    manifest.write_bytes(original)
    result = run_cli("apply", "plan.json", "examples/", "--sandbox", "--yes", cwd=workdir)
    assert result.code == 0, result
    assert "Apply: 9 applied, 0 failed, 0 skipped." in result.out
    assert _converged(workdir)


def test_a_saved_plan_among_manifests_is_refused_with_a_hint(workdir: Path) -> None:
    _plan_out(workdir)
    result = run_cli("apply", "examples/", "plan.json", "--sandbox", "--yes", cwd=workdir)
    assert result.code == 3, result
    assert "plan.json is a saved plan" in result.err and "apply --plan plan.json" in result.err
    assert result.err.count("error") == 1, result
    assert not _converged(workdir)


# -- plan --out -----------------------------------------------------------------------------


def test_plan_out_says_where_it_saved_and_how_to_apply(workdir: Path) -> None:
    result = run_cli("plan", "examples/", "--sandbox", "--out", "my plan.json", cwd=workdir)
    assert result.code == 0, result
    assert "Saved the plan to my plan.json." in result.err
    assert "reconciler apply --plan 'my plan.json' examples/ --sandbox" in result.err
    assert "Saved" not in result.out
    quiet = run_cli("plan", "examples/", "--sandbox", "--out", "q.json", "-q", cwd=workdir)
    assert quiet.code == 0 and quiet.err == "", quiet
    assert (workdir / "q.json").exists()


# -- a saved plan already applied -----------------------------------------------------------


def test_a_saved_plan_already_in_effect_says_so_and_writes_nothing(workdir: Path) -> None:
    _plan_out(workdir)
    # Partly in effect (one account's changes made from the manifests): still stale.
    part = run_cli("apply", "examples/", "--account", "prod-dm", "--sandbox", "--yes", cwd=workdir)
    assert part.code == 0, part
    partly = run_cli("apply", "--plan", "plan.json", "--sandbox", "--yes", cwd=workdir)
    assert partly.code == 4, partly
    assert "live state changed since it was made" in partly.err
    assert "Already applied" not in partly.out
    # Every change in effect: already applied.
    rest = run_cli("apply", "examples/", "--sandbox", "--yes", cwd=workdir)
    assert rest.code == 0, rest
    state = (workdir / SANDBOX_STATE).read_bytes()
    again = run_cli("apply", "--plan", "plan.json", "--sandbox", "--yes", cwd=workdir)
    assert again.code == 0, again
    assert "Already applied" in again.out and "nothing was written" in again.out
    assert "changed since" not in again.err
    assert (workdir / SANDBOX_STATE).read_bytes() == state
    as_json = run_cli(
        "apply", "--plan", "plan.json", "--sandbox", "--yes", "--format", "json", cwd=workdir
    )
    assert as_json.code == 0, as_json
    assert as_json.json["outcomes"] == [] and len(as_json.json["plan"]["changes"]) == 9


# -- the prompt -----------------------------------------------------------------------------


def _on_a_terminal(
    workdir: Path, args: list[str], answer: bytes, stdout: int | None = None
) -> tuple[int, str, str]:
    """Run reconciler with stdin and stderr (and stdout, unless given) on a terminal; answer
    the prompt; return the exit code, what the terminal showed before the prompt, and after."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=workdir, env=_env(), stdin=terminal, stdout=stdout or terminal, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    try:
        before = _read_until(controller, b"[y/N] ")
        os.write(controller, answer)
        after = _read_until(controller, b"\x00")  # never printed: reads until the CLI exits
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
        os.close(controller)
    return code, before.decode(errors="replace"), after.decode(errors="replace")


def test_no_at_the_prompt_cancels_and_exits_1(workdir: Path) -> None:
    code, before, after = _on_a_terminal(workdir, ["apply", "examples/", "--sandbox"], b"n\n")
    assert "Apply 9 changes? [y/N]" in before
    assert code == 1, before + after
    assert "apply cancelled" in after and "nothing was applied" in after
    assert not _converged(workdir)


def test_redirected_stdout_shows_the_plan_on_the_terminal_before_the_prompt(
    workdir: Path,
) -> None:
    with open(workdir / "report.json", "wb") as report:
        code, before, after = _on_a_terminal(
            workdir,
            ["apply", "examples/", "--sandbox", "--format", "json"],
            b"y\n",
            stdout=report.fileno(),
        )
    assert code == 0, before + after
    shown = re.sub(r"\x1b\[[0-9;]*m", "", before.replace("\r", ""))  # stderr is a terminal
    assert "+ ip_whitelist  203.0.113.7" in shown
    assert "Plan: 5 to add, 2 to change, 2 to delete." in shown
    assert shown.index("Plan: 5 to add") < shown.index("Apply 9 changes? [y/N]")
    document = json.loads((workdir / "report.json").read_text())
    assert document["summary"] == {"applied": 9, "failed": 0, "skipped": 0}


# -- --quiet --------------------------------------------------------------------------------


def test_quiet_prints_only_the_summary_line_and_errors(workdir: Path) -> None:
    plan = run_cli("plan", "examples/", "--sandbox", "-q", cwd=workdir)
    assert plan.code == 0, plan
    assert (plan.out, plan.err) == ("Plan: 5 to add, 2 to change, 2 to delete.\n", "")
    apply = run_cli("apply", "examples/", "--sandbox", "--yes", "-q", cwd=workdir)
    assert apply.code == 0, apply
    assert (apply.out, apply.err) == ("Apply: 9 applied, 0 failed, 0 skipped.\n", "")
    nothing = run_cli("apply", "examples/", "--sandbox", "--yes", "-q", cwd=workdir)
    assert (nothing.out, nothing.err) == ("No changes. Live state matches the manifests.\n", "")
    invalid = run_cli("plan", "missing/", "--sandbox", "-q", cwd=workdir)
    assert invalid.code == 3 and "error" in invalid.err


# -- export ---------------------------------------------------------------------------------


def test_export_without_account_exports_every_account(workdir: Path) -> None:
    result = run_cli("export", "examples/accounts", "--sandbox", "--out", "all.yaml", cwd=workdir)
    assert result.code == 0, result
    assert "Wrote 5 documents to all.yaml." in result.err
    text = (workdir / "all.yaml").read_text()
    for kind in ("Account", "IpProtection", "IpWhitelist", "UninterceptList"):
        assert f"kind: {kind}" in text, text
    assert "name: prod-dm" in text and "name: prod-sc" in text
    shutil.copy(workdir / "all.yaml", workdir / "examples" / "all-live.yaml")
    plan = run_cli("plan", "all.yaml", "--sandbox", "--detailed-exitcode", cwd=workdir)
    assert plan.code == 0, plan
