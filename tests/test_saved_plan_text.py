"""Saved plans with odd text (SPEC §6 "Saved plans are untrusted artifacts"): JSON that Python
reads but that is no interoperable JSON — a lone surrogate escape, NaN, a number out of range, a
key given twice, deep nesting — is an input error (exit 3) saying what is wrong, never a
traceback, and nothing is written; for every command that reads a plan file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler import strictjson
from tests.cli_helpers import EXAMPLES, Result, accounts_yaml, run_cli, write
from tests.hostile import Answer, HostileServer

HEAD = '"format_version": 1'


def _after_head(extra: str) -> Callable[[str], str]:
    return lambda text: text.replace(HEAD, HEAD + extra, 1)


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)

    return edit


ODD: dict[str, tuple[Callable[[str], str], str]] = {
    "lone-high-surrogate-in-a-value": (
        _replace('"created_at": "', '"created_at": "\\ud800'),
        "created_at: the value holds the lone surrogate escape \\ud800, which is not a character",
    ),
    "lone-low-surrogate-in-a-key": (
        _after_head(', "x\\udc00": 1'),
        "x\\udc00: a key holds the lone surrogate escape \\udc00",
    ),
    "lone-surrogate-in-an-endpoint": (
        _replace('"endpoint": "https://dm.aliyuncs.com', '"endpoint": "https://dm\\udbff.com'),
        "accounts[0].endpoint: the value holds the lone surrogate escape \\udbff",
    ),
    "nan": (_after_head(', "x": NaN'), "NaN is not a JSON number"),
    "infinity": (_after_head(', "x": Infinity'), "Infinity is not a JSON number"),
    "minus-infinity": (_after_head(', "x": -Infinity'), "-Infinity is not a JSON number"),
    "float-out-of-range": (_after_head(', "x": -1e999'), "the number -1e999 is out of range"),
    "integer-of-5000-digits": (
        _after_head(', "x": ' + "9" * 5000),
        "a number with 5000 digits is out of range",
    ),
    "format-version-of-5000-digits": (
        _replace(HEAD, HEAD + "0" * 4999),
        "a number with 5000 digits is out of range",
    ),
    "duplicate-key": (
        _after_head(", " + HEAD),
        'the key "format_version" appears twice in one object',
    ),
    "nested-100-deep": (
        _after_head(', "x": ' + "[" * 100 + "]" * 100),
        "nested more than 64 levels deep (at x[0][0]...)",
    ),
    "nested-100000-deep": (
        _after_head(', "x": ' + "[" * 100_000 + "]" * 100_000),
        "nested more than 64 levels deep",
    ),
}

COMMANDS = {
    "apply --plan": ("apply", "--plan", "odd.json", "--sandbox", "--yes"),
    "apply FILE": ("apply", "odd.json", "--sandbox", "--yes"),
    "show": ("show", "odd.json"),
    "plan --compare": ("plan", "examples", "--sandbox", "--compare", "odd.json"),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The examples, their sandbox state and a plan saved from them."""
    root = tmp_path_factory.mktemp("odd")
    shutil.copytree(EXAMPLES, root / "examples")
    made = run_cli("plan", "examples", "--sandbox", "-q", "--out", "plan.json", cwd=root)
    assert made.code == 0, made
    yield root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "odd.json"
    }


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
@pytest.mark.parametrize("case", ODD, ids=list(ODD))
def test_odd_text_in_a_saved_plan_is_an_input_error(workdir: Path, case: str, command: str) -> None:
    edit, message = ODD[case]
    text = edit((workdir / "plan.json").read_text(encoding="utf-8"))
    assert text != (workdir / "plan.json").read_text(encoding="utf-8")
    (workdir / "odd.json").write_text(text, encoding="utf-8")
    before = _snapshot(workdir)
    result: Result = run_cli(*COMMANDS[command], cwd=workdir)
    assert result.code == 3, result
    assert "Traceback" not in result.err
    assert message in result.err, result
    assert "odd.json" in result.err
    assert "Using the local sandbox" not in result.err  # failed before any other work
    assert _snapshot(workdir) == before  # nothing written
    assert result.out == ""


def test_the_plan_itself_is_accepted(workdir: Path) -> None:
    """The cases above fail for what was edited in, not for the plan they were edited into."""
    shutil.copy(workdir / "plan.json", workdir / "odd.json")
    assert run_cli("show", "odd.json", cwd=workdir).code == 0
    compared = run_cli(*COMMANDS["plan --compare"], cwd=workdir)
    assert compared.code == 0, compared
    assert "the plans are the same" in compared.out


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"\\ud83d\\ude00"', "\U0001f600"),  # a pair of surrogate escapes is one character
        ('{"a": [1.5, -2, 1e300]}', {"a": [1.5, -2, 1e300]}),
        ("[" * 64 + "]" * 64, json.loads("[" * 64 + "]" * 64)),
        ('{"a": {"a": 1}}', {"a": {"a": 1}}),  # the same key in two objects
    ],
)
def test_strict_json_reads_what_json_reads(text: str, value: object) -> None:
    assert strictjson.loads(text) == value


def test_strict_json_allows_64_levels_and_no_more() -> None:
    with pytest.raises(strictjson.BadJSON, match="nested more than 64 levels deep"):
        strictjson.loads("[" * 65 + "]" * 65)


# -- the same text in a provider's answer ----------------------------------------------------

FAST_RETRY = "  retry: {attempts: 2, maxSeconds: 2, baseDelaySeconds: 0.01}\n"
UNINTERCEPTS = (
    "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
    "spec:\n  account: sc\n  entries:\n    - email: a@example.com\n"
)
SC_LIST = b'{"result": true, "statusCode": 200, "message": "ok", "info": {"count": 1, "dataList": '


@pytest.mark.parametrize(
    "records",
    [
        b'[{"apiUserName": "all", "email": "ev\\ud800il@example.com", "domain": "", "type": [1]}]',
        b"[" * 100_000 + b"]" * 100_000,
        b'[{"apiUserName": "all", "email": "a@example.com", "domain": "", "type": [NaN]}]',
    ],
    ids=["lone-surrogate", "nested-100000-deep", "nan"],
)
def test_odd_text_in_a_provider_answer_is_a_bad_answer(tmp_path: Path, records: bytes) -> None:
    """Live state goes into the saved plan and its digest: an answer that is not text there
    would end in a traceback; it is a bad answer of the call (exit 1), and no plan is saved."""
    answer = Answer(200, SC_LIST + records + b"}}")
    with HostileServer(answers={"list": answer}) as server:
        accounts = accounts_yaml(server.url).replace("  limits:", FAST_RETRY + "  limits:")
        write(tmp_path / "m" / "accounts.yaml", accounts)
        write(tmp_path / "m" / "sc.yaml", UNINTERCEPTS)
        env = {"SENDCLOUD_API_USER": "u", "SENDCLOUD_API_KEY": "hostile-api-key"}
        result = run_cli("plan", "m", "--out", "plan.json", cwd=tmp_path, env=env)
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert "SendCloud unintercept/list failed" in result.err
    assert not (tmp_path / "plan.json").exists()
