"""``plan --changed-since REF`` reads only the accounts whose documents differ from REF."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import accounts_yaml, run_cli, write

DM_DOCS = """\
apiVersion: reconciler/v1
kind: IpProtection
metadata: {name: prod}
spec: {account: dm, enabled: false}
"""
SC_DOCS = """\
apiVersion: reconciler/v1
kind: UninterceptList
metadata: {name: prod}
spec:
  account: sc
  prune: false
  entries:
    - email: a@example.com
"""
# Protection ends off: no final whitelist can lock anyone out, so none is read (SPEC §5 rule 3).
DM_CALLS = {"GetIpProtection"}


def _git(cwd: Path, *args: str) -> None:
    # A real process: the feature runs git itself, so the tests set up a real repository.
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def repo(tmp_path: Path, sandbox: Sandbox) -> Path:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(sandbox.url))
    write(tmp_path / "m" / "dm.yaml", DM_DOCS)
    write(tmp_path / "m" / "sc.yaml", SC_DOCS)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "manifests")
    return tmp_path


def _plan(repo: Path, sandbox: Sandbox, ref: str = "HEAD") -> tuple[set[str], str]:
    sandbox.reset_calls()
    result = run_cli("plan", "m", "--changed-since", ref, cwd=repo, env=SANDBOX_ENV)
    assert result.code == 0, result
    return set(sandbox.calls), result.err


def test_nothing_changed_reads_nothing_and_says_what_it_skipped(
    repo: Path, sandbox: Sandbox
) -> None:
    calls, err = _plan(repo, sandbox)
    assert calls == set()
    assert "Skipped 2 accounts unchanged since HEAD: dm, sc" in err


def test_a_changed_document_reads_only_its_account(repo: Path, sandbox: Sandbox) -> None:
    write(repo / "m" / "sc.yaml", SC_DOCS + "    - email: b@example.com\n")
    calls, err = _plan(repo, sandbox)
    assert calls == {"unintercept/list"}
    assert "Skipped 1 account unchanged since HEAD: dm" in err


def test_a_deleted_document_counts_for_its_account(repo: Path, sandbox: Sandbox) -> None:
    write(repo / "m" / "more.yaml", DM_DOCS.replace("{name: prod}", "{name: other}"))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "more")
    (repo / "m" / "more.yaml").unlink()
    calls, _ = _plan(repo, sandbox)
    assert calls == DM_CALLS


def test_a_changed_account_document_counts(repo: Path, sandbox: Sandbox) -> None:
    write(repo / "m" / "accounts.yaml", accounts_yaml(sandbox.url, requests_per_second=999))
    calls, _ = _plan(repo, sandbox)
    assert calls == DM_CALLS | {"unintercept/list"}


def test_a_committed_change_is_compared_with_an_older_ref(repo: Path, sandbox: Sandbox) -> None:
    write(repo / "m" / "dm.yaml", DM_DOCS.replace("false", "true"))
    _git(repo, "commit", "-qam", "protect")
    assert _plan(repo, sandbox)[0] == set()
    # Switched on now: the whitelist is read too, for the lock-out rule.
    assert _plan(repo, sandbox, "HEAD~1")[0] == DM_CALLS | {"GetIpfilterList"}


def test_a_bad_ref_is_refused(repo: Path, sandbox: Sandbox) -> None:
    result = run_cli("plan", "m", "--changed-since", "no-such-ref", cwd=repo, env=SANDBOX_ENV)
    assert result.code == 3
    assert "--changed-since: 'no-such-ref' names no commit" in result.err
    assert "Traceback" not in result.err
    assert sandbox.calls == {}


def test_outside_a_git_repository_it_is_refused(tmp_path: Path, sandbox: Sandbox) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(sandbox.url))
    write(tmp_path / "m" / "dm.yaml", DM_DOCS)
    result = run_cli("plan", "m", "--changed-since", "HEAD", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 3
    assert "is not in a git repository" in result.err
    assert sandbox.calls == {}


def test_apply_has_no_changed_since(repo: Path) -> None:
    result = run_cli("apply", "m", "--changed-since", "HEAD", "--yes", cwd=repo, env=SANDBOX_ENV)
    assert result.code == 3
    assert "--changed-since" in result.err


def test_skipping_every_account_does_not_claim_live_state_matches(
    repo: Path, sandbox: Sandbox
) -> None:
    result = run_cli("plan", "m", "--changed-since", "HEAD", cwd=repo, env=SANDBOX_ENV)
    assert result.code == 0, result
    assert "No account changed since HEAD; nothing was read." in result.out
    assert "Live state matches" not in result.out
