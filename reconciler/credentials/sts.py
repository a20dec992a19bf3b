"""Temporary Alibaba Cloud keys from STS (``AssumeRoleWithOIDC``, ``AssumeRole``) and from an
ECS instance's RAM role. Used by ``chain``; nothing here is kept on disk or printed.

The STS endpoint is ``ALIBABA_CLOUD_STS_ENDPOINT`` (a URL, or a host name for https://; http://
only for loopback hosts, which is how tests point it at the sandbox), else
``https://sts.{ALIBABA_CLOUD_STS_REGION}.aliyuncs.com``, else ``https://sts.aliyuncs.com``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import requests
import urllib3.exceptions

from reconciler import signing
from reconciler.errors import InputError, ProviderError

STS_VERSION = "2015-04-01"
DEFAULT_DURATION = 3600
TIMEOUT = (5.0, 10.0)  # seconds to connect, to read
ECS_METADATA_URL = "http://100.100.100.200"
ECS_TIMEOUT = (1.0, 2.0)
ANSWER_LIMIT = 64 * 1024
KEY_FIELDS = {
    "AccessKeyId": "accessKeyId",
    "AccessKeySecret": "accessKeySecret",
    "SecurityToken": "securityToken",
}


def endpoint(env: Mapping[str, str]) -> str:
    """The STS base URL to call, from the environment."""
    from reconciler.manifests.checks import endpoint_problem

    given = env.get("ALIBABA_CLOUD_STS_ENDPOINT", "").strip()
    if given:
        url = given if "://" in given else f"https://{given}"
        wrong = endpoint_problem(url)
        if wrong is not None:
            message, hint = wrong
            raise InputError(
                f"ALIBABA_CLOUD_STS_ENDPOINT: {message.replace('endpoint', 'the URL', 1)}"
                + (f" ({hint})" if hint else "")
            )
        return url.rstrip("/")
    region = env.get("ALIBABA_CLOUD_STS_REGION", "").strip()
    return f"https://sts.{region}.aliyuncs.com" if region else "https://sts.aliyuncs.com"


def session_name(given: str | None) -> str:
    return given or f"reconciler-{int(time.time())}"


def assume_role_with_oidc(
    account: str, url: str, role_arn: str, provider_arn: str, token: str, session: str
) -> dict[str, str]:
    """Exchange an OIDC token for temporary keys (the call needs no signature)."""
    params = {
        "Action": "AssumeRoleWithOIDC",
        "RoleArn": role_arn,
        "OIDCProviderArn": provider_arn,
        "OIDCToken": token,
        "RoleSessionName": session,
        "DurationSeconds": str(DEFAULT_DURATION),
    }
    return _call(account, url, _common(params))


def assume_role(
    account: str, url: str, role_arn: str, session: str, base: Mapping[str, str]
) -> dict[str, str]:
    """Temporary keys of a role, asked for with the signature of the ``base`` keys."""
    params = _common(
        {
            "Action": "AssumeRole",
            "RoleArn": role_arn,
            "RoleSessionName": session,
            "DurationSeconds": str(DEFAULT_DURATION),
            "AccessKeyId": base["accessKeyId"],
            "SignatureMethod": signing.V1_METHOD,
            "SignatureVersion": signing.V1_VERSION,
        }
    )
    if base.get("securityToken"):
        params["SecurityToken"] = base["securityToken"]
    params["Signature"] = signing.v1_signature("POST", params, base["accessKeySecret"])
    return _call(account, url, params)


def ecs_role(account: str, role_name: str | None) -> dict[str, str]:
    """The keys of the instance's RAM role from the ECS metadata service (IMDSv2 token
    first, as the official SDKs do, falling back to a plain read)."""
    base = f"{ECS_METADATA_URL}/latest"
    headers: dict[str, str] = {}
    try:
        with requests.Session() as session:
            session.trust_env = False  # the metadata address is never reached through a proxy
            token = session.put(
                f"{base}/api/token",
                headers={"X-aliyun-ecs-metadata-token-ttl-seconds": "21600"},
                timeout=ECS_TIMEOUT,
            )
            if token.ok:
                headers["X-aliyun-ecs-metadata-token"] = token.text.strip()
            path = f"{base}/meta-data/ram/security-credentials/"
            if not role_name:
                listing = session.get(path, headers=headers, timeout=ECS_TIMEOUT)
                listing.raise_for_status()
                role_name = listing.text.strip().splitlines()[0].strip() if listing.text else ""
                if not role_name:
                    raise InputError(f"account {account!r}: this ECS instance has no RAM role")
            answer = session.get(path + role_name, headers=headers, timeout=ECS_TIMEOUT)
            answer.raise_for_status()
            data = answer.json()
    except (requests.RequestException, ValueError) as exc:
        raise InputError(
            f"account {account!r}: the ECS metadata service did not give a RAM role's keys "
            f"({type(exc).__name__})"
        ) from None
    if not isinstance(data, dict) or data.get("Code") not in (None, "Success"):
        raise InputError(f"account {account!r}: the ECS metadata service refused the RAM role")
    return _keys(account, "ECS metadata", data)


def _common(params: dict[str, str]) -> dict[str, str]:
    return {
        **params,
        "Version": STS_VERSION,
        "Format": "JSON",
        "Timestamp": signing.format_timestamp(datetime.now(timezone.utc)),
        "SignatureNonce": str(uuid.uuid4()),
    }


def _call(account: str, url: str, params: dict[str, str]) -> dict[str, str]:
    action = params["Action"]

    def failed(message: str, **details: Any) -> ProviderError:
        return ProviderError(message, provider="sts", action=action, account=account, **details)

    # Untrusted like every provider answer (SPEC §6): a redirect is not followed (the form
    # carries the OIDC token), and no more than ANSWER_LIMIT bytes are read.
    try:
        with requests.Session() as session:
            answer = session.post(
                f"{url}/", data=params, timeout=TIMEOUT, allow_redirects=False, stream=True
            )
            with answer:
                if 300 <= answer.status_code < 400:
                    raise failed(
                        f"HTTP {answer.status_code}: STS answered with a redirect, which is "
                        "never followed: check ALIBABA_CLOUD_STS_ENDPOINT",
                        http_status=answer.status_code,
                    )
                body = answer.raw.read(ANSWER_LIMIT + 1, decode_content=True) or b""
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise failed(f"cannot reach {url} ({type(exc).__name__})", retryable=True) from None
    if len(body) > ANSWER_LIMIT:
        raise failed(f"the answer is larger than {ANSWER_LIMIT // 1024} KiB")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise failed(
            f"HTTP {answer.status_code}, the answer is not JSON", http_status=answer.status_code
        )
    if answer.status_code != 200 or "Code" in data:
        raise failed(
            _text(data.get("Message")) or f"HTTP {answer.status_code}",
            code=_text(data.get("Code")) or None,
            request_id=_text(data.get("RequestId")) or None,
            http_status=answer.status_code,
            retryable=answer.status_code >= 500,
        )
    return _keys(account, action, data.get("Credentials"))


def _keys(account: str, source: str, data: Any) -> dict[str, str]:
    """``{accessKeyId, accessKeySecret, securityToken}`` from an answer's credentials, which
    must hold the three as non-empty strings."""
    if isinstance(data, dict) and all(
        isinstance(data.get(name), str) and data[name].strip() for name in KEY_FIELDS
    ):
        return {ours: data[theirs].strip() for theirs, ours in KEY_FIELDS.items()}
    raise ProviderError(
        "the answer has no AccessKeyId, AccessKeySecret and SecurityToken",
        provider="sts",
        action=source,
        account=account,
    )


def _text(value: Any) -> str:
    return value[:300] if isinstance(value, str) else ""
