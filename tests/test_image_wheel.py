"""The image's wheel works: it is built exactly as the Dockerfile's first stage builds it.

Docker cannot run here, so the test does what that stage does: it reads the stage's ``COPY``
lines, copies that set (and nothing else, ``.dockerignore`` applied, links kept as links, as
``COPY`` keeps them) into an empty directory, and runs the stage's ``pip wheel`` there. Three
options are added so that it needs no network: ``--no-index``, ``--no-deps`` (the
dependencies' wheels are the package index's, not ours) and ``--no-build-isolation`` (the
build backend comes from this environment: ``setuptools`` of the ``test`` extra). The wheel is
installed without its dependencies into a directory of its own, and the CLI runs from there
with this environment's dependencies: ``validate`` and ``plan --sandbox`` of the examples.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest
import yaml

from reconciler import __version__
from tests.cli_helpers import EXAMPLES, REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+


@dataclass
class Stage:
    """What a Dockerfile stage does: where it works, what it copies (sources, destination),
    what it runs."""

    workdir: PurePosixPath = field(default_factory=lambda: PurePosixPath("/"))
    copies: list[tuple[list[str], str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)


def _instructions(text: str) -> list[tuple[str, str]]:
    """The instructions of a Dockerfile: (keyword, arguments), continuation lines joined,
    comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        joined.append(pending.strip())
        pending = ""
    result = []
    for instruction in joined:
        keyword, _, arguments = instruction.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


def build_stage(dockerfile: Path) -> Stage:
    """The first stage of ``dockerfile``: the one that builds the wheel."""
    stage: Stage | None = None
    for keyword, arguments in _instructions(dockerfile.read_text(encoding="utf-8")):
        if keyword == "FROM":
            if stage is not None:
                break
            stage = Stage()
        elif stage is None:
            continue
        elif keyword == "WORKDIR":
            stage.workdir = stage.workdir / arguments
        elif keyword == "COPY":
            words = [w for w in shlex.split(arguments) if not w.startswith("--")]
            assert "--from" not in arguments, "the build stage copies from the context only"
            stage.copies.append((words[:-1], words[-1]))
        elif keyword == "RUN":
            stage.runs.append(arguments)
    assert stage is not None, "the Dockerfile has no FROM"
    return stage


def _ignored(patterns: list[str], relative: str) -> bool:
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, bare):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatch(PurePosixPath(relative).name, bare):
            return True
    return False


def copy_context(stage: Stage, context: Path, root: Path) -> Path:
    """Copy what the stage's ``COPY`` lines copy from ``context`` into the empty directory
    ``root`` (standing for the image's ``/``); returns the stage's working directory there."""
    ignore_file = context / ".dockerignore"
    patterns = [
        line.strip()
        for line in (ignore_file.read_text().splitlines() if ignore_file.exists() else [])
        if line.strip() and not line.startswith("#")
    ]
    workdir = root / stage.workdir.relative_to("/")
    workdir.mkdir(parents=True, exist_ok=True)
    for sources, destination in stage.copies:
        target = workdir / destination
        into_directory = destination.endswith("/") or len(sources) > 1
        for source in sources:
            path = context / source
            assert path.exists(), f"COPY {source}: not in the build context"
            if path.is_dir():  # COPY copies the directory's contents, links as links
                shutil.copytree(
                    path,
                    target,
                    symlinks=True,
                    dirs_exist_ok=True,
                    ignore=lambda folder, names: [
                        n
                        for n in names
                        if _ignored(patterns, str(Path(folder, n).relative_to(context)))
                    ],
                )
            else:
                file_target = target / path.name if into_directory else target
                file_target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, file_target, follow_symlinks=False)
    return workdir


def wheel_command(stage: Stage, wheels: Path) -> list[str]:
    """The stage's ``pip wheel`` command, run by this Python, writing to ``wheels``, offline."""
    (command,) = [run for run in stage.runs if "pip wheel" in run]
    words = shlex.split(command)
    assert "&&" not in words and ";" not in command, f"one command, please: {command}"
    assert words[:2] == ["pip", "wheel"], command
    arguments = words[2:]
    where = arguments.index("--wheel-dir")
    arguments[where + 1] = str(wheels)
    offline = ("--no-index", "--no-deps", "--no-build-isolation")
    extra = [option for option in offline if option not in words]
    return [sys.executable, "-m", "pip", "wheel", "-q", *extra, *arguments]


def _build_backend_is_here() -> str | None:
    """Why the wheel cannot be built offline here, or None."""
    from importlib.metadata import PackageNotFoundError, version

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    (requirement,) = pyproject["build-system"]["requires"]
    name, _, minimum = requirement.partition(">=")
    try:
        found = version(name)
    except PackageNotFoundError:
        found = None
    wanted = tuple(int(p) for p in minimum.split("."))
    numbers = re.match(r"\d+(\.\d+)*", found or "")
    have = tuple(int(p) for p in numbers.group().split(".")) if numbers else ()
    if have[: len(wanted)] < wanted:
        return (
            f"the build backend {requirement} is not installed here (found {found}): "
            "pip install -e '.[dev]' installs it"
        )
    return None


def test_the_build_stage_is_read_as_docker_reads_it(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "# comment\nFROM python AS build\nWORKDIR /src\nCOPY a b ./\n"
        "COPY --chown=1:1 pkg ./pkg\nRUN pip wheel \\\n  --wheel-dir /wheels .\n"
        "FROM python\nCOPY --from=build /wheels /wheels\nRUN pip install x\n"
    )
    stage = build_stage(dockerfile)
    assert stage.workdir == PurePosixPath("/src")
    assert stage.copies == [(["a", "b"], "./"), (["pkg"], "./pkg")]
    assert stage.runs == ["pip wheel    --wheel-dir /wheels ."]
    assert wheel_command(stage, tmp_path)[3:] == [
        "wheel",
        "-q",
        "--no-index",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        str(tmp_path),
        ".",
    ]


def test_the_image_wheel_validates_and_plans(tmp_path: Path) -> None:
    problem = _build_backend_is_here()
    if problem:
        pytest.skip(problem)
    stage = build_stage(REPO / "Dockerfile")
    source = copy_context(stage, REPO, tmp_path / "image")
    wheels = tmp_path / "wheels"

    def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
        # Real processes: pip builds and installs, and the installed entry point runs.
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
        return done.stdout

    run(wheel_command(stage, wheels), source)
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        schemas = {n for n in archive.namelist() if n.startswith("reconciler/schemas/")}
    assert "reconciler/schemas/manifest.schema.json" in schemas, sorted(schemas)

    target = tmp_path / "installed"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        tmp_path,
    )
    work = tmp_path / "work"  # no reconciler/ here: only the installed one can be imported
    shutil.copytree(EXAMPLES, work / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_", "SENDCLOUD_"))}
    env["PYTHONPATH"] = str(target)
    where = run([sys.executable, "-c", "import reconciler; print(reconciler.__file__)"], work, env)
    assert Path(where.strip()).is_relative_to(target), where
    reconciler = str(target / "bin" / "reconciler")
    assert run([reconciler, "--version"], work, env) == f"reconciler {__version__}\n"
    assert "7 files" in run([reconciler, "validate", "examples/"], work, env)
    assert "Plan: 5 to add" in run([reconciler, "plan", "examples/", "--sandbox"], work, env)


def test_the_release_workflow_builds_and_runs_the_image_when_it_changes() -> None:
    release = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    on = release[True]  # YAML 1.1 reads the key `on` as true
    assert {"Dockerfile", ".dockerignore"} <= set(on["pull_request"]["paths"])
    steps = "\n".join(step.get("run", "") for step in release["jobs"]["build"]["steps"])
    assert "docker build" in steps
    assert re.search(r"docker run .* validate ", steps)
    assert re.search(r"docker run .* plan .* --sandbox", steps)
