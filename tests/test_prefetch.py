"""``plan`` reads live state while the manifests are still loading, and only when what it read
is what the loaded manifests select does it keep that read."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.commands import common
from reconciler.credentials import resolve
from reconciler.errors import InputError, ManifestError
from reconciler.manifests.load import load_manifests
from reconciler.model import Account, Provider, SecretRef
from reconciler.prefetch import _SEPARATOR, Prefetch, document_spans, guess_accounts
from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import accounts_yaml, run_cli, write
from tests.hostile import HostileServer

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


# -- nothing is resolved or sent for an account before its document passes ----------------

SECRETS = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-leak-id",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "leak-secret-dm",
    "SENDCLOUD_API_USER": "leak-user",
    "SENDCLOUD_API_KEY": "leak-key-sc",
}
SC_LIST = """\
apiVersion: reconciler/v1
kind: UninterceptList
metadata: {name: partners}
spec:
  account: sc
  entries: [{email: a@example.com}]
"""
DM_LIST = """\
apiVersion: reconciler/v1
kind: IpWhitelist
metadata: {name: prod}
spec: {account: dm, entries: [203.0.113.7]}
"""


def _account(name: str, provider: str, spec: str) -> str:
    return (
        f"apiVersion: reconciler/v1\nkind: Account\nmetadata: {{name: {name}}}\n"
        f"spec:\n  provider: {provider}\n{spec}"
    )


def _refused(server: HostileServer) -> str:
    """An Account sending to ``server`` as ``http://0.0.0.0:PORT``: 0.0.0.0 reaches 127.0.0.1,
    but plain http to a host that is not loopback is refused by validation."""
    port = server.url.rsplit(":", 1)[1]
    return _account("sc", "sendcloud", f"  endpoint: http://0.0.0.0:{port}/apiv2\n")


@pytest.fixture
def secrets_read(monkeypatch: pytest.MonkeyPatch) -> list[SecretRef]:
    """Every credential reference resolved during the test."""
    seen: list[SecretRef] = []
    real = resolve._read

    def recording(ref: SecretRef, env: Any) -> str | None:
        seen.append(ref)
        return real(ref, env)

    monkeypatch.setattr(resolve, "_read", recording)
    return seen


def _layouts(tmp_path: Path, refused: str, server: HostileServer) -> dict[str, Path]:
    """The refused account alone in one file; and in a directory, in another file than a
    valid account that manages something."""
    one = write(tmp_path / "one.yaml", refused + "---\n" + SC_LIST)
    valid = _account("dm", "aliyun-directmail", f"  endpoint: {server.url}\n")
    write(tmp_path / "dir" / "a.yaml", valid + "---\n" + DM_LIST)
    write(tmp_path / "dir" / "b.yaml", refused + "---\n" + SC_LIST)
    return {"file": one, "directory": tmp_path / "dir"}


@pytest.mark.parametrize("layout", ["file", "directory"])
@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"]])
def test_a_refused_endpoint_is_sent_nothing(
    tmp_path: Path, layout: str, command: list[str], secrets_read: list[SecretRef]
) -> None:
    with HostileServer() as server:
        path = _layouts(tmp_path, _refused(server), server)[layout]
        result = run_cli(*command, str(path), cwd=tmp_path, env=SECRETS)
    assert result.code == 3, result
    assert "endpoint must use https://, not http:// (host 0.0.0.0)" in result.err
    # Not the refused account, and not the valid one either: the run is refused as a whole.
    assert server.requests == []
    assert secrets_read == []
    assert not any(secret in result.out + result.err for secret in SECRETS.values())


# Account documents that fail one check of validate each, pointed at a server that works.
BROKEN_ACCOUNTS = {
    "region-on-sendcloud": ("sendcloud", "  endpoint: {url}/apiv2\n  region: cn-hangzhou\n"),
    "userinfo": ("sendcloud", "  endpoint: http://u:p@{host}/apiv2\n"),
    "query": ("sendcloud", "  endpoint: {url}/apiv2?x=1\n"),
    "zero-rate": ("sendcloud", "  endpoint: {url}/apiv2\n  limits: {{requestsPerSecond: 0}}\n"),
    "misspelt-key": ("sendcloud", "  endpoint: {url}/apiv2\n  limts: {{concurrency: 1}}\n"),
    "literal-secret": ("sendcloud", "  endpoint: {url}/apiv2\n  credentials: {{apiKey: k}}\n"),
    "two-sources": (
        "aliyun-directmail",
        "  endpoint: {url}\n  credentials: {{chain: true, profile: p}}\n",
    ),
    "keys-beside-chain": (
        "aliyun-directmail",
        "  endpoint: {url}\n  credentials:\n    chain: true\n    accessKeyId: {{file: {key}}}\n",
    ),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_ACCOUNTS))
def test_an_account_failing_any_check_is_not_contacted(
    tmp_path: Path, broken: str, secrets_read: list[SecretRef]
) -> None:
    provider, spec = BROKEN_ACCOUNTS[broken]
    key = write(tmp_path / "key", "leak-key-file")
    with HostileServer() as server:
        host = server.url.removeprefix("http://")
        name = "dm" if provider == "aliyun-directmail" else "sc"
        account = _account(name, provider, spec.format(url=server.url, host=host, key=key))
        write(tmp_path / "m" / "a.yaml", account)
        write(tmp_path / "m" / "b.yaml", DM_LIST if name == "dm" else SC_LIST)
        result = run_cli("plan", "m", cwd=tmp_path, env=SECRETS)
    assert result.code == 3, result
    assert "a.yaml:" in result.err
    assert server.requests == []
    assert secrets_read == []


def test_an_account_inside_a_string_left_open_is_not_contacted(
    tmp_path: Path, secrets_read: list[SecretRef]
) -> None:
    """A piece that looks like a valid Account but sits inside a quoted scalar the document
    before it leaves open across the ``---`` line: the whole file is a YAML error, and the
    early read contacts nothing (it parses a file holding an Account whole)."""
    with HostileServer() as server:
        account = _account("sc", "sendcloud", f"  endpoint: {server.url}/apiv2\n")
        opened = (
            "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: p}\n"
            'spec: {account: sc, entries: [{email: "a@example.com\n'
        )
        closed = 'apiVersion: reconciler/v1\nkind: DeliveryCheck\nx: "}]}\n'
        write(tmp_path / "m" / "a.yaml", opened + "---\n" + account + "---\n" + closed)
        validated = run_cli("validate", "m", cwd=tmp_path)
        result = run_cli("plan", "m", cwd=tmp_path, env=SECRETS)
    assert validated.code == 3, validated
    assert result.code == 3, result
    assert server.requests == []
    assert secrets_read == []


def test_a_failing_resource_document_allows_only_reads(tmp_path: Path, sandbox: Sandbox) -> None:
    # The accounts pass; a list of another file fails. The early read may have read them,
    # but the run is refused and nothing is written.
    directory = _manifests(tmp_path, sandbox.url)
    write(directory / "z.yaml", SC_LIST.replace("a@example.com", "not an address"))
    for command in (["plan"], ["apply", "--yes"]):
        sandbox.reset_calls()
        result = run_cli(*command, "m", cwd=tmp_path, env=SANDBOX_ENV)
        assert result.code == 3, result
        assert "z.yaml:6" in result.err
        assert set(sandbox.calls) <= {"GetIpProtection", "GetIpfilterList", "unintercept/list"}


def test_credentials_are_not_read_for_a_refused_endpoint(tmp_path: Path) -> None:
    # Whatever route an account takes to live state, its endpoint is checked first.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # reading it would block: it must not be opened
    account = Account(
        name="sc",
        provider=Provider.SENDCLOUD,
        endpoint="http://0.0.0.0:9/apiv2",
        credentials={"apiKey": SecretRef(file=str(fifo))},
    )
    looked_up: list[str] = []

    class Recording(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            looked_up.append(key)
            return super().get(key, default)

    with pytest.raises(InputError, match=r"account 'sc': endpoint must use https://"):
        resolve.resolve_all([account], Recording(SECRETS))
    assert looked_up == []


DM_MORE = """\
---
apiVersion: reconciler/v1
kind: DeliveryCheck
metadata: {name: strict}
spec: {account: dm, window: 24h, minRequests: 1, maxFailedPercent: 0, maxInvalidPercent: 0}
"""
ROUTES = {
    "plan": ["plan", "m"],
    "plan-out": ["plan", "m", "--out", "plan.json"],
    "plan-json": ["plan", "m", "--format", "json", "--detailed-exitcode"],
    "plan-changed-since": ["plan", "m", "--changed-since", "HEAD"],
    "apply": ["apply", "m", "--yes"],
    "export": ["export", "m", "--account", "dm"],
    "stats": ["stats", "m", "--account", "dm"],
    "check": ["check", "m"],
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_no_command_sends_to_a_refused_endpoint(
    tmp_path: Path, route: str, secrets_read: list[SecretRef]
) -> None:
    with HostileServer() as server:
        port = server.url.rsplit(":", 1)[1]
        dm = _account("dm", "aliyun-directmail", f"  endpoint: http://0.0.0.0:{port}\n")
        write(tmp_path / "m" / "dm.yaml", dm + "---\n" + DM_LIST + DM_MORE)
        if route == "plan-changed-since":
            for git in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "m"]):
                subprocess.run(
                    ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *git],
                    cwd=tmp_path,
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
        result = run_cli(*ROUTES[route], cwd=tmp_path, env=SECRETS)
    assert result.code == 3, result
    assert "dm.yaml:6:13: error: endpoint must use https://" in result.err
    assert server.requests == []
    assert secrets_read == []
    assert not (tmp_path / "plan.json").exists()


SC_ACCOUNT = "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: sc}\n"
SC_SPEC = "spec: {provider: sendcloud, endpoint: 'http://127.0.0.1:9/apiv2'}\n"


@pytest.mark.parametrize(
    "text",
    [
        # A kind the quick look would misread: an escaped line break inside quotes.
        'apiVersion: reconciler/v1\nkind: "Acc\\\n  ount"\nmetadata: {name: sc}\n' + SC_SPEC,
        # A document started on a line the quick look does not split at.
        SC_LIST + "--- !!map\n" + SC_ACCOUNT + SC_SPEC,
        # A document in flow style, an indented one, a quoted key.
        SC_LIST + "---\n{apiVersion: reconciler/v1, kind: Account, metadata: {name: sc}}\n",
        SC_LIST + "---\n  kind: Account\n  metadata: {name: sc}\n",
        SC_LIST + '---\n"kind": Account\nmetadata: {name: sc}\n',
        # A kind after the first lines, and one that is not a kind.
        SC_LIST + "---\n" + "# note\n" * 1000 + SC_ACCOUNT + SC_SPEC,
        SC_LIST + "---\nkind: Acount\nmetadata: {name: sc}\n",
        # The same account twice.
        SC_ACCOUNT + SC_SPEC + "---\n" + SC_ACCOUNT + SC_SPEC + "---\n" + SC_LIST,
        # A line break that PyYAML knows and regular expressions do not.
        SC_LIST + "\u2028---\u2028" + SC_ACCOUNT + SC_SPEC,
        # An Account inside a quoted scalar left open across the separator.
        SC_LIST.replace("[{email: a@example.com}]", '"[')
        + "---\n"
        + SC_ACCOUNT
        + SC_SPEC
        + '---\nkind: DeliveryCheck\nx: "\n',
    ],
    ids=[
        *("escaped", "tagged-start", "flow", "indented", "quoted-key", "late", "typo", "twice"),
        *("line-separator", "open-string"),
    ],
)
def test_the_quick_look_gives_up_on_what_it_cannot_place(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "m.yaml", SC_ACCOUNT + SC_SPEC + "---\n" + text)
    with pytest.raises(ValueError):
        guess_accounts([str(path)], [])


def test_the_quick_look_takes_comments_and_quotes(tmp_path: Path) -> None:
    account = SC_ACCOUNT.replace("kind: Account", "kind: 'Account'  # where to connect")
    path = write(tmp_path / "m.yaml", "# accounts\n---\n" + account + SC_SPEC + "---\n" + SC_LIST)
    assert [w.account.name for w in guess_accounts([str(path)], [])] == ["sc"]


_GOOD = [SC_ACCOUNT + SC_SPEC, SC_LIST]
_BAD = [  # Account documents validation refuses, written in the ways YAML allows
    SC_ACCOUNT.replace("sc}", "b1}")
    + "spec: {provider: sendcloud, endpoint: 'http://0.0.0.0:9'}\n",
    "{apiVersion: reconciler/v1, kind: Account, metadata: {name: b2},\n"
    " spec: {provider: sendcloud, endpoint: 'http://0.0.0.0:9'}}\n",
    'apiVersion: reconciler/v1\nkind: "Acc\\\n  ount"\nmetadata: {name: b3}\n'
    "spec: {provider: sendcloud, endpoint: 'http://0.0.0.0:9'}\n",
    "  apiVersion: reconciler/v1\n  kind: Account\n  metadata: {name: b4}\n"
    "  spec: {provider: sendcloud, endpoint: 'http://0.0.0.0:9'}\n",
    SC_ACCOUNT.replace("sc}", "b5}") + SC_SPEC.replace("sendcloud,", "sendcloud, region: x,"),
]
_SEPARATORS = ["---\n", "--- # next\n", "--- !!map\n"]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(range(len(_GOOD) + len(_BAD))), min_size=1, max_size=5),
    st.lists(st.sampled_from(_SEPARATORS), min_size=5, max_size=5),
)
def test_no_guess_while_any_account_document_fails(
    tmp_path_factory: pytest.TempPathFactory, picks: list[int], separators: list[str]
) -> None:
    pieces = [(_GOOD + _BAD)[pick] for pick in picks]
    text = pieces[0] + "".join(s + p for s, p in zip(separators, pieces[1:], strict=False))
    path = write(tmp_path_factory.mktemp("m") / "m.yaml", text)
    if any(pick >= len(_GOOD) for pick in picks):
        with pytest.raises(ValueError):
            guess_accounts([str(path)], [])


@pytest.mark.parametrize("bad", _BAD)
def test_each_bad_account_document_is_refused_by_validation(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ManifestError):
        load_manifests([str(write(tmp_path / "m.yaml", bad))])
