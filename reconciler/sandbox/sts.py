"""The emulated STS API (version 2015-04-01): ``AssumeRoleWithOIDC`` and ``AssumeRole``.

It shares the DirectMail port: the sandbox routes a call to STS by its action (the ``Action``
parameter or ``x-acs-action`` header), so a credential chain is pointed at the sandbox by
giving the sandbox's URL as the STS endpoint. Its fixed identities are public, like the
sandbox's access key:

- roles ``ROLE_READ`` and ``ROLE_WRITE`` (any other role ARN: ``EntityNotExist.Role``, 404);
  a key issued for the read role may call only the DirectMail calls that change nothing
  (otherwise ``Forbidden.RAM``, 403), so a read-only plan job can be proved read-only;
- the OIDC provider ``OIDC_PROVIDER_ARN`` (another: ``EntityNotExist.OIDCProvider``, 404),
  whose only valid token is ``OIDC_TOKEN`` (another: ``AuthenticationFail.OIDCToken.Invalid``).

``AssumeRoleWithOIDC`` needs no signature (the token is the proof), as on the real service;
``AssumeRole`` is signed like a DirectMail call, with the sandbox's key or a temporary one.
Temporary keys live in memory for the sandbox's lifetime, and DirectMail accepts them until
they expire, with their security token (``x-acs-security-token`` or ``SecurityToken``); an
expired one is refused as the real service refuses it (``InvalidSecurityToken.Expired``).
``DurationSeconds`` is honoured as asked, from ``KeyStore.min_duration`` (900 s, as on the real
service; a test lowers it to get keys that expire within seconds) to 43,200 s.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler import signing
from reconciler.sandbox.credentials import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from reconciler.sandbox.directmail_auth import AcsError, NonceCache, authenticate, missing
from reconciler.sandbox.wire import Reply, Request

API_VERSION = "2015-04-01"
ACTIONS = frozenset({"AssumeRoleWithOIDC", "AssumeRole"})
ACCOUNT_ID = "1000000000000000"
ROLE_READ = f"acs:ram::{ACCOUNT_ID}:role/reconciler-read"
ROLE_WRITE = f"acs:ram::{ACCOUNT_ID}:role/reconciler-write"
ROLES = frozenset({ROLE_READ, ROLE_WRITE})
OIDC_PROVIDER_ARN = f"acs:ram::{ACCOUNT_ID}:oidc-provider/github"
OIDC_TOKEN = "sandbox-oidc-token"
READ_ONLY_ACTIONS = frozenset(
    {
        "GetIpProtection",
        "GetIpfilterList",
        # The listings of SPEC §10 (CheckDomain changes a domain's status: not a read).
        "QueryTagByParam",
        "QueryDomainByParam",
        "DescDomain",
        "QueryMailAddressByParam",
    }
)
DEFAULT_DURATION = 3600
MIN_DURATION, MAX_DURATION = 900, 43200
HOST_ID = "sts.aliyuncs.com"
_SESSION_NAME = re.compile(r"[\w.@-]{2,64}")


@dataclass(frozen=True)
class TemporaryKey:
    secret: str
    token: str
    role: str
    expires: datetime


class KeyStore:
    """The keys the sandbox accepts: its fixed key, and temporary keys issued by STS.

    ``used`` counts, per access key id, the calls that authenticated with it, so a test can
    tell which key a client really sent; ``issued`` counts the keys STS gave out.
    ``min_duration``: the shortest ``DurationSeconds`` STS accepts. Thread-safe."""

    def __init__(self, min_duration: int = MIN_DURATION) -> None:
        self._temporary: dict[str, TemporaryKey] = {}
        self._lock = threading.Lock()
        self._used: Counter[str] = Counter()
        self.min_duration = min_duration
        self._issued = 0

    @property
    def issued(self) -> int:
        with self._lock:
            return self._issued

    @property
    def used(self) -> Counter[str]:
        with self._lock:
            return Counter(self._used)

    def issue(self, role: str, duration: int, now: datetime) -> tuple[str, TemporaryKey]:
        key_id = f"STS.sandbox{secrets.token_hex(8)}"
        key = TemporaryKey(
            secret=secrets.token_hex(16),
            token=f"sandbox-security-token-{secrets.token_hex(24)}",
            role=role,
            expires=(now + timedelta(seconds=duration)).replace(microsecond=0),
        )
        with self._lock:
            self._temporary[key_id] = key
            self._issued += 1
        return key_id, key

    def secret_for(self, key_id: str, token: str | None, now: datetime) -> str:
        """The secret to verify a signature made with ``key_id``; AcsError if the key is
        unknown, expired, or a temporary key came without its own security token."""
        if key_id == ACCESS_KEY_ID:
            return ACCESS_KEY_SECRET
        with self._lock:
            key = self._temporary.get(key_id)
        if key is None:
            raise AcsError(
                "InvalidAccessKeyId.NotFound", "Specified access key is not found.", status=404
            )
        if not token:
            raise AcsError("InvalidSecurityToken.Missing", "The security token is missing.")
        if not secrets.compare_digest(token.encode(), key.token.encode()):
            raise AcsError(
                "InvalidSecurityToken.MisMatch",
                "Specified SecurityToken mismatch with the AccessKey.",
            )
        if now >= key.expires:
            raise AcsError("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
        return key.secret

    def authorize(self, key_id: str, action: str) -> None:
        """Count the call under its key; refuse a read-role key a call that changes state."""
        with self._lock:
            self._used[key_id] += 1
            key = self._temporary.get(key_id)
        if key is not None and key.role == ROLE_READ and action not in READ_ONLY_ACTIONS:
            raise AcsError(
                "Forbidden.RAM",
                f"User not authorized to operate on the specified resource: role "
                f"{key.role.rsplit('/', 1)[-1]} may not call {action}.",
                status=403,
            )


def handle(
    action: str, request: Request, keys: KeyStore, nonces: NonceCache, now: datetime
) -> Reply:
    """Carry out one STS call; ``action`` is one of ``ACTIONS``."""
    try:
        params = request.params
        version = request.headers.get("x-acs-version") or params.get("Version", "")
        if version != API_VERSION:
            raise AcsError(
                "InvalidVersion", f'Specified parameter Version "{version}" is not valid.'
            )
        if action == "AssumeRole":
            key_id = authenticate(request, nonces, now, keys.secret_for)
            keys.authorize(key_id, action)
        else:
            _check_oidc(params)
        role = _role(params)
        duration = _duration(params, keys.min_duration)
        key_id, key = keys.issue(role, duration, now)
        return Reply(200, _answer(key_id, key, role, params))
    except AcsError as error:
        return error_reply(error)


def error_reply(error: AcsError) -> Reply:
    rid = secrets.token_hex(16).upper()
    body = {"RequestId": rid, "HostId": HOST_ID, "Code": error.code, "Message": error.message}
    return Reply(error.status, body)


def _check_oidc(params: dict[str, str]) -> None:
    provider = _required(params, "OIDCProviderArn")
    token = _required(params, "OIDCToken")
    if provider != OIDC_PROVIDER_ARN:
        raise AcsError(
            "EntityNotExist.OIDCProvider", "The specified OIDC provider does not exist.", 404
        )
    if not secrets.compare_digest(token.strip().encode(), OIDC_TOKEN.encode()):
        raise AcsError("AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.")


def _role(params: dict[str, str]) -> str:
    role = _required(params, "RoleArn")
    session = _required(params, "RoleSessionName")
    if not _SESSION_NAME.fullmatch(session):
        raise AcsError(
            "InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed."
        )
    if role not in ROLES:
        raise AcsError("EntityNotExist.Role", "The role not exists: " + role[:200], status=404)
    return role


def _duration(params: dict[str, str], minimum: int) -> int:
    text = params.get("DurationSeconds", "") or str(DEFAULT_DURATION)
    if not text.isdigit() or not minimum <= int(text) <= MAX_DURATION:
        raise AcsError(
            "InvalidParameter.DurationSeconds",
            f"The DurationSeconds must be between {minimum} and {MAX_DURATION}.",
        )
    return int(text)


def _answer(key_id: str, key: TemporaryKey, role: str, params: dict[str, str]) -> dict[str, Any]:
    session = params["RoleSessionName"]
    return {
        "RequestId": secrets.token_hex(16).upper(),
        "Credentials": {
            "AccessKeyId": key_id,
            "AccessKeySecret": key.secret,
            "SecurityToken": key.token,
            "Expiration": signing.format_timestamp(key.expires),
        },
        "AssumedRoleUser": {
            "AssumedRoleId": f"3{ACCOUNT_ID[1:]}:{session}",
            "Arn": f"{role.replace(':role/', ':assumed-role/')}/{session}",
        },
    }


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise missing(name)
    return value
