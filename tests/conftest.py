"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set (some CI images set it): the
# suite imports the same modules in every worker and starts `reconciler` as a process some fifty
# times, and compiling them afresh each time cost a third of the suite's CPU. The caches go to
# __pycache__, which git ignores.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

from reconciler.sandbox import Sandbox  # noqa: E402
from tests import forkserver  # noqa: E402


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A running sandbox with the demo state, saved under this test's tmp_path."""
    with Sandbox(tmp_path / "sandbox.json") as running:
        yield running


def pytest_configure(config: pytest.Config) -> None:
    """Once, before any worker starts: compile the package, which every worker, the fork server
    and each `reconciler` process would otherwise compile for itself on a fresh clone; and, when
    the suite runs in workers, import the test modules here once, so that their rewritten
    asserts are cached (__pycache__) before the workers import them all at the same time."""
    if hasattr(config, "workerinput"):
        return
    import compileall
    import importlib

    here = Path(__file__).resolve().parent
    compileall.compile_dir(here.parent / "reconciler", quiet=1)
    if not getattr(config.option, "numprocesses", None):
        return
    for module in sorted(_asked_for(config, here)):
        try:
            importlib.import_module(f"tests.{module.stem}")
        except Exception:  # the workers report it, as a collection error
            continue


def _asked_for(config: pytest.Config, here: Path) -> set[Path]:
    """The test modules this run names (all of them for the suite, one for `pytest FILE`)."""
    found: set[Path] = set()
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path.is_dir() and (path == here or here in path.parents or path in here.parents):
            found.update(here.glob("test_*.py"))
        elif path.parent == here and path.name.startswith("test_") and path.suffix == ".py":
            found.add(path)
    return found


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers a core. Many tests spend their time waiting (timeouts, deadlines,
    retries, a child process), and a second worker on the same core uses that time."""
    return 2 * (os.cpu_count() or 1)


@pytest.fixture(scope="session")
def reconciler_bin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory for PATH whose `reconciler` runs each time as a new process forked from a
    warm one (`tests/forkserver.py`): for the shell scripts under test."""
    with forkserver.running(tmp_path_factory.mktemp("reconciler")) as bin_dir:
        yield bin_dir


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test starts with no secret known to the scrubber, as each CLI run does: a
    one-letter test key left by an earlier test would otherwise be masked in later messages."""
    from reconciler.providers import scrub

    scrub.SECRETS.values = set()
    yield
