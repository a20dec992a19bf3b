"""``plan`` reads live state while the manifests are still loading, and only when what it read
is what the loaded manifests select does it keep that read."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.commands import common
from reconciler.manifests.load import load_manifests
from reconciler.prefetch import _SEPARATOR, Prefetch, document_spans, guess_accounts
from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import accounts_yaml, run_cli, write

MANAGED = """\
apiVersion: reconciler/v1
kind: IpProtection
metadata: {name: prod}
spec: {account: dm, enabled: true}
---
apiVersion: reconciler/v1
kind: IpWhitelist
metadata: {name: prod}
spec:
  account: dm
  entries: [203.0.113.7]
---
apiVersion: "reconciler/v1"
kind: UninterceptList
metadata:
  name: prod
spec:
  account: "sc"
  prune: false
  entries:
    - email: a@example.com
"""


def _manifests(tmp_path: Path, url: str) -> Path:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(url))
    write(tmp_path / "m" / "managed.yaml", MANAGED)
    return tmp_path / "m"


def test_live_state_is_read_while_the_manifests_load(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _manifests(tmp_path, sandbox.url)
    seen_during_load: list[int] = []
    real = common.load_manifests  # type: ignore[attr-defined]

    def slow_load(paths: Any) -> Any:
        deadline = time.monotonic() + 10
        while sum(sandbox.calls.values()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        seen_during_load.append(sum(sandbox.calls.values()))
        return real(paths)

    monkeypatch.setattr(common, "load_manifests", slow_load)
    result = run_cli("plan", "m", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 0, result
    assert seen_during_load == [3]  # every read made before loading ended
    assert sandbox.calls == {"GetIpProtection": 1, "GetIpfilterList": 1, "unintercept/list": 1}


def test_the_guess_is_what_loading_selects(tmp_path: Path) -> None:
    directory = _manifests(tmp_path, "http://127.0.0.1:9")
    state, _ = load_manifests([str(directory)])
    guess = guess_accounts([str(directory)], [])
    assert [w.account for w in guess] == [w.account for w in state.accounts.values()]
    assert [(w.protection is None, w.whitelist is None, w.unintercepts is None) for w in guess] == [
        (False, False, True),
        (True, True, False),
    ]
    assert [w.account.name for w in guess_accounts([str(directory)], ["sc"])] == ["sc"]


def test_a_read_of_other_accounts_is_thrown_away(tmp_path: Path, sandbox: Sandbox) -> None:
    directory = _manifests(tmp_path, sandbox.url)
    state, _ = load_manifests([str(directory)])
    monkeypatch_env = pytest.MonkeyPatch()
    for name, value in SANDBOX_ENV.items():
        monkeypatch_env.setenv(name, value)
    try:
        early = Prefetch([str(directory)], [])
        wants = list(state.accounts.values())
        assert early.take(wants[:1]) is None  # not what it read
        again = Prefetch([str(directory)], [])
        found = again.take(wants)
        assert found is not None and set(found.seen) == {"dm", "sc"}
        again.close()
    finally:
        monkeypatch_env.undo()


def test_a_manifest_error_is_reported_as_without_an_early_read(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    directory = _manifests(tmp_path, sandbox.url)
    write(directory / "bad.yaml", "apiVersion: reconciler/v1\nkind: IpWhitelist\nspec: {}\n")
    result = run_cli("plan", "m", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 3
    assert "bad.yaml" in result.err and "Traceback" not in result.err


# Lines and pieces of lines that are, or nearly are, document separators.
_PIECES = ["---", "--- ", "---\t# note", "--- x", "----", "-- -", "x---", "kind: Account", " ", "#"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*_PIECES, "\n", "\r\n"]), max_size=14))
def test_documents_are_split_where_the_separator_pattern_splits(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert [text[start:end] for start, end in document_spans(text)] == _SEPARATOR.split(text)
