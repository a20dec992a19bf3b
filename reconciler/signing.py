"""Alibaba Cloud request signatures: V3 ``ACS3-HMAC-SHA256`` and the older V1 ``HMAC-SHA1``.

Pure functions, no I/O. The client signs with them and the sandbox verifies with them, so both
sides share one implementation; the tests pin it to published vectors and to the official SDK.
No exception raised here ever includes a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from urllib.parse import quote

V3_ALGORITHM = "ACS3-HMAC-SHA256"
V1_METHOD = "HMAC-SHA1"
V1_VERSION = "1.0"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8 text: only ``A-Z a-z 0-9 - _ . ~`` stay as they are.

    ``quote`` already keeps exactly that set when ``safe`` is empty, and turns a space into
    ``%20`` and ``*`` into ``%2A``, which is what both signature versions require.
    """
    return quote(value, safe="", encoding="utf-8")


def canonical_query(params: Mapping[str, str]) -> str:
    """``k=v`` pairs, percent-encoded, sorted by key, joined by ``&``."""
    return "&".join(
        f"{percent_encode(key)}={percent_encode(params[key])}" for key in sorted(params)
    )


def format_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ssZ`` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime(TIMESTAMP_FORMAT)


def parse_timestamp(value: str) -> datetime:
    """The inverse of ``format_timestamp``; raises ValueError for any other shape."""
    return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- V3: ACS3-HMAC-SHA256 ---------------------------------------------------------------------


def v3_canonical_request(
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body_sha256: str,
) -> str:
    """The canonical request, byte for byte as the official SDK builds it.

    Each signed header contributes a ``name:value\\n`` line (lower-case name, stripped value),
    so the header block ends with a newline of its own before the signed-header list. Header
    names in ``headers`` may have any case; a signed header that is absent counts as empty.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    names = [name.lower() for name in signed_headers]
    header_block = "".join(f"{name}:{lowered.get(name, '').strip()}\n" for name in names)
    return "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(query),
            header_block,
            ";".join(names),
            body_sha256,
        ]
    )


def v3_string_to_sign(canonical_request: str) -> str:
    return f"{V3_ALGORITHM}\n{sha256_hex(canonical_request.encode('utf-8'))}"


def v3_signature(canonical_request: str, secret: str) -> str:
    """Hex HMAC-SHA256, keyed by the access key secret, of the V3 string to sign."""
    string_to_sign = v3_string_to_sign(canonical_request)
    return hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def v3_authorization(access_key_id: str, signed_headers: Sequence[str], signature: str) -> str:
    return (
        f"{V3_ALGORITHM} Credential={access_key_id},"
        f"SignedHeaders={';'.join(signed_headers)},Signature={signature}"
    )


def v3_headers(
    *,
    host: str,
    action: str,
    version: str,
    body: bytes,
    access_key_id: str,
    access_key_secret: str,
    security_token: str | None = None,
    query: Mapping[str, str] | None = None,
    method: str = "POST",
    path: str = "/",
    now: datetime | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Every header a V3 request must carry, ``Authorization`` included.

    The signed headers are ``host`` and all the ``x-acs-*`` headers built here; a client may
    send further unsigned headers (user-agent, content-type) alongside.
    """
    body_sha256 = sha256_hex(body)
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": format_timestamp(now or datetime.now(timezone.utc)),
        "x-acs-signature-nonce": nonce or str(uuid.uuid4()),
        "x-acs-content-sha256": body_sha256,
    }
    if security_token:
        headers["x-acs-security-token"] = security_token
    signed = sorted(headers)
    canonical = v3_canonical_request(
        method=method,
        path=path,
        query=query or {},
        headers=headers,
        signed_headers=signed,
        body_sha256=body_sha256,
    )
    signature = v3_signature(canonical, access_key_secret)
    headers["Authorization"] = v3_authorization(access_key_id, signed, signature)
    return headers


def parse_v3_authorization(value: str) -> tuple[str, list[str], str]:
    """Split an ``Authorization`` header into (access key id, signed header names, signature).

    Raises ValueError if it is not a well-formed ``ACS3-HMAC-SHA256`` credential. Header names
    come back lower-cased, in the order given; the signature lower-case hex.
    """
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != V3_ALGORITHM:
        raise ValueError(f"the signature algorithm must be {V3_ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, field_value = part.strip().partition("=")
        if not sep or name in fields:
            raise ValueError("the Authorization header is malformed")
        fields[name] = field_value.strip()
    if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise ValueError("Authorization needs exactly Credential, SignedHeaders and Signature")
    access_key_id = fields["Credential"]
    names = [name.strip().lower() for name in fields["SignedHeaders"].split(";")]
    signature = fields["Signature"]
    if not access_key_id:
        raise ValueError("Credential is empty")
    if not all(names):
        raise ValueError("SignedHeaders is empty or has an empty name")
    if not _HEX_SHA256.fullmatch(signature):
        raise ValueError("Signature is not 64 hexadecimal digits")
    return access_key_id, names, signature.lower()


# --- V1: HMAC-SHA1 ----------------------------------------------------------------------------


def v1_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """``METHOD&%2F&`` + the percent-encoded canonical query of every parameter.

    The ``Signature`` parameter itself never takes part, so a verifier can pass the request's
    parameters unchanged. Parameters from the URL and the form body are signed together.
    """
    unsigned = {key: value for key, value in params.items() if key != "Signature"}
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(unsigned))}"


def v1_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    """Base64 HMAC-SHA1 of the V1 string to sign, keyed by ``secret + "&"``."""
    digest = hmac.new(
        f"{secret}&".encode(), v1_string_to_sign(method, params).encode("utf-8"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")
