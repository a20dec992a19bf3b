"""What a release is made of: the license, one version, the release workflow, the image."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reconciler import __version__
from tests.cli_helpers import EXAMPLES, REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the other versions check the rest

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
RELEASE = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())


def test_license_is_an_spdx_expression_with_its_file() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    requires = PYPROJECT["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(7[7-9]|[89]\d)(\.\d+)*", r) for r in requires)


def test_the_version_is_written_once() -> None:
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "reconciler.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_release_workflow_checks_then_publishes_only_tags_with_oidc() -> None:
    jobs = RELEASE["jobs"]
    build = "\n".join(step.get("run", "") for step in jobs["build"]["steps"])
    for needed in ("python -m build", "twine check --strict", "python -m venv", "--version"):
        assert needed in build
    assert "plan" in build and "--sandbox" in build
    publish = jobs["publish"]
    assert publish["needs"] == "build"
    assert "github.ref_type == 'tag'" in publish["if"]
    assert publish["permissions"] == {"id-token": "write"}
    uses = [step.get("uses", "") for step in publish["steps"]]
    assert any(u.startswith("pypa/gh-action-pypi-publish@") for u in uses)
    assert not any("password" in str(step.get("with", {})) for step in publish["steps"])
    # The workflow itself may read only: the token that can publish is the job's own.
    assert RELEASE["permissions"] == {"contents": "read"}


def test_dockerfile_runs_reconciler_as_a_user_that_is_not_root() -> None:
    lines = (REPO / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["reconciler"]' in lines
    final = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    assert any(line.startswith("USER ") for line in lines[final:])
    for line in lines:
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source


@pytest.mark.skipif(
    not os.environ.get("RECONCILER_TEST_WHEEL"),
    reason="builds a wheel with setuptools from the package index (set RECONCILER_TEST_WHEEL=1)",
)
def test_the_wheel_installs_in_a_clean_venv_and_runs(tmp_path: Path) -> None:
    # Real processes: pip builds and installs, and the installed entry point runs.
    def run(*command: str | Path, cwd: Path = tmp_path) -> str:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "dist", REPO)
    (wheel,) = (tmp_path / "dist").glob("reconciler_mail-*.whl")
    run(sys.executable, "-m", "venv", tmp_path / "venv")
    run(tmp_path / "venv" / "bin" / "pip", "install", "-q", wheel)
    reconciler = tmp_path / "venv" / "bin" / "reconciler"
    assert run(reconciler, "--version") == f"reconciler {__version__}\n"
    assert "Plan: 5 to add" in run(reconciler, "plan", EXAMPLES, "--sandbox")
