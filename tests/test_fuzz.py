"""Hostile and broken manifests: never a traceback, always exit 3 with a position, never a hang.

The fuzzed inputs go through ``cli.main`` in this process (the same code path as the command,
minus the interpreter start) so that hypothesis can try hundreds of them in seconds; a few are
also run through the real command in a subprocess.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import cli
from tests.cli_helpers import EXAMPLES, run_cli, write

EXAMPLE_TEXT = "\n---\n".join(
    path.read_text(encoding="utf-8") for path in sorted(EXAMPLES.rglob("*.yaml"))
)
POSITION = re.compile(r"^[^:\n]+\.yaml:\d+:\d+: (error|warning): ", re.MULTILINE)
# A longer run: RECONCILER_FUZZ_EXAMPLES=3000 python -m pytest tests/test_fuzz.py -s
FUZZ = settings(
    max_examples=int(os.environ.get("RECONCILER_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# How many inputs the fuzz tests below tried, per test; printed with -s -n 0.
TRIED: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def tried() -> Iterator[None]:
    yield
    if TRIED:
        print(f"\nfuzzed inputs: {TRIED}")


def validate(
    text: str | bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    code = cli.main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, captured.err


def assert_clean_outcome(code: int, err: str) -> None:
    """Exit 0, or exit 3 where every error line carries a position."""
    assert "Traceback" not in err
    assert code in (0, 3), err
    if code == 3:
        lines = [
            line
            for line in err.splitlines()
            if line.startswith(("error", "/")) or ": error:" in line
        ]
        problems = [line for line in lines if not line.startswith("error: ")]
        summary = [line for line in lines if line.startswith("error: ")]
        assert summary and "nothing was done" in summary[-1], err
        assert problems, err
        for line in problems:
            assert POSITION.match(line), line


# -- mutations of valid manifests ------------------------------------------------------------

# Text that YAML treats specially, spliced into valid manifests.
SPECIAL = [":", "- ", "[", "]", "{", "}", "&a ", "*a", "!!python/object ", "\t", "  ", "#", '"',
           "'", "\n", "---\n", "...\n", "? ", "|", ">", "%YAML 1.1\n", "\ufeff", "\x00", "~",
           "yes", "0x1F", "1e9", "2001-01-01", ".inf", "null", "<<: "]  # fmt: skip
mutation = st.tuples(
    st.sampled_from(["insert", "delete", "replace", "duplicate-line", "swap-lines", "indent"]),
    st.integers(min_value=0, max_value=len(EXAMPLE_TEXT)),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8)
    | st.sampled_from(SPECIAL),
)


def mutate(text: str, steps: list[tuple[str, int, str]]) -> str:
    for kind, where, piece in steps:
        where = min(where, len(text))
        lines = text.split("\n")
        row = text.count("\n", 0, where)
        match kind:
            case "insert":
                text = text[:where] + piece + text[where:]
            case "delete":
                text = text[:where] + text[where + len(piece) :]
            case "replace":
                text = text[:where] + piece + text[where + len(piece) :]
            case "duplicate-line":
                lines.insert(row, lines[row])
                text = "\n".join(lines)
            case "swap-lines" if row + 1 < len(lines):
                lines[row], lines[row + 1] = lines[row + 1], lines[row]
                text = "\n".join(lines)
            case "indent":
                lines[row] = piece.replace("\n", " ")[:2] + lines[row]
                text = "\n".join(lines)
    return text


@FUZZ
@given(steps=st.lists(mutation, min_size=1, max_size=6))
def test_mutated_examples(steps, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    TRIED["mutated"] = TRIED.get("mutated", 0) + 1
    code, err = validate(mutate(EXAMPLE_TEXT, steps), tmp_path, capsys)
    assert_clean_outcome(code, err)


# -- structurally plausible documents with wrong shapes and values ----------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        ["prod-dm", "prod-sc", "203.0.113.7", "10.0.0.1", "198.51.100.1/24", "1.2.3.4-1.2.3.1",
         "vip@example.com", "example", "bounce", "all", "aliyun-directmail", "sendcloud",
         "http://example.com", "https://dm.aliyuncs.com", "reconciler/v1"]
    ),
)  # fmt: skip
KEYS = ["apiVersion", "kind", "metadata", "name", "spec", "account", "entries", "enabled",
        "provider", "region", "endpoint", "credentials", "env", "file", "limits", "email",
        "domain", "apiUser", "types", "prune", "ignore", "deletionThreshold", "extra"]  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)
documents = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["reconciler/v1"]) | scalars,
        "kind": st.sampled_from(["Account", "IpProtection", "IpWhitelist", "UninterceptList"]),
        "metadata": st.fixed_dictionaries({"name": st.sampled_from(["prod-dm", "prod-sc", "x"])})
        | values,
        "spec": st.dictionaries(st.sampled_from(KEYS), values, max_size=6),
    }
)


@FUZZ
@given(docs=st.lists(documents, min_size=1, max_size=4))
def test_generated_documents(docs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    TRIED["generated"] = TRIED.get("generated", 0) + 1
    text = yaml.safe_dump_all(docs, allow_unicode=True)
    code, err = validate(text, tmp_path, capsys)
    assert_clean_outcome(code, err)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    TRIED["bytes"] = TRIED.get("bytes", 0) + 1
    code, err = validate(data, tmp_path, capsys)
    assert_clean_outcome(code, err)


# -- resource exhaustion --------------------------------------------------------------------


def billion_laughs() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for previous, name in zip("abcdefghi", "bcdefghij", strict=True):
        text += f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    return text


HOSTILE = {
    "alias-bomb": billion_laughs(),
    "deep-nesting": "kind: IpWhitelist\nspec:\n  entries: " + "[" * 200_000 + "]" * 200_000,
    "deep-mappings": "a:" + " {a:" * 100_000 + " 1" + "}" * 100_000,
    "ten-megabyte-value": "kind: IpWhitelist\nspec:\n  entries: ['" + "9" * 10_000_000 + "']\n",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_manifest_fails_fast_with_a_position(name: str, tmp_path: Path) -> None:
    write(tmp_path / "hostile.yaml", HOSTILE[name])
    started = time.monotonic()
    result = run_cli("validate", "hostile.yaml", cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.code == 3, result
    assert "Traceback" not in result.err
    assert re.search(r"hostile\.yaml:\d+:\d+: error: ", result.err), result
    assert max(len(line) for line in result.err.splitlines()) < 1000  # values are clipped
    assert elapsed < 30, f"{name} took {elapsed:.1f} s"


def test_ten_megabyte_valid_manifest_is_read(tmp_path: Path) -> None:
    """A legitimately huge list (10 MB, 136,000 entries) validates; it is not treated as an
    attack."""
    lines = [
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: sc}\n"
        "spec: {provider: sendcloud}\n---\n"
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: big}\n"
        "spec:\n  account: sc\n  entries:\n"
    ]
    lines.extend(
        f"    - email: someone.with-a-long-name-{i:07d}@mail.partner-{i % 97}.example.com\n"
        for i in range(136_000)
    )
    text = "".join(lines)
    assert len(text) > 10_000_000
    write(tmp_path / "big.yaml", text)
    started = time.monotonic()
    result = run_cli("validate", "big.yaml", cwd=tmp_path)
    assert result.code == 0, result
    assert "136000 unintercept entries" in result.out
    assert time.monotonic() - started < 60
