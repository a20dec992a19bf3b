"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A running sandbox with the demo state, saved under this test's tmp_path."""
    with Sandbox(tmp_path / "sandbox.json") as running:
        yield running


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test starts with no secret known to the scrubber, as each CLI run does: a
    one-letter test key left by an earlier test would otherwise be masked in later messages."""
    from reconciler.providers import scrub

    scrub.SECRETS.values = set()
    yield
