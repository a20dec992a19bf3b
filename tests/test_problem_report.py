"""validate --format json|github and plan --format markdown of invalid manifests, for CI."""

from __future__ import annotations

from pathlib import Path

from reconciler.errors import Position, Problem
from reconciler.output.markdown import MARKER
from reconciler.output.problem_report import to_github
from tests.cli_helpers import run_cli, write

BROKEN = (
    "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: dm}\n"
    "spec: {provider: aliyun-directmail}\n---\n"
    "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
    "spec:\n  account: dm\n  entries: [300.1.1.1]\n  prnue: false\n"
)


def test_validate_json_lists_every_error_with_its_place(tmp_path: Path) -> None:
    write(tmp_path / "m.yaml", BROKEN)
    result = run_cli("validate", "m.yaml", "--format", "json", cwd=tmp_path)
    assert result.code == 3, result
    document = result.json
    assert document["valid"] is False
    assert document["summary"] == {"errors": 2, "warnings": 0}
    assert [(e["file"], e["line"], e["column"]) for e in document["errors"]] == [
        ("m.yaml", 11, 13),
        ("m.yaml", 12, 3),
    ]
    assert "300.1.1.1" in document["errors"][0]["message"]
    assert document["errors"][1]["hint"].startswith("did you mean 'prune'?")


def test_validate_json_of_valid_manifests(tmp_path: Path) -> None:
    write(tmp_path / "m.yaml", BROKEN.replace("300.1.1.1", "203.0.113.7").replace("prnue", "prune"))
    result = run_cli("validate", "m.yaml", "--format", "json", cwd=tmp_path)
    assert result.code == 0, result
    assert result.json["valid"] is True and result.json["errors"] == []


def test_validate_github_writes_workflow_commands(tmp_path: Path) -> None:
    write(tmp_path / "m.yaml", BROKEN)
    result = run_cli("validate", "m.yaml", "--format", "github", cwd=tmp_path)
    assert result.code == 3, result
    lines = result.out.splitlines()
    assert lines[0].startswith("::error file=m.yaml,line=11,col=13::invalid whitelist entry")
    assert lines[1].startswith("::error file=m.yaml,line=12,col=3::unknown key 'prnue' in spec")
    assert lines[2] == "2 errors in the manifests"


def test_github_escaping_of_data_and_properties() -> None:
    problem = Problem(Position("a,b:c%d\r\n.yaml", 3, 4), "100% wrong\r\nreally: yes, no", "x")
    warning = Problem(None, "careful", warning=True)
    assert to_github([problem, warning]) == (
        "::error file=a%2Cb%3Ac%25d%0D%0A.yaml,line=3,col=4::"
        "100%25 wrong%0D%0Areally: yes, no (x)\n"
        "::warning::careful\n"
        "1 error in the manifests\n"
    )


def test_plan_markdown_of_invalid_manifests_shows_the_errors(tmp_path: Path) -> None:
    write(tmp_path / "m.yaml", BROKEN)
    result = run_cli("plan", "m.yaml", "--format", "markdown", cwd=tmp_path)
    assert result.code == 3, result
    assert result.out.startswith(MARKER + "\n")
    assert "| `m.yaml:11:13` | invalid whitelist entry '300.1.1.1'" in result.out
    assert "| `m.yaml:12:3` | unknown key 'prnue' in spec" in result.out
    # Other formats keep stdout clean.
    assert run_cli("plan", "m.yaml", "--format", "json", cwd=tmp_path).out == ""
