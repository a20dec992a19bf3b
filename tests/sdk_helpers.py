"""The official Alibaba Cloud SDKs' clients pointed at the sandbox, for the conformance tests
(``test_conformance_sdk.py``, ``test_conformance_lists_sdk.py``). Neither SDK is used by the
package itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_dm20151123.client import Client
from alibabacloud_tea_openapi.models import Config
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from reconciler.sandbox import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Sandbox

VERSION = "2015-11-23"


@pytest.fixture(autouse=True)
def close_v1_sessions() -> Iterator[None]:
    """Close the HTTP session of every ``AcsClient`` a test made.

    ``AcsClient`` closes it only in ``__del__``; when the client dies in a reference cycle (a
    caught exception's traceback is enough) the garbage collector may finalize the socket
    first, and the ResourceWarning trips ``filterwarnings = error`` at random. (The V3 SDK keeps
    one session per endpoint for the life of the process, so it never gets there.)
    """
    yield
    while V1_CLIENTS:
        V1_CLIENTS.pop().session.close()


V1_CLIENTS: list[AcsClient] = []


def v3_client(sandbox: Sandbox, secret: str = ACCESS_KEY_SECRET) -> Client:
    # Retries are off by default in this SDK (no retry_options); short timeouts keep a broken
    # sandbox from stalling the suite.
    config = Config(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=secret,
        endpoint=f"127.0.0.1:{sandbox.port}",
        protocol="http",
        connect_timeout=2000,
        read_timeout=5000,
    )
    return Client(config)


def v1_client(secret: str = ACCESS_KEY_SECRET) -> AcsClient:
    client = AcsClient(
        ACCESS_KEY_ID,
        secret,
        "cn-hangzhou",
        auto_retry=False,
        max_retry_time=0,
        timeout=5,
        connect_timeout=2,
    )
    V1_CLIENTS.append(client)
    return client


def v1_call(client: AcsClient, sandbox: Sandbox, action: str, **params: str) -> dict[str, Any]:
    request = CommonRequest(domain=f"127.0.0.1:{sandbox.port}", version=VERSION)
    request.set_action_name(action)
    request.set_method("POST")
    request.set_protocol_type("http")
    for name, value in params.items():
        # Business parameters in the form body: the SDK signs body and URL parameters together.
        request.add_body_params(name, value)
    body: dict[str, Any] = json.loads(client.do_action_with_exception(request))
    return body
