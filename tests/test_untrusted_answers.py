"""Provider answers are untrusted input (SPEC §5 rule 4, §6, §8): the real CLI against scripted
hostile providers on 127.0.0.1. A bad answer is a clean error, never a traceback, and never the
basis of a write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler import sandbox as sb
from reconciler.apply import carry_out
from reconciler.cli import build_parser
from reconciler.jsonschemas import validator
from reconciler.model import Account, IpEntry, Provider, Target, UninterceptEntry
from reconciler.plan import Action, Change, Resource
from reconciler.providers.directmail import DirectMailClient
from reconciler.providers.sendcloud import SendCloudClient
from reconciler.sandbox import Sandbox
from tests.cli_helpers import Result, accounts_yaml, run_cli, write
from tests.hostile import Answer, HostileServer

ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "hostile-key-id",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "hostile-key-secret",
    "SENDCLOUD_API_USER": "hostile-user",
    "SENDCLOUD_API_KEY": "hostile-api-key",
}
# Few quick attempts: a bad answer must not be retried into a slow test.
FAST_RETRY = "  retry: {attempts: 2, maxSeconds: 2, baseDelaySeconds: 0.01}\n"
DM_WRITES = {"AddIpfilter", "DeleteIpfilterByEdmId", "UpdateIpProtection"}
SC_WRITES = {"add", "delete"}
A, B = "203.0.113.7", "198.51.100.0/24"


def _accounts(url: str) -> str:
    text = accounts_yaml(url)
    return text.replace("  limits:", FAST_RETRY + "  limits:")


def _dm_manifests(root: Path, url: str, *, protection: bool = True, entries=(A, B)) -> Path:
    write(root / "m" / "accounts.yaml", _accounts(url))
    listed = ", ".join(f"'{e}'" for e in entries)
    write(
        root / "m" / "dm.yaml",
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
        f"spec: {{account: dm, enabled: {str(protection).lower()}}}\n---\n"
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: w}\n"
        f"spec:\n  account: dm\n  entries: [{listed}]\n",
    )
    return root / "m"


def _sc_manifests(root: Path, url: str, emails: tuple[str, ...] = ("vip@example.com",)) -> Path:
    write(root / "m" / "accounts.yaml", _accounts(url))
    listed = "".join(f"    - email: {e}\n" for e in emails)
    write(
        root / "m" / "sc.yaml",
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        f"spec:\n  account: sc\n  entries:\n{listed}",
    )
    return root / "m"


def _ipfilters(*records: Any, total: int | None = None, **extra: Any) -> Answer:
    return Answer.json(
        {
            "RequestId": "RID-LIST",
            "PageNumber": 1,
            "TotalCount": len(records) if total is None else total,
            "data": {"ipfilters": list(records)},
            **extra,
        }
    )


def _rec(ident: str, address: str) -> dict[str, str]:
    return {"Id": ident, "IpAddress": address, "CreateTime": "1653547140"}


def _protection(value: Any) -> Answer:
    return Answer.json({"IpProtection": value, "RequestId": "RID-PROT"})


OK = Answer.json({"RequestId": "RID-OK"})


def _clean(result: Result) -> None:
    assert "Traceback" not in result.out + result.err, result


# -- a listing is consistent or refused ------------------------------------------------------


def test_a_listing_that_repeats_every_record_deletes_nothing_and_locks_nothing_out(
    tmp_path: Path,
) -> None:
    """Every record listed twice under its own Id: the same record twice is one record, not
    a duplicate to collapse (that deleted every entry, then switched protection on)."""
    answers = {
        "GetIpProtection": _protection("0"),
        "GetIpfilterList": _ipfilters(_rec("1", A), _rec("1", A), _rec("2", B), _rec("2", B)),
        "UpdateIpProtection": OK,
    }
    with HostileServer(answers=answers) as server:
        manifests = _dm_manifests(tmp_path, server.url)
        result = run_cli("apply", str(manifests), "--yes", cwd=tmp_path, env=ENV)
    _clean(result)
    assert result.code == 0, result
    assert "DeleteIpfilterByEdmId" not in server.actions(), result
    assert server.actions().count("UpdateIpProtection") == 1


def test_one_id_with_two_addresses_is_rule_4_and_nothing_is_written(tmp_path: Path) -> None:
    answers = {
        "GetIpProtection": _protection("0"),
        "GetIpfilterList": _ipfilters(_rec("1", A), _rec("1", "192.0.2.10")),
    }
    with HostileServer(answers=answers) as server:
        manifests = _dm_manifests(tmp_path, server.url)
        result = run_cli("apply", str(manifests), "--yes", "--force", cwd=tmp_path, env=ENV)
        plan = run_cli("plan", str(manifests), cwd=tmp_path, env=ENV)
    for run in (result, plan):
        _clean(run)
        assert run.code == 4, run
        assert "inconsistent live state" in run.err
        assert "GetIpfilterList" in run.err and "RID-LIST" in run.err
        # An answer checked after its call names the account and its host too (issue 16).
        host = server.url.split("//", 1)[1]
        assert f"account dm ({host}): DirectMail GetIpfilterList failed" in run.err
    assert not DM_WRITES & set(server.actions())


def test_plan_lists_a_contradictory_listing_as_a_refusal_of_its_account(tmp_path: Path) -> None:
    """Issue 10 item 1: a user of `plan --format json` sees rule 4 in `refusals`, and the
    other accounts are still planned."""
    answers = {
        "GetIpProtection": _protection("0"),
        "GetIpfilterList": _ipfilters(_rec("1", A), _rec("1", "192.0.2.10")),
        "list": _sc_list([_email("old@example.com")]),
    }
    with HostileServer(answers=answers) as server:
        manifests = _dm_manifests(tmp_path, server.url)
        write(
            manifests / "sc.yaml",
            "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
            "spec: {account: sc, prune: false, entries: [{email: new@example.com}]}\n",
        )
        as_json = run_cli("plan", str(manifests), "--format", "json", cwd=tmp_path, env=ENV)
        text = run_cli("plan", str(manifests), cwd=tmp_path, env=ENV)
        markdown = run_cli("plan", str(manifests), "--format", "markdown", cwd=tmp_path, env=ENV)
        saving = run_cli("plan", str(manifests), "--out", "plan.json", cwd=tmp_path, env=ENV)
    for run in (as_json, text, markdown, saving):
        _clean(run)
        assert run.code == 4, run
        assert "inconsistent live state" in run.err and "RID-LIST" in run.err
    message = (
        "dm: the provider's IP whitelist listing contradicts itself (DirectMail "
        "GetIpfilterList, request id RID-LIST): Id 1 is listed with two addresses, "
        "203.0.113.7 and 192.0.2.10; nothing was planned for this account (run again later; "
        "--force does not override this)"
    )
    validator("plan").validate(as_json.json)
    assert as_json.json["refusals"] == [
        {
            "rule": "incomplete-live-state",
            "message": message,
            "account": "dm",
            "resource": "ip_whitelist",
            "overridable": False,
        }
    ]
    assert [(c["account"], c["action"], c["key"]) for c in as_json.json["changes"]] == [
        ("sc", "create", "all:email:new@example.com")
    ]
    assert f"incomplete-live-state: {message}" in text.out
    assert "incomplete-live-state" in markdown.out and "contradicts itself" in markdown.out
    assert not (tmp_path / "plan.json").exists()
    assert "plan.json was not written" in saving.err
    assert not DM_WRITES & set(server.actions()) and not SC_WRITES & set(server.actions())


def test_directmail_parameters_travel_in_the_query_with_an_empty_body(tmp_path: Path) -> None:
    """Issue 10 item 3, SPEC §8: as the official V3 SDK sends them; the sandbox (every
    end-to-end test) verifies the signature over that query."""
    import hashlib

    answers = {
        "GetIpProtection": _protection("0"),
        "GetIpfilterList": _ipfilters(_rec("1", A)),
        "AddIpfilter": Answer.json({"RequestId": "RID-ADD", "IpFilterId": "2"}),
        "UpdateIpProtection": OK,
    }
    with HostileServer(answers=answers) as server:
        manifests = _dm_manifests(tmp_path, server.url)
        result = run_cli("apply", str(manifests), "--yes", cwd=tmp_path, env=ENV)
        requests = [r for r in server.requests if not r.path.startswith("/apiv2")]
    _clean(result)
    assert result.code == 0, result
    assert [r.action for r in requests] == [
        "GetIpProtection", "GetIpfilterList", "AddIpfilter", "UpdateIpProtection",
    ]  # fmt: skip
    empty = hashlib.sha256(b"").hexdigest()
    for request in requests:
        assert request.method == "POST" and request.body == b"", request
        assert request.headers["x-acs-content-sha256"] == empty
        assert "content-type" not in request.headers or request.form == {}
    assert requests[2].query == {"IpAddress": B}
    assert requests[3].query == {"IpProtection": "1"}


# -- DirectMail answers checked against SPEC §8 --------------------------------------------


@pytest.mark.parametrize("value", [True, "2", None, 1, "", "disabled"])
def test_ip_protection_other_than_0_or_1_is_an_error(tmp_path: Path, value: Any) -> None:
    answers = {"GetIpProtection": _protection(value), "GetIpfilterList": _ipfilters(_rec("1", A))}
    with HostileServer(answers=answers) as server:
        manifests = _dm_manifests(tmp_path, server.url, protection=False)
        result = run_cli("apply", str(manifests), "--yes", cwd=tmp_path, env=ENV)
    _clean(result)
    assert result.code == 1, result
    assert "GetIpProtection" in result.err and "RID-PROT" in result.err
    assert not DM_WRITES & set(server.actions())


def test_http_200_with_a_code_and_no_message_is_an_error(tmp_path: Path) -> None:
    answers = {
        "GetIpProtection": Answer.json({"Code": "Forbidden.RAM", "RequestId": "RID-CODE"}),
        "GetIpfilterList": _ipfilters(_rec("1", A)),
    }
    with HostileServer(answers=answers) as server:
        manifests = _dm_manifests(tmp_path, server.url)
        result = run_cli("plan", str(manifests), cwd=tmp_path, env=ENV)
    _clean(result)
    assert result.code == 1, result
    assert "Forbidden.RAM" in result.err and "RID-CODE" in result.err


BAD_LISTINGS = {
    "data-is-a-list": {"RequestId": "RID-LIST", "TotalCount": 0, "data": []},
    "string-records": {"RequestId": "RID-LIST", "TotalCount": 1, "data": {"ipfilters": ["x"]}},
    "no-id": {"RequestId": "RID-LIST", "data": {"ipfilters": [{"IpAddress": A}]}},
    "empty-id": {"RequestId": "RID-LIST", "data": {"ipfilters": [_rec("", A)]}},
    "no-address": {"RequestId": "RID-LIST", "data": {"ipfilters": [{"Id": "1"}]}},
    "total-is-text": {"RequestId": "RID-LIST", "TotalCount": "many", "data": {"ipfilters": []}},
    "total-implausible": {
        "RequestId": "RID-LIST",
        "TotalCount": 10**9,
        "data": {"ipfilters": [_rec("1", A)]},
    },
}


@pytest.mark.parametrize("answer", list(BAD_LISTINGS.values()), ids=list(BAD_LISTINGS))
def test_a_malformed_whitelist_listing_is_an_error_never_a_deletion(
    tmp_path: Path, answer: dict[str, Any]
) -> None:
    answers = {"GetIpProtection": _protection("0"), "GetIpfilterList": Answer.json(answer)}
    with HostileServer(answers=answers) as server:
        manifests = _dm_manifests(tmp_path, server.url, protection=False, entries=(B,))
        result = run_cli("apply", str(manifests), "--yes", "--force", cwd=tmp_path, env=ENV)
    _clean(result)
    assert result.code == 1, result
    assert "GetIpfilterList" in result.err and "RID-LIST" in result.err
    assert not DM_WRITES & set(server.actions())


def test_a_bad_answer_mid_apply_still_prints_the_report(tmp_path: Path) -> None:
    """AddIpfilter is sent, its answer lacks the new id: the change fails, the others are
    skipped, and the report is printed."""
    answers = {
        "GetIpProtection": _protection("0"),
        "GetIpfilterList": _ipfilters(),
        "AddIpfilter": Answer.json({"RequestId": "RID-ADD", "IpFilterId": ""}),
        "UpdateIpProtection": OK,
    }
    with HostileServer(answers=answers) as server:
        manifests = _dm_manifests(tmp_path, server.url, entries=(A,))
        result = run_cli("apply", str(manifests), "--yes", cwd=tmp_path, env=ENV)
    _clean(result)
    assert result.code == 1, result
    assert "FAILED" in result.out and "RID-ADD" in result.out, result
    assert "Apply: 0 applied, 1 failed, 1 skipped." in result.out
    assert "UpdateIpProtection" not in server.actions()


# -- SendCloud answers -----------------------------------------------------------------------


def _sc_list(records: list[Any], count: Any = None, **top: Any) -> Answer:
    info: dict[str, Any] = {"dataList": records}
    info["count"] = len(records) if count is None else count
    return Answer.json({"result": True, "statusCode": 200, "message": "ok", "info": info, **top})


def _email(address: str, types: Any = (1, 2, 4, 8), **extra: Any) -> dict[str, Any]:
    return {"apiUserName": "all", "email": address, "domain": "", "type": list(types), **extra}


SC_BAD = {
    "neither-email-nor-domain": _sc_list([_email(""), _email("vip@example.com")]),
    "both-email-and-domain": _sc_list([_email("a@example.com", domain="example.com")]),
    "string-record": _sc_list(["a@example.com"]),
    "data-list-not-a-list": _sc_list({"a": 1}, count=1),  # type: ignore[arg-type]
    "unknown-type": _sc_list([_email("a@example.com", types=[1, 16])]),
    "info-is-a-list": Answer.json({"result": True, "statusCode": 200, "info": []}),
    "count-implausible": _sc_list([_email("a@example.com")], count=10**9),
    "count-negative": _sc_list([_email("a@example.com")], count=-3),
}


@pytest.mark.parametrize("answer", list(SC_BAD.values()), ids=list(SC_BAD))
def test_a_malformed_unintercept_listing_is_an_error_never_a_deletion(
    tmp_path: Path, answer: Answer
) -> None:
    with HostileServer(answers={"list": answer}) as server:
        manifests = _sc_manifests(tmp_path, server.url)
        result = run_cli("apply", str(manifests), "--yes", "--force", cwd=tmp_path, env=ENV)
    _clean(result)
    assert result.code == 1, result
    assert "unintercept/list" in result.err
    assert not SC_WRITES & set(server.actions())
    assert len(server.requests) <= 2  # an implausible count is refused before any paging


def test_one_unintercept_key_with_two_type_sets_is_rule_4(tmp_path: Path) -> None:
    listing = _sc_list([_email("vip@example.com"), _email("VIP@example.com", types=[1])])
    with HostileServer(answers={"list": listing}) as server:
        manifests = _sc_manifests(tmp_path, server.url, ("other@example.com",))
        result = run_cli("apply", str(manifests), "--yes", "--force", cwd=tmp_path, env=ENV)
    _clean(result)
    assert result.code == 4, result
    assert "inconsistent live state" in result.err
    assert not SC_WRITES & set(server.actions())


# -- SendCloud paging: count under both meanings --------------------------------------------


def _pages(records: list[dict[str, Any]], count_means: str, lie: int = 0):
    def script(request: Any) -> Answer:
        if not request.path.endswith("/list"):
            return Answer(404)
        start, limit = int(request.form.get("start", 0)), int(request.form.get("limit", 100))
        page = records[start : start + limit]
        count = len(records) if count_means == "total" else len(page)
        return _sc_list(page, count=count + lie)

    return script


@pytest.mark.parametrize("count_means", ["total", "page"])
def test_paging_reads_until_a_short_page_under_either_meaning_of_count(
    tmp_path: Path, count_means: str
) -> None:
    records = [_email(f"user{i:03d}@example.com") for i in range(250)]
    with HostileServer(script=_pages(records, count_means)) as server:
        write(tmp_path / "m" / "accounts.yaml", _accounts(server.url))
        result = run_cli("export", "m", "--account", "sc", cwd=tmp_path, env=ENV)
    _clean(result)
    assert result.code == 0, result
    assert result.out.count("email: user") == 250, result
    assert server.actions() == ["list", "list", "list"]


@pytest.mark.parametrize("count_means", ["total", "page"])
def test_a_count_that_disagrees_with_the_rows_read_is_rule_4(
    tmp_path: Path, count_means: str
) -> None:
    records = [_email(f"user{i:03d}@example.com") for i in range(250)]
    with HostileServer(script=_pages(records, count_means, lie=-7)) as server:
        manifests = _sc_manifests(tmp_path, server.url)
        result = run_cli("apply", str(manifests), "--yes", "--force", cwd=tmp_path, env=ENV)
    _clean(result)
    assert result.code == 4, result
    assert not SC_WRITES & set(server.actions())


# -- deletes of entries already gone ---------------------------------------------------------


def test_a_whitelist_delete_of_an_entry_already_gone_counts_as_done(tmp_path: Path) -> None:
    gone = Answer.json(
        {
            "RequestId": "RID-GONE",
            "Code": "InvalidIpfilterId.NotFound",
            "Message": 'Specified ip filter "2" does not exist.',
        },
        status=404,
    )
    answers = {
        "GetIpProtection": _protection("0"),
        "GetIpfilterList": _ipfilters(_rec("1", A), _rec("2", B)),
        "DeleteIpfilterByEdmId": gone,
    }
    with HostileServer(answers=answers) as server:
        manifests = _dm_manifests(tmp_path, server.url, protection=False, entries=(A,))
        result = run_cli("apply", str(manifests), "--yes", cwd=tmp_path, env=ENV)
    _clean(result)
    assert result.code == 0, result
    assert "already gone" in result.out
    assert "Apply: 1 applied, 0 failed, 0 skipped." in result.out
    assert server.actions().count("DeleteIpfilterByEdmId") == 1


def test_an_unintercept_delete_of_an_entry_already_gone_counts_as_done(tmp_path: Path) -> None:
    answers = {
        "list": _sc_list([_email("vip@example.com"), _email("old@example.com")]),
        "delete": Answer.json({"result": True, "statusCode": 200, "info": {"count": 0}}),
    }
    with HostileServer(answers=answers) as server:
        manifests = _sc_manifests(tmp_path, server.url)
        result = run_cli("apply", str(manifests), "--yes", cwd=tmp_path, env=ENV)
    _clean(result)
    assert result.code == 0, result
    assert "already gone" in result.out
    assert server.actions().count("delete") == 1


# -- provider strings never reach the terminal raw --------------------------------------------


def test_control_characters_in_live_entries_are_escaped_in_text_output(tmp_path: Path) -> None:
    hostile = "evil\x1b[2K\x1b[1A\x1b]0;pwned\x07@example.com"
    answers = {
        "list": _sc_list([_email("vip@example.com"), _email(hostile)]),
        "delete": Answer.json(
            {"result": False, "statusCode": 40012, "message": "bad\x1b[31m email", "info": {}}
        ),
    }
    with HostileServer(answers=answers) as server:
        manifests = _sc_manifests(tmp_path, server.url)
        plan = run_cli("plan", str(manifests), cwd=tmp_path, env=ENV)
        applied = run_cli("apply", str(manifests), "--yes", cwd=tmp_path, env=ENV)
    for run in (plan, applied):
        _clean(run)
        assert "\x1b" not in run.out + run.err and "\x07" not in run.out + run.err, run
    assert "evil\\x1b[2K\\x1b[1A\\x1b]0;pwned\\x07@example.com" in plan.out
    assert "- unintercept" in plan.out
    assert "bad\\x1b[31m email" in applied.out


@pytest.mark.parametrize(
    ("char", "shown"),
    [
        ("\u202e", "\\u202e"),  # RIGHT-TO-LEFT OVERRIDE
        ("\u202a", "\\u202a"),
        ("\u2066", "\\u2066"),  # LEFT-TO-RIGHT ISOLATE .. POP DIRECTIONAL ISOLATE
        ("\u2069", "\\u2069"),
        ("\u200b", "\\u200b"),  # ZERO WIDTH SPACE
        ("\u200f", "\\u200f"),  # RIGHT-TO-LEFT MARK
        ("\ufeff", "\\ufeff"),
        ("\u2028", "\\u2028"),  # LINE SEPARATOR
        ("\x85", "\\x85"),  # NEXT LINE (C1)
        ("\U000e0041", "\\U000e0041"),  # TAG LATIN CAPITAL LETTER A
        ("\udc80", "\\udc80"),  # a lone surrogate, as a JSON answer may carry
    ],
)
def test_escape_neutralizes_bidi_and_invisible_format_characters(char: str, shown: str) -> None:
    from reconciler.output.console import escape

    assert escape(f"a{char}b@example.com") == f"a{shown}b@example.com"
    assert escape(f"a{char}b", keep=char) == f"a{char}b"


def test_escape_leaves_printable_text_alone() -> None:
    from reconciler.output.console import escape

    for text in ("vip@example.com", "müller@bücher.example", "用户@例子.公司", "a b\u00a0c", "😀"):
        assert escape(text) == text


def test_every_control_and_format_character_is_escaped() -> None:
    import unicodedata

    from reconciler.output.console import escape

    for code in range(0x110000):
        char = chr(code)
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            assert char not in escape(char), hex(code)


def test_bidi_overrides_from_a_provider_are_shown_escaped(tmp_path: Path) -> None:
    """Issue 10 item 5: 'moc.elpmaxe@' after U+202E reads as a different address."""
    hostile = "evil\u202e\u2066moc.elpmaxe@gnp.vip\u2069\u200b@example.com"
    answers = {"list": _sc_list([_email("vip@example.com"), _email(hostile)])}
    with HostileServer(answers=answers) as server:
        manifests = _sc_manifests(tmp_path, server.url)
        plan = run_cli("plan", str(manifests), cwd=tmp_path, env=ENV)
        markdown = run_cli("plan", str(manifests), "--format", "markdown", cwd=tmp_path, env=ENV)
    for run in (plan, markdown):
        _clean(run)
        assert not any(c in run.out + run.err for c in "\u202e\u2066\u2069\u200b"), run
    assert "evil\\u202e\\u2066moc.elpmaxe@gnp.vip\\u2069\\u200b@example.com" in plan.out
    assert "\\u202e" in markdown.out


# -- the sandbox answers as the providers may ------------------------------------------------

SANDBOX_ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
    "SENDCLOUD_API_USER": sb.API_USER,
    "SENDCLOUD_API_KEY": sb.API_KEY,
}


def _state(ipfilters: int = 0, unintercepts: int = 0) -> dict[str, Any]:
    return {
        "directmail": {
            "ip_protection": "0",
            "next_id": ipfilters + 1,
            "ipfilters": [
                {"Id": str(i + 1), "IpAddress": f"203.0.113.{i + 1}", "CreateTime": "1653547140"}
                for i in range(ipfilters)
            ],
        },
        "sendcloud": {
            "unintercepts": [
                {**_email(f"user{i:03d}@example.com"), "createTime": "2024-01-01 00:00:00"}
                for i in range(unintercepts)
            ]
        },
    }


def test_a_short_ipfilter_page_is_refused_and_says_why(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "s.json", initial_state=_state(12), ipfilter_page_size=10) as server:
        manifests = _dm_manifests(tmp_path, server.url, protection=False, entries=(A,))
        result = run_cli("apply", str(manifests), "--yes", "--force", cwd=tmp_path, env=SANDBOX_ENV)
        assert len(server.ipfilters()) == 12
        assert server.calls["AddIpfilter"] == server.calls["DeleteIpfilterByEdmId"] == 0
    _clean(result)
    assert result.code == 4, result
    assert "10 of the 12" in result.err and "takes no paging parameters" in result.err

    # Without a page size the sandbox answers the whole whitelist in one page.
    with Sandbox(tmp_path / "s2.json", initial_state=_state(12)) as server:
        manifests = _dm_manifests(tmp_path, server.url, protection=False, entries=(A,))
        result = run_cli("plan", str(manifests), cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 4, result  # a mass deletion, but the list was read whole
    assert (
        "mass-deletion" in result.out and "Plan: 0 to add, 0 to change, 11 to delete." in result.out
    )


@pytest.mark.parametrize("count_means", ["total", "page"])
def test_the_sandbox_count_and_the_export_agree(tmp_path: Path, count_means: str) -> None:
    with Sandbox(
        tmp_path / "s.json", initial_state=_state(0, 250), count_means=count_means
    ) as server:
        write(tmp_path / "m" / "accounts.yaml", _accounts(server.url))
        result = run_cli("export", "m", "--account", "sc", cwd=tmp_path, env=SANDBOX_ENV)
        answer = server.calls["unintercept/list"]
    assert result.code == 0, result
    assert result.out.count("email: user") == 250
    assert answer == 3


def test_the_sandbox_answers_deletes_of_entries_already_gone_as_the_providers_do(
    tmp_path: Path,
) -> None:
    with Sandbox(tmp_path / "s.json", initial_state=_state(1, 1)) as server:
        dm = Account("dm", Provider.ALIYUN_DM, server.directmail_endpoint)
        sc = Account("sc", Provider.SENDCLOUD, server.sendcloud_endpoint)
        dm_secrets = {"accessKeyId": sb.ACCESS_KEY_ID, "accessKeySecret": sb.ACCESS_KEY_SECRET}
        gone_ip = IpEntry("192.0.2.1", id="4711")
        gone_email = UninterceptEntry("all", Target.EMAIL, "nobody@example.com")
        with DirectMailClient(dm, dm_secrets) as client:
            detail = carry_out(
                client, Change("dm", Resource.IP_WHITELIST, Action.DELETE, "k", gone_ip)
            )
        assert detail == "already gone"
        with SendCloudClient(sc, {"apiUser": sb.API_USER, "apiKey": sb.API_KEY}) as client:
            change = Change("sc", Resource.UNINTERCEPT, Action.DELETE, "k", gone_email)
            assert carry_out(client, change) == "already gone"
            live = UninterceptEntry("all", Target.EMAIL, "user000@example.com")
            assert (
                carry_out(client, Change("sc", Resource.UNINTERCEPT, Action.DELETE, "k", live))
                is None
            )
        assert server.unintercepts() == []


def test_the_sandbox_command_takes_the_count_and_page_size_knobs() -> None:
    args = build_parser().parse_args(
        ["sandbox", "--count-means", "page", "--ipfilter-page-size", "10"]
    )
    assert (args.count_means, args.ipfilter_page_size) == ("page", 10)
    assert build_parser().parse_args(["sandbox"]).count_means == "total"
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["sandbox", "--count-means", "rows"])
    assert exited.value.code == 3
