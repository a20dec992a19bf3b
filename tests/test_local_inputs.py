"""Local inputs are untrusted (SPEC §2, §6): non-finite numbers, over-long addresses, special
and oversized files, and ``--out`` targets."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.addresses import canonical_email
from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import accounts_yaml, run_cli, write

UNINTERCEPTS = (
    "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {{name: u}}\n"
    "spec:\n  account: sc\n{extra}  entries:\n    - email: {email}\n"
)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("threshold", ".nan"),
        ("threshold", ".inf"),
        ("threshold", "-.inf"),
        ("limits", ".inf"),
        ("limits", ".nan"),
    ],
)
def test_non_finite_numbers_are_errors(tmp_path: Path, where: str, value: str) -> None:
    accounts = accounts_yaml("http://127.0.0.1:9")
    extra = ""
    if where == "threshold":
        extra = f"  deletionThreshold: {{percent: {value}}}\n"
    else:
        accounts = accounts.replace("requestsPerSecond: 1000", f"requestsPerSecond: {value}")
    write(tmp_path / "m" / "accounts.yaml", accounts)
    write(tmp_path / "m" / "u.yaml", UNINTERCEPTS.format(extra=extra, email="a@example.com"))
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 3, result
    assert "got a non-finite number" in result.err
    assert "Traceback" not in result.err


def test_an_email_longer_than_254_characters_is_an_error(tmp_path: Path) -> None:
    long = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".example.com"
    assert len(long) > 254
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    write(tmp_path / "m" / "u.yaml", UNINTERCEPTS.format(extra="", email=long))
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 3, result
    [line] = [line for line in result.err.splitlines() if line.startswith("m/u.yaml:7:14: error")]
    assert f"has {len(long)} characters" in line and "at most 254" in line, result
    with pytest.raises(ValueError, match="at most 254"):
        canonical_email(long)


# -- files that are not regular, too large, or not UTF-8 -----------------------------------


Run = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def run(reconciler_bin: Path) -> Run:
    """The CLI as its own process, with a time limit: a FIFO read by mistake would block it for
    ever (what is left blocked is killed with the fork server at the end of the session)."""

    def run_it(
        tmp_path: Path, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        environ = {
            k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_", "SENDCLOUD_"))
        }
        environ.update(env or {})
        return subprocess.run(
            [str(reconciler_bin / "reconciler"), *args],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    return run_it


def _sc_account(tmp_path: Path, url: str, key_file: str) -> None:
    write(
        tmp_path / "m" / "accounts.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: sc}\nspec:\n"
        f"  provider: sendcloud\n  endpoint: {url}/apiv2\n"
        f"  credentials:\n    apiUser: {{env: SC_USER}}\n    apiKey: {{file: {key_file}}}\n",
    )
    write(
        tmp_path / "m" / "list.yaml",
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: l}\n"
        "spec:\n  account: sc\n  entries: [{email: a@example.com}]\n",
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "state.json") as running:
        running.reset_calls()
        yield running


def _key_fifo(tmp_path: Path) -> str:
    os.mkfifo(tmp_path / "key.fifo")
    return str(tmp_path / "key.fifo")


def _key_large(tmp_path: Path) -> str:
    write(tmp_path / "key.large", "k" * (64 * 1024 + 1))
    return str(tmp_path / "key.large")


def _key_latin1(tmp_path: Path) -> str:
    (tmp_path / "key.latin1").write_bytes(b"cl\xe9\n")
    return str(tmp_path / "key.latin1")


@pytest.mark.parametrize(
    ("make", "message", "may_hang"),
    [
        (lambda _: "/dev/zero", "cannot read credential file /dev/zero: it is a device", True),
        (_key_fifo, "key.fifo: it is a FIFO, not a regular file", True),
        (lambda p: str(p), "it is a directory, not a regular file", False),
        (_key_large, "key.large: it is larger than 64 KiB", False),
        (_key_latin1, "key.latin1: line 1 is not valid UTF-8", False),
    ],
    ids=["device", "fifo", "directory", "too-large", "not-utf8"],
)
def test_credential_files_must_be_small_regular_utf8_files(
    tmp_path: Path, run: Run, server: Sandbox, make: Any, message: str, may_hang: bool
) -> None:
    _sc_account(tmp_path, server.url, make(tmp_path))
    env = {"SC_USER": "u"}
    if may_hang:  # read by mistake, it would block: a process with a time limit
        proc = run(tmp_path, "plan", "m", env=env)
        code, err = proc.returncode, proc.stderr
    else:
        result = run_cli("plan", "m", cwd=tmp_path, env=env)
        code, err = result.code, result.err
    assert code == 3, err
    assert message in err
    assert "Traceback" not in err
    assert sum(server.calls.values()) == 0


def test_a_manifest_fifo_is_an_error_not_a_hang(tmp_path: Path, run: Run) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    os.mkfifo(tmp_path / "m" / "pipe.yaml")
    result = run(tmp_path, "validate", "m")
    assert result.returncode == 3, result
    assert "cannot read m/pipe.yaml: it is a FIFO" in result.stderr
    given = run(tmp_path, "validate", "m/pipe.yaml")
    assert given.returncode == 3, given
    assert "Traceback" not in given.stderr


def test_a_saved_plan_that_is_a_fifo_is_an_error(tmp_path: Path, run: Run) -> None:
    os.mkfifo(tmp_path / "plan.json")
    result = run(tmp_path, "apply", "--plan", "plan.json", "--yes")
    assert result.returncode == 3, result
    assert "plan.json: it is a FIFO" in result.stderr


def test_plan_out_refuses_a_special_file_before_any_call(
    tmp_path: Path, run: Run, server: Sandbox
) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
    write(tmp_path / "m" / "u.yaml", UNINTERCEPTS.format(extra="", email="a@example.com"))
    os.mkfifo(tmp_path / "out.fifo")
    result = run(tmp_path, "plan", "m", "--out", "out.fifo", env=SANDBOX_ENV)
    assert result.returncode == 3, result
    assert "cannot write out.fifo: it is a FIFO, not a regular file" in result.stderr
    assert stat.S_ISFIFO(os.stat(tmp_path / "out.fifo").st_mode)
    assert sum(server.calls.values()) == 0


def test_plan_out_refuses_a_manifest_being_read(tmp_path: Path, server: Sandbox) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
    manifest = write(tmp_path / "m" / "u.yaml", UNINTERCEPTS.format(extra="", email="a@x.com"))
    before = manifest.read_bytes()
    os.symlink("m/u.yaml", tmp_path / "alias.yaml")
    for target in ("m/u.yaml", "./m/../m/u.yaml", "alias.yaml"):
        result = run_cli("plan", "m", "--out", target, cwd=tmp_path, env=SANDBOX_ENV)
        assert result.code == 3, result
        assert "it is the manifest m/u.yaml being read" in result.err
        assert manifest.read_bytes() == before
    assert sum(server.calls.values()) == 0


# -- concurrent applies ----------------------------------------------------------------------


def test_a_second_apply_warns_while_another_holds_the_lock(
    tmp_path: Path, run: Run, server: Sandbox
) -> None:
    import fcntl

    from reconciler.files import lock_path

    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
    write(
        tmp_path / "m" / "u.yaml",
        UNINTERCEPTS.format(extra="  prune: false\n", email="new@example.com"),
    )
    names = [f"sc {server.url}/apiv2"]  # dm manages nothing here: it is not applied
    lock = tmp_path / lock_path(names)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = run(tmp_path, "apply", "m", "--yes", env=SANDBOX_ENV)
    assert busy.returncode == 0, busy
    assert "warning: another apply of the same accounts is running here" in busy.stderr
    assert "new@example.com" in str(server.unintercepts())
    free = run(tmp_path, "apply", "m", "--yes", env=SANDBOX_ENV)
    assert free.returncode == 0, free
    assert "another apply" not in free.stderr


def test_reads_stop_at_the_bound(tmp_path: Path) -> None:
    from reconciler import files
    from reconciler.errors import InputError

    path = write(tmp_path / "f.yaml", "x" * 10)
    assert files.read_bytes(path, 10, "manifest") == b"x" * 10
    with pytest.raises(InputError, match="larger than"):
        files.read_bytes(path, 9, "manifest")
    assert files.MANIFEST_LIMIT == 64 * 1024 * 1024
    assert files.CREDENTIAL_LIMIT == 64 * 1024
