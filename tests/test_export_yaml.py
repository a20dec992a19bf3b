"""export writes its YAML piece by piece: the same bytes as PyYAML's rendering of whole
documents, and never half a file."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import export as exporting
from reconciler import export_stream as streamed
from reconciler import export_yaml, live
from reconciler.export_yaml import Flow, Items, chunks, to_yaml
from reconciler.kinds import unintercept_stream
from reconciler.sandbox import Sandbox
from tests.cli_helpers import EXAMPLES, accounts_yaml, run_cli, write
from tests.hostile import Answer, HostileServer
from tests.hostile import Request as HostileRequest
from tests.test_export import AWKWARD_STATE, SANDBOX_ENV, _record

# -- the rendering export had when it wrote whole documents: the reference -------------------


class _Whole(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _flow_list(dumper: yaml.SafeDumper, data: Flow) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _secret_ref(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    flow = len(data) == 1 and next(iter(data)) in ("env", "file")
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flow or None)


_Whole.add_representer(Flow, _flow_list)
_Whole.add_representer(dict, _secret_ref)


def reference(documents: Iterable[Mapping[str, Any]], schema: str) -> str:
    """``to_yaml`` as it was, on documents whose lists were lists."""
    modeline = f"# yaml-language-server: $schema={schema}\n"
    parts = [
        modeline
        + yaml.dump(
            _listed(document),
            Dumper=_Whole,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=100,
        )
        for document in documents
    ]
    return "---\n".join(parts)


def _listed(document: Mapping[str, Any]) -> dict[str, Any]:
    spec = document.get("spec")
    if not isinstance(spec, dict):
        return dict(document)
    listed = {k: list(v) if isinstance(v, Items) else v for k, v in spec.items()}
    return {**document, "spec": listed}


# -- scalars that are plain, quoted, folded, escaped ------------------------------------------

AWKWARD_TEXT = [
    "on", "yes", "No", "TRUE", "off", "y", "0123", "1.5", "1e3", "1_000", "0x1F", "0o17",
    "190:20:30", "-1", "+1", ".5", ".inf", "-.inf", ".NaN", "null", "Null", "~", "", "<<", "=",
    "2024-01-01", "2001-12-14t21:59:43.10-05:00", "-", "- a", "-a", "?", "? a", ":", "a: b",
    "a:b", "#x", "a #b", "a#b", "[x]", "a[*]b", "{x}", "a,b", "*a", "&a", "!a", "|", ">",
    "'q'", '"q"', "@x", "`x", "%x", "---", "...", " lead", "trail ", "two  spaces", "a\nb",
    "a\tb", "\u2028", "\x85", "\x7f", "\x00", "é@ü.example", "用户@例子.中国", "😀", "\ufeffx",
    "x" * 150, "word " * 30, "a/b", "user_1+tag@example.com", "1.2.3.4/32", "192.0.2.1-192.0.2.9",
]  # fmt: skip
_TEXT = st.one_of(st.sampled_from(AWKWARD_TEXT), st.text(max_size=12), st.text(max_size=120))
_KEY = st.sampled_from(["email", "domain", "apiUser", "types", "env", "file", "on", "a b"])
_TYPES = st.lists(st.sampled_from(["bounce", "block", "complaint", "unsubscribe"]), unique=True)
_ITEM = st.one_of(
    _TEXT,
    st.dictionaries(_KEY, st.one_of(_TEXT, _TYPES.map(Flow), st.lists(_TEXT).map(Flow))),
)


def _document(account: str, entries: list[Any], ignore: list[str] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"account": account, "entries": Items(entries)}
    if ignore is not None:
        spec["ignore"] = ignore
    return {
        "apiVersion": "reconciler/v1",
        "kind": "UninterceptList",
        "metadata": {"name": account},
        "spec": spec,
    }


ACCOUNT = {
    "apiVersion": "reconciler/v1",
    "kind": "Account",
    "metadata": {"name": "sc"},
    "spec": {
        "provider": "sendcloud",
        "credentials": {"apiUser": {"env": "SC_USER"}, "apiKey": {"file": "key.txt"}},
        "limits": {"requestsPerSecond": 10, "concurrency": 2},
    },
}


# A longer run: RECONCILER_FUZZ_EXAMPLES=3000 python -m pytest tests/test_export_yaml.py
@settings(
    max_examples=int(os.environ.get("RECONCILER_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    account=_TEXT,
    entries=st.lists(_ITEM, max_size=8),
    ignore=st.one_of(st.none(), st.lists(_TEXT, max_size=3)),
    schema=st.sampled_from(["schemas/manifest.schema.json", "../a b/é.json"]),
)
def test_pieces_are_the_bytes_of_whole_documents(
    account: str, entries: list[Any], ignore: list[str] | None, schema: str
) -> None:
    documents = [ACCOUNT, _document(account, entries, ignore)]
    pieces = list(chunks(documents, schema))
    assert "".join(pieces) == reference(documents, schema)
    assert all(piece.endswith("\n") for piece in pieces)


def test_the_resolver_tries_patterns_by_first_character_only() -> None:
    # What the fast path's shortcut around the resolver relies on.
    assert None not in yaml.resolver.Resolver.yaml_implicit_resolvers
    assert not yaml.resolver.Resolver.yaml_path_resolvers
    assert set("yYnNtTfFoO0123456789+-.~<=") <= export_yaml._RESOLVED


def test_a_long_list_is_written_in_pieces_of_whole_entries() -> None:
    entries: list[Any] = [
        {"email": f"user{i}@example.com", "apiUser": ["all", "on", "ops"][i % 3]}
        | ({"types": Flow(["bounce", "complaint"])} if i % 2 else {})
        for i in range(2 * export_yaml.CHUNK + 5)
    ]
    entries[1500] = {"email": "é@ü.example", "types": Flow([])}  # PyYAML's own rendering
    # Plain all through, but past the width: a flow list is folded, a long scalar is not.
    entries[1501] = {"email": "a@example.com", "types": Flow(["x" * 85, "y", "z"])}
    entries[1502] = {"domain": "d" * 150, "apiUser": "u" * 150}
    entries[1503] = "x" * 150
    documents = [ACCOUNT, _document("sc", entries, ["a[*]b"]), _document("empty", [], None)]
    pieces = list(chunks(documents, "s.json"))
    assert "".join(pieces) == reference(documents, "s.json")
    assert max(len(piece) for piece in pieces) < 100 * export_yaml.CHUNK
    assert sum(piece.count("\n    - ") + piece.startswith("    - ") for piece in pieces) >= len(
        entries
    )
    assert "  entries: []\n" in pieces[-1]


def test_whole_documents_keep_their_anchors() -> None:
    # A definition read from a manifest that uses anchors: written whole, as it was.
    shared = {"requestsPerSecond": 5}
    account = {**ACCOUNT, "spec": {"a": shared, "b": shared}}
    documents = [account, _document("sc", ["x"], None)]
    assert to_yaml(documents, "s.json") == reference(documents, "s.json")
    assert "&id001" in to_yaml(documents, "s.json")


# -- through the command ----------------------------------------------------------------


class _Kept:
    """Wraps the command's ``export_stream.documents`` to make, beside it, the export the
    whole list in memory gives (``export_accounts`` of ``live.read``), for the reference
    rendering: the streamed export must write the same bytes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.results: list[exporting.Export] = []
        original = streamed.documents

        def keep(accounts: Any, definitions: Any, found: Any, clients: Any, warnings: Any) -> Any:
            wants = [exporting.reading(account) for account in accounts]
            whole = exporting.export_accounts(accounts, definitions, live.read(wants, clients))
            self.results.append(whole)
            return original(accounts, definitions, found, clients, warnings)

        monkeypatch.setattr(streamed, "documents", keep)

    def text(self, directory: Path) -> str:
        (result,) = self.results
        self.results.clear()
        return reference(result.documents, exporting.schema_reference(directory))


_AWKWARD: Any = AWKWARD_STATE
ODD_STATE = {
    **_AWKWARD,
    "sendcloud": {
        "unintercepts": [
            *_AWKWARD["sendcloud"]["unintercepts"],
            _record("用户", "Ünï@example.com", [1, 2]),
            _record("a: b", "x'y#z@example.com", [8]),
            _record("#tag", "-dash.example", [2], domain=True),
            _record("all", "no-types@example.com", []),  # ignored, with a warning
            _record("all", "bad*@", [1]),  # ignored: cannot be written
        ]
    },
}


@pytest.mark.parametrize("state", [AWKWARD_STATE, ODD_STATE], ids=["awkward", "odd"])
def test_the_command_writes_the_bytes_of_whole_documents(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, state: dict[str, Any]
) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(sandbox.url))
    sandbox.set_state(state)
    kept = _Kept(monkeypatch)
    to_file = run_cli("export", "m", "--out", "out/live.yaml", cwd=tmp_path, env=SANDBOX_ENV)
    assert to_file.code == 0, to_file
    text = (tmp_path / "out" / "live.yaml").read_text(encoding="utf-8")
    assert text == kept.text(tmp_path / "out")
    assert to_file.out == ""
    to_stdout = run_cli("export", "m", cwd=tmp_path, env=SANDBOX_ENV)
    assert to_stdout.code == 0, to_stdout
    assert to_stdout.out == kept.text(tmp_path)
    assert to_stdout.err == to_file.err.replace(
        "Wrote 5 documents to out/live.yaml.\n", ""
    )  # the same warnings
    if state is ODD_STATE:
        assert "'no-types@example.com'" in to_file.err and "ignore:" in text


def test_the_examples_are_written_as_whole_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = _Kept(monkeypatch)
    result = run_cli("export", str(EXAMPLES), "--sandbox", "--out", "all.yaml", cwd=tmp_path)
    assert result.code == 0, result
    assert (tmp_path / "all.yaml").read_text(encoding="utf-8") == kept.text(tmp_path)


# -- never half a file ----------------------------------------------------------------------

BIG = 3 * export_yaml.CHUNK


def _big_state() -> dict[str, Any]:
    records = [_record("all", f"user{i:05d}@example.com", [1]) for i in range(BIG)]
    return {**AWKWARD_STATE, "sendcloud": {"unintercepts": records}}


def test_ctrl_c_while_writing_leaves_the_old_file(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(sandbox.url))
    sandbox.set_state(_big_state())
    old = write(tmp_path / "out" / "live.yaml", "old: export\n")
    written = 0
    item = export_yaml._item

    def interrupted(value: Any) -> str | None:
        nonlocal written
        written += 1
        if written == 2 * export_yaml.CHUNK + 1:  # two pieces have gone to the file
            raise KeyboardInterrupt
        return item(value)

    monkeypatch.setattr(export_yaml, "_item", interrupted)
    result = run_cli(
        "export", "m", "--account", "sc", "--out", "out/live.yaml", cwd=tmp_path, env=SANDBOX_ENV
    )
    assert result.code == 130, result
    assert written == 2 * export_yaml.CHUNK + 1
    assert old.read_text() == "old: export\n"
    assert sorted(path.name for path in old.parent.iterdir()) == ["live.yaml"]
    assert "Wrote" not in result.err and result.out == ""


def _failing_later_page(request: HostileRequest) -> Answer:
    start = int(request.form.get("start", "0"))
    if request.action != "list":
        return Answer(404)
    if start == 0:
        records = [_record("all", f"user{i:05d}@example.com", [1]) for i in range(100)]
        info = {"count": BIG, "dataList": records}
        return Answer.json({"result": True, "statusCode": 200, "message": "ok", "info": info})
    return Answer.json({"result": False, "statusCode": 40005, "message": "认证失败", "info": {}})


@pytest.mark.parametrize("out", [["--out", "out/live.yaml"], []], ids=["file", "stdout"])
def test_an_error_on_a_later_page_writes_nothing(tmp_path: Path, out: list[str]) -> None:
    with HostileServer(script=_failing_later_page) as server:
        write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
        old = write(tmp_path / "out" / "live.yaml", "old: export\n")
        result = run_cli("export", "m", "--account", "sc", *out, cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code not in (0, 130), result
    assert "Traceback" not in result.err
    assert result.out == ""
    assert old.read_text() == "old: export\n"
    assert sorted(path.name for path in old.parent.iterdir()) == ["live.yaml"]
    assert any(int(r.form.get("start", "0")) > 0 for r in server.requests)


# -- a list spooled in sorted runs (unintercept_stream) ----------------------------------------


def _spooled_records() -> list[dict[str, Any]]:
    """235 records over several apiUsers and both targets, in no order: keys listed twice
    with the same types (another case of the value), entries no manifest can hold, and
    apiUsers holding characters that the spool escapes."""
    records = []
    users = ["all", "marketing", "Marketing", "a: b", "tab\there", "用户", "ops"]
    for i in range(230):
        user = users[i % len(users)]
        if i % 5 == 0:
            records.append(_record(user, f"d{(i * 37) % 230:03d}.example", [1, 2], domain=True))
        else:
            records.append(_record(user, f"User{(i * 53) % 230:03d}@Example.com", [1, 2, 4, 8]))
    records += [
        _record("all", "user001@example.com", [1, 2, 4, 8]),  # a repeat of a key, other case
        _record("marketing", "USER009@EXAMPLE.COM", [1, 2, 4, 8]),
        _record("all", "no-types@example.com", []),
        _record("all", "bad*@", [1]),
        _record("ops", "no-types@example.com", []),  # ignored once: the same value
    ]
    return records


def _list_of(records: list[dict[str, Any]]) -> Any:
    """A SendCloud that pages through ``records`` (``count`` the total), as they are."""

    def script(request: HostileRequest) -> Answer:
        if request.action != "list":
            return Answer(404)
        start, limit = int(request.form.get("start", "0")), int(request.form.get("limit", "100"))
        info = {"count": len(records), "dataList": records[start : start + limit]}
        return Answer.json({"result": True, "statusCode": 200, "message": "ok", "info": info})

    return script


def test_a_list_spooled_in_many_runs_is_written_as_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unintercept_stream, "RUN", 7)  # 235 records: 34 runs on disk, merged
    kept = _Kept(monkeypatch)
    with HostileServer(script=_list_of(_spooled_records())) as server:
        write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
        result = run_cli(
            "export", "m", "--account", "sc", "--out", "out/live.yaml",
            cwd=tmp_path, env=SANDBOX_ENV,
        )  # fmt: skip
        whole = kept.text(tmp_path / "out")
        to_stdout = run_cli("export", "m", "--account", "sc", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 0, result
    text = (tmp_path / "out" / "live.yaml").read_text(encoding="utf-8")
    assert text == whole
    assert text.count("\n    - ") > 200
    assert result.err.count("cannot be written in a manifest") == 2
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["live.yaml"]
    assert to_stdout.code == 0, to_stdout
    assert to_stdout.out == kept.text(tmp_path)


@pytest.mark.parametrize("out", [["--out", "out/live.yaml"], []], ids=["file", "stdout"])
def test_a_key_listed_twice_with_other_types_is_refused_as_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: list[str]
) -> None:
    """Found only when the runs are merged, after part of the file was written: the same
    error as reading the list whole, and nothing written."""
    monkeypatch.setattr(unintercept_stream, "RUN", 7)
    records = _spooled_records()
    records.append(_record("all", "USER001@example.com", [8]))
    old = write(tmp_path / "out" / "live.yaml", "old: export\n")
    with HostileServer(script=_list_of(records)) as server:
        write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
        result = run_cli("export", "m", "--account", "sc", *out, cwd=tmp_path, env=SANDBOX_ENV)
        # What plan reads of the same list says the same.
        write(
            tmp_path / "m" / "list.yaml",
            "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: l}\n"
            "spec: {account: sc, prune: false, entries: []}\n",
        )
        plan = run_cli("plan", "m", "--account", "sc", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 4, result
    expected = "email USER001@example.com (apiUser all) is listed twice with different types"
    assert expected in result.err and "sc" in result.err
    assert result.out == "" and "Traceback" not in result.err
    assert old.read_text() == "old: export\n"
    assert sorted(path.name for path in old.parent.iterdir()) == ["live.yaml"]
    assert expected in plan.err


def test_an_error_after_runs_went_to_disk_leaves_no_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unintercept_stream, "RUN", 30)  # the first page alone fills three runs
    with HostileServer(script=_failing_later_page) as server:
        write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
        result = run_cli(
            "export", "m", "--account", "sc", "--out", "out/live.yaml",
            cwd=tmp_path, env=SANDBOX_ENV,
        )  # fmt: skip
    assert result.code not in (0, 130), result
    assert not (tmp_path / "out").exists()
