"""Signatures: published vectors, a hand-built V3 request, and agreement with the official SDKs."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from alibabacloud_tea_openapi.utils import (
    Utils,
    get_canonical_query_string,
    get_canonicalized_headers,
)
from aliyunsdkcore.auth.composer import rpc_signature_composer
from darabonba.request import DaraRequest
from hypothesis import given
from hypothesis import strategies as st

from reconciler import signing

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --- percent-encoding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("", ""),
        ("AZaz09-_.~", "AZaz09-_.~"),
        ("a b", "a%20b"),
        ("*", "%2A"),
        ("+", "%2B"),
        ("/", "%2F"),
        ("=&", "%3D%26"),
        ("%", "%25"),
        ("é", "%C3%A9"),
        ("免拦截", "%E5%85%8D%E6%8B%A6%E6%88%AA"),
        ("2016-02-23T12:46:24Z", "2016-02-23T12%3A46%3A24Z"),
    ],
)
def test_percent_encode(raw: str, encoded: str) -> None:
    assert signing.percent_encode(raw) == encoded


@given(st.text())
def test_percent_encode_agrees_with_both_official_sdks(text: str) -> None:
    # The V3 SDK encodes values with quote(safe="~"); the V1 SDK with urlencode plus fix-ups.
    assert signing.percent_encode(text) == quote(text, safe="~", encoding="utf-8")
    v1_style = rpc_signature_composer.__pop_standard_urlencode(
        quote(text, safe="", encoding="utf-8")
    )
    assert signing.percent_encode(text) == v1_style


def test_canonical_query_sorts_by_key_and_encodes_both_sides() -> None:
    params = {"b": "2 3", "a": "x*y", "A": "~"}
    assert signing.canonical_query(params) == "A=~&a=x%2Ay&b=2%203"
    assert signing.canonical_query({}) == ""


# --- V1 HMAC-SHA1 ---------------------------------------------------------------------------

PUBLISHED_V1 = {
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "Format": "XML",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "Timestamp": "2016-02-23T12:46:24Z",
    "Version": "2014-05-26",
}


def test_v1_published_vector() -> None:
    assert signing.v1_signature("GET", PUBLISHED_V1, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_v1_string_to_sign_shape_and_signature_parameter_ignored() -> None:
    text = signing.v1_string_to_sign("get", {**PUBLISHED_V1, "Signature": "ignored"})
    assert text.startswith("GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26")
    assert "Signature%3Dignored" not in text
    assert "Timestamp%3D2016-02-23T12%253A46%253A24Z" in text  # encoded twice, as specified


def test_v1_changes_with_method_and_secret() -> None:
    base = signing.v1_signature("GET", PUBLISHED_V1, "testsecret")
    assert signing.v1_signature("POST", PUBLISHED_V1, "testsecret") != base
    assert signing.v1_signature("GET", PUBLISHED_V1, "othersecret") != base


def test_v1_agrees_with_the_old_core_sdk() -> None:
    params = {
        "Action": "AddIpfilter",
        "IpAddress": "198.51.100.0/24",
        "Note": "a b*c~d+é",
        "SignatureType": "",
        "Version": "2015-11-23",
    }
    compose = rpc_signature_composer.__compose_string_to_sign
    assert signing.v1_string_to_sign("POST", params) == compose("POST", params)


# --- V3 ACS3-HMAC-SHA256 --------------------------------------------------------------------

# The worked example of Alibaba Cloud's "V3 request structure and signature" documentation.
DOC_QUERY = {
    "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
    "RegionId": "cn-shanghai",
}
DOC_SIGNATURE = "e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"


def doc_headers() -> dict[str, str]:
    return signing.v3_headers(
        host="ecs.cn-shanghai.aliyuncs.com",
        action="RunInstances",
        version="2014-05-26",
        body=b"",
        access_key_id="YourAccessKeyId",
        access_key_secret="YourAccessKeySecret",
        query=DOC_QUERY,
        now=datetime(2023, 10, 26, 9, 1, 1),
        nonce="d410180a5abf7fe235dd9b74aca91fc0",
    )


def test_v3_documented_example() -> None:
    headers = doc_headers()
    assert headers["Authorization"] == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;"
        "x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        f"Signature={DOC_SIGNATURE}"
    )
    assert headers["x-acs-date"] == "2023-10-26T09:01:01Z"
    assert headers["x-acs-content-sha256"] == EMPTY_SHA256


def test_v3_hand_built_canonical_request() -> None:
    headers = doc_headers()
    signed = ["host", "x-acs-action", "x-acs-content-sha256", "x-acs-date"]
    signed += ["x-acs-signature-nonce", "x-acs-version"]
    expected = (
        "POST\n"
        "/\n"
        "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n"
        "host:ecs.cn-shanghai.aliyuncs.com\n"
        "x-acs-action:RunInstances\n"
        f"x-acs-content-sha256:{EMPTY_SHA256}\n"
        "x-acs-date:2023-10-26T09:01:01Z\n"
        "x-acs-signature-nonce:d410180a5abf7fe235dd9b74aca91fc0\n"
        "x-acs-version:2014-05-26\n"
        "\n"
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n"
        f"{EMPTY_SHA256}"
    )
    canonical = signing.v3_canonical_request(
        method="POST",
        path="/",
        query=DOC_QUERY,
        headers=headers,
        signed_headers=signed,
        body_sha256=EMPTY_SHA256,
    )
    assert canonical == expected
    string_to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(expected.encode()).hexdigest()
    by_hand = hmac.new(b"YourAccessKeySecret", string_to_sign.encode(), hashlib.sha256)
    assert by_hand.hexdigest() == DOC_SIGNATURE


def test_v3_timezone_aware_now_is_converted_to_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    headers = signing.v3_headers(
        host="h",
        action="A",
        version="v",
        body=b"",
        access_key_id="id",
        access_key_secret="s",
        now=datetime(2023, 10, 26, 17, 1, 1, tzinfo=beijing),
        nonce="n",
    )
    assert headers["x-acs-date"] == "2023-10-26T09:01:01Z"


def test_v3_security_token_is_sent_and_signed() -> None:
    headers = signing.v3_headers(
        host="dm.aliyuncs.com",
        action="GetIpProtection",
        version="2015-11-23",
        body=b"",
        access_key_id="id",
        access_key_secret="s",
        security_token="token",
    )
    assert headers["x-acs-security-token"] == "token"
    _, signed, _ = signing.parse_v3_authorization(headers["Authorization"])
    assert "x-acs-security-token" in signed
    assert signed == sorted(signed)


def sdk_request(query: dict[str, str], headers: dict[str, str]) -> DaraRequest:
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = query
    request.headers = headers
    return request


def test_v3_agrees_with_the_official_sdk_signer() -> None:
    body = b"IpAddress=203.0.113.7"
    query = {"Id": "10083", "Odd": "a b*c~d/é"}
    ours = signing.v3_headers(
        host="127.0.0.1:8600",
        action="DeleteIpfilterByEdmId",
        version="2015-11-23",
        body=body,
        access_key_id="AK",
        access_key_secret="SK",
        query=query,
        now=datetime(2024, 5, 1, 0, 0, 0),
        nonce="0f0e",
    )
    unsigned = {name: value for name, value in ours.items() if name != "Authorization"}
    theirs = Utils.get_authorization(
        sdk_request(query, unsigned),
        "ACS3-HMAC-SHA256",
        unsigned["x-acs-content-sha256"],
        "AK",
        "SK",
    )
    assert theirs == ours["Authorization"]


def test_v3_verifies_whatever_headers_the_sdk_chose_to_sign() -> None:
    # The SDK signs every header it sends, user-agent and accept included, with odd spacing.
    headers = {
        "host": "127.0.0.1:8600",
        "x-acs-action": "GetIpfilterList",
        "x-acs-version": "2015-11-23",
        "x-acs-date": "2024-05-01T00:00:00Z",
        "x-acs-signature-nonce": "abc",
        "x-acs-content-sha256": EMPTY_SHA256,
        "user-agent": "  AlibabaCloud (Linux; x86_64) Python/3.11  ",
        "Accept": "application/json",
    }
    query = {"Format": "json"}
    sdk_canonical_headers, sdk_signed = get_canonicalized_headers(headers)
    assert signing.canonical_query(query) == get_canonical_query_string(query)
    our_canonical = signing.v3_canonical_request(
        method="POST",
        path="/",
        query=query,
        headers=headers,
        signed_headers=sdk_signed.split(";"),
        body_sha256=EMPTY_SHA256,
    )
    assert f"\n{sdk_canonical_headers}\n{sdk_signed}\n" in our_canonical

    authorization = Utils.get_authorization(
        sdk_request(query, headers), "ACS3-HMAC-SHA256", EMPTY_SHA256, "AK", "SK"
    )
    access_key_id, signed, signature = signing.parse_v3_authorization(authorization)
    assert access_key_id == "AK"
    assert "user-agent" in signed and "accept" in signed
    canonical = signing.v3_canonical_request(
        method="POST",
        path="/",
        query=query,
        headers=headers,
        signed_headers=signed,
        body_sha256=EMPTY_SHA256,
    )
    recomputed = signing.v3_signature(canonical, "SK")
    assert recomputed == signature


@given(st.dictionaries(st.text(alphabet="abcXYZ_", min_size=1), st.text(), max_size=5))
def test_v3_canonical_query_agrees_with_the_sdk(query: dict[str, str]) -> None:
    assert signing.canonical_query(query) == get_canonical_query_string(query)


def test_parse_v3_authorization() -> None:
    value = f"ACS3-HMAC-SHA256 Credential=AK, SignedHeaders=host;X-Acs-Date,Signature={'AB' * 32}"
    assert signing.parse_v3_authorization(value) == ("AK", ["host", "x-acs-date"], "ab" * 32)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "ACS3-HMAC-SHA256",
        f"ACS3-HMAC-SM3 Credential=AK,SignedHeaders=host,Signature={'a' * 64}",
        f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature={'a' * 63}",
        f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature={'g' * 64}",
        f"ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature={'a' * 64}",
        f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=,Signature={'a' * 64}",
        f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;;date,Signature={'a' * 64}",
        f"ACS3-HMAC-SHA256 Credential=AK,Signature={'a' * 64}",
        f"ACS3-HMAC-SHA256 Credential=AK,Credential=AK,SignedHeaders=h,Signature={'a' * 64}",
        f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=h,Signature={'a' * 64},Extra=1",
        "ACS3-HMAC-SHA256 Credential=AK;SignedHeaders=h;Signature=x",
    ],
)
def test_parse_v3_authorization_rejects_malformed_values(value: str) -> None:
    with pytest.raises(ValueError):
        signing.parse_v3_authorization(value)
