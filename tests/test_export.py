"""export: live state as manifests that plan back to "No changes"."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import sandbox as sb
from reconciler.addresses import canonical_ip_entry, non_public_overlap
from reconciler.export import export_account
from reconciler.export_yaml import to_yaml
from reconciler.kinds.unintercept_export import in_order
from reconciler.manifests.load import load_manifests
from reconciler.model import Account, AccountLive, IpEntry, Provider, Target, UninterceptEntry
from reconciler.plan import diff
from reconciler.sandbox import Sandbox
from tests.cli_helpers import accounts_yaml, run_cli, write

SANDBOX_ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
    "SENDCLOUD_API_USER": sb.API_USER,
    "SENDCLOUD_API_KEY": sb.API_KEY,
}
SECRETS = (sb.ACCESS_KEY_SECRET, sb.API_KEY)


def _record(api_user: str, value: str, types: list[int], domain: bool = False) -> dict[str, Any]:
    return {
        "apiUserName": api_user,
        "domain": value if domain else "",
        "email": "" if domain else value,
        "type": types,
        "createTime": "2024-01-01 00:00:00",
    }


AWKWARD_STATE = {
    "directmail": {
        "ip_protection": "1",
        "next_id": 200,
        "ipfilters": [
            {"Id": "101", "IpAddress": "203.0.113.7/32", "CreateTime": "1653547140"},
            {"Id": "102", "IpAddress": "198.51.100.0/24", "CreateTime": "1653547141"},
            {"Id": "103", "IpAddress": "192.0.2.10-192.0.2.20", "CreateTime": "1653547142"},
            {"Id": "104", "IpAddress": "192.0.2.64-192.0.2.127", "CreateTime": "1653547143"},
            {"Id": "105", "IpAddress": "8.8.8.8", "CreateTime": "1653547144"},
            {"Id": "106", "IpAddress": "100.0.0.0/10", "CreateTime": "1653547145"},
        ],
    },
    "sendcloud": {
        "unintercepts": [
            _record("all", "VIP@Example.com", [1, 4]),
            _record("", "ceo@example.com", [1, 2, 4, 8]),
            _record("marketing", "partner.example", [1, 2], domain=True),
            _record("marketing", "Old-List@Example.ORG", [8]),
            _record("Transactional", "customers.example", [1, 2, 4, 8], domain=True),
            _record("Transactional", "support@example.com", [2]),
            # apiUser names a YAML 1.1 reader would take for a boolean, a number or null
            _record("on", "yes@example.com", [1]),
            _record("0123", "no.example", [4, 8], domain=True),
            _record("null", "1.5.example", [1, 2, 4], domain=True),
        ]
    },
}


@pytest.fixture
def manifests(tmp_path: Path, sandbox: Sandbox) -> Path:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(sandbox.url))
    return tmp_path / "m"


def test_round_trip_of_awkward_live_state(
    tmp_path: Path, sandbox: Sandbox, manifests: Path
) -> None:
    sandbox.set_state(AWKWARD_STATE)
    result = run_cli(
        "export", "m", "--account", "dm", "--account", "sc", "--out", "out/live.yaml",
        cwd=tmp_path, env=SANDBOX_ENV,
    )  # fmt: skip
    assert result.code == 0, result
    text = (tmp_path / "out" / "live.yaml").read_text()
    documents = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in documents] == [
        "Account", "IpProtection", "IpWhitelist", "Account", "UninterceptList",
    ]  # fmt: skip
    assert documents[1]["spec"] == {"account": "dm", "enabled": True}
    # Canonical, in numeric order.
    assert documents[2]["spec"]["entries"] == [
        "8.8.8.8",
        "100.0.0.0/10",
        "192.0.2.10-192.0.2.20",
        "192.0.2.64/26",
        "198.51.100.0/24",
        "203.0.113.7",
    ]
    entries = documents[4]["spec"]["entries"]
    assert entries[:2] == [
        {"email": "ceo@example.com"},  # all types, apiUser all: both left out
        {"email": "VIP@Example.com", "types": ["bounce", "complaint"]},
    ]
    assert {
        "domain": "1.5.example",
        "apiUser": "null",
        "types": ["bounce", "block", "complaint"],
    } in entries
    assert {"email": "yes@example.com", "apiUser": "on", "types": ["bounce"]} in entries
    assert {
        "domain": "no.example",
        "apiUser": "0123",
        "types": ["complaint", "unsubscribe"],
    } in entries
    assert [e.get("apiUser", "all") for e in entries] == [
        "all", "all", "0123", "marketing", "marketing", "null", "on",
        "Transactional", "Transactional",
    ]  # fmt: skip
    assert all(line.startswith("# yaml-language-server: $schema=") for line in text.split("---\n"))
    assert not any(secret in text for secret in SECRETS)

    sandbox.reset_calls()
    again = run_cli("plan", "out/live.yaml", "--detailed-exitcode", cwd=tmp_path, env=SANDBOX_ENV)
    assert again.code == 0, again
    assert "No changes" in again.out
    assert sandbox.calls["unintercept/list"] >= 1  # it did look


def test_account_selection_limits_the_calls_of_every_command(
    tmp_path: Path, sandbox: Sandbox, manifests: Path
) -> None:
    write(
        manifests / "resources.yaml",
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
        "spec: {account: dm, enabled: false}\n---\n"
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec: {account: sc, entries: [], prune: false}\n",
    )
    for command in (["plan"], ["apply", "--yes"], ["export"]):
        sandbox.reset_calls()
        result = run_cli(*command, "m", "--account", "dm", cwd=tmp_path, env=SANDBOX_ENV)
        assert result.code == 0, result
        calls = sandbox.calls
        assert calls["GetIpProtection"] >= 1, command
        assert not any(action.startswith("unintercept/") for action in calls), command
        if command == ["export"]:  # to stdout
            kinds = [d["kind"] for d in yaml.safe_load_all(result.out)]
            assert kinds == ["Account", "IpProtection", "IpWhitelist"]
        sandbox.reset_calls()
        result = run_cli(*command, "m", "--account", "sc", cwd=tmp_path, env=SANDBOX_ENV)
        assert result.code == 0, result
        assert sandbox.calls["unintercept/list"] >= 1, command
        assert not any(action[0].isupper() for action in sandbox.calls), command  # DirectMail


def test_live_duplicates_are_exported_once(
    tmp_path: Path, sandbox: Sandbox, manifests: Path
) -> None:
    state = {
        **AWKWARD_STATE,
        "directmail": {
            "ip_protection": "0",
            "next_id": 10,
            "ipfilters": [
                {"Id": "1", "IpAddress": "203.0.113.7", "CreateTime": "1"},
                {"Id": "2", "IpAddress": "203.0.113.7/32", "CreateTime": "2"},
            ],
        },
    }
    sandbox.set_state(state)
    result = run_cli(
        "export", "m", "--account", "dm", "--out", "dm.yaml", cwd=tmp_path, env=SANDBOX_ENV
    )
    assert result.code == 0, result
    whitelist = list(yaml.safe_load_all((tmp_path / "dm.yaml").read_text()))[2]
    assert whitelist["spec"]["entries"] == ["203.0.113.7"]
    # The plan then only collapses the duplicate (SPEC §6).
    plan = run_cli("plan", "dm.yaml", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert [(c["action"], c["before"]["id"]) for c in plan.json["changes"]] == [("delete", "2")]


def test_entries_no_manifest_can_hold_are_ignored_with_a_warning(
    tmp_path: Path, sandbox: Sandbox, manifests: Path
) -> None:
    state = {
        "directmail": {
            "ip_protection": "0",
            "next_id": 10,
            "ipfilters": [
                {"Id": "1", "IpAddress": "203.0.113.7", "CreateTime": "1"},
                {"Id": "2", "IpAddress": "10.1.2.3", "CreateTime": "2"},
            ],
        },
        "sendcloud": {
            "unintercepts": [
                _record("all", "a@example.com", [1]),
                _record("all", "b@example.com", []),
            ]
        },
    }
    sandbox.set_state(state)
    result = run_cli(
        "export", "m", "--account", "dm", "--account", "sc", "--out", "x.yaml",
        cwd=tmp_path, env=SANDBOX_ENV,
    )  # fmt: skip
    assert result.code == 0, result
    assert "'10.1.2.3' cannot be written in a manifest" in result.err
    assert "'b@example.com'" in result.err and "no types" in result.err
    documents = list(yaml.safe_load_all((tmp_path / "x.yaml").read_text()))
    assert documents[2]["spec"] == {
        "account": "dm",
        "entries": ["203.0.113.7"],
        "ignore": ["10.1.2.3"],
    }
    again = run_cli("plan", "x.yaml", "--detailed-exitcode", cwd=tmp_path, env=SANDBOX_ENV)
    assert again.code == 0, again


def test_incomplete_live_state_refuses_and_writes_nothing(
    tmp_path: Path, sandbox: Sandbox, manifests: Path
) -> None:
    # Every answer short of its TotalCount, however often the client asks again.
    sandbox.faults.script("GetIpfilterList", *["truncate"] * 5)
    result = run_cli(
        "export", "m", "--account", "dm", "--out", "dm.yaml", cwd=tmp_path, env=SANDBOX_ENV
    )
    assert result.code == 4, result
    assert "incomplete live state" in result.err and "nothing was written" in result.err
    assert not (tmp_path / "dm.yaml").exists()


def test_usage_errors(tmp_path: Path, sandbox: Sandbox, manifests: Path) -> None:
    every = run_cli("export", "m", cwd=tmp_path, env=SANDBOX_ENV)  # no --account: all of them
    assert every.code == 0 and "name: dm" in every.out and "name: sc" in every.out
    unknown = run_cli("export", "m", "--account", "dmm", cwd=tmp_path, env=SANDBOX_ENV)
    assert unknown.code == 3 and "did you mean 'dm'" in unknown.err
    before = (manifests / "accounts.yaml").read_text()
    own = run_cli(
        "export", "m", "--account", "dm", "--out", "m/accounts.yaml", cwd=tmp_path, env=SANDBOX_ENV
    )
    assert own.code == 3 and "is a manifest being read" in own.err
    assert (manifests / "accounts.yaml").read_text() == before
    directory = run_cli("export", "m", "--account", "dm", "--out", "m", cwd=tmp_path)
    assert directory.code == 3 and "is a directory" in directory.err
    assert "Traceback" not in every.err + unknown.err + own.err + directory.err


def test_export_with_the_embedded_sandbox(tmp_path: Path) -> None:
    from tests.cli_helpers import EXAMPLES

    result = run_cli(
        "export", str(EXAMPLES), "--sandbox", "--account", "prod-sc", "--out", "sc.yaml",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result
    again = run_cli("plan", "sc.yaml", "--sandbox", "--detailed-exitcode", cwd=tmp_path)
    assert again.code == 0, again


def _modelines(text: str) -> list[str]:
    """The first line of every document; each must be the schema modeline."""
    firsts = [document.splitlines()[0] for document in text.split("---\n")]
    assert all(line.startswith("# yaml-language-server: $schema=") for line in firsts), text
    return [line.split("=", 1)[1] for line in firsts]


def test_the_modelines_of_every_document_name_a_schema_that_exists(tmp_path: Path) -> None:
    """Issue 16 item 5: the `$id` holds the OWNER/REPO placeholder, so export names a file."""
    from tests.cli_helpers import EXAMPLES, REPO

    # Below a copy of schemas/: a path relative to the file, as the examples have.
    (tmp_path / "schemas").mkdir()
    schema = (REPO / "schemas" / "manifest.schema.json").read_text(encoding="utf-8")
    (tmp_path / "schemas" / "manifest.schema.json").write_text(schema, encoding="utf-8")
    result = run_cli("export", str(EXAMPLES), "--sandbox", "--out", "live/all.yaml", cwd=tmp_path)
    assert result.code == 0, result
    assert "absolute path" not in result.err
    text = (tmp_path / "live" / "all.yaml").read_text(encoding="utf-8")
    assert _modelines(text) == ["../schemas/manifest.schema.json"] * 5
    # To stdout: relative to the current directory, where a redirection writes.
    result = run_cli("export", str(EXAMPLES), "--sandbox", cwd=tmp_path)
    assert result.code == 0, result
    assert _modelines(result.out) == ["schemas/manifest.schema.json"] * 5
    # Nowhere near a copy (a schema with another $id does not count): the installed schema.
    (tmp_path / "schemas" / "manifest.schema.json").write_text('{"$id": "x"}', encoding="utf-8")
    result = run_cli("export", str(EXAMPLES), "--sandbox", "--out", "elsewhere.yaml", cwd=tmp_path)
    assert result.code == 0, result
    names = set(_modelines((tmp_path / "elsewhere.yaml").read_text(encoding="utf-8")))
    assert len(names) == 1
    installed = Path(names.pop())
    assert installed.is_absolute() and installed.is_file()
    assert installed.read_text(encoding="utf-8") == schema
    # ... which exists on this machine only: a warning says so, and how to avoid it.
    assert f"by its absolute path ({installed.as_posix()})" in result.err
    assert f"mkdir -p schemas && cp {installed.as_posix()} schemas/" in result.err


def test_a_modeline_into_a_virtual_environment_says_so_and_how_to_avoid_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from reconciler import export as exporting
    from tests.cli_helpers import EXAMPLES, REPO

    # reconciler as pip installs it in a virtual environment: the schema under site-packages.
    environment = tmp_path / "venv"
    schema = environment / "lib" / "site-packages" / "reconciler" / "schemas" / "m.json"
    schema.parent.mkdir(parents=True)
    schema.write_bytes((REPO / "schemas" / "manifest.schema.json").read_bytes())
    monkeypatch.setattr(exporting, "SCHEMA_PATH", schema)
    monkeypatch.setattr(sys, "prefix", str(environment))
    (tmp_path / "out").mkdir()
    result = run_cli("export", str(EXAMPLES), "--sandbox", "--out", "out/live.yaml", cwd=tmp_path)
    assert result.code == 0, result
    written = (tmp_path / "out" / "live.yaml").read_text(encoding="utf-8")
    assert set(_modelines(written)) == {schema.resolve().as_posix()}
    assert f"inside the virtual environment {environment.resolve().as_posix()}" in result.err
    assert "not after the environment is rebuilt" in result.err
    assert result.err.count("warning") == 1, result.err


def test_no_schema_names_an_invented_domain() -> None:
    from tests.cli_helpers import REPO

    for name in ("manifest", "plan", "report"):
        path = REPO / "schemas" / f"{name}.schema.json"
        schema_id = yaml.safe_load(path.read_text(encoding="utf-8"))["$id"]
        assert schema_id == (
            f"https://raw.githubusercontent.com/OWNER/REPO/main/schemas/{name}.schema.json"
        )


# -- the same round trip without a network, on generated live state ---------------------

_API_USERS = st.sampled_from(
    ["all", "marketing", "Marketing2", "on", "yes", "0123", "1e3", "null", "~"]
)
_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789", min_size=1, max_size=8)
_DOMAIN = st.builds(lambda a, b: f"{a}.{b}", _LABEL, st.sampled_from(["example", "com", "1", "on"]))
_LOCAL = st.text(alphabet="abcXYZ019.+_-'#&*!%", min_size=1, max_size=10).filter(
    lambda s: not s.startswith(".")
)
_TYPES = st.sets(st.sampled_from([1, 2, 4, 8]), min_size=1).map(frozenset)


@st.composite
def _unintercept(draw: st.DrawFn) -> UninterceptEntry:
    api_user = draw(_API_USERS)
    types = draw(_TYPES)
    if draw(st.booleans()):
        return UninterceptEntry(api_user, Target.DOMAIN, draw(_DOMAIN), types)
    return UninterceptEntry(api_user, Target.EMAIL, f"{draw(_LOCAL)}@{draw(_DOMAIN)}", types)


@st.composite
def _ip_text(draw: st.DrawFn) -> str:
    first = draw(st.integers(min_value=0x01000000, max_value=0xDF000000))
    kind = draw(st.sampled_from(["single", "slash32", "cidr", "range"]))
    if kind == "cidr":
        prefix = draw(st.integers(min_value=16, max_value=31))
        network = ipaddress.IPv4Network((first, prefix), strict=False)
        return str(network)
    if kind == "range":
        last = first + draw(st.integers(min_value=1, max_value=5000))
        return f"{ipaddress.IPv4Address(first)}-{ipaddress.IPv4Address(last)}"
    address = str(ipaddress.IPv4Address(first))
    return address + "/32" if kind == "slash32" else address


def _public(text: str) -> bool:
    return non_public_overlap(canonical_ip_entry(text)) is None


@settings(max_examples=25, deadline=None)
@given(
    protection=st.booleans(),
    ips=st.lists(_ip_text().filter(_public), max_size=12, unique_by=canonical_ip_entry),
    unintercepts=st.lists(_unintercept(), max_size=25, unique_by=lambda e: e.key),
)
def test_generated_live_state_round_trips(
    tmp_path_factory: pytest.TempPathFactory,
    protection: bool,
    ips: list[str],
    unintercepts: list[UninterceptEntry],
) -> None:
    dm = Account("dm", Provider.ALIYUN_DM, "https://dm.aliyuncs.com", "cn-hangzhou")
    sc = Account("sc", Provider.SENDCLOUD, "https://api.sendcloud.net/apiv2")
    definitions = {
        a.name: {
            "apiVersion": "reconciler/v1",
            "kind": "Account",
            "metadata": {"name": a.name},
            "spec": {"provider": a.provider.value},
        }
        for a in (dm, sc)
    }
    whitelist = [IpEntry(canonical_ip_entry(ip), str(i), ip) for i, ip in enumerate(ips)]
    live = {
        "dm": AccountLive(protection=protection, whitelist=whitelist),
        "sc": AccountLive(unintercepts=unintercepts),
    }
    documents = [
        *export_account(dm, definitions["dm"], live["dm"]).documents,
        *export_account(sc, definitions["sc"], live["sc"]).documents,
    ]
    path = tmp_path_factory.mktemp("export") / "live.yaml"
    path.write_text(to_yaml(documents, "schemas/manifest.schema.json"), encoding="utf-8")
    state, _ = load_manifests([path])
    plan = diff(state.accounts.values(), live)
    assert plan.changes == [], path.read_text()


_ORDER_USERS = st.sampled_from(["all", "All", "ALL", "marketing", "Marketing", "ops", "Ops", "é"])
_ORDER_VALUES = st.sampled_from(["a@x.com", "A@x.com", "a@X.com", "b@x.com", "B@x.com", "x.com"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.builds(
            UninterceptEntry,
            _ORDER_USERS,
            st.sampled_from(Target),
            _ORDER_VALUES,
            _TYPES,
        ),
        max_size=40,
    )
)
def test_entries_are_sorted_by_the_whole_key_stably(entries: list[UninterceptEntry]) -> None:
    expected = sorted(
        entries,
        key=lambda e: (
            e.api_user != "all",
            e.api_user.lower(),
            e.target.value,
            e.value.lower(),
            e.value,
        ),
    )
    # The same objects in the same order: equal entries keep the order they were read in.
    assert [id(e) for e in in_order(entries)] == [id(e) for e in expected]
