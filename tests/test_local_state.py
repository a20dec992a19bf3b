"""The local state directory ``.reconciler/`` (the sandbox's state file, apply locks) ignores
itself, so that it never lands in a repository."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import EXAMPLES, run_cli

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def test_the_sandbox_state_directory_ignores_itself(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    result = run_cli("apply", "examples/", "--sandbox", "--yes", cwd=tmp_path)
    assert result.code == 0, result
    state = tmp_path / ".reconciler"
    assert (state / "sandbox.json").is_file()
    lines = (state / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "*" in lines
    # `git add -A` in the repository takes the manifests and nothing of the local state.
    _git(tmp_path, "add", "-A")
    tracked = _git(tmp_path, "ls-files").splitlines()
    assert tracked and all(path.startswith("examples/") for path in tracked), tracked
    # A .gitignore already there (edited by its owner) is left as it is.
    (state / ".gitignore").write_text("sandbox.json\n", encoding="utf-8")
    assert run_cli("plan", "examples/", "--sandbox", cwd=tmp_path).code == 0
    assert (state / ".gitignore").read_text(encoding="utf-8") == "sandbox.json\n"


def test_a_state_file_elsewhere_leaves_its_directory_alone(tmp_path: Path) -> None:
    # `reconciler sandbox --state mine/state.json`: a directory of the user's, not ours.
    from reconciler.sandbox import Sandbox

    with Sandbox(tmp_path / "mine" / "state.json"):
        pass
    assert (tmp_path / "mine" / "state.json").is_file()
    assert not (tmp_path / "mine" / ".gitignore").exists()
