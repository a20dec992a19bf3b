"""Alibaba Cloud DirectMail (``dm``, API version 2015-11-23, RPC style) over V3 signatures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from reconciler.addresses import canonical_ip_entry
from reconciler.errors import ProviderError
from reconciler.model import Account, AccountDesired, AccountLive, IpEntry
from reconciler.plan import Action, Change, Resource
from reconciler.providers.base import ProviderClient, decode_json, log
from reconciler.signing import percent_encode, v3_headers

API_VERSION = "2015-11-23"
PROVIDER = "DirectMail"
RETRYABLE_CODES = ("Throttling", "ServiceUnavailable", "InternalError")


class DirectMailClient(ProviderClient):
    provider_name = PROVIDER

    def __init__(self, account: Account, secrets: Mapping[str, str]) -> None:
        super().__init__(account)
        self._key_id = secrets["accessKeyId"]
        self._secret = secrets["accessKeySecret"]
        self._token = secrets.get("securityToken")
        self._url = account.endpoint.rstrip("/") + "/"
        self._host = urlsplit(account.endpoint).netloc

    # -- the five calls ------------------------------------------------------------------

    def get_ip_protection(self) -> bool:
        data = self.call("GetIpProtection")
        return str(data.get("IpProtection")) == "1"

    def update_ip_protection(self, enabled: bool) -> None:
        self.call("UpdateIpProtection", {"IpProtection": "1" if enabled else "0"})

    def get_ipfilter_list(self) -> tuple[list[IpEntry], int]:
        data = self.call("GetIpfilterList")
        records = (data.get("data") or {}).get("ipfilters") or []
        entries = [_ip_entry(record) for record in records]
        total = _int(data.get("TotalCount"), default=len(entries))
        return entries, total

    def add_ipfilter(self, address: str) -> str:
        data = self.call("AddIpfilter", {"IpAddress": address})
        return str(data.get("IpFilterId", ""))

    def delete_ipfilter(self, ident: str) -> None:
        self.call("DeleteIpfilterByEdmId", {"Id": ident})

    # -- ProviderClient ------------------------------------------------------------------

    def read(self, desired: AccountDesired) -> AccountLive:
        live = AccountLive()
        if desired.protection is not None:
            live.protection = self.get_ip_protection()
        if desired.whitelist is not None:
            live.whitelist, live.whitelist_total = self.get_ipfilter_list()
        return live

    def apply(self, change: Change) -> str | None:
        match change.resource, change.action:
            case Resource.IP_PROTECTION, _:
                self.update_ip_protection(bool(change.after))
                return None
            case Resource.IP_WHITELIST, Action.CREATE:
                assert isinstance(change.after, IpEntry)
                return f"id {self.add_ipfilter(change.after.address)}"
            case Resource.IP_WHITELIST, Action.DELETE:
                assert isinstance(change.before, IpEntry) and change.before.id
                self.delete_ipfilter(change.before.id)
                return None
        raise AssertionError(f"DirectMail cannot carry out {change.resource} {change.action}")

    # -- wire ----------------------------------------------------------------------------

    def call(self, action: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """POST one signed RPC call; return the decoded answer or raise ``ProviderError``."""
        body = "&".join(
            f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted((params or {}).items())
        ).encode()
        headers = v3_headers(
            host=self._host,
            action=action,
            version=API_VERSION,
            body=body,
            access_key_id=self._key_id,
            access_key_secret=self._secret,
            security_token=self._token,
        )
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Accept"] = "application/json"
        response = self.post(action, self._url, body, headers)
        data = decode_json(response)
        log.debug(
            "%s %s -> HTTP %s in %.0f ms (request id %s)",
            PROVIDER,
            action,
            response.status_code,
            response.elapsed.total_seconds() * 1000,
            (data or {}).get("RequestId"),
        )
        if response.status_code >= 400 or data is None or ("Code" in data and "Message" in data):
            raise _error(action, response, data)
        return data


def _error(action: str, response: requests.Response, data: dict[str, Any] | None) -> ProviderError:
    data = data or {}
    code = str(data.get("Code") or f"HTTP{response.status_code}")
    message = str(data.get("Message") or response.reason or "unexpected answer")
    return ProviderError(
        message,
        provider=PROVIDER,
        action=action,
        code=code,
        request_id=data.get("RequestId") or response.headers.get("x-acs-request-id"),
        http_status=response.status_code,
        retryable=response.status_code >= 500 or code.startswith(RETRYABLE_CODES),
    )


def _ip_entry(record: Mapping[str, Any]) -> IpEntry:
    raw = str(record.get("IpAddress", ""))
    try:
        address = canonical_ip_entry(raw)
    except ValueError:
        address = raw.strip()  # keep what the provider holds; the plan can still delete it
    return IpEntry(address=address, id=str(record.get("Id", "")), raw=raw)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
