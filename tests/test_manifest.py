from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import ManifestError, Position, Problem
from reconciler.jsonschemas import SCHEMA_PATH, manifest_schema
from reconciler.manifests.checks import SOURCE_FIELDS
from reconciler.manifests.load import load_manifests
from reconciler.model import (
    DEFAULT_CREDENTIALS,
    Account,
    IpEntry,
    Limits,
    ListPolicy,
    Provider,
    SecretRef,
    Target,
    UninterceptEntry,
)

SPEC_EXAMPLE = """\
# yaml-language-server: $schema=../schemas/manifest.schema.json
apiVersion: reconciler/v1
kind: Account
metadata: {name: prod-dm}
spec:
  provider: aliyun-directmail          # or: sendcloud
  region: cn-hangzhou                  # aliyun only; default cn-hangzhou
  endpoint: https://dm.aliyuncs.com    # optional; overrides the region's endpoint
  credentials:                         # optional; these are the defaults
    accessKeyId:     {env: ALIBABA_CLOUD_ACCESS_KEY_ID}
    accessKeySecret: {env: ALIBABA_CLOUD_ACCESS_KEY_SECRET}
    securityToken:   {env: ALIBABA_CLOUD_SECURITY_TOKEN}   # optional STS token
---
apiVersion: reconciler/v1
kind: Account
metadata: {name: prod-sc}
spec:
  provider: sendcloud
  endpoint: https://api.sendcloud.net/apiv2   # default
  credentials:
    apiUser: {env: SENDCLOUD_API_USER}
    apiKey:  {env: SENDCLOUD_API_KEY}
---
apiVersion: reconciler/v1
kind: IpProtection
metadata: {name: prod}
spec:
  account: prod-dm
  enabled: true
---
apiVersion: reconciler/v1
kind: IpWhitelist
metadata: {name: prod}
spec:
  account: prod-dm
  entries:
    - 203.0.113.7                   # single IPv4 address
    - 198.51.100.0/24               # CIDR block, host bits must be zero
    - 192.0.2.10-192.0.2.20         # inclusive range, start <= end
---
apiVersion: reconciler/v1
kind: UninterceptList
metadata: {name: partners}
spec:
  account: prod-sc
  entries:
    - email: vip@example.com
      types: [bounce, complaint]    # default: all four
    - domain: partner.example
      apiUser: marketing            # default: all (every apiUser)
"""

ACCOUNTS = """\
apiVersion: reconciler/v1
kind: Account
metadata: {name: prod-dm}
spec: {provider: aliyun-directmail}
---
apiVersion: reconciler/v1
kind: Account
metadata: {name: prod-sc}
spec: {provider: sendcloud}
"""


def doc(kind: str, name: str, spec: str) -> str:
    """A document whose spec lines start at line 5, column 3."""
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"apiVersion: reconciler/v1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n{body}\n"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # Relative paths, as a user types them: positions must show them unchanged.
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def write(files: Mapping[str, str]) -> list[str]:
    for name, text in files.items():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(text, encoding="utf-8")
    return list(files)


def errors(paths: list[str]) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        load_manifests(paths)
    return caught.value.problems


def test_spec_example_loads(workdir: Path) -> None:
    write({"prod.yaml": SPEC_EXAMPLE})
    state, warnings = load_manifests(["prod.yaml"])
    assert warnings == []
    assert state.files == ["prod.yaml"]
    assert list(state.accounts) == ["prod-dm", "prod-sc"]

    dm = state.accounts["prod-dm"]
    assert dm.account == Account(
        name="prod-dm",
        provider=Provider.ALIYUN_DM,
        endpoint="https://dm.aliyuncs.com",
        region="cn-hangzhou",
        credentials={
            "accessKeyId": SecretRef(env="ALIBABA_CLOUD_ACCESS_KEY_ID"),
            "accessKeySecret": SecretRef(env="ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
            "securityToken": SecretRef(env="ALIBABA_CLOUD_SECURITY_TOKEN"),
        },
        limits=Limits(10.0, 4),
    )
    assert dm.account.position == Position("prod.yaml", 4, 18)
    assert dm.account.credentials["accessKeySecret"].position == Position("prod.yaml", 11, 22)
    assert dm.protection is True
    assert dm.protection_position == Position("prod.yaml", 29, 12)
    assert dm.whitelist == {
        "203.0.113.7": IpEntry("203.0.113.7"),
        "198.51.100.0/24": IpEntry("198.51.100.0/24"),
        "192.0.2.10-192.0.2.20": IpEntry("192.0.2.10-192.0.2.20"),
    }
    assert [e.position for e in dm.whitelist.values()] == [
        Position("prod.yaml", line, 7) for line in (37, 38, 39)
    ]
    assert dm.whitelist_policy == ListPolicy(prune=True, ignore=())
    assert dm.unintercepts is None

    sc = state.accounts["prod-sc"]
    assert sc.account.provider is Provider.SENDCLOUD
    assert sc.account.endpoint == "https://api.sendcloud.net/apiv2"
    assert sc.account.region is None
    assert sc.protection is None
    assert sc.whitelist is None
    assert sc.unintercepts == {
        "all:email:vip@example.com": UninterceptEntry(
            "all", Target.EMAIL, "vip@example.com", frozenset({1, 4})
        ),
        "marketing:domain:partner.example": UninterceptEntry(
            "marketing", Target.DOMAIN, "partner.example", frozenset({1, 2, 4, 8})
        ),
    }
    assert [e.position for e in sc.unintercepts.values()] == [
        Position("prod.yaml", 47, 7),
        Position("prod.yaml", 49, 7),
    ]
    assert sc.unintercept_policy == ListPolicy(prune=True, ignore=())


def test_defaults(workdir: Path) -> None:
    write({"accounts.yaml": ACCOUNTS})
    state, _ = load_manifests(["accounts.yaml"])
    dm, sc = (state.accounts[name].account for name in ("prod-dm", "prod-sc"))
    assert (dm.region, dm.endpoint) == ("cn-hangzhou", "https://dm.aliyuncs.com")
    assert sc.endpoint == "https://api.sendcloud.net/apiv2"
    for account in (dm, sc):
        assert account.limits == Limits()
        assert {field: ref.env for field, ref in account.credentials.items()} == dict(
            DEFAULT_CREDENTIALS[account.provider]
        )
        assert all(ref.position is None for ref in account.credentials.values())


@pytest.mark.parametrize(
    ("spec", "region", "endpoint"),
    [
        ("provider: aliyun-directmail\nregion: eu-central-1", "eu-central-1",
         "https://dm.eu-central-1.aliyuncs.com"),
        ("provider: aliyun-directmail\nregion: cn-beijing\nendpoint: https://dm.example/",
         "cn-beijing", "https://dm.example"),
        ("provider: aliyun-directmail\nendpoint: http://127.0.0.5:8600/", "cn-hangzhou",
         "http://127.0.0.5:8600"),
        ("provider: aliyun-directmail\nendpoint: http://localhost:8600", "cn-hangzhou",
         "http://localhost:8600"),
        ("provider: aliyun-directmail\nendpoint: 'http://[::1]:8600/'", "cn-hangzhou",
         "http://[::1]:8600"),
        ("provider: sendcloud\nendpoint: http://127.0.0.1:8600/apiv2", None,
         "http://127.0.0.1:8600/apiv2"),
    ],
)  # fmt: skip
def test_region_and_endpoint(workdir: Path, spec: str, region: str | None, endpoint: str) -> None:
    write({"a.yaml": doc("Account", "acc", spec)})
    state, _ = load_manifests(["a.yaml"])
    account = state.accounts["acc"].account
    assert (account.region, account.endpoint) == (region, endpoint)


def test_credentials_and_limits(workdir: Path) -> None:
    spec = """
        provider: sendcloud
        credentials:
          apiKey: {file: /run/secrets/sendcloud}
        limits: {requestsPerSecond: 2.5, concurrency: 1}
    """
    write({"a.yaml": doc("Account", "acc", spec)})
    account = load_manifests(["a.yaml"])[0].accounts["acc"].account
    assert account.credentials == {
        "apiUser": SecretRef(env="SENDCLOUD_API_USER"),
        "apiKey": SecretRef(file="/run/secrets/sendcloud"),
    }
    assert account.credentials["apiKey"].position == Position("a.yaml", 7, 13)
    assert account.limits == Limits(requests_per_second=2.5, concurrency=1)


WL = "IpWhitelist"
UL = "UninterceptList"
ERROR_CASES: list[tuple[str, str, str, str]] = [
    # (id, x.yaml, exact position, message fragment); accounts.yaml holds ACCOUNTS.
    ("unknown spec key",
     doc(WL, "w", "account: prod-dm\nentires: []\nentries: []"),
     "x.yaml:6:3",
     "unknown key 'entires' in spec (did you mean 'entries'?; "
     "allowed: account, entries, prune, ignore, deletionThreshold)"),
    ("unknown top-level key",
     doc(WL, "w", "account: prod-dm\nentries: []") + "status: {}\n",
     "x.yaml:7:1", "unknown key 'status' in the document"),
    ("entry that is not a mapping",
     doc(UL, "u", "account: prod-sc\nentries: [vip@example.com]"),
     "x.yaml:6:13", "expected a mapping, got a string ('vip@example.com')"),
    ("unknown key in an entry",
     doc(UL, "u", "account: prod-sc\nentries:\n  - email: a@example.com\n    typos: [bounce]"),
     "x.yaml:8:7", "unknown key 'typos' in spec.entries[0] (did you mean 'types'?"),
    ("missing required key",
     doc(WL, "w", "entries: []"),
     "x.yaml:4:1", "missing required key 'account' in spec"),
    ("kind enum",
     doc("IpWhitelists", "w", "account: prod-dm\nentries: []"),
     "x.yaml:2:7", "'IpWhitelists' is not one of Account, IpProtection, IpWhitelist, "
     "UninterceptList, TagList, MailDomainList, SenderAddressList, DeliveryCheck "
     "(did you mean 'IpWhitelist'?)"),
    ("types enum",
     doc(UL, "u", "account: prod-sc\nentries:\n  - {email: a@example.com, types: [bounced]}"),
     "x.yaml:7:38", "'bounced' is not one of bounce, block, complaint, unsubscribe "
     "(did you mean 'bounce'?)"),
    ("provider enum",
     doc("Account", "a", "provider: aliyun"),
     "x.yaml:5:13", "'aliyun' is not one of aliyun-directmail, sendcloud"),
    ("apiVersion const",
     "apiVersion: v1\nkind: IpWhitelist\nmetadata: {name: w}\nspec: {account: prod-dm, "
     "entries: []}\n",
     "x.yaml:1:13", "apiVersion must be 'reconciler/v1' (got 'v1')"),
    ("boolean type",
     doc("IpProtection", "p", "account: prod-dm\nenabled: yes please"),
     "x.yaml:6:12", "expected a boolean, got a string ('yes please')"),
    ("list type",
     doc(WL, "w", "account: prod-dm\nentries: 203.0.113.7"),
     "x.yaml:6:12", "expected a list, got a string ('203.0.113.7')"),
    ("entry with both email and domain",
     doc(UL, "u", "account: prod-sc\nentries:\n  - {email: a@example.com, domain: example.com}"),
     "x.yaml:7:7", "an unintercept entry needs exactly one of 'email' or 'domain' (it has both)"),
    ("entry with neither",
     doc(UL, "u", "account: prod-sc\nentries:\n  - apiUser: marketing"),
     "x.yaml:7:7",
     "an unintercept entry needs exactly one of 'email' or 'domain' (it has neither)"),
    ("empty types",
     doc(UL, "u", "account: prod-sc\nentries:\n  - {email: a@example.com, types: []}"),
     "x.yaml:7:37", "types needs at least 1 item"),
    ("repeated type",
     doc(UL, "u", "account: prod-sc\nentries:\n  - {email: a@example.com, types: [block, block]}"),
     "x.yaml:7:37", "types lists 'block' more than once"),
    ("bad name",
     doc(WL, "Prod_WL", "account: prod-dm\nentries: []"),
     "x.yaml:3:18", "'Prod_WL' is not a valid name (use lowercase letters"),
    ("zero rate",
     doc("Account", "a", "provider: sendcloud\nlimits: {requestsPerSecond: 0}"),
     "x.yaml:6:31", "requestsPerSecond must be greater than 0"),
    ("not a mapping",
     "- apiVersion: reconciler/v1\n",
     "x.yaml:1:1", "a manifest document must be a mapping with apiVersion, kind, metadata and "
     "spec, not a list"),
    ("yaml syntax",
     "apiVersion: reconciler/v1\nkind: [\n",
     "x.yaml:3:1", "YAML syntax error"),
    ("yaml duplicate key",
     doc(WL, "w", "account: prod-dm\nentries: []\naccount: prod-dm"),
     "x.yaml:7:3", "duplicate key 'account' (first at x.yaml:5:3)"),
    ("yaml alias",
     doc(WL, "w", "account: &a prod-dm\nentries: [*a]"),
     "x.yaml:6:13", "YAML aliases are not supported (*a)"),
    ("duplicate name per kind",
     doc(UL, "u", "account: prod-sc\nentries: []") + "---\n"
     + doc(UL, "u", "account: prod-sc\nentries: []"),
     "x.yaml:10:18", "UninterceptList 'u' is defined twice (first at x.yaml:3:18)"),
    ("duplicate account name",
     doc("Account", "prod-dm", "provider: aliyun-directmail"),
     "x.yaml:3:18", "Account 'prod-dm' is defined twice (first at accounts.yaml:3:18)"),
    ("unknown account",
     doc(WL, "w", "account: prod-db\nentries: []"),
     "x.yaml:5:12", "unknown account 'prod-db' (did you mean 'prod-dm'?)"),
    ("wrong provider for whitelist",
     doc(WL, "w", "account: prod-sc\nentries: []"),
     "x.yaml:5:12", "IpWhitelist needs an aliyun-directmail account, but 'prod-sc' is sendcloud "
     "(defined at accounts.yaml:8:18)"),
    ("wrong provider for unintercepts",
     doc(UL, "u", "account: prod-dm\nentries: []"),
     "x.yaml:5:12", "UninterceptList needs a sendcloud account, but 'prod-dm' is"),
    ("second IpProtection",
     doc("IpProtection", "a", "account: prod-dm\nenabled: true") + "---\n"
     + doc("IpProtection", "b", "account: prod-dm\nenabled: false"),
     "x.yaml:12:12", "account 'prod-dm' already has an IpProtection (at x.yaml:5:12)"),
    ("second IpWhitelist",
     doc(WL, "a", "account: prod-dm\nentries: []") + "---\n"
     + doc(WL, "b", "account: prod-dm\nentries: []"),
     "x.yaml:12:12", "account 'prod-dm' already has an IpWhitelist (at x.yaml:5:12)"),
    ("region on sendcloud",
     doc("Account", "a", "provider: sendcloud\nregion: cn-hangzhou"),
     "x.yaml:6:3", "region applies only to aliyun-directmail accounts"),
    ("unknown region",
     doc("Account", "a", "provider: aliyun-directmail\nregion: cn-hangzou"),
     "x.yaml:6:11", "unknown region 'cn-hangzou' (did you mean 'cn-hangzhou'?; known regions:"),
    ("http endpoint",
     doc("Account", "a", "provider: sendcloud\nendpoint: http://api.sendcloud.net/apiv2"),
     "x.yaml:6:13", "endpoint must use https://, not http:// (host api.sendcloud.net) "
     "(http:// is allowed only for loopback hosts"),
    ("http endpoint on a look-alike host",
     doc("Account", "a", "provider: sendcloud\nendpoint: http://127.0.0.1.example.com/"),
     "x.yaml:6:13", "endpoint must use https://"),
    ("endpoint with userinfo",
     doc("Account", "a", "provider: sendcloud\nendpoint: https://me:pw@api.sendcloud.net"),
     "x.yaml:6:13", "endpoint must not contain credentials"),
    ("endpoint with query",
     doc("Account", "a", "provider: sendcloud\nendpoint: https://api.sendcloud.net/?x=1"),
     "x.yaml:6:13", "endpoint must not have a query"),
    ("endpoint not a url",
     doc("Account", "a", "provider: sendcloud\nendpoint: api.sendcloud.net"),
     "x.yaml:6:13", "endpoint must be an https:// URL"),
    ("credential field of the other provider",
     doc("Account", "a", "provider: aliyun-directmail\ncredentials:\n  apiKey: {env: K}"),
     "x.yaml:7:5", "unknown key 'apiKey' in spec.credentials "
     "(allowed: accessKeyId, accessKeySecret, securityToken, chain, profile, role)"),
    ("credential with both env and file",
     doc("Account", "a", "provider: sendcloud\ncredentials:\n  apiKey: {env: K, file: f}"),
     "x.yaml:7:13", "credential 'apiKey' needs exactly one of 'env' or 'file'"),
    ("whitelist host bits",
     doc(WL, "w", "account: prod-dm\nentries:\n  - 198.51.100.1/24"),
     "x.yaml:7:7", "invalid whitelist entry '198.51.100.1/24': host bits set; "
     "did you mean 198.51.100.0/24?"),
    ("whitelist reversed range",
     doc(WL, "w", "account: prod-dm\nentries: [192.0.2.20-192.0.2.10]"),
     "x.yaml:6:13", "reversed range"),
    ("whitelist IPv6",
     doc(WL, "w", "account: prod-dm\nentries: ['2001:db8::1']"),
     "x.yaml:6:13", "IPv6 is not supported by DirectMail"),
    ("whitelist non-public",
     doc(WL, "w", "account: prod-dm\nentries:\n  - 203.0.113.7\n  - 172.20.1.0/24"),
     "x.yaml:8:7", "whitelist entry '172.20.1.0/24' is not public: it overlaps 172.16.0.0/12"),
    ("whitelist duplicate after normalization",
     doc(WL, "w", "account: prod-dm\nentries:\n  - 203.0.113.7\n  - ' 203.000.113.7/32 '"),
     "x.yaml:8:7", "duplicate whitelist entry '203.000.113.7/32': same as '203.0.113.7' "
     "at x.yaml:7:7"),
    ("invalid email",
     doc(UL, "u", "account: prod-sc\nentries:\n  - email: vip.example.com"),
     "x.yaml:7:14", "invalid email: 'vip.example.com' must contain exactly one '@'"),
    ("invalid domain",
     doc(UL, "u", "account: prod-sc\nentries:\n  - domain: partner_example.com"),
     "x.yaml:7:15", "invalid domain: 'partner_example.com' has an invalid label"),
    ("duplicate unintercept key in one list",
     doc(UL, "u", "account: prod-sc\nentries:\n  - email: VIP@example.com\n"
         "  - {email: vip@EXAMPLE.com, apiUser: ALL, types: [block]}"),
     "x.yaml:8:7", "duplicate unintercept entry email vip@EXAMPLE.com (apiUser all) for "
     "account 'prod-sc' (first at x.yaml:7:7)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_error(workdir: Path, text: str, position: str, fragment: str) -> None:
    write({"accounts.yaml": ACCOUNTS, "x.yaml": text})
    found = [str(problem) for problem in errors(["accounts.yaml", "x.yaml"])]
    assert any(line.startswith(f"{position}: error: ") and fragment in line for line in found), (
        found
    )


def test_duplicate_unintercept_across_files_names_both(workdir: Path) -> None:
    write(
        {
            "accounts.yaml": ACCOUNTS,
            "a.yaml": doc(UL, "a", "account: prod-sc\nentries:\n  - domain: Partner.Example"),
            "b.yaml": doc(
                UL, "b", "account: prod-sc\nentries:\n  - {domain: partner.example., apiUser: ''}"
            ),
        }
    )
    assert [str(problem) for problem in errors(["."])] == [
        "b.yaml:7:7: error: duplicate unintercept entry domain partner.example (apiUser all) "
        "for account 'prod-sc' (first at a.yaml:7:7) (an entry is identified by apiUser and "
        "email/domain, ignoring case)"
    ]


def test_entry_that_is_not_a_mapping_gets_one_error(workdir: Path) -> None:
    write({"x.yaml": ACCOUNTS + "---\n" + doc(UL, "u", "account: prod-sc\nentries: [a, 1]")})
    assert [problem.message for problem in errors(["x.yaml"])] == [
        "expected a mapping, got a string ('a')",
        "expected a mapping, got an integer (1)",
    ]


def test_secret_literal_is_rejected_and_never_shown(workdir: Path) -> None:
    secret = "LTAI5tSuperSecretValue"
    spec = f"provider: aliyun-directmail\ncredentials:\n  accessKeySecret: {secret}"
    write({"a.yaml": doc("Account", "acc", spec)})
    problems = errors(["a.yaml"])
    assert [str(problem) for problem in problems] == [
        "a.yaml:7:22: error: credential 'accessKeySecret' is written as a literal value; "
        "secrets never belong in a manifest (use {env: NAME})"
    ]


@pytest.mark.parametrize(
    "value",
    ["{env: 'has space'}", "{value: hunter2-secret}", "{env: [hunter2-secret]}", "hunter2-secret"],
)
def test_nothing_under_credentials_is_echoed(workdir: Path, value: str) -> None:
    spec = f"provider: sendcloud\ncredentials:\n  apiKey: {value}"
    write({"a.yaml": doc("Account", "acc", spec)})
    problems = errors(["a.yaml"])
    assert problems
    for problem in problems:
        assert "hunter2" not in str(problem)
        assert "has space" not in str(problem)


def test_reference_to_a_broken_account_adds_no_error(workdir: Path) -> None:
    broken = doc("Account", "prod-dm", "provider: aliyun-directmail\nregoin: cn-hangzhou")
    whitelist = doc(WL, "w", "account: prod-dm\nentries: [203.0.113.7]")
    write({"a.yaml": broken + "---\n" + whitelist})
    assert [problem.message for problem in errors(["a.yaml"])] == ["unknown key 'regoin' in spec"]


@pytest.mark.parametrize(
    ("account", "entry"),
    [
        ("nowhere", "10.0.0.1"),  # unknown account
        ("prod-sc", "10.0.0.1"),  # wrong provider
    ],
)
def test_entries_are_checked_even_without_their_account(
    workdir: Path, account: str, entry: str
) -> None:
    write(
        {
            "accounts.yaml": ACCOUNTS,
            "w.yaml": doc(WL, "w", f"account: {account}\nentries: [{entry}]"),
        }
    )
    problems = errors(["accounts.yaml", "w.yaml"])
    assert [str(problem.position) for problem in problems] == ["w.yaml:5:12", "w.yaml:6:13"]
    assert "is not public" in problems[1].message


def test_all_errors_of_all_files_are_reported_together(workdir: Path) -> None:
    write(
        {
            "accounts.yaml": ACCOUNTS,
            "one.yaml": doc("IpProtection", "p", "account: prod-dm\nenabled: maybe"),
            "two.yaml": doc(WL, "w", "account: prod-dm\nentries: [10.0.0.1, 198.51.100.7/24]")
            + "---\n"
            + doc(UL, "u", "acount: prod-sc\nentries: []"),
            "three.yaml": "kind: [\n",
        }
    )
    problems = errors(["accounts.yaml", "one.yaml", "two.yaml", "three.yaml", "four.yaml"])
    assert [str(problem.position) if problem.position else None for problem in problems] == [
        None,
        "one.yaml:6:12",
        "three.yaml:2:1",
        "two.yaml:6:13",
        "two.yaml:6:23",
        "two.yaml:11:1",
        "two.yaml:12:3",
    ]
    assert problems[0].message == "four.yaml: no such file or directory"
    assert "unknown key 'acount'" in problems[6].message
    assert "missing required key 'account'" in problems[5].message


def test_warnings_are_returned(workdir: Path) -> None:
    entries = ["198.51.100.0/24", "198.51.100.7", *(f"203.0.113.{i}" for i in range(1, 10))]
    spec = "account: prod-dm\nentries:\n" + "".join(f"  - {e}\n" for e in entries)
    write({"accounts.yaml": ACCOUNTS, "w.yaml": doc(WL, "w", spec)})
    state, warnings = load_manifests(["accounts.yaml", "w.yaml"])
    whitelist = state.accounts["prod-dm"].whitelist
    assert whitelist is not None and len(whitelist) == 11
    assert [str(warning) for warning in warnings] == [
        "w.yaml:8:7: warning: whitelist entry '198.51.100.7' overlaps '198.51.100.0/24' "
        "at w.yaml:7:7",
        "w.yaml:6:3: warning: 11 whitelist entries: the DirectMail console documents a limit of "
        "10 whitelist entries (the provider may reject the extra ones)",
    ]
    assert all(warning.warning for warning in warnings)


def test_unintercept_lists_are_merged(workdir: Path) -> None:
    a = doc(
        UL,
        "a",
        """
        account: prod-sc
        prune: false
        ignore: ['*@internal.example', 'ops*']
        entries:
          - {email: a@example.com, apiUser: All}
          - {domain: example.org, apiUser: ' marketing ', types: [unsubscribe, bounce]}
        """,
    )
    b = doc(
        UL,
        "b",
        """
        account: prod-sc
        prune: false
        ignore: ['ops*', '*@internal.example']
        entries:
          - {email: b@example.com, apiUser: ''}
        """,
    )
    write({"accounts.yaml": ACCOUNTS, "a.yaml": a, "b.yaml": b})
    state, _ = load_manifests(["."])
    desired = state.accounts["prod-sc"]
    assert desired.unintercepts is not None
    assert [(e.api_user, e.value, e.types) for e in desired.unintercepts.values()] == [
        ("all", "a@example.com", frozenset({1, 2, 4, 8})),
        ("marketing", "example.org", frozenset({1, 8})),
        ("all", "b@example.com", frozenset({1, 2, 4, 8})),
    ]
    assert desired.unintercept_policy == ListPolicy(
        prune=False, ignore=("*@internal.example", "ops*")
    )


def test_whitelist_policy(workdir: Path) -> None:
    spec = "account: prod-dm\nentries: []\nprune: false\nignore: ['203.0.113.*']"
    write({"accounts.yaml": ACCOUNTS, "w.yaml": doc(WL, "w", spec)})
    desired = load_manifests(["accounts.yaml", "w.yaml"])[0].accounts["prod-dm"]
    assert desired.whitelist == {}
    assert desired.whitelist_policy == ListPolicy(prune=False, ignore=("203.0.113.*",))


def test_accounts_keep_definition_order_after_resources(workdir: Path) -> None:
    protection = doc("IpProtection", "p", "account: prod-dm\nenabled: false")
    write({"a.yaml": protection, "b.yaml": ACCOUNTS})
    state, _ = load_manifests(["."])
    assert list(state.accounts) == ["prod-dm", "prod-sc"]
    assert state.accounts["prod-dm"].protection is False


def test_directory_discovery_order(workdir: Path) -> None:
    names = [
        "m/b.yaml",
        "m/a.yml",
        "m/a/z.yaml",
        "m/a/deeper/x.yaml",
        "m/c.YAML.txt",
        "m/notes.md",
        "m/.github/workflows/ci.yml",
        "m/.hidden.yaml",
        "other.yaml",
    ]
    write(dict.fromkeys(names, "# nothing\n"))
    state, _ = load_manifests(["m", "other.yaml", "m/b.yaml"])
    assert state.files == [
        "m/a/deeper/x.yaml",
        "m/a/z.yaml",
        "m/a.yml",
        "m/b.yaml",
        "other.yaml",
    ]


def test_files_keep_the_names_given(workdir: Path) -> None:
    write({"m/accounts.yaml": ACCOUNTS, "m/x.yaml": doc(WL, "w", "entries: []")})
    problems = errors(["./m"])
    assert str(problems[0].position) == "./m/x.yaml:4:1"
    state, _ = load_manifests(["./m/accounts.yaml"])
    assert state.files == ["./m/accounts.yaml"]
    assert state.accounts["prod-dm"].account.position == Position("./m/accounts.yaml", 3, 18)


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["missing.yaml"], "missing.yaml: no such file or directory"),
        (["empty"], "no *.yaml or *.yml files under empty"),
    ],
)
def test_path_problems(workdir: Path, paths: list[str], message: str) -> None:
    (workdir / "empty").mkdir()
    (workdir / "empty" / "readme.txt").write_text("not a manifest")
    with pytest.raises(ManifestError) as caught:
        load_manifests(paths)
    assert [(p.position, p.message) for p in caught.value.problems] == [(None, message)]


def test_error_in_many_identical_entries_is_reported_for_each(workdir: Path) -> None:
    entries = "".join(f"  - {{email: u{i}@example.com, typo: 1}}\n" for i in range(3))
    write(
        {
            "accounts.yaml": ACCOUNTS,
            "u.yaml": doc(UL, "u", f"account: prod-sc\nentries:\n{entries}"),
        }
    )
    problems = errors(["accounts.yaml", "u.yaml"])
    assert [str(problem.position) for problem in problems] == [
        "u.yaml:7:31",
        "u.yaml:8:31",
        "u.yaml:9:31",
    ]


def test_large_manifest_loads_in_linear_time(workdir: Path) -> None:
    count = 20_000
    for directory, entries in (("small", count // 10), ("large", count)):
        lines = [f"  - email: user{i}@example.com\n    types: [bounce]\n" for i in range(entries)]
        write({f"{directory}/accounts.yaml": ACCOUNTS,
               f"{directory}/u.yaml": doc(UL, "u", "account: prod-sc\nentries:\n")
               + "".join(lines)})  # fmt: skip

    # The floor: a tenth of the entries, loaded on this machine now, twice before the large
    # load and once after, so that a load on the machine slowing the large one shows in one
    # of them too.
    def small() -> float:
        started = time.perf_counter()
        load_manifests(["small"])
        return time.perf_counter() - started

    floor = [small(), small()]
    started = time.perf_counter()
    state, _ = load_manifests(["large"])
    large = time.perf_counter() - started
    floor.append(small())
    # Ten times the entries in at most thirty times the time (measured: 6 to 13 times): linear
    # with room for noise; a cost growing with the square of the entries takes a hundred times.
    assert large < 30 * max(floor), (large, floor)
    unintercepts = state.accounts["prod-sc"].unintercepts
    assert unintercepts is not None and len(unintercepts) == count


def _properties(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every property a schema defines; ``if`` conditions and ``then`` refinements define none."""
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            refinement = where.endswith("/then") and "$ref" not in sub and "type" not in sub
            if not refinement:
                yield f"{where}.{name}", sub
        for key, sub in node.items():
            if key != "if":
                yield from _properties(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for index, sub in enumerate(node):
            yield from _properties(sub, f"{where}[{index}]")


def test_schema_documents_every_property() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    defs = schema["$defs"]
    undocumented = []
    for where, sub in _properties(schema):
        target = defs[sub["$ref"].rsplit("/", 1)[1]] if "$ref" in sub else sub
        if "description" not in sub and "description" not in target:
            undocumented.append(where)
    assert undocumented == []


def test_schema_credentials_match_the_model() -> None:
    account = manifest_schema()["$defs"]["accountSpec"]
    by_provider = {
        branch["if"]["properties"]["provider"]["const"]: list(
            branch["then"]["properties"]["credentials"]["properties"]
        )
        for branch in account["allOf"]
    }
    # DirectMail accounts may instead obtain keys at run time (chain, profile, role).
    sources = {Provider.ALIYUN_DM: list(SOURCE_FIELDS), Provider.SENDCLOUD: []}
    assert by_provider == {
        provider.value: [*fields, *sources[provider]]
        for provider, fields in DEFAULT_CREDENTIALS.items()
    }


def test_package_ships_the_schema() -> None:
    assert SCHEMA_PATH.parent.name == "schemas"
    assert SCHEMA_PATH.parent.parent.name == "reconciler"
    assert SCHEMA_PATH.is_file()


@pytest.mark.parametrize(
    ("kind", "entries"),
    [
        (UL, [{"email": "a@x.io"}, {"email": "b@x.io"}, {"domain": "x.io", "x": 1}]),
        (UL, [{"email": "a@x.io", "domain": "x.io"}, {"email": "b@x.io", "domain": "y.io"}]),
        (UL, [{"email": 1}, {"email": True}, {"email": "c@x.io", "types": ["bounce", "bounce"]}]),
        (UL, [{"email": "a@x.io", "types": []}, {"apiUser": None}, {"typo": "a"}, "str", None]),
        (UL, [{"email": "a@x.io", "types": [1]}, {"email": "b@x.io", "types": [True]}]),
        (WL, ["203.0.113.7", "203.0.113.8", 7, None, ["203.0.113.9"], "203.0.113.7"]),
    ],
)
def test_projected_validation_finds_what_full_validation_finds(
    kind: str, entries: list[Any]
) -> None:
    from jsonschema import Draft202012Validator

    from reconciler.manifests.schema_errors import iter_errors

    account = "prod-sc" if kind == UL else "prod-dm"
    data = {
        "apiVersion": "reconciler/v1",
        "kind": kind,
        "metadata": {"name": "n"},
        "spec": {"account": account, "entries": entries},
    }
    full = Draft202012Validator(manifest_schema()).iter_errors(data)
    expected = sorted((tuple(map(str, e.absolute_path)), str(e.validator)) for e in full)
    projected = sorted((tuple(map(str, path)), str(e.validator)) for e, path in iter_errors(data))
    assert projected == expected
    assert expected  # every case has errors to find
