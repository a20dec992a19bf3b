"""``files``: a file is written whole or not at all, and a target that cannot be written is
reported before any work."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import files
from reconciler.errors import InputError


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_write_atomic_creates_parents_and_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "plan.json"
    files.write_atomic(target, "first\n")
    files.write_atomic(target, "second\n")
    assert target.read_text(encoding="utf-8") == "second\n"
    assert _leftovers(target.parent) == []


def test_check_writable_accepts_a_new_file_under_missing_directories(tmp_path: Path) -> None:
    files.check_writable(tmp_path / "new" / "deeper" / "plan.json")  # no error
    assert not (tmp_path / "new").exists()  # and nothing created


def test_check_writable_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="it is a directory"):
        files.check_writable(tmp_path)


def test_check_writable_refuses_a_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="is not a writable directory"):
        files.check_writable(tmp_path / "file" / "plan.json")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_check_writable_refuses_a_read_only_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(InputError, match="is not a writable directory"):
            files.check_writable(locked / "plan.json")
    finally:
        locked.chmod(0o700)


def test_write_atomic_under_a_file_is_input_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match=r"cannot write .*plan\.json"):
        files.write_atomic(tmp_path / "file" / "plan.json", "text")


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.mkdir()  # os.replace of a file onto a directory fails
    with pytest.raises(InputError, match=r"cannot write .*plan\.json"):
        files.write_atomic(target, "text")
    assert target.is_dir()
    assert _leftovers(tmp_path) == []


def test_an_interrupted_write_leaves_no_temporary_and_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "plan.json"
    target.write_text("old\n", encoding="utf-8")

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("reconciler.files.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(target, "new\n")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("failure", [KeyboardInterrupt, ValueError])
def test_pieces_that_fail_midway_leave_the_old_file(
    tmp_path: Path, failure: type[BaseException]
) -> None:
    target = tmp_path / "live.yaml"
    target.write_text("old\n", encoding="utf-8")
    written: list[str] = []

    def pieces() -> Iterator[str]:
        for piece in ("a\n", "b\n"):
            written.append(piece)
            yield piece
        raise failure

    with pytest.raises(failure):
        files.write_atomic(target, pieces())
    assert written == ["a\n", "b\n"]
    assert target.read_text(encoding="utf-8") == "old\n"
    assert _leftovers(tmp_path) == []
    files.write_atomic(target, iter(["new\n", "text\n"]))
    assert target.read_text(encoding="utf-8") == "new\ntext\n"
