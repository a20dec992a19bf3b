"""One `validate` run lists every error: misspelt keys, bad addresses, disagreeing list policies,
YAML 1.1 booleans; and the schema's patterns flag what an editor should flag, and no more."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.cli_helpers import REPO, run_cli, write

SCHEMA = json.loads((REPO / "schemas" / "manifest.schema.json").read_text(encoding="utf-8"))
ACCOUNTS = (
    "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: sc}\nspec: {provider: sendcloud}\n"
    "---\napiVersion: reconciler/v1\nkind: Account\nmetadata: {name: dm}\n"
    "spec: {provider: aliyun-directmail}\n"
)


def _validate(tmp_path: Path, text: str) -> list[str]:
    write(tmp_path / "accounts.yaml", ACCOUNTS)
    write(tmp_path / "m.yaml", text)
    result = run_cli("validate", ".", cwd=tmp_path)
    assert result.code == 3, result
    return [line for line in result.err.splitlines() if ": error: " in line]


def test_a_misspelt_key_does_not_hide_the_address_errors(tmp_path: Path) -> None:
    errors = _validate(
        tmp_path,
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: a}\nspec:\n"
        "  account: sc\n  prnue: false\n  entries:\n    - {email: not-an-email}\n"
        "    - {domain: nodot}\n---\n"
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\nspec:\n"
        "  account: dm\n  entires: []\n  entries: [300.1.1.1]\n",
    )
    text = "\n".join(errors)
    assert "m.yaml:6:3: error: unknown key 'prnue'" in text
    assert "m.yaml:8:15: error: invalid email: 'not-an-email'" in text
    assert "m.yaml:9:16: error: invalid domain: 'nodot'" in text
    assert "m.yaml:16:3: error: unknown key 'entires'" in text
    assert "m.yaml:17:13: error:" in text and "300.1.1.1" in text
    assert len(errors) == 5, text


def test_a_misspelt_or_missing_required_key_does_not_hide_the_entry_errors(
    tmp_path: Path,
) -> None:
    errors = _validate(
        tmp_path,
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: a}\nspec:\n"
        "  acount: sc\n  entries:\n    - {email: not-an-email}\n    - {domain: nodot}\n---\n"
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\nspec:\n"
        "  entries: [300.1.1.1, 10.0.0.1]\n---\n"
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\nspec:\n"
        "  acount: dm\n  enabled: true\n  senders: [192.0.2.999]\n",
    )
    assert [line.split(": error: ")[0] for line in errors] == [
        "m.yaml:4:1",  # missing required key 'account'
        "m.yaml:5:3",  # unknown key 'acount'
        "m.yaml:7:15",
        "m.yaml:8:16",
        "m.yaml:13:1",  # missing required key 'account', nothing misspelt
        "m.yaml:14:13",
        "m.yaml:14:24",
        "m.yaml:19:1",
        "m.yaml:20:3",
        "m.yaml:22:13",
    ], errors
    text = "\n".join(errors)
    assert "m.yaml:4:1: error: missing required key 'account' in spec" in text
    assert "m.yaml:5:3: error: unknown key 'acount' in spec (did you mean 'account'?" in text
    assert "m.yaml:7:15: error: invalid email: 'not-an-email'" in text
    assert "m.yaml:8:16: error: invalid domain: 'nodot'" in text
    assert "m.yaml:14:13: error: invalid whitelist entry '300.1.1.1'" in text
    assert "m.yaml:14:24: error: whitelist entry '10.0.0.1' is not public" in text
    assert "m.yaml:20:3: error: unknown key 'acount' in spec" in text
    assert "m.yaml:22:13: error: invalid sender '192.0.2.999'" in text


def test_a_name_given_twice_does_not_hide_the_entry_errors(tmp_path: Path) -> None:
    doc = "apiVersion: reconciler/v1\nkind: {}\nmetadata: {{name: a}}\nspec:\n  account: {}\n"
    errors = _validate(
        tmp_path,
        doc.format("UninterceptList", "sc") + "  entries: [{email: a@example.com}]\n---\n"
        + doc.format("UninterceptList", "sc") + "  entries: [{email: not-an-email}]\n---\n"
        + doc.format("IpWhitelist", "dm") + "  entries: [203.0.113.7]\n---\n"
        + doc.format("IpWhitelist", "dm") + "  entries: [10.0.0.1]\n",
    )  # fmt: skip
    assert [line.split(": error: ")[0] for line in errors] == [
        "m.yaml:10:18",  # UninterceptList 'a' is defined twice
        "m.yaml:13:21",
        "m.yaml:24:18",  # IpWhitelist 'a' is defined twice
        "m.yaml:27:13",
    ], errors
    assert "invalid email: 'not-an-email'" in errors[1]
    assert "whitelist entry '10.0.0.1' is not public" in errors[3]


def test_entries_that_break_the_schema_beside_a_misspelt_key_are_reported_once(
    tmp_path: Path,
) -> None:
    # The list itself breaks the schema: its schema errors stand, and the addresses the
    # schema accepted are not checked a second time as if the list were usable.
    errors = _validate(
        tmp_path,
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: a}\nspec:\n"
        "  acount: sc\n  entries:\n    - {email: 7}\n    - {email: not-an-email}\n"
        "    - {email: a@example.com, tpyes: [bounce]}\n",
    )
    text = "\n".join(errors)
    assert "m.yaml:7:15: error: expected a string, got an integer (7)" in text
    assert "unknown key 'tpyes'" in text and "unknown key 'acount'" in text
    assert "not-an-email" not in text
    assert len(errors) == 4, text


@pytest.mark.parametrize(
    ("first", "second", "key"),
    [
        ("prune: true", "prune: false", "prune"),
        ("ignore: ['a*']", "ignore: ['b*']", "ignore"),
        ("deletionThreshold: {entries: 3}", "deletionThreshold: {entries: 5}", "deletionThreshold"),
    ],
)
def test_per_list_policies_that_disagree_name_both_places(
    tmp_path: Path, first: str, second: str, key: str
) -> None:
    doc = "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {{name: {}}}\nspec:\n  {}\n"
    doc += "  account: sc\n  entries: [{{email: {}@example.com}}]\n"
    text = doc.format("a", first, "a") + "---\n" + doc.format("b", second, "b")
    errors = _validate(tmp_path, text)
    assert errors == [
        f"m.yaml:13:{len(key) + 5}: error: {key} for account 'sc' differs from the one at "
        f"m.yaml:5:{len(key) + 5} (a policy covers the account's whole unintercept list; "
        "set it once or set the same values)"
    ]


def test_policies_given_alike_or_once_are_fine(tmp_path: Path) -> None:
    doc = "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {{name: {}}}\nspec:\n{}"
    doc += "  account: sc\n  entries: [{{email: {}@example.com}}]\n"
    write(tmp_path / "accounts.yaml", ACCOUNTS)
    write(
        tmp_path / "m.yaml",
        doc.format("a", "  prune: false\n  ignore: ['a*', 'b*']\n", "a")
        + "---\n"
        + doc.format("b", "  prune: false\n  ignore: ['b*', 'a*']\n", "b")
        + "---\n"
        # Given once, as its default, and omitted by the others: the same policy.
        + doc.format(
            "c", "  prune: false\n  ignore: [a*, b*]\n  deletionThreshold: {entries: 3}\n", "c"
        ),
    )
    result = run_cli("validate", ".", cwd=tmp_path)
    assert result.code == 0, result


@pytest.mark.parametrize(
    ("first", "second", "error"),
    [
        (
            "prune: false",
            "",
            "m.yaml:11:18: error: this UninterceptList omits prune (default true), but account "
            "'sc' has prune false at m.yaml:5:10",
        ),
        (
            "",
            "prune: false",
            "m.yaml:13:10: error: prune for account 'sc' is false here, but the UninterceptList "
            "at m.yaml:3:18 omits it (default true)",
        ),
        (
            "ignore: ['a*']",
            "",
            "m.yaml:11:18: error: this UninterceptList omits ignore (default []), but account "
            "'sc' has ignore ['a*'] at m.yaml:5:11",
        ),
        (
            "",
            "deletionThreshold: {percent: 50}",
            "m.yaml:13:22: error: deletionThreshold for account 'sc' is {entries: 3, percent: 50} "
            "here, but the UninterceptList at m.yaml:3:18 omits it "
            "(default {entries: 3, percent: 30})",
        ),
    ],
)
def test_a_policy_one_document_omits_is_its_default_and_must_agree(
    tmp_path: Path, first: str, second: str, error: str
) -> None:
    """Issue 16 item 4: one document of the list says `prune: false`, another says nothing."""
    doc = "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {{name: {}}}\nspec:\n  {}\n"
    doc += "  account: sc\n  entries: [{{email: {}@example.com}}]\n"
    text = doc.format("a", first, "a") + "---\n" + doc.format("b", second, "b")
    errors = _validate(tmp_path, text)
    hint = " (a policy covers the account's whole unintercept list, and a document that omits it "
    assert [line.split(hint)[0] for line in errors] == [error], errors
    assert all(hint in line for line in errors)


def test_a_policy_given_as_its_default_agrees_with_documents_that_omit_it(
    tmp_path: Path,
) -> None:
    doc = "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {{name: {}}}\nspec:\n{}"
    doc += "  account: sc\n  entries: [{{email: {}@example.com}}]\n"
    write(tmp_path / "accounts.yaml", ACCOUNTS)
    defaults = "  prune: true\n  ignore: []\n  deletionThreshold: {entries: 3, percent: 30}\n"
    write(tmp_path / "m.yaml", doc.format("a", "", "a") + "---\n" + doc.format("b", defaults, "b"))
    result = run_cli("validate", ".", cwd=tmp_path)
    assert result.code == 0, result


@pytest.mark.parametrize("word", ["yes", "No", "ON", "off", "Yes", "OFF", "y", "N", "yEs"])
def test_yaml_1_1_booleans_are_errors_with_a_hint(tmp_path: Path, word: str) -> None:
    errors = _validate(
        tmp_path,
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
        f"spec:\n  account: dm\n  enabled: {word}\n",
    )
    assert len(errors) == 1, errors
    assert errors[0].startswith("m.yaml:6:12: error: ")
    assert "(write true or false" in errors[0]


def test_true_false_and_quoted_words_are_fine(tmp_path: Path) -> None:
    write(tmp_path / "accounts.yaml", ACCOUNTS)
    write(
        tmp_path / "m.yaml",
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
        "spec: {account: dm, enabled: True}\n---\n"
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec: {account: sc, prune: false, entries: [{email: a@example.com, apiUser: 'yes'}]}\n",
    )
    result = run_cli("validate", ".", cwd=tmp_path)
    assert result.code == 0, result


def _definition(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{name}"})


GOOD = {
    "ipv4Entry": [
        "203.0.113.7", "0.0.0.0", "255.255.255.255", "198.51.100.0/24", "198.51.100.0/0",
        "203.0.113.7/32", "192.0.2.10-192.0.2.20", " 203.0.113.7 ", "010.1.1.1",
        "198.51.100.0 / 24", "192.0.2.10 - 192.0.2.20", "203.0.113.007",
    ],
    "emailAddress": [
        "vip@example.com", "Support@Example.com", "first.last+tag@mail.example.co.uk",
        "a@b.c", "用户@例子.公司", "o'neil@example.org", "x@example.com.",
    ],
    "domainName": [
        "example.com", "partner.example", "a-b.example", "例子.公司", "xn--fsqu00a.xn--55qx5d",
        "Example.COM", "mail.example.com.",
    ],
}  # fmt: skip
BAD = {
    "ipv4Entry": [
        "300.1.1.1", "1.2.3", "1.2.3.4.5", "256.0.0.0", "1.2.3.4/33", "1.2.3.4/", "a.b.c.d",
        "2001:db8::1", "1.2.3.4-", "example.com", "",
    ],
    "emailAddress": [
        "not-an-email", "a@b", "@example.com", "a@@example.com", "a b@example.com",
        "a@example..com", "",
    ],
    "domainName": ["localhost", "example..com", ".example.com", "a b.example", "a@b.example", ""],
}  # fmt: skip


@pytest.mark.parametrize(
    ("definition", "value"), [(d, v) for d, values in GOOD.items() for v in values]
)
def test_schema_patterns_accept_good_values(definition: str, value: str) -> None:
    assert not list(_definition(definition).iter_errors(value))


@pytest.mark.parametrize(
    ("definition", "value"), [(d, v) for d, values in BAD.items() for v in values]
)
def test_schema_patterns_reject_bad_values(definition: str, value: str) -> None:
    assert list(_definition(definition).iter_errors(value))


def test_good_pattern_values_pass_validate_too(tmp_path: Path) -> None:
    # The patterns must never reject what validate accepts.
    unintercepts = [{"email": e} for e in GOOD["emailAddress"]]
    unintercepts += [{"domain": d} for d in GOOD["domainName"]]
    write(tmp_path / "accounts.yaml", ACCOUNTS)
    write(
        tmp_path / "m.yaml",
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        f"spec: {{account: sc, entries: {json.dumps(unintercepts, ensure_ascii=False)}}}\n",
    )
    result = run_cli("validate", ".", cwd=tmp_path)
    assert result.code == 3, result  # Example.COM repeats example.com, and only that
    assert [line for line in result.err.splitlines() if ": error: " in line] == [
        line for line in result.err.splitlines() if "duplicate unintercept entry" in line
    ]


def test_every_example_document_has_a_modeline_that_exists() -> None:
    # The YAML language server applies a modeline only to the document it is written in.
    for path in sorted((REPO / "examples").rglob("*.yaml")):
        for document in path.read_text(encoding="utf-8").split("\n---\n"):
            modeline = document.lstrip().splitlines()[0]
            assert modeline.startswith("# yaml-language-server: $schema="), (path, document)
            target = modeline.split("=", 1)[1]
            assert (path.parent / target).resolve() == REPO / "schemas" / "manifest.schema.json"
    assert SCHEMA["$id"].startswith("https://raw.githubusercontent.com/")
