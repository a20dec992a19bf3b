"""The official Alibaba Cloud SDKs drive the sandbox: if they accept it, it speaks DirectMail.

Both the IP-protection calls (SPEC §8) and the sending-data calls (SPEC §9), whose response
models must come back populated with the documented types.

V3 (ACS3-HMAC-SHA256) through ``alibabacloud_dm20151123`` on ``alibabacloud_tea_openapi``, and V1
(HMAC-SHA1) through ``aliyunsdkcore``'s ``AcsClient``. Neither SDK is used by the package itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from alibabacloud_dm20151123 import models as dm
from alibabacloud_tea_openapi.exceptions import ClientException
from aliyunsdkcore.acs_exception.exceptions import ServerException

from reconciler.sandbox import Sandbox
from reconciler.sandbox.traffic import UTC8
from tests.sdk_helpers import (
    close_v1_sessions,  # noqa: F401  (the autouse fixture that closes the V1 SDK's sessions)
    v1_call,
    v1_client,
    v3_client,
)

# The V3 SDK stamps requests with datetime.utcnow(), deprecated from Python 3.12 on; the
# warning is the SDK's own and harmless here, so only that one message is let through.
pytestmark = pytest.mark.filterwarnings(
    "ignore:datetime.datetime.utcnow\\(\\) is deprecated:DeprecationWarning"
)


def test_v3_sdk_drives_all_five_calls(sandbox: Sandbox) -> None:
    client = v3_client(sandbox)

    protection = client.get_ip_protection(dm.GetIpProtectionRequest())
    assert protection.status_code == 200
    assert protection.body.ip_protection == "0"
    assert protection.body.request_id

    updated = client.update_ip_protection(dm.UpdateIpProtectionRequest(ip_protection="1"))
    assert updated.body.request_id
    assert sandbox.ip_protection() == "1"
    assert client.get_ip_protection(dm.GetIpProtectionRequest()).body.ip_protection == "1"

    added = client.add_ipfilter(dm.AddIpfilterRequest(ip_address="203.0.113.7"))
    new_id = added.body.ip_filter_id
    assert new_id == "10085"
    assert sandbox.ipfilters()[-1] == {
        "Id": new_id,
        "IpAddress": "203.0.113.7",
        "CreateTime": sandbox.ipfilters()[-1]["CreateTime"],
    }

    listed = client.get_ipfilter_list(dm.GetIpfilterListRequest()).body
    assert (listed.page_number, listed.total_count) == (1, 3)
    assert isinstance(listed.page_size, int)
    assert [(f.id, f.ip_address) for f in listed.data.ipfilters] == [
        ("10083", "198.51.100.0/24"),
        ("10084", "203.0.113.99"),
        ("10085", "203.0.113.7"),
    ]
    assert all(isinstance(f.create_time, str) for f in listed.data.ipfilters)

    deleted = client.delete_ipfilter_by_edm_id(dm.DeleteIpfilterByEdmIdRequest(id="10083"))
    assert deleted.body.request_id
    assert [f["Id"] for f in sandbox.ipfilters()] == ["10084", "10085"]

    assert sandbox.calls == {
        "GetIpProtection": 2,
        "UpdateIpProtection": 1,
        "AddIpfilter": 1,
        "GetIpfilterList": 1,
        "DeleteIpfilterByEdmId": 1,
    }


def test_v3_sdk_sees_provider_errors(sandbox: Sandbox) -> None:
    client = v3_client(sandbox)
    with pytest.raises(ClientException) as caught:
        client.delete_ipfilter_by_edm_id(dm.DeleteIpfilterByEdmIdRequest(id="99999"))
    assert caught.value.code == "InvalidIpfilterId.NotFound"
    assert caught.value.status_code == 404
    with pytest.raises(ClientException) as caught:
        client.add_ipfilter(dm.AddIpfilterRequest(ip_address="300.1.2.3"))
    assert caught.value.code == "InvalidIpAddress.Malformed"


def test_v1_sdk_drives_all_five_calls(sandbox: Sandbox) -> None:
    client = v1_client()

    assert v1_call(client, sandbox, "GetIpProtection")["IpProtection"] == "0"
    assert "RequestId" in v1_call(client, sandbox, "UpdateIpProtection", IpProtection="1")
    assert sandbox.ip_protection() == "1"

    added = v1_call(client, sandbox, "AddIpfilter", IpAddress="192.0.2.10-192.0.2.20")
    assert added["IpFilterId"] == "10085"

    listed = v1_call(client, sandbox, "GetIpfilterList")
    assert listed["TotalCount"] == 3 and listed["PageNumber"] == 1
    assert listed["data"]["ipfilters"][-1]["IpAddress"] == "192.0.2.10-192.0.2.20"

    assert "RequestId" in v1_call(client, sandbox, "DeleteIpfilterByEdmId", Id="10084")
    assert [f["Id"] for f in sandbox.ipfilters()] == ["10083", "10085"]

    assert sandbox.calls == {
        "GetIpProtection": 1,
        "UpdateIpProtection": 1,
        "AddIpfilter": 1,
        "GetIpfilterList": 1,
        "DeleteIpfilterByEdmId": 1,
    }


def test_wrong_secret_is_refused_by_both_sdks(sandbox: Sandbox) -> None:
    wrong = "not-the-sandbox-secret"
    with pytest.raises(ClientException) as v3_error:
        v3_client(sandbox, secret=wrong).update_ip_protection(
            dm.UpdateIpProtectionRequest(ip_protection="1")
        )
    assert v3_error.value.code == "SignatureDoesNotMatch"
    assert v3_error.value.status_code == 400

    with pytest.raises(ServerException) as v1_error:
        v1_call(v1_client(secret=wrong), sandbox, "UpdateIpProtection", IpProtection="1")
    assert v1_error.value.get_error_code() == "SignatureDoesNotMatch"
    assert v1_error.value.get_http_status() == 400

    assert sandbox.ip_protection() == "0"
    assert sandbox.calls == {"UpdateIpProtection": 2}


# --- the five sending-data calls (SPEC §9) ----------------------------------------------------


def _day(back: int) -> str:
    return (datetime.now(UTC8).date() - timedelta(days=back)).isoformat()


def test_v3_sdk_reads_all_five_sending_data_calls(sandbox: Sandbox) -> None:
    client = v3_client(sandbox)
    window = {"start_time": _day(7), "end_time": _day(1)}  # whole days: today may have no mail yet

    summary = client.sender_statistics_by_tag_name_and_batch_id(
        dm.SenderStatisticsByTagNameAndBatchIDRequest(**window)
    ).body
    assert summary.request_id and summary.total_count == 7 == len(summary.data.stat)
    day = summary.data.stat[0]
    assert day.create_time == _day(7)
    for value in (day.faild_count, day.request_count, day.success_count, day.unavailable_count):
        assert isinstance(value, str) and value.isdigit()
    assert day.succeeded_percent.endswith("%") and day.unavailable_percent.endswith("%")

    tracking = client.get_track_list(dm.GetTrackListRequest(page_size="5", **window)).body
    assert (tracking.page_no, tracking.page_size, tracking.total_pages, tracking.total) == (
        1,
        5,
        2,
        7,
    )
    assert len(tracking.data.stat) == 5
    assert isinstance(tracking.data.stat[0].rcpt_unique_open_count, str)
    assert tracking.data.stat[0].create_time == f"{_day(7)}T00:00Z"

    by_sender = client.get_track_list_by_mail_from_and_tag_name(
        dm.GetTrackListByMailFromAndTagNameRequest(
            account_name="notify@mail.example.com", tag_name="receipt", **window
        )
    ).body
    assert by_sender.total_pages == "1" and by_sender.page_no == 1
    assert isinstance(by_sender.track_list.stat[0].total_number, str)

    invalid = client.query_invalid_address(dm.QueryInvalidAddressRequest(length=3)).body
    assert isinstance(invalid.total_count, int) and invalid.next_start == "3"
    entry = invalid.data.mail_detail[0]
    assert "@" in entry.to_address and isinstance(entry.utc_last_update_time, int)
    assert entry.last_update_time.endswith("Z")
    rest = client.query_invalid_address(
        dm.QueryInvalidAddressRequest(length=100, next_start=invalid.next_start)
    ).body
    assert rest.next_start == "" and len(rest.data.mail_detail) == invalid.total_count - 3

    minutes = {"start_time": f"{_day(1)} 00:00", "end_time": f"{_day(1)} 23:59"}
    detail = client.sender_statistics_detail_by_param(
        dm.SenderStatisticsDetailByParamRequest(length=100, **minutes)
    ).body
    assert len(detail.data.mail_detail) == 100 and detail.next_start.count("#") == 3
    mail = detail.data.mail_detail[0]
    assert isinstance(mail.status, int) and isinstance(mail.utc_last_update_time, str)
    assert mail.error_classification and mail.message and mail.subject and mail.account_name
    following = client.sender_statistics_detail_by_param(
        dm.SenderStatisticsDetailByParamRequest(length=100, next_start=detail.next_start, **minutes)
    ).body
    assert following.data.mail_detail[0].to_map() != mail.to_map()

    assert sandbox.calls == {
        "SenderStatisticsByTagNameAndBatchID": 1,
        "GetTrackList": 1,
        "GetTrackListByMailFromAndTagName": 1,
        "QueryInvalidAddress": 2,
        "SenderStatisticsDetailByParam": 2,
    }


def test_v1_sdk_reads_the_sending_data_calls(sandbox: Sandbox) -> None:
    client = v1_client()
    window = {"StartTime": _day(2), "EndTime": _day(1)}
    summary = v1_call(client, sandbox, "SenderStatisticsByTagNameAndBatchID", **window)
    assert summary["TotalCount"] == 2 and summary["data"]["stat"][0]["CreateTime"] == _day(2)
    tracking = v1_call(client, sandbox, "GetTrackList", PageSize="1", **window)
    assert tracking["TotalPages"] == 2 and len(tracking["data"]["stat"]) == 1


def test_sending_data_calls_refuse_a_wrong_secret(sandbox: Sandbox) -> None:
    with pytest.raises(ClientException) as caught:
        v3_client(sandbox, secret="not-the-sandbox-secret").query_invalid_address(
            dm.QueryInvalidAddressRequest()
        )
    assert (caught.value.code, caught.value.status_code) == ("SignatureDoesNotMatch", 400)


def test_sdk_sees_window_and_paging_errors(sandbox: Sandbox) -> None:
    client = v3_client(sandbox)
    cases: list[tuple[Callable[[], object], str]] = [
        (
            lambda: client.sender_statistics_by_tag_name_and_batch_id(
                dm.SenderStatisticsByTagNameAndBatchIDRequest(
                    start_time=_day(91), end_time=_day(80)
                )
            ),
            "InvalidStartTime.Malformed",
        ),
        (
            lambda: client.get_track_list(
                dm.GetTrackListRequest(start_time=_day(8), end_time=_day(0))
            ),
            "InvalidBetweenTime.Malformed",
        ),
        (
            lambda: client.get_track_list_by_mail_from_and_tag_name(
                dm.GetTrackListByMailFromAndTagNameRequest(
                    start_time="2024/01/01", end_time=_day(0)
                )
            ),
            "InvalidDate.Malformed",
        ),
        (
            lambda: client.query_invalid_address(
                dm.QueryInvalidAddressRequest(start_time=_day(31), end_time=_day(1))
            ),
            "InvalidStartTime.Malformed",
        ),
        (
            lambda: client.sender_statistics_detail_by_param(
                dm.SenderStatisticsDetailByParamRequest(
                    start_time=f"{_day(1)} 00:00",
                    end_time=f"{_day(0)} 00:00",
                    next_start="100",
                )
            ),
            "InvalidNextStart.Malformed",
        ),
        (
            lambda: client.get_track_list(
                dm.GetTrackListRequest(start_time=_day(1), end_time=_day(0), page_size="0")
            ),
            "InvalidPageSize.Malformed",
        ),
    ]
    for attempt, code in cases:
        with pytest.raises(ClientException) as caught:
            attempt()
        assert (caught.value.code, caught.value.status_code) == (code, 400)
