"""The official SDK (``alibabacloud_dm20151123``, V3 signatures) drives the sandbox's tag,
sending-domain and sender-address calls (SPEC §10): if it reads the answers into its models with
the documented types, the sandbox speaks the wire the SDK speaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from alibabacloud_dm20151123 import models as dm
from alibabacloud_tea_openapi.exceptions import ClientException

from reconciler.sandbox import Sandbox

# close_v1_sessions: the autouse fixture that closes the V1 SDK's sessions, here too.
from tests.sdk_helpers import (
    close_v1_sessions,  # noqa: F401
    v1_call,
    v1_client,
    v3_client,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:datetime.datetime.utcnow\\(\\) is deprecated:DeprecationWarning"
)


def _error(call: object) -> ClientException:
    assert callable(call)
    with pytest.raises(ClientException) as caught:
        call()
    return caught.value


def test_sdk_drives_the_four_tag_calls(sandbox: Sandbox) -> None:
    client = v3_client(sandbox)
    created = client.create_tag(dm.CreateTagRequest(tag_name="newsletter", tag_description="News"))
    tag_id = created.body.tag_id
    assert isinstance(tag_id, str) and tag_id.isdigit() and created.body.request_id
    client.create_tag(dm.CreateTagRequest(tag_name="alerts"))

    listed = client.query_tag_by_param(dm.QueryTagByParamRequest(page_no=1, page_size=50)).body
    assert (listed.page_number, listed.page_size, listed.total_count) == (1, 50, 2)
    assert [(t.tag_id, t.tag_name, t.tag_description) for t in listed.data.tag] == [
        (tag_id, "newsletter", "News"),
        (listed.data.tag[1].tag_id, "alerts", ""),
    ]
    assert all(isinstance(t.tag_id, str) for t in listed.data.tag)

    found = client.query_tag_by_param(dm.QueryTagByParamRequest(key_word="news")).body
    assert [t.tag_name for t in found.data.tag] == ["newsletter"]
    assert found.page_size == 10  # the default page without PageSize

    modified = client.modify_tag(
        dm.ModifyTagRequest(tag_id=int(tag_id), tag_name="monthly", tag_description="Monthly")
    )
    assert modified.body.request_id
    deleted = client.delete_tag(dm.DeleteTagRequest(tag_id=int(listed.data.tag[1].tag_id)))
    assert deleted.body.request_id
    assert sandbox.snapshot()["directmail"]["tags"] == [
        {"TagId": tag_id, "TagName": "monthly", "TagDescription": "Monthly"}
    ]
    assert sandbox.calls == {
        "CreateTag": 2,
        "QueryTagByParam": 2,
        "ModifyTag": 1,
        "DeleteTag": 1,
    }


def test_sdk_pages_tags_two_at_a_time(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "state.json", list_page_size=2) as sandbox:
        client = v3_client(sandbox)
        for n in range(5):
            client.create_tag(dm.CreateTagRequest(tag_name=f"tag_{n}"))
        pages = [
            client.query_tag_by_param(dm.QueryTagByParamRequest(page_no=number, page_size=50)).body
            for number in (1, 2, 3, 4)
        ]
    assert [(p.page_number, p.page_size, p.total_count) for p in pages] == [
        (1, 2, 5),
        (2, 2, 5),
        (3, 2, 5),
        (4, 2, 5),
    ]
    assert [[t.tag_name for t in p.data.tag] for p in pages] == [
        ["tag_0", "tag_1"],
        ["tag_2", "tag_3"],
        ["tag_4"],
        [],
    ]


def test_sdk_sees_the_tag_errors(sandbox: Sandbox) -> None:
    client = v3_client(sandbox)
    client.create_tag(dm.CreateTagRequest(tag_name="newsletter"))
    duplicate = _error(lambda: client.create_tag(dm.CreateTagRequest(tag_name="newsletter")))
    assert (duplicate.code, duplicate.status_code) == ("InvalidTagName.Duplicate", 400)
    malformed = _error(lambda: client.create_tag(dm.CreateTagRequest(tag_name="a b")))
    assert malformed.code == "InvalidTagName.Malformed"
    gone = _error(lambda: client.delete_tag(dm.DeleteTagRequest(tag_id=99999)))
    assert (gone.code, gone.status_code) == ("InvalidTag.NotFound", 404)
    unnamed = _error(lambda: client.modify_tag(dm.ModifyTagRequest(tag_id=1, tag_description="x")))
    assert unnamed.code == "MissingParameter"
    paging = _error(lambda: client.query_tag_by_param(dm.QueryTagByParamRequest(page_no=0)))
    assert paging.code == "InvalidParameter"
    state = sandbox.snapshot()
    state["directmail"]["tags"] = [
        {"TagId": str(n), "TagName": f"t{n}", "TagDescription": ""} for n in range(1, 101)
    ]
    sandbox.set_state(state)
    full = _error(lambda: client.create_tag(dm.CreateTagRequest(tag_name="one_more")))
    assert full.code == "Tag.LimitExceeded"


DOMAIN = "mail.example.com"


def test_sdk_drives_the_five_domain_calls(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "state.json", dns_published=[DOMAIN]) as sandbox:
        client = v3_client(sandbox)
        created = client.create_domain(dm.CreateDomainRequest(domain_name=DOMAIN)).body
        assert isinstance(created.domain_id, str) and created.request_id
        ident = int(created.domain_id)
        other = int(
            client.create_domain(dm.CreateDomainRequest(domain_name="b.example")).body.domain_id
        )

        listed = client.query_domain_by_param(
            dm.QueryDomainByParamRequest(page_no=1, page_size=50)
        ).body
        assert (listed.page_number, listed.page_size, listed.total_count) == (1, 50, 2)
        row = listed.data.domain[0]
        assert (row.domain_id, row.domain_name, row.domain_status) == (str(ident), DOMAIN, "1")
        for value in (row.spf_auth_status, row.mx_auth_status, row.cname_auth_status):
            assert value == "1"
        assert isinstance(row.utc_create_time, int) and isinstance(row.create_time, str)
        assert isinstance(row.domain_record, str) and row.domain_record

        described = client.desc_domain(dm.DescDomainRequest(domain_id=ident)).body
        assert (described.domain_name, described.tl_domain_name) == (DOMAIN, "example.com")
        assert (described.host_record, described.dkim_rr) == (
            "aliyundm.mail",
            "aliyun-cn-hangzhou._domainkey.mail",
        )
        assert described.spf_record_v2 == "v=spf1 include:spf1.dm.aliyun.com -all"
        assert described.dkim_public_key.startswith("v=DKIM1; k=rsa; p=")
        assert (described.dmarc_host_record, described.cname_record) == (
            "_dmarc.mail",
            "dmtrace.mail",
        )
        assert (described.mx_record, described.tracef_record) == (
            "mxdm.aliyun.com",
            "tracedm.aliyuncs.com",
        )
        assert described.dmarc_auth_status == 1 and described.dkim_auth_status == "1"

        checked = client.check_domain(dm.CheckDomainRequest(domain_id=ident)).body
        assert checked.domain_status == 0 and checked.request_id
        after = client.desc_domain(
            dm.DescDomainRequest(domain_id=ident, require_real_time_dns_records=True)
        ).body
        assert (after.domain_status, after.spf_auth_status, after.dmarc_auth_status) == (
            "0",
            "0",
            0,
        )
        assert client.check_domain(dm.CheckDomainRequest(domain_id=other)).body.domain_status == 1

        verified = client.query_domain_by_param(dm.QueryDomainByParamRequest(status=0)).body
        assert [d.domain_name for d in verified.data.domain] == [DOMAIN]
        assert client.delete_domain(dm.DeleteDomainRequest(domain_id=other)).body.request_id
        assert [d["DomainName"] for d in sandbox.snapshot()["directmail"]["domains"]] == [DOMAIN]


def test_sdk_drives_the_four_sender_address_calls(sandbox: Sandbox) -> None:
    client = v3_client(sandbox)
    client.create_domain(dm.CreateDomainRequest(domain_name=DOMAIN))
    created = client.create_mail_address(
        dm.CreateMailAddressRequest(
            account_name=f"notify@{DOMAIN}", sendtype="trigger", reply_address="help@example.com"
        )
    ).body
    assert isinstance(created.mail_address_id, str) and created.request_id
    ident = int(created.mail_address_id)
    client.create_mail_address(
        dm.CreateMailAddressRequest(account_name=f"news@{DOMAIN}", sendtype="batch")
    )
    listed = client.query_mail_address_by_param(
        dm.QueryMailAddressByParamRequest(page_no=1, page_size=50)
    ).body
    assert (listed.page_number, listed.page_size, listed.total_count) == (1, 50, 2)
    row = listed.data.mail_address[0]
    assert (row.mail_address_id, row.account_name, row.sendtype, row.reply_address) == (
        str(ident),
        f"notify@{DOMAIN}",
        "trigger",
        "help@example.com",
    )
    for value in (row.reply_status, row.account_status, row.domain_status, row.create_time):
        assert isinstance(value, str)
    batch = client.query_mail_address_by_param(
        dm.QueryMailAddressByParamRequest(sendtype="batch")
    ).body
    assert [a.account_name for a in batch.data.mail_address] == [f"news@{DOMAIN}"]

    modified = client.modify_mail_address(
        dm.ModifyMailAddressRequest(mail_address_id=ident, reply_address="support@example.com")
    )
    assert modified.body.request_id
    assert sandbox.snapshot()["directmail"]["mail_addresses"][0]["ReplyAddress"] == (
        "support@example.com"
    )
    deleted = client.delete_mail_address(dm.DeleteMailAddressRequest(mail_address_id=ident))
    assert deleted.body.request_id
    assert [a["AccountName"] for a in sandbox.snapshot()["directmail"]["mail_addresses"]] == [
        f"news@{DOMAIN}"
    ]


def test_sdk_pages_domains_and_addresses_two_at_a_time(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "state.json", list_page_size=2) as sandbox:
        client = v3_client(sandbox)
        for n in range(3):
            client.create_domain(dm.CreateDomainRequest(domain_name=f"d{n}.example.com"))
            client.create_mail_address(
                dm.CreateMailAddressRequest(account_name=f"a{n}@d0.example.com", sendtype="batch")
            )
        domains = [
            client.query_domain_by_param(dm.QueryDomainByParamRequest(page_no=n, page_size=50)).body
            for n in (1, 2)
        ]
        addresses = [
            client.query_mail_address_by_param(
                dm.QueryMailAddressByParamRequest(page_no=n, page_size=50)
            ).body
            for n in (1, 2)
        ]
    assert [(p.page_size, p.total_count, len(p.data.domain)) for p in domains] == [
        (2, 3, 2),
        (2, 3, 1),
    ]
    assert [(p.page_size, p.total_count, len(p.data.mail_address)) for p in addresses] == [
        (2, 3, 2),
        (2, 3, 1),
    ]


def test_sdk_sees_the_domain_and_address_errors(sandbox: Sandbox) -> None:
    client = v3_client(sandbox)
    ident = int(client.create_domain(dm.CreateDomainRequest(domain_name=DOMAIN)).body.domain_id)
    address = dm.CreateMailAddressRequest(account_name=f"a@{DOMAIN}", sendtype="batch")
    client.create_mail_address(address)

    def code(call: object) -> tuple[str, int]:
        error = _error(call)
        return error.code, error.status_code

    assert code(lambda: client.create_mail_address(address)) == (
        "InvalidMailAddressName.Duplicate",
        400,
    )
    assert code(lambda: client.delete_domain(dm.DeleteDomainRequest(domain_id=ident))) == (
        "InvalidDomain.HasMailAddress",
        400,
    )
    assert code(lambda: client.create_domain(dm.CreateDomainRequest(domain_name=DOMAIN))) == (
        "InvalidDomainName.Duplicate",
        400,
    )
    assert code(lambda: client.delete_domain(dm.DeleteDomainRequest(domain_id=99999))) == (
        "InvalidDomainId.NotFound",
        404,
    )
    assert code(lambda: client.check_domain(dm.CheckDomainRequest(domain_id=99999))) == (
        "InvalidDomainId.NotFound",
        404,
    )
    assert code(
        lambda: client.delete_mail_address(dm.DeleteMailAddressRequest(mail_address_id=99999))
    ) == ("InvalidMailAddressId.NotFound", 404)
    assert code(
        lambda: client.create_mail_address(
            dm.CreateMailAddressRequest(account_name="a@elsewhere.example", sendtype="batch")
        )
    ) == ("InvalidMailAddressDomain.NotFound", 404)
    assert code(
        lambda: client.create_mail_address(
            dm.CreateMailAddressRequest(account_name=f"b@{DOMAIN}", sendtype="bulk")
        )
    ) == ("InvalidSendtype.Malformed", 400)
    for n in range(4):
        client.create_domain(dm.CreateDomainRequest(domain_name=f"d{n}.example.com"))
    assert code(
        lambda: client.create_domain(dm.CreateDomainRequest(domain_name="d9.example.com"))
    ) == ("Domain.LimitExceeded", 400)
    for n in range(9):
        client.create_mail_address(
            dm.CreateMailAddressRequest(account_name=f"x{n}@{DOMAIN}", sendtype="batch")
        )
    assert code(
        lambda: client.create_mail_address(
            dm.CreateMailAddressRequest(account_name=f"y@{DOMAIN}", sendtype="batch")
        )
    ) == ("MailAddress.LimitExceeded", 400)


def test_v1_sdk_drives_the_lists_with_form_parameters(sandbox: Sandbox) -> None:
    """The older V1 signature, with the parameters in the form body: the sandbox accepts both
    placements (SPEC §8)."""
    client = v1_client()
    tag_id = v1_call(client, sandbox, "CreateTag", TagName="newsletter")["TagId"]
    listed = v1_call(client, sandbox, "QueryTagByParam", PageNo="1", PageSize="50")
    assert listed["data"]["tag"] == [
        {"TagId": tag_id, "TagName": "newsletter", "TagDescription": ""}
    ]
    domain_id = v1_call(client, sandbox, "CreateDomain", DomainName=DOMAIN)["DomainId"]
    assert v1_call(client, sandbox, "CheckDomain", DomainId=domain_id)["DomainStatus"] == 1
    assert v1_call(client, sandbox, "DescDomain", DomainId=domain_id)["TlDomainName"] == (
        "example.com"
    )
    made = v1_call(
        client, sandbox, "CreateMailAddress", AccountName=f"a@{DOMAIN}", Sendtype="batch"
    )
    assert v1_call(client, sandbox, "DeleteMailAddress", MailAddressId=made["MailAddressId"])
    assert v1_call(client, sandbox, "DeleteDomain", DomainId=domain_id)
    assert v1_call(client, sandbox, "DeleteTag", TagId=tag_id)
    # Emptied lists leave the state file; the month's deletions are counted.
    directmail = sandbox.snapshot()["directmail"]
    assert directmail.keys() == {"ip_protection", "next_id", "ipfilters", "mail_address_deletions"}
