"""The emulated DirectMail API (version 2015-11-23): the five IP-protection calls of SPEC §8,
the five sending-data calls of SPEC §9 (in ``telemetry``) and the tag, domain and sender-address
calls of SPEC §10 (in ``directmail_lists``).

Error codes where the provider documents none, chosen to look like the gateway's own:

- ``AddIpfilter`` with an address that is not a single IPv4 address, a CIDR block ``a.b.c.d/n``
  or a range ``a-b`` (start <= end): ``InvalidIpAddress.Malformed``, HTTP 400.
- ``DeleteIpfilterByEdmId`` with an ``Id`` that names no entry: ``InvalidIpfilterId.NotFound``,
  HTTP 404 (the gateway's ``*.NotFound`` codes are 404s).
- An ``x-acs-version`` / ``Version`` other than 2015-11-23: ``InvalidVersion``, HTTP 400.
- A required parameter absent (``IpProtection``, ``IpAddress``, ``Id``): ``MissingParameter``.

``GetIpfilterList`` answers the whole list as one page, its ``PageSize`` widened to fit, unless
a ``page_size`` is given: then, like a service whose page holds that many, it answers the first
``page_size`` entries with the full ``TotalCount`` (the call takes no paging parameters).

Like the real service, ``AddIpfilter`` stores the address as given and accepts an address that
is already listed, under a new id; ``FromType`` is accepted and ignored.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import datetime
from typing import Any

from reconciler.sandbox import directmail_lists, sts, telemetry, traffic
from reconciler.sandbox.directmail_auth import (
    AcsError,
    NonceCache,
    authenticate,
    invalid,
    is_v3,
    missing,
)
from reconciler.sandbox.state import SandboxState
from reconciler.sandbox.wire import Reply, Request

API_VERSION = "2015-11-23"
ACTIONS = (
    frozenset(
        {
            "GetIpProtection",
            "UpdateIpProtection",
            "GetIpfilterList",
            "AddIpfilter",
            "DeleteIpfilterByEdmId",
        }
    )
    | telemetry.ACTIONS
    | directmail_lists.ACTIONS
)
DEFAULT_PAGE_SIZE = 10
DEFAULT_HOST_ID = "dm.aliyuncs.com"

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_SINGLE = re.compile(_IPV4)
_CIDR = re.compile(rf"{_IPV4}/(?:3[0-2]|[12]?[0-9])")
_RANGE = re.compile(rf"({_IPV4})-({_IPV4})")


def action_of(request: Request) -> str:
    """The action a request names (V3 header or V1 parameter); empty if none."""
    if is_v3(request):
        return request.headers.get("x-acs-action", "")
    return request.params.get("Action", "")


def request_id() -> str:
    return str(uuid.uuid4()).upper()


def error_reply(error: AcsError, host_id: str = DEFAULT_HOST_ID) -> Reply:
    """The gateway's error shape; also what injected faults should answer with."""
    rid = request_id()
    return Reply(
        error.status,
        {
            "RequestId": rid,
            "HostId": host_id,
            "Code": error.code,
            "Message": error.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={error.code}&product=Dm"
            f"&requestId={rid}",
        },
    )


def handle(
    request: Request,
    state: SandboxState,
    nonces: NonceCache,
    now: datetime,
    page_size: int | None = None,
    quotas: telemetry.Quotas | None = None,
    keys: sts.KeyStore | None = None,
) -> Reply:
    """Route, authenticate and carry out one DirectMail call; ``keys``: the temporary keys
    STS issued, accepted besides the fixed one."""
    try:
        action = _route(request)
        if keys is None:
            authenticate(request, nonces, now)
        else:
            keys.authorize(authenticate(request, nonces, now, keys.secret_for), action)
        if action in telemetry.ACTIONS:
            if quotas is not None:
                quotas.spend(action)
            return Reply(200, telemetry.perform(action, request.params, _view(state, now)))
        if action in directmail_lists.ACTIONS:
            answer = directmail_lists.perform(action, request.params, state)
            return Reply(200, {"RequestId": request_id(), **answer})
        return Reply(200, _perform(action, request.params, state, page_size))
    except AcsError as error:
        return error_reply(error, request.headers.get("host") or DEFAULT_HOST_ID)


def _view(state: SandboxState, now: datetime) -> telemetry.View:
    with state.lock:
        config = state.traffic
        guard = traffic.protection(
            config,
            state.ip_protection == "1",
            state.ip_protection_since,
            [record["IpAddress"] for record in state.ipfilters],
        )
    return telemetry.View(config, guard, now)


def _route(request: Request) -> str:
    action = action_of(request)
    if is_v3(request):
        version = request.headers.get("x-acs-version", "")
    else:
        version = request.params.get("Version", "")
    if not action:
        raise missing("Action")
    if not version:
        raise missing("Version")
    if version != API_VERSION:
        raise AcsError("InvalidVersion", f'Specified parameter Version "{version}" is not valid.')
    if action not in ACTIONS:
        raise AcsError(
            "InvalidAction.NotFound",
            f'Specified api "{action}" is not found, please check your url and method.',
            status=404,
        )
    return action


def _perform(
    action: str, params: dict[str, str], state: SandboxState, page_size: int | None = None
) -> dict[str, Any]:
    match action:
        case "GetIpProtection":
            with state.lock:
                return {"IpProtection": state.ip_protection, "RequestId": request_id()}
        case "UpdateIpProtection":
            value = _required(params, "IpProtection")
            if value not in ("0", "1"):
                raise invalid("IpProtection")
            state.set_ip_protection(value)
            return {"RequestId": request_id()}
        case "GetIpfilterList":
            with state.lock:
                entries = [dict(record) for record in state.ipfilters]
            # The service's page holds 10; unless told otherwise, widened so that one page is
            # always the whole list.
            size = page_size or max(DEFAULT_PAGE_SIZE, len(entries))
            return {
                "RequestId": request_id(),
                "PageNumber": 1,
                "PageSize": size,
                "TotalCount": len(entries),
                "data": {"ipfilters": entries[:size]},
            }
        case "AddIpfilter":
            address = _required(params, "IpAddress")
            if not is_valid_ip_entry(address):
                raise AcsError(
                    "InvalidIpAddress.Malformed",
                    f'Specified IpAddress "{address}" is not a valid IPv4 address, '
                    "CIDR block (a.b.c.d/n) or range (a.b.c.d-e.f.g.h).",
                )
            record = state.add_ipfilter(address)
            return {"RequestId": request_id(), "IpFilterId": record["Id"]}
        case "DeleteIpfilterByEdmId":
            ipfilter_id = _required(params, "Id")
            if not state.delete_ipfilter(ipfilter_id):
                raise AcsError(
                    "InvalidIpfilterId.NotFound",
                    f'Specified ip filter "{ipfilter_id}" does not exist.',
                    status=404,
                )
            return {"RequestId": request_id()}
    raise AssertionError(f"unrouted action {action}")  # _route admits only ACTIONS


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise missing(name)
    return value


def is_valid_ip_entry(text: str) -> bool:
    """A single IPv4 address, a CIDR block or an ascending range, written strictly."""
    if _SINGLE.fullmatch(text) or _CIDR.fullmatch(text):
        return True
    match = _RANGE.fullmatch(text)
    if match is None:
        return False
    return ipaddress.IPv4Address(match[1]) <= ipaddress.IPv4Address(match[2])
