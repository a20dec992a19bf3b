"""Temporary Alibaba Cloud keys from STS (``AssumeRoleWithOIDC``, ``AssumeRole``) and from an
ECS instance's RAM role. Used by ``chain``; nothing here is kept on disk or printed.

The STS endpoint is ``ALIBABA_CLOUD_STS_ENDPOINT`` (a URL, or a host name for https://; http://
only for loopback hosts, which is how tests point it at the sandbox), else
``https://sts.{ALIBABA_CLOUD_STS_REGION}.aliyuncs.com``, else ``https://sts.aliyuncs.com``.
Keys are asked for ``RECONCILER_STS_DURATION`` seconds (default 3600; STS allows 900 to the
role's maximum). They come back as ``refresh.TemporaryKeys``, with their expiry.

Every answer is untrusted (SPEC §6): no redirect is followed, a body is read within a bound
(64 KiB from STS, 16 KiB from the metadata service) and an exchange within a deadline.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import requests
import urllib3.exceptions

from reconciler import signing, strictjson
from reconciler.credentials.answers import Answer, Redirected, UnreadableBody, exchange
from reconciler.credentials.refresh import TemporaryKeys
from reconciler.errors import InputError, ProviderError

STS_VERSION = "2015-04-01"
DEFAULT_DURATION = 3600
TIMEOUT = (5.0, 10.0)  # seconds to connect, to read
DEADLINE = 30.0  # seconds one STS call may take, answer included
ECS_METADATA_URL = "http://100.100.100.200"
ECS_TIMEOUT = (1.0, 2.0)
ECS_DEADLINE = 5.0  # seconds for the whole metadata exchange (token, role, keys)
ANSWER_LIMIT = 64 * 1024
ECS_ANSWER_LIMIT = 16 * 1024
DURATION_VARIABLE = "RECONCILER_STS_DURATION"
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


def duration(env: Mapping[str, str]) -> int:
    """Seconds the keys are asked for: ``RECONCILER_STS_DURATION``, else an hour."""
    given = env.get(DURATION_VARIABLE, "").strip()
    if not given:
        return DEFAULT_DURATION
    if not given.isdigit() or int(given) < 1:
        raise InputError(f"{DURATION_VARIABLE}: expected a number of seconds, such as 3600")
    return int(given)


def assume_role_with_oidc(
    account: str,
    url: str,
    role_arn: str,
    provider_arn: str,
    token: str,
    session: str,
    seconds: int = DEFAULT_DURATION,
) -> TemporaryKeys:
    """Exchange an OIDC token for temporary keys (the call needs no signature)."""
    params = {
        "Action": "AssumeRoleWithOIDC",
        "RoleArn": role_arn,
        "OIDCProviderArn": provider_arn,
        "OIDCToken": token,
        "RoleSessionName": session,
        "DurationSeconds": str(seconds),
    }
    return _call(account, url, _common(params))


def assume_role(
    account: str,
    url: str,
    role_arn: str,
    session: str,
    base: Mapping[str, str],
    seconds: int = DEFAULT_DURATION,
) -> TemporaryKeys:
    """Temporary keys of a role, asked for with the signature of the ``base`` keys."""
    params = _common(
        {
            "Action": "AssumeRole",
            "RoleArn": role_arn,
            "RoleSessionName": session,
            "DurationSeconds": str(seconds),
            "AccessKeyId": base["accessKeyId"],
            "SignatureMethod": signing.V1_METHOD,
            "SignatureVersion": signing.V1_VERSION,
        }
    )
    if base.get("securityToken"):
        params["SecurityToken"] = base["securityToken"]
    return _call(account, url, params, signed_with=base["accessKeySecret"])


def ecs_role(account: str, role_name: str | None) -> TemporaryKeys:
    """The keys of the instance's RAM role from the ECS metadata service (IMDSv2 token
    first, as the official SDKs do, falling back to a plain read)."""
    base = f"{ECS_METADATA_URL}/latest"
    headers: dict[str, str] = {}
    until = time.monotonic() + ECS_DEADLINE

    def get(session: requests.Session, method: str, url: str, **kwargs: Any) -> Answer:
        return exchange(
            session,
            method,
            url,
            limit=ECS_ANSWER_LIMIT,
            until=until,
            seconds=ECS_DEADLINE,
            timeout=ECS_TIMEOUT,
            **kwargs,
        )

    try:
        with requests.Session() as session:
            session.trust_env = False  # the metadata address is never reached through a proxy
            token = get(
                session,
                "PUT",
                f"{base}/api/token",
                headers={"X-aliyun-ecs-metadata-token-ttl-seconds": "21600"},
            )
            if token.ok:
                headers["X-aliyun-ecs-metadata-token"] = token.text.strip()
            path = f"{base}/meta-data/ram/security-credentials/"
            if not role_name:
                listing = get(session, "GET", path, headers=headers)
                _raise_for_status(listing)
                role_name = listing.text.strip().splitlines()[0].strip() if listing.body else ""
                if not role_name:
                    raise InputError(f"account {account!r}: this ECS instance has no RAM role")
            answer = get(session, "GET", path + role_name, headers=headers)
            _raise_for_status(answer)
            data = strictjson.loads(answer.body.decode("utf-8"))
    except (Redirected, UnreadableBody) as exc:
        raise InputError(
            f"account {account!r}: the ECS metadata service did not give a RAM role's keys ({exc})"
        ) from None
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        raise InputError(
            f"account {account!r}: the ECS metadata service did not give a RAM role's keys "
            f"({type(exc).__name__})"
        ) from None
    if not isinstance(data, dict) or data.get("Code") not in (None, "Success"):
        raise InputError(f"account {account!r}: the ECS metadata service refused the RAM role")
    return _keys(account, "ECS metadata", data)


def _raise_for_status(answer: Answer) -> None:
    if not answer.ok:
        raise requests.HTTPError(f"HTTP {answer.status}")


def _common(params: dict[str, str]) -> dict[str, str]:
    return {
        **params,
        "Version": STS_VERSION,
        "Format": "JSON",
        "Timestamp": signing.format_timestamp(datetime.now(timezone.utc)),
        "SignatureNonce": str(uuid.uuid4()),
    }


def _call(
    account: str, url: str, params: dict[str, str], signed_with: str | None = None
) -> TemporaryKeys:
    """One STS call; ``signed_with``: the secret that signs it (``AssumeRoleWithOIDC`` needs
    no signature)."""
    action = params["Action"]
    if signed_with is not None:
        params = {**params, "Signature": signing.v1_signature("POST", params, signed_with)}

    def failed(message: str, **details: Any) -> ProviderError:
        return ProviderError(message, provider="sts", action=action, account=account, **details)

    # Untrusted like every provider answer (SPEC §6): a redirect is not followed (the form
    # carries the OIDC token), no more than ANSWER_LIMIT bytes are read, within DEADLINE.
    try:
        with requests.Session() as session:
            answer = exchange(
                session,
                "POST",
                f"{url}/",
                limit=ANSWER_LIMIT,
                until=time.monotonic() + DEADLINE,
                seconds=DEADLINE,
                timeout=TIMEOUT,
                data=params,
            )
    except Redirected as exc:
        raise failed(
            f"HTTP {exc.status}: STS answered with a redirect, which is never followed: "
            "check ALIBABA_CLOUD_STS_ENDPOINT",
            http_status=exc.status,
        ) from None
    except UnreadableBody as exc:
        raise failed(str(exc)) from None
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise failed(f"cannot reach {url} ({type(exc).__name__})", retryable=True) from None
    try:
        data = strictjson.loads(answer.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise failed(f"HTTP {answer.status}, the answer is not JSON", http_status=answer.status)
    if answer.status != 200 or "Code" in data:
        raise failed(
            _text(data.get("Message")) or f"HTTP {answer.status}",
            code=_text(data.get("Code")) or None,
            request_id=_text(data.get("RequestId")) or None,
            http_status=answer.status,
            retryable=answer.status >= 500,
        )
    return _keys(account, action, data.get("Credentials"))


def _keys(account: str, source: str, data: Any) -> TemporaryKeys:
    """``{accessKeyId, accessKeySecret, securityToken}`` from an answer's credentials, which
    must hold the three as non-empty strings; with their ``Expiration``, if it can be read."""
    if isinstance(data, dict) and all(
        isinstance(data.get(name), str) and data[name].strip() for name in KEY_FIELDS
    ):
        keys = {ours: data[theirs].strip() for theirs, ours in KEY_FIELDS.items()}
        return TemporaryKeys(keys, _expiration(data.get("Expiration")))
    raise ProviderError(
        "the answer has no AccessKeyId, AccessKeySecret and SecurityToken",
        provider="sts",
        action=source,
        account=account,
    )


def _expiration(value: Any) -> datetime | None:
    try:
        return signing.parse_timestamp(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value[:300] if isinstance(value, str) else ""
