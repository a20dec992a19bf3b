"""Sending domains and sender addresses (SPEC §10): our client against the sandbox over
127.0.0.1 and against hostile answers; the sandbox's DNS records, knobs and command flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import ProviderError
from reconciler.providers.answers import BadAnswer, InconsistentAnswer
from reconciler.providers.directmail import DirectMailClient
from reconciler.providers.directmail_entries import DnsRecord, SenderAddress
from reconciler.providers.directmail_lists import ADDRESS_DUPLICATE
from reconciler.sandbox import Sandbox
from reconciler.sandbox.dns import records, zone_of
from tests.hostile import Answer
from tests.list_clients import dm_client as paced_client
from tests.list_clients import hostile

DOMAIN = "mail.example.com"


def dm_client(server: Sandbox) -> DirectMailClient:
    """A client without the per-action quotas (5 listings, 10 deletions a second...): the
    tests here make many calls in a second, and the quotas have a test of their own."""
    client = paced_client(server)
    client.quotas.clear()
    return client


def test_a_domain_is_created_described_checked_and_deleted(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "s.json", dns_published=["Mail.Example.com"]) as server:
        with dm_client(server) as client:
            ident = client.create_domain("Mail.Example.COM")
            other = client.create_domain("news.example.org")
            [mail, news] = client.list_domains()
            assert (news.id, news.name) == (other, "news.example.org")
            assert (mail.id, mail.name, mail.verified) == (ident, DOMAIN, False)
            assert isinstance(mail.utc_create_time, int) and mail.status == "1"
            assert [d.name for d in client.list_domains(keyword="news")] == ["news.example.org"]

            described = client.describe_domain(ident)
            assert (described.name, described.zone, described.verified) == (
                DOMAIN,
                "example.com",
                False,
            )
            assert [(r.purpose, r.type, r.host) for r in described.records] == [
                ("ownership", "TXT", "aliyundm.mail"),
                ("spf", "TXT", "mail"),
                ("dkim", "TXT", "aliyun-cn-hangzhou._domainkey.mail"),
                ("dmarc", "TXT", "_dmarc.mail"),
                ("mx", "MX", "mail"),
                ("tracking", "CNAME", "dmtrace.mail"),
            ]
            assert len(described.failing()) == 6  # not checked yet

            # Published: CheckDomain verifies it, every record passes.
            assert client.check_domain(ident) == 0
            checked = client.describe_domain(ident, real_time=True)
            assert checked.verified and checked.failing() == ()
            assert all(r.passed for r in checked.records)
            assert client.list_domains(status="0")[0].id == ident
            # Not published: it stays unverified, every record fails.
            assert client.check_domain(other) == 1
            assert {r.status for r in client.describe_domain(other).records} == {1}

            assert client.delete_domain(other) is True
            assert client.delete_domain(other) is False  # already gone
            assert [d.name for d in client.list_domains()] == [DOMAIN]
        assert server.calls["DeleteDomain"] == 2


def test_records_are_derived_from_the_name_alone(sandbox: Sandbox) -> None:
    assert records("mail.example.com") == records("mail.example.com")
    assert (
        records("mail.example.com")["DkimPublicKey"] != records("news.example.com")["DkimPublicKey"]
    )
    assert zone_of("mail.example.co.uk") == "example.co.uk"
    assert zone_of("example.com") == "example.com"
    with dm_client(sandbox) as client:
        apex = client.describe_domain(client.create_domain("example.net"))
    assert apex.zone == "example.net"
    assert [r.host for r in apex.records] == [
        "aliyundm",
        "@",
        "aliyun-cn-hangzhou._domainkey",
        "_dmarc",
        "@",
        "dmtrace",
    ]
    assert apex.records[1] == DnsRecord(
        "spf", "TXT", "@", "v=spf1 include:spf1.dm.aliyun.com -all", 1
    )


def test_domain_errors_are_the_providers(sandbox: Sandbox) -> None:
    with dm_client(sandbox) as client:
        for n in range(5):
            client.create_domain(f"d{n}.example.com")
        codes = []
        for call in (
            lambda: client.create_domain("d0.example.com"),
            lambda: client.create_domain("d5.example.com"),
            lambda: client.create_domain("not a domain"),
            lambda: client.describe_domain("99999"),
            lambda: client.check_domain("99999"),
        ):
            with pytest.raises(ProviderError) as caught:
                call()
            codes.append(caught.value.code)
    assert codes == [
        "InvalidDomainName.Duplicate",
        "Domain.LimitExceeded",
        "InvalidDomainName.Malformed",
        "InvalidDomainId.NotFound",
        "InvalidDomainId.NotFound",
    ]


def test_sender_addresses_round_trip_and_hold_their_domain(sandbox: Sandbox) -> None:
    with dm_client(sandbox) as client:
        domain = client.create_domain(DOMAIN)
        with pytest.raises(ProviderError) as caught:
            client.create_mail_address("notify@other.example.com", "trigger")
        assert caught.value.code == "InvalidMailAddressDomain.NotFound"
        ident = client.create_mail_address("Notify@Mail.Example.com", "trigger", "help@example.com")
        batch = client.create_mail_address(f"news@{DOMAIN}", "batch")
        assert client.list_mail_addresses() == [
            SenderAddress(
                ident,
                f"notify@{DOMAIN}",
                "trigger",
                "help@example.com",
                "1",
                "0",
                "1",
                client.list_mail_addresses()[0].create_time,
            ),
            SenderAddress(
                batch,
                f"news@{DOMAIN}",
                "batch",
                "",
                "0",
                "0",
                "1",
                client.list_mail_addresses()[1].create_time,
            ),
        ]
        assert [a.id for a in client.list_mail_addresses(sendtype="batch")] == [batch]
        assert [a.id for a in client.list_mail_addresses(keyword="notify")] == [ident]
        client.modify_mail_address(ident, "support@example.com")
        assert client.list_mail_addresses()[0].reply_to == "support@example.com"
        client.modify_mail_address(batch, "")  # an empty reply-to is sent, and clears it
        client.modify_mail_address(ident, "")
        assert [a.reply_to for a in client.list_mail_addresses()] == ["", ""]

        with pytest.raises(ProviderError) as caught:
            client.create_mail_address(f"notify@{DOMAIN}", "batch")
        assert caught.value.code == ADDRESS_DUPLICATE
        with pytest.raises(ProviderError) as caught:
            client.delete_domain(domain)  # it still has addresses
        assert caught.value.code == "InvalidDomain.HasMailAddress"
        with pytest.raises(ValueError, match="batch or trigger"):
            client.create_mail_address(f"x@{DOMAIN}", "bulk")

        assert client.delete_mail_address(ident) is True
        assert client.delete_mail_address(ident) is False  # already gone
        assert client.delete_mail_address(batch) is True
        assert client.delete_domain(domain) is True


def test_the_sandbox_holds_ten_sender_addresses_at_most(sandbox: Sandbox) -> None:
    with dm_client(sandbox) as client:
        client.create_domain(DOMAIN)
        for n in range(10):
            client.create_mail_address(f"a{n}@{DOMAIN}", "batch")
        with pytest.raises(ProviderError) as caught:
            client.create_mail_address(f"a10@{DOMAIN}", "batch")
        assert caught.value.code == "MailAddress.LimitExceeded"
        with pytest.raises(ProviderError) as caught:
            client.create_mail_address(f"a11@{DOMAIN}", "trigger", "not an address")
        assert caught.value.code == "InvalidReplyAddress.Malformed"


def test_the_sandbox_allows_ten_address_deletions_a_month(sandbox: Sandbox) -> None:
    with dm_client(sandbox) as client:
        client.create_domain(DOMAIN)
        made = [client.create_mail_address(f"a{n}@{DOMAIN}", "batch") for n in range(10)]
        for ident in made:
            assert client.delete_mail_address(ident) is True
        last = client.create_mail_address(f"last@{DOMAIN}", "batch")
        with pytest.raises(ProviderError) as caught:
            client.delete_mail_address(last)
        assert caught.value.code == "MailAddress.DeletionLimitExceeded"
        assert [a.id for a in client.list_mail_addresses()] == [last]
        assert client.delete_mail_address("99999") is False  # gone is still gone
    [(month, count)] = sandbox.snapshot()["directmail"]["mail_address_deletions"].items()
    assert count == 10 and len(month) == 7


def test_domains_and_addresses_page_through_small_pages(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "s.json", list_page_size=2) as server:
        with dm_client(server) as client:
            for n in range(5):
                client.create_domain(f"d{n}.example.com")
            for n in range(5):
                client.create_mail_address(f"a{n}@d0.example.com", "batch")
            server.reset_calls()
            assert len(client.list_domains()) == 5
            assert len(client.list_mail_addresses()) == 5
        assert server.calls == {"QueryDomainByParam": 3, "QueryMailAddressByParam": 3}


def test_the_state_file_keeps_the_lists_and_knobs(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    with (
        Sandbox(state, dns_published=[DOMAIN], list_page_size=3) as server,
        dm_client(server) as client,
    ):
        client.create_tag("news")
        domain = client.create_domain(DOMAIN)
        client.create_mail_address(f"a@{DOMAIN}", "batch")
    saved = json.loads(state.read_text())["directmail"]
    assert saved["dns_published"] == [DOMAIN] and saved["list_page_size"] == 3
    assert [t["TagName"] for t in saved["tags"]] == ["news"]
    assert [d["DomainId"] for d in saved["domains"]] == [domain]
    assert [a["AccountName"] for a in saved["mail_addresses"]] == [f"a@{DOMAIN}"]
    # A later run adds published domains to those the file names; ids never repeat.
    with Sandbox(state, dns_published=["other.example.com"]) as again:
        assert again.list_knobs()["dns_published"] == ["mail.example.com", "other.example.com"]
        with dm_client(again) as client:
            assert int(client.create_tag("more")) > int(domain)
            assert client.check_domain(domain) == 0


@pytest.mark.parametrize(
    "directmail",
    [
        {"tags": [{"TagId": "1", "TagName": "a"}]},
        {"domains": "x"},
        {"dns_published": ["a.example.com", 3]},
        {"list_page_size": 0},
        {"mail_addresses": [{"MailAddressId": 1}]},
    ],
)
def test_a_bad_list_field_in_the_state_file_is_an_input_error(
    tmp_path: Path, directmail: dict[str, Any]
) -> None:
    from reconciler.errors import InputError

    state = tmp_path / "s.json"
    with Sandbox(state):
        pass
    data = json.loads(state.read_text())
    data["directmail"].update(directmail)
    state.write_text(json.dumps(data))
    with pytest.raises(InputError, match="cannot use the sandbox state file"):
        Sandbox(state)


# -- hostile answers --------------------------------------------------------------------------


def _domains(*rows: dict[str, Any], total: int | None = None) -> Answer:
    return Answer.json(
        {
            "RequestId": "RID-DOMAINS",
            "PageNumber": 1,
            "PageSize": 50,
            "TotalCount": len(rows) if total is None else total,
            "data": {"domain": list(rows)},
        }
    )


GOOD_DOMAIN = {"DomainId": "7", "DomainName": DOMAIN, "DomainStatus": "0", "UtcCreateTime": 1}


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ({**GOOD_DOMAIN, "DomainId": None}, "DomainId is missing"),
        ({**GOOD_DOMAIN, "DomainStatus": "verified"}, "not a status number"),
        ({**GOOD_DOMAIN, "DomainStatus": [0]}, "DomainStatus is a list"),
        ({**GOOD_DOMAIN, "UtcCreateTime": "1700000000"}, "UtcCreateTime is the string"),
        ({**GOOD_DOMAIN, "SpfAuthStatus": True}, "SpfAuthStatus is the boolean true"),
    ],
)
def test_a_hostile_domain_row_is_a_bad_answer(row: dict[str, Any], why: str) -> None:
    with (
        hostile(answers={"QueryDomainByParam": _domains(row)}) as (_server, client),
        pytest.raises(BadAnswer, match=why) as caught,
    ):
        client.list_domains()
    assert "RID-DOMAINS" in str(caught.value)


def test_a_short_domain_listing_is_rule_4() -> None:
    with (
        hostile(answers={"QueryDomainByParam": _domains(GOOD_DOMAIN, total=2)}) as (_s, client),
        pytest.raises(InconsistentAnswer, match="page 1 holds 1 rows of its PageSize 50"),
    ):
        client.list_domains()


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (
            {"DomainName": DOMAIN, "TlDomainName": "example.org", "DomainStatus": "1"},
            "not the zone",
        ),
        ({"DomainName": DOMAIN, "DomainStatus": "1", "DkimPublicKey": "k"}, "dkim record"),
        ({"DomainName": DOMAIN, "DomainStatus": "1", "DmarcAuthStatus": "x"}, "DmarcAuthStatus"),
        ({"DomainName": DOMAIN}, "DomainStatus is missing"),
    ],
)
def test_a_hostile_desc_domain_is_a_bad_answer(answer: dict[str, Any], why: str) -> None:
    with (
        hostile(answers={"DescDomain": Answer.json(answer)}) as (_server, client),
        pytest.raises(BadAnswer, match=why),
    ):
        client.describe_domain("7")


@pytest.mark.parametrize("status", ["verified", None, -1, True, 1.5])
def test_a_hostile_check_domain_is_a_bad_answer(status: Any) -> None:
    with (
        hostile(answers={"CheckDomain": Answer.json({"DomainStatus": status})}) as (_s, client),
        pytest.raises(BadAnswer, match="DomainStatus"),
    ):
        client.check_domain("7")


def test_a_hostile_address_row_is_a_bad_answer() -> None:
    row = {"MailAddressId": "3", "AccountName": {"a": 1}, "Sendtype": "batch"}
    page = {"RequestId": "R", "TotalCount": 1, "PageSize": 50, "data": {"mailAddress": [row]}}
    with (
        hostile(answers={"QueryMailAddressByParam": Answer.json(page)}) as (_server, client),
        pytest.raises(BadAnswer, match="AccountName is a dict"),
    ):
        client.list_mail_addresses()


def test_a_lost_create_mail_address_is_found_in_the_listing_before_any_repeat() -> None:
    row = {"MailAddressId": "3", "AccountName": f"a@{DOMAIN}", "Sendtype": "batch"}
    page = {"RequestId": "R", "TotalCount": 1, "PageSize": 50, "data": {"mailAddress": [row]}}
    answers = {"CreateMailAddress": Answer(drop=True), "QueryMailAddressByParam": Answer.json(page)}
    with hostile(answers=answers) as (server, client):
        assert client.create_mail_address(f"A@{DOMAIN}", "batch") == "3"
    assert server.actions() == ["CreateMailAddress", "QueryMailAddressByParam"]
    assert server.requests[0].query == {"AccountName": f"A@{DOMAIN}", "Sendtype": "batch"}


# -- the command ------------------------------------------------------------------------------


def test_sandbox_command_passes_the_list_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.commands import sandbox as command
    from tests.cli_helpers import run_cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(command, "serve_forever", lambda *args, **kwargs: seen.update(kwargs))
    flags = ["--list-page-size", "2", "--dns-published", DOMAIN, "--dns-published", "b.example"]
    result = run_cli("sandbox", *flags, cwd=tmp_path)
    assert result.code == 0, result.err
    assert (seen["list_page_size"], seen["dns_published"]) == (2, [DOMAIN, "b.example"])
    refused = run_cli("sandbox", "--list-page-size", "0", cwd=tmp_path)
    assert refused.code == 3 and "--list-page-size must be 1 or more" in refused.err
    refused = run_cli("sandbox", "--dns-published", "not a domain", cwd=tmp_path)
    assert refused.code == 3 and "not a domain name" in refused.err


def test_sandbox_banner_shows_the_list_knobs(tmp_path: Path) -> None:
    from reconciler.sandbox import serve_forever
    from tests.cli_helpers import BannerThenStop

    out = BannerThenStop()
    serve_forever(
        tmp_path / "s.json",
        "127.0.0.1",
        0,
        out=out,  # type: ignore[arg-type]
        list_page_size=2,
        dns_published=[DOMAIN],
    )
    assert "  tag/domain/address page 2 rows\n" in out.text
    assert f"  DNS published           {DOMAIN}\n" in out.text


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"DomainName": "mail.example.com\nevil", "DomainStatus": "1"}, "not a domain name"),
        ({"DomainName": "mail example.com", "DomainStatus": "1"}, "not a domain name"),
        (
            {"DomainName": DOMAIN, "DomainStatus": "1", "HostRecord": "a b", "DomainType": "t"},
            "the ownership record's host 'a b' is not a DNS name",
        ),
        (
            {"DomainName": DOMAIN, "DomainStatus": "1", "DkimRR": "k", "DkimPublicKey": "p\n@ A 1"},
            "the dkim record's value holds a control character",
        ),
    ],
)
def test_desc_domain_values_that_could_break_a_zone_file_are_bad_answers(
    answer: dict[str, Any], why: str
) -> None:
    with (
        hostile(answers={"DescDomain": Answer.json(answer)}) as (_server, client),
        pytest.raises(BadAnswer, match=why),
    ):
        client.describe_domain("7")


def test_the_documented_quotas_pace_the_list_calls(sandbox: Sandbox) -> None:
    """QueryMailAddressByParam's quota (5 a second on the quota page) holds across calls: the
    sixth of a second waits for the window (on a clock the test moves)."""
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with paced_client(sandbox) as client:
        window = client.quotas["QueryMailAddressByParam"]
        window.clock, window.sleep = (lambda: now[0]), sleep
        for _ in range(6):
            client.list_mail_addresses()
        assert (client.quotas["CheckDomain"].limit, client.quotas["CheckDomain"].window) == (
            10,
            60.0,
        )
    assert slept == [1.0]


def test_a_truncated_listing_is_read_again_then_refused(tmp_path: Path) -> None:
    """The sandbox's ``truncate`` fault cuts the new listings too; the client reads the listing
    again from page 1 and, while every read is cut, refuses it (rule 4)."""
    from reconciler.sandbox import Faults

    with Sandbox(tmp_path / "s.json", faults=Faults(truncate_rate=1.0)) as server:
        with dm_client(server) as client:
            client.create_tag("a")
            client.create_tag("b")
            with pytest.raises(InconsistentAnswer, match="page 1 holds 1 rows of its PageSize"):
                client.list_tags()
        assert server.calls["QueryTagByParam"] == 3  # QUICK: three reads
        assert server.faults.injected["truncate"] == 3
