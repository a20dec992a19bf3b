"""``plan --changed-since REF`` reads only the accounts whose documents differ from REF."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler import changed, files
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
DM_CALLS = {"GetIpProtection", "GetIpfilterList"}
# Protection that ends off cannot lock anyone out: its whitelist is not read (SPEC §5 rule 3).
DM_OFF_CALLS = {"GetIpProtection"}


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
    assert calls == DM_OFF_CALLS


def test_a_changed_account_document_counts(repo: Path, sandbox: Sandbox) -> None:
    write(repo / "m" / "accounts.yaml", accounts_yaml(sandbox.url, requests_per_second=999))
    calls, _ = _plan(repo, sandbox)
    assert calls == DM_OFF_CALLS | {"unintercept/list"}


def test_a_committed_change_is_compared_with_an_older_ref(repo: Path, sandbox: Sandbox) -> None:
    write(repo / "m" / "dm.yaml", DM_DOCS.replace("false", "true"))
    _git(repo, "commit", "-qam", "protect")
    assert _plan(repo, sandbox)[0] == set()
    assert _plan(repo, sandbox, "HEAD~1")[0] == DM_CALLS


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


def _sendcloud(name: str, url: str) -> str:
    return (
        f"apiVersion: reconciler/v1\nkind: Account\nmetadata: {{name: {name}}}\n"
        f"spec: {{provider: sendcloud, endpoint: '{url}/apiv2',\n"
        "  limits: {requestsPerSecond: 1000}}\n"
    )


def _list(account: str, *emails: str) -> str:
    entries = "".join(f"    - email: {email}\n" for email in emails)
    return (
        f"apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {{name: {account}}}\n"
        f"spec:\n  account: {account}\n  prune: false\n  entries:\n{entries}"
    )


@pytest.fixture
def shared(tmp_path: Path, sandbox: Sandbox) -> Path:
    """sc-b's and sc-c's lists in one file, committed."""
    write(
        tmp_path / "m" / "accounts.yaml",
        _sendcloud("sc-b", sandbox.url) + "---\n" + _sendcloud("sc-c", sandbox.url),
    )
    write(
        tmp_path / "m" / "lists.yaml",
        _list("sc-b", "b@example.com") + "---\n" + _list("sc-c", "c@example.com"),
    )
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "manifests")
    return tmp_path


def _reads(repo: Path, sandbox: Sandbox) -> tuple[int, str]:
    """How many accounts' lists were read, and stderr."""
    sandbox.reset_calls()
    result = run_cli("plan", "m", "--changed-since", "HEAD", cwd=repo, env=SANDBOX_ENV)
    assert result.code == 0, result
    assert "Traceback" not in result.err
    return sandbox.calls.get("unintercept/list", 0), result.err


def test_only_the_changed_document_of_a_shared_file_counts(shared: Path, sandbox: Sandbox) -> None:
    lists = shared / "m" / "lists.yaml"
    write(
        lists,
        _list("sc-b", "b@example.com", "b2@example.com") + "---\n" + _list("sc-c", "c@example.com"),
    )
    reads, err = _reads(shared, sandbox)
    assert reads == 1
    assert "Skipped 1 account unchanged since HEAD: sc-c" in err


def test_layout_comments_and_moves_between_files_change_nothing(
    shared: Path, sandbox: Sandbox
) -> None:
    lists = shared / "m" / "lists.yaml"
    write(
        lists,
        "# the lists\n"
        + _list("sc-b", "b@example.com").replace("prune: false", "prune:  false  # keep"),
    )
    write(shared / "m" / "more" / "c.yaml", _list("sc-c", "c@example.com"))
    reads, err = _reads(shared, sandbox)
    assert reads == 0
    assert "Skipped 2 accounts unchanged since HEAD: sc-b, sc-c" in err


def test_a_document_moved_to_another_account_counts_for_both(
    shared: Path, sandbox: Sandbox
) -> None:
    lists = shared / "m" / "lists.yaml"
    kept = lists.read_text(encoding="utf-8")

    def more(account: str) -> str:
        return _list(account, "more@example.com").replace(f"name: {account}", "name: more")

    write(lists, kept + "---\n" + more("sc-b"))
    _git(shared, "commit", "-qam", "more")
    write(lists, kept + "---\n" + more("sc-c"))
    assert _reads(shared, sandbox)[0] == 2


@pytest.mark.parametrize("broken", ["yaml", "utf-8", "size"])
def test_a_version_at_the_ref_that_cannot_be_read_counts_as_changed(
    shared: Path, sandbox: Sandbox, broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its documents cannot be compared: every account the current version names is read.
    lists = shared / "m" / "lists.yaml"
    current = lists.read_text(encoding="utf-8")
    if broken == "yaml":
        lists.write_text("entries: [\n", encoding="utf-8")
    elif broken == "utf-8":
        lists.write_bytes(current.encode() + b"# caf\xe9\n")
    else:
        lists.write_text(current + "#" * 4000 + "\n", encoding="utf-8")
        monkeypatch.setattr(files, "MANIFEST_LIMIT", len(current) + 100)
    _git(shared, "commit", "-qam", "broken")
    lists.write_text(current, encoding="utf-8")
    reads, err = _reads(shared, sandbox)
    assert reads == 2
    assert "Skipped" not in err


def test_a_blob_missing_from_the_repository_cannot_be_read(shared: Path) -> None:
    # As in a partial clone: the tree names the blob, the object store does not have it.
    names = ["m/accounts.yaml", "m/lists.yaml", "m/new.yaml"]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD", "HEAD:m/accounts.yaml"],
        cwd=shared,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    blob = head[1]
    (shared / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    found = changed._blobs(shared, head[0], names)
    # The one after it is read whole all the same; one not in the commit is absent.
    assert found == {
        "m/accounts.yaml": None,
        "m/lists.yaml": (shared / "m" / "lists.yaml").read_text(encoding="utf-8"),
    }
