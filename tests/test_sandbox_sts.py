"""The sandbox's STS: the official SDKs assume its roles and call DirectMail with the
temporary keys, which it checks (security token, expiry, the read role's limits)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from alibabacloud_dm20151123 import models as dm
from alibabacloud_dm20151123.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from reconciler.sandbox import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Sandbox, sts
from reconciler.sandbox.directmail_auth import AcsError

pytestmark = pytest.mark.filterwarnings(
    "ignore:datetime.datetime.utcnow\\(\\) is deprecated:DeprecationWarning"
)


@pytest.fixture
def v1() -> Iterator[AcsClient]:
    client = AcsClient(ACCESS_KEY_ID, ACCESS_KEY_SECRET, "cn-hangzhou", auto_retry=False, timeout=5)
    yield client
    client.session.close()


def _sts_call(client: AcsClient, sandbox: Sandbox, action: str, **params: str) -> dict[str, Any]:
    request = CommonRequest(domain=f"127.0.0.1:{sandbox.port}", version=sts.API_VERSION)
    request.set_action_name(action)
    request.set_method("POST")
    request.set_protocol_type("http")
    for name, value in params.items():
        request.add_query_param(name, value)
    body: dict[str, Any] = json.loads(client.do_action_with_exception(request))
    return body


def _dm_client(sandbox: Sandbox, keys: dict[str, str]) -> Client:
    return Client(
        Config(
            access_key_id=keys["AccessKeyId"],
            access_key_secret=keys["AccessKeySecret"],
            security_token=keys["SecurityToken"],
            endpoint=f"127.0.0.1:{sandbox.port}",
            protocol="http",
            connect_timeout=2000,
            read_timeout=5000,
        )
    )


def test_official_sdks_assume_a_role_and_use_its_keys(sandbox: Sandbox, v1: AcsClient) -> None:
    answer = _sts_call(v1, sandbox, "AssumeRole", RoleArn=sts.ROLE_WRITE, RoleSessionName="sdk")
    keys = answer["Credentials"]
    assert keys["AccessKeyId"].startswith("STS.")
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/reconciler-write/sdk")
    expires = datetime.strptime(keys["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
    assert (
        timedelta(minutes=59)
        < expires.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)
        <= timedelta(hours=1)
    )
    client = _dm_client(sandbox, keys)
    added = client.add_ipfilter(dm.AddIpfilterRequest(ip_address="203.0.113.8"))
    assert added.status_code == 200
    assert sandbox.keys.used[keys["AccessKeyId"]] == 1


def test_read_role_keys_only_read(sandbox: Sandbox) -> None:
    answer = requests.post(
        sandbox.url + "/",
        data={
            "Action": "AssumeRoleWithOIDC",
            "Version": sts.API_VERSION,
            "RoleArn": sts.ROLE_READ,
            "OIDCProviderArn": sts.OIDC_PROVIDER_ARN,
            "OIDCToken": sts.OIDC_TOKEN,
            "RoleSessionName": "ci",
        },
        timeout=5,
    ).json()
    client = _dm_client(sandbox, answer["Credentials"])
    assert client.get_ipfilter_list(dm.GetIpfilterListRequest()).status_code == 200
    with pytest.raises(ClientException) as refused:
        client.update_ip_protection(dm.UpdateIpProtectionRequest(ip_protection="1"))
    assert refused.value.code == "Forbidden.RAM"
    # The tag, domain and sender-address listings are reads too; their writes are not.
    assert client.query_tag_by_param(dm.QueryTagByParamRequest()).body.total_count == 0
    assert client.query_domain_by_param(dm.QueryDomainByParamRequest()).status_code == 200
    listed = client.query_mail_address_by_param(dm.QueryMailAddressByParamRequest())
    assert listed.status_code == 200
    for write in (
        lambda: client.create_tag(dm.CreateTagRequest(tag_name="news")),
        lambda: client.check_domain(dm.CheckDomainRequest(domain_id=1)),
    ):
        with pytest.raises(ClientException) as refused:
            write()
        assert refused.value.code == "Forbidden.RAM"
    assert sandbox.ip_protection() == "0"


def test_temporary_key_needs_its_own_token(sandbox: Sandbox, v1: AcsClient) -> None:
    keys = _sts_call(v1, sandbox, "AssumeRole", RoleArn=sts.ROLE_WRITE, RoleSessionName="x1")[
        "Credentials"
    ]
    with pytest.raises(ClientException) as wrong:
        _dm_client(sandbox, {**keys, "SecurityToken": "other"}).get_ip_protection(
            dm.GetIpProtectionRequest()
        )
    assert wrong.value.code == "InvalidSecurityToken.MisMatch"
    now = datetime.now(timezone.utc)
    store = sandbox.keys
    with pytest.raises(AcsError, match=r"InvalidSecurityToken\.Missing"):
        store.secret_for(keys["AccessKeyId"], None, now)
    assert store.secret_for(keys["AccessKeyId"], keys["SecurityToken"], now)
    with pytest.raises(AcsError, match=r"InvalidSecurityToken\.Expired"):
        store.secret_for(keys["AccessKeyId"], keys["SecurityToken"], now + timedelta(hours=2))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"OIDCToken": "forged"}, "AuthenticationFail.OIDCToken.Invalid"),
        ({"OIDCProviderArn": "acs:ram::1:oidc-provider/x"}, "EntityNotExist.OIDCProvider"),
        ({"RoleArn": "acs:ram::1:role/x"}, "EntityNotExist.Role"),
        ({"Version": "2019-01-01"}, "InvalidVersion"),
        ({"DurationSeconds": "60"}, "InvalidParameter.DurationSeconds"),
        ({"RoleSessionName": "a b"}, "InvalidParameter.RoleSessionName"),
        ({"OIDCToken": ""}, "MissingParameter"),
    ],
)
def test_oidc_errors(sandbox: Sandbox, change: dict[str, str], code: str) -> None:
    params = {
        "Action": "AssumeRoleWithOIDC",
        "Version": sts.API_VERSION,
        "RoleArn": sts.ROLE_READ,
        "OIDCProviderArn": sts.OIDC_PROVIDER_ARN,
        "OIDCToken": sts.OIDC_TOKEN,
        "RoleSessionName": "ci",
        **change,
    }
    answer = requests.post(sandbox.url + "/", data=params, timeout=5)
    assert answer.status_code in (400, 404)
    assert answer.json()["Code"] == code
    assert not sandbox.keys.used


def test_assume_role_needs_a_valid_signature(sandbox: Sandbox) -> None:
    answer = requests.post(
        sandbox.url + "/",
        data={"Action": "AssumeRole", "Version": sts.API_VERSION, "RoleArn": sts.ROLE_READ},
        timeout=5,
    )
    assert answer.json()["Code"] == "MissingParameter"
    assert sandbox.calls["AssumeRole"] == 1
