"""Every local path under the same rules (SPEC §6 "Local files"): whatever reads it — the
saved-plan sniff of ``apply FILE``, ``plan --compare``, the early read, ``--changed-since``,
the sandbox's state file — a FIFO, a device or a directory is an input error (exit 3), never a
hang; a file is read within its bound; bytes that are not UTF-8 are an error naming the file.

A FIFO read by mistake would block the run for ever, so those tests run the CLI as its own
process with a time limit; the others run it in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from reconciler import files
from reconciler.sandbox.demo import demo_state
from tests.cli_helpers import EXAMPLES, accounts_yaml, copy_examples, run_cli, write

UNINTERCEPTS = (
    "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
    "spec:\n  account: sc\n  entries:\n    - email: a@example.com\n"
)


def _run(reconciler_bin: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as its own process, with a time limit (what is left blocked is killed with the
    fork server at the end of the session)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_", "SENDCLOUD_"))}
    environ.update(SENDCLOUD_API_USER="u", SENDCLOUD_API_KEY="k")
    return subprocess.run(
        [str(reconciler_bin / "reconciler"), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def _sparse(path: Path, head: bytes, size: int) -> Path:
    """A file of ``size`` bytes starting with ``head``: sparse, so it costs no disk."""
    with open(path, "wb") as stream:
        stream.write(head)
        stream.truncate(size)
    return path


def _manifests(tmp_path: Path) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    write(tmp_path / "m" / "u.yaml", UNINTERCEPTS)


# -- apply FILE: is it a saved plan? ---------------------------------------------------------


def test_apply_of_a_fifo_is_an_error_not_a_hang(tmp_path: Path, reconciler_bin: Path) -> None:
    os.mkfifo(tmp_path / "plan.json")
    result = _run(reconciler_bin, tmp_path, "apply", "plan.json", "--yes")
    assert result.returncode == 3, result
    assert "cannot read plan.json: it is a FIFO, not a regular file" in result.stderr
    assert "Traceback" not in result.stderr


def test_apply_of_a_device_is_an_error(tmp_path: Path, reconciler_bin: Path) -> None:
    result = _run(reconciler_bin, tmp_path, "apply", "/dev/zero", "--yes")
    assert result.returncode == 3, result
    assert "cannot read /dev/zero: it is a device, not a regular file" in result.stderr


@pytest.mark.parametrize("head", [b'{"format_version": 1, "changes": [', b"{"])
def test_apply_of_a_large_json_file_stops_at_the_bound(tmp_path: Path, head: bytes) -> None:
    _sparse(tmp_path / "big.json", head, files.PLAN_LIMIT + 1)
    result = run_cli("apply", "big.json", "--yes", cwd=tmp_path)
    assert result.code == 3, result
    assert "big.json: it is larger than 64 MiB" in result.err
    assert "Traceback" not in result.err


def test_apply_of_a_saved_plan_that_is_not_json_says_so(tmp_path: Path) -> None:
    """The sniff does not parse: a saved plan cut short is a saved plan that says what is wrong,
    not manifests with twenty errors."""
    copy_examples(tmp_path / "examples")
    assert (
        run_cli("plan", "examples", "--sandbox", "-q", "--out", "plan.json", cwd=tmp_path).code == 0
    )
    text = (tmp_path / "plan.json").read_text(encoding="utf-8")
    write(tmp_path / "cut.json", text[: len(text) // 2])
    result = run_cli("apply", "cut.json", "--yes", "--sandbox", cwd=tmp_path)
    assert result.code == 3, result
    assert "cut.json:" in result.err and "not a saved plan: invalid JSON" in result.err
    assert "errors in the manifests" not in result.err


def test_a_manifest_in_json_is_still_a_manifest(tmp_path: Path) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    write(
        tmp_path / "m" / "u.json",
        '{"apiVersion": "reconciler/v1", "kind": "UninterceptList", "metadata": {"name": "u"},'
        ' "spec": {"account": "sc", "entries": [{"email": "a@example.com"}]}}',
    )
    result = run_cli("validate", "m/accounts.yaml", "m/u.json", cwd=tmp_path)
    assert result.code == 0, result
    applied = run_cli("apply", "m/accounts.yaml", "m/u.json", "--yes", cwd=tmp_path)
    assert "saved plan" not in applied.err, applied


# -- plan --compare OLD ----------------------------------------------------------------------


def test_plan_compare_of_a_fifo_is_an_error_not_a_hang(
    tmp_path: Path, reconciler_bin: Path
) -> None:
    copy_examples(tmp_path / "examples")
    os.mkfifo(tmp_path / "old.json")
    result = _run(
        reconciler_bin, tmp_path, "plan", "examples", "--sandbox", "--compare", "old.json"
    )
    assert result.returncode == 3, result
    assert "cannot read --compare old.json: it is a FIFO, not a regular file" in result.stderr
    assert "Using the local sandbox" not in result.stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "cannot read --compare old.json: it is a directory"),
        (lambda p: p.write_bytes(b'{"a": "cl\xe9"}'), "old.json: line 1 is not valid UTF-8"),
        (
            lambda p: _sparse(p, b"{", files.PLAN_LIMIT + 1),
            "old.json: it is larger than 64 MiB",
        ),
    ],
    ids=["directory", "not-utf8", "too-large"],
)
def test_plan_compare_reads_a_small_regular_utf8_file(
    tmp_path: Path, make: object, message: str
) -> None:
    assert callable(make)
    make(tmp_path / "old.json")
    result = run_cli("plan", str(EXAMPLES), "--sandbox", "--compare", "old.json", cwd=tmp_path)
    assert result.code == 3, result
    assert message in result.err
    assert "Traceback" not in result.err
    assert "Using the local sandbox" not in result.err


# -- the early read, --changed-since, the sandbox's state --------------------------------------


def test_plan_with_a_fifo_among_the_manifests_does_not_hang_in_the_early_read(
    tmp_path: Path, reconciler_bin: Path
) -> None:
    """Without --sandbox, plan reads live state while it loads the manifests: the early read
    looks at every file first, and must not block on one the loader then refuses."""
    _manifests(tmp_path)
    os.mkfifo(tmp_path / "m" / "pipe.yaml")
    result = _run(reconciler_bin, tmp_path, "plan", "m")
    assert result.returncode == 3, result
    assert "cannot read m/pipe.yaml: it is a FIFO, not a regular file" in result.stderr


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_changed_since_reads_only_the_files_loading_reads(tmp_path: Path) -> None:
    """--changed-since opens only the files that loading read (through the bounded reader): a
    hidden file that loading skips is neither read nor an error, however large."""
    _manifests(tmp_path)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "manifests")
    _sparse(tmp_path / "m" / ".big.yaml", b"kind: Account\n", files.MANIFEST_LIMIT + 1)
    result = run_cli("plan", "m", "--changed-since", "HEAD", cwd=tmp_path)
    assert result.code == 0, result
    assert "No account changed since HEAD" in result.out
    assert ".big.yaml" not in result.err
    assert "Traceback" not in result.err


def test_a_sandbox_state_file_that_is_a_fifo_is_an_error_not_a_hang(
    tmp_path: Path, reconciler_bin: Path
) -> None:
    copy_examples(tmp_path / "examples")
    (tmp_path / ".reconciler").mkdir()
    os.mkfifo(tmp_path / ".reconciler" / "sandbox.json")
    result = _run(reconciler_bin, tmp_path, "plan", "examples", "--sandbox")
    assert result.returncode == 3, result
    assert "cannot read sandbox state file .reconciler/sandbox.json: it is a FIFO" in result.stderr


@pytest.mark.parametrize(
    "text",
    ["[" * 30_000 + "]" * 30_000, '{"profiles": [], "profiles": [{"name": "p"}]}'],
    ids=["nested-30000-deep", "duplicate-key"],
)
def test_an_odd_aliyun_cli_config_is_an_input_error(tmp_path: Path, text: str) -> None:
    accounts = accounts_yaml("http://127.0.0.1:9").replace(
        "  provider: aliyun-directmail\n",
        "  provider: aliyun-directmail\n  credentials: {profile: p}\n",
        1,
    )
    write(tmp_path / "m" / "accounts.yaml", accounts)
    write(
        tmp_path / "m" / "p.yaml",
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
        "spec: {account: dm, enabled: false}\n",
    )
    write(tmp_path / "home" / ".aliyun" / "config.json", text)
    result = run_cli("plan", "m", cwd=tmp_path, env={"HOME": str(tmp_path / "home")})
    assert result.code == 3, result
    assert "home/.aliyun/config.json is not valid JSON" in result.err
    assert "Traceback" not in result.err


def test_export_passes_over_a_schema_copy_that_is_not_json(tmp_path: Path) -> None:
    """export names the nearest copy of the schema in its modelines; a file at that place
    that is nested past any schema is not one (it was a traceback in the parser)."""
    copy_examples(tmp_path / "examples")
    write(tmp_path / "schemas" / "manifest.schema.json", "[" * 100_000 + "]" * 100_000)
    result = run_cli("export", "examples", "--sandbox", "--out", "out/x.yaml", cwd=tmp_path)
    assert result.code == 0, result
    modeline = (tmp_path / "out" / "x.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert modeline.startswith("# yaml-language-server: $schema=")
    assert "../schemas/" not in modeline


def test_a_sandbox_state_file_with_a_key_twice_is_refused(tmp_path: Path) -> None:
    """The sandbox's state file is read as strict JSON, like a saved plan: a key written twice
    (which a plain parser settles silently, keeping the last) is an input error naming it."""
    copy_examples(tmp_path / "examples")
    state = tmp_path / ".reconciler" / "sandbox.json"
    state.parent.mkdir()
    # A valid state with a first "directmail" written before it: a plain parser keeps the
    # last one and the state would load.
    state.write_text('{"directmail": null, ' + json.dumps(demo_state())[1:])
    result = run_cli("plan", "examples/", "--sandbox", cwd=tmp_path)
    assert result.code == 3, result
    assert "cannot use the sandbox state file" in result.err
    assert "Traceback" not in result.err
