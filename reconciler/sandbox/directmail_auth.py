"""How the emulated DirectMail gateway authenticates a call: V3 or V1 signatures, clock, nonce.

Checks run in the gateway's order: signature material present, access key known, signature
right, then the timestamp within 15 minutes and the nonce unused within 15 minutes. A nonce is
spent only by a call whose signature verified, so a forged call cannot burn a real one.
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from reconciler import signing
from reconciler.sandbox.credentials import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from reconciler.sandbox.wire import Request

CLOCK_SKEW = timedelta(minutes=15)
NONCE_WINDOW = timedelta(minutes=15)

# Headers that must be signed whenever they are present (the V3 docs: every common request
# header except Authorization). Clients may sign more; the verifier uses whatever they list.
V3_COMMON_HEADERS = frozenset(
    {
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
        "x-acs-security-token",
    }
)
V3_REQUIRED_HEADERS = (
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
)
# The secret of an access key id, given the security token sent with it; raises AcsError.
SecretLookup = Callable[[str, "str | None", datetime], str]

V1_REQUIRED_PARAMS = (
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
)


class AcsError(Exception):
    """A DirectMail error response: the code, message and HTTP status the gateway returns."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def missing(name: str) -> AcsError:
    return AcsError(
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request '
        "is not supplied.",
    )


def invalid(name: str) -> AcsError:
    return AcsError("InvalidParameter", f'The specified parameter "{name}" is not valid.')


def is_v3(request: Request) -> bool:
    return "authorization" in request.headers


class NonceCache:
    """Nonces seen recently; thread-safe. Entries expire in insertion order."""

    def __init__(self, window: timedelta = NONCE_WINDOW) -> None:
        self._window = window
        # An OrderedDict finds its oldest entry in O(1) however many were dropped before it.
        self._seen: OrderedDict[str, datetime] = OrderedDict()
        self._lock = threading.Lock()

    def spend(self, nonce: str, now: datetime) -> bool:
        """Record the nonce; False if it was already used within the window."""
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at < self._window:
                    break
                del self._seen[oldest]
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


def fixed_key(key_id: str, token: str | None, now: datetime) -> str:
    """The sandbox's one fixed key (a ``SecretLookup``)."""
    _check_access_key(key_id)
    return ACCESS_KEY_SECRET


def authenticate(
    request: Request, nonces: NonceCache, now: datetime, secret_for: SecretLookup = fixed_key
) -> str:
    """The access key id of a request that carries a valid V3 or V1 signature; AcsError
    otherwise. ``secret_for`` finds the secret of a key (temporary keys: see ``sts``)."""
    if is_v3(request):
        key_id, nonce, timestamp = _verify_v3(request, secret_for, now)
    else:
        key_id, nonce, timestamp = _verify_v1(request, secret_for, now)
    _check_timestamp(timestamp, now)
    if not nonces.spend(nonce, now):
        raise AcsError(
            "SignatureNonceUsed", "Specified signature nonce was used already.", status=400
        )
    return key_id


def _verify_v3(request: Request, secret_for: SecretLookup, now: datetime) -> tuple[str, str, str]:
    try:
        access_key_id, signed_headers, signature = signing.parse_v3_authorization(
            request.headers["authorization"]
        )
    except ValueError as exc:
        raise AcsError(
            "IncompleteSignature",
            f"The request signature does not conform to Aliyun standards: {exc}.",
        ) from exc
    for name in V3_REQUIRED_HEADERS:
        if not request.headers.get(name):
            raise missing(name)
    unsigned = sorted((V3_COMMON_HEADERS & request.headers.keys()) - set(signed_headers))
    if unsigned:
        raise AcsError(
            "IncompleteSignature",
            f"The request signature does not conform to Aliyun standards: header "
            f"{', '.join(unsigned)} must be listed in SignedHeaders.",
        )
    secret = secret_for(access_key_id, request.headers.get("x-acs-security-token"), now)
    declared = request.headers["x-acs-content-sha256"]
    if declared.lower() != signing.sha256_hex(request.body):
        raise AcsError(
            "SignatureDoesNotMatch",
            "The x-acs-content-sha256 header does not match the SHA-256 of the request body.",
        )
    canonical = signing.v3_canonical_request(
        method=request.method,
        path=request.path,
        query=request.query,
        headers=request.headers,
        signed_headers=signed_headers,
        body_sha256=declared,
    )
    expected = signing.v3_signature(canonical, secret)
    if not hmac.compare_digest(expected, signature):
        raise _mismatch("canonical request", canonical)
    return access_key_id, request.headers["x-acs-signature-nonce"], request.headers["x-acs-date"]


def _verify_v1(request: Request, secret_for: SecretLookup, now: datetime) -> tuple[str, str, str]:
    params = request.params
    for name in V1_REQUIRED_PARAMS:
        if not params.get(name):
            raise missing(name)
    if params["SignatureMethod"] != signing.V1_METHOD:
        raise invalid("SignatureMethod")
    if params["SignatureVersion"] != signing.V1_VERSION:
        raise invalid("SignatureVersion")
    secret = secret_for(params["AccessKeyId"], params.get("SecurityToken"), now)
    expected = signing.v1_signature(request.method, params, secret)
    if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
        raise _mismatch("string to sign", signing.v1_string_to_sign(request.method, params))
    return params["AccessKeyId"], params["SignatureNonce"], params["Timestamp"]


def _check_access_key(access_key_id: str) -> None:
    if access_key_id != ACCESS_KEY_ID:
        raise AcsError(
            "InvalidAccessKeyId.NotFound", "Specified access key is not found.", status=404
        )


def _mismatch(what: str, server_side: str) -> AcsError:
    # The real gateway echoes what it signed, which is how users debug their signers; that
    # text holds the access key id but never the secret.
    return AcsError(
        "SignatureDoesNotMatch",
        f"Specified signature does not match our calculation. server {what} is:{server_side}",
    )


def _check_timestamp(value: str, now: datetime) -> None:
    try:
        moment = signing.parse_timestamp(value)
    except ValueError as exc:
        raise AcsError(
            "InvalidTimeStamp.Format",
            f'Specified time stamp or date value "{value}" is not well formatted; '
            "the format is YYYY-MM-DDThh:mm:ssZ.",
        ) from exc
    if abs(now - moment) > CLOCK_SKEW:
        raise AcsError("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
