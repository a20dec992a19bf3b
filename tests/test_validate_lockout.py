"""`validate` reports offline the lock-outs the manifests alone decide (SPEC §5 rule 3): IP
protection switched on with a whitelist managed whole (`prune: true`, nothing ignored) that ends
up empty or leaves a declared sender outside. The real CLI, and the pre-commit hook's command."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import EXAMPLES, REPO, accounts_yaml, run_cli, write

PROTECTION = (
    "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {{name: p}}\n"
    "spec:\n  account: dm\n  enabled: {enabled}\n{senders}"
)
WHITELIST = (
    "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {{name: w}}\n"
    "spec:\n  account: dm\n  entries: {entries}\n{policy}"
)
EMPTY = (
    "dm: IP protection would be enabled with an empty IP whitelist, which blocks every sending IP"
)


def _outside(sender: str) -> str:
    return (
        f"dm: IP protection would be enabled while sender {sender} lies outside every entry of "
        "the final IP whitelist, which blocks its mail"
    )


def _manifests(
    root: Path,
    entries: str | None,
    *,
    senders: str = "",
    policy: str = "",
    enabled: str = "true",
    endpoint: str = "http://127.0.0.1:9",
) -> None:
    write(root / "m" / "accounts.yaml", accounts_yaml(endpoint))
    documents = [
        PROTECTION.format(enabled=enabled, senders=f"  senders: {senders}\n" if senders else "")
    ]
    if entries is not None:
        documents.append(WHITELIST.format(entries=entries, policy=policy))
    write(root / "m" / "dm.yaml", "---\n".join(documents))


def _errors(root: Path) -> list[str]:
    result = run_cli("validate", "m", cwd=root)
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if ": error: " in line]
    assert result.code == (3 if lines else 0), result
    return lines


def test_protection_on_with_a_whitelist_that_ends_empty_is_an_error(tmp_path: Path) -> None:
    _manifests(tmp_path, "[]", senders="[203.0.113.7]")
    [line] = _errors(tmp_path)
    # At the IpProtection's `enabled`, in the rule's words, saying what to do.
    assert line.startswith(f"m/dm.yaml:6:12: error: {EMPTY} (plan and apply refuse this by the ")
    assert "lock-out rule unless --force; add the sending addresses to the IpWhitelist at " in line
    assert "m/dm.yaml:13:12, or set enabled: false)" in line


def test_each_sender_outside_the_final_whitelist_is_an_error_at_the_sender(
    tmp_path: Path,
) -> None:
    _manifests(
        tmp_path,
        "[198.51.100.0/24, 192.0.2.10-192.0.2.20]",
        senders="[198.51.100.9, 203.0.113.7, 192.0.2.12-192.0.2.14, 192.0.2.15-192.0.2.21]",
    )
    errors = _errors(tmp_path)
    assert [line.split(" (")[0] for line in errors] == [
        f"m/dm.yaml:7:27: error: {_outside('203.0.113.7')}",
        f"m/dm.yaml:7:63: error: {_outside('192.0.2.15-192.0.2.21')}",
    ]
    assert errors[0].endswith("add 203.0.113.7 to the IpWhitelist at m/dm.yaml:13:12)")


@pytest.mark.parametrize(
    ("entries", "senders", "policy", "enabled"),
    [
        # The final whitelist also holds live entries the manifests do not decide.
        ("[]", "", "  prune: false\n", "true"),
        ("[203.0.113.7]", "[198.51.100.9]", "  prune: false\n", "true"),
        ("[]", "", "  ignore: ['198.51.100.*']\n", "true"),
        ("[203.0.113.7]", "[198.51.100.9]", "  ignore: ['198.51.100.*']\n", "true"),
        # The whitelist is not managed: plan reads it.
        (None, "[198.51.100.9]", "", "true"),
        # Protection ends up off, or every sender is covered.
        ("[]", "[198.51.100.9]", "", "false"),
        ("[198.51.100.0/24]", "[198.51.100.9]", "", "true"),
        ("[198.51.100.9]", "", "", "true"),
    ],
)
def test_nothing_is_said_when_the_manifests_do_not_decide_a_lock_out(
    tmp_path: Path, entries: str | None, senders: str, policy: str, enabled: str
) -> None:
    _manifests(tmp_path, entries, senders=senders, policy=policy, enabled=enabled)
    assert _errors(tmp_path) == []


def test_a_whitelist_with_errors_is_not_judged(tmp_path: Path) -> None:
    # A misspelt prune may have meant false: only what is wrong is reported.
    _manifests(tmp_path, "[]", policy="  prnue: false\n")
    [line] = _errors(tmp_path)
    assert "unknown key 'prnue'" in line
    # A bad entry is not in the list validate sees; the sender it covers is not reported.
    _manifests(tmp_path, "[198.51.100.0/33]", senders="[198.51.100.9]")
    [line] = _errors(tmp_path)
    assert "invalid whitelist entry '198.51.100.0/33'" in line


def test_other_errors_of_the_run_come_with_it(tmp_path: Path) -> None:
    _manifests(tmp_path, "[]")
    write(
        tmp_path / "m" / "sc.yaml",
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec:\n  account: sc\n  entries: [{email: not-an-email}]\n",
    )
    errors = _errors(tmp_path)
    assert [line.split(": error: ")[0] for line in errors] == ["m/dm.yaml:6:12", "m/sc.yaml:6:21"]


def test_json_and_github_formats_carry_it(tmp_path: Path) -> None:
    _manifests(tmp_path, "[]")
    result = run_cli("validate", "m", "--format", "json", cwd=tmp_path)
    assert result.code == 3, result
    [error] = result.json["errors"]
    assert (error["file"], error["line"], error["column"]) == ("m/dm.yaml", 6, 12)
    assert error["message"] == EMPTY
    github = run_cli("validate", "m", "--format", "github", cwd=tmp_path)
    assert github.code == 3 and "::error file=m/dm.yaml,line=6,col=12" in github.out, github


def test_the_wording_is_the_one_plan_refuses_with(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "state.json") as server:
        _manifests(tmp_path, "[203.0.113.7]", senders="[198.51.100.9]", endpoint=server.url)
        [line] = _errors(tmp_path)
        planned = run_cli("plan", "m", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
        assert planned.code == 4, planned
        [refusal] = planned.json["refusals"]
        assert refusal["rule"] == "lock-out"
        # plan names where the sender is declared; validate puts it in front instead.
        assert refusal["message"] == _outside("198.51.100.9 (declared at m/dm.yaml:7:13)")
        assert line.startswith(f"m/dm.yaml:7:13: error: {_outside('198.51.100.9')} (")
        _manifests(tmp_path, "[]", endpoint=server.url)
        [line] = _errors(tmp_path)
        planned = run_cli("plan", "m", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
        assert [r["message"] for r in planned.json["refusals"] if r["rule"] == "lock-out"] == [
            EMPTY
        ]
        assert line.startswith(f"m/dm.yaml:6:12: error: {EMPTY} (")
        # --force still lets apply through: validate is the earlier, stricter gate.
        forced = run_cli("apply", "m", "--yes", "--force", cwd=tmp_path, env=SANDBOX_ENV)
        assert forced.code == 0 and "--force overrides lock-out" in forced.err, forced


def test_the_pre_commit_hook_refuses_it(tmp_path: Path) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "reconciler-validate")
    entry = hook["entry"].split()
    assert entry[:2] == ["reconciler", "validate"] and hook["pass_filenames"] is False
    assert re.search(hook["files"], "manifests/dm.yaml")
    shutil.copytree(EXAMPLES, tmp_path / "manifests")
    assert run_cli(*entry[1:], *hook["args"], cwd=tmp_path).code == 0
    protection = tmp_path / "manifests" / "directmail" / "ip-protection.yaml"
    text = protection.read_text(encoding="utf-8")
    assert "  senders:\n" in text
    write(protection, text.replace("  senders:\n", "  senders:\n    - 192.0.2.200\n"))
    refused = run_cli(*entry[1:], *hook["args"], cwd=tmp_path)
    assert refused.code == 3, refused
    assert (
        "manifests/directmail/ip-protection.yaml:13:7: error: prod-dm: IP protection would be "
        "enabled while sender 192.0.2.200 lies outside every entry of the final IP whitelist"
    ) in refused.err
