"""SendCloud unintercept (免拦截) entries: ``unintercept/list|add|delete`` with form posts.

Credentials travel in the POST body, never in a URL. Failure is ``result: false`` whatever the
HTTP status says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.errors import ProviderError
from reconciler.model import (
    ALL_API_USERS,
    ALL_TYPES,
    UNINTERCEPT_TYPES,
    Account,
    AccountDesired,
    AccountLive,
    Target,
    UninterceptEntry,
)
from reconciler.plan import Action, Change, Resource
from reconciler.providers.base import ProviderClient, decode_json, log

PROVIDER = "SendCloud"
PAGE_SIZE = 100  # the API's maximum
RETRYABLE_STATUS = 501


class SendCloudClient(ProviderClient):
    provider_name = PROVIDER

    def __init__(self, account: Account, secrets: Mapping[str, str]) -> None:
        super().__init__(account)
        self._auth = {"apiUser": secrets["apiUser"], "apiKey": secrets["apiKey"]}
        self._base = account.endpoint.rstrip("/")

    # -- the three calls -----------------------------------------------------------------

    def list_page(self, start: int, limit: int = PAGE_SIZE) -> tuple[list[UninterceptEntry], int]:
        info = self.call("unintercept/list", {"start": str(start), "limit": str(limit)})
        records = info.get("dataList") or []
        count = info.get("count")
        return [_entry(r) for r in records], int(count) if count is not None else -1

    def list_all(self) -> tuple[list[UninterceptEntry], int]:
        """Every entry, page by page until ``count`` is reached; returns (entries, count)."""
        entries, count = self.list_page(0)
        while count >= 0 and len(entries) < count:
            page, count = self.list_page(len(entries))
            if not page:  # the server says there is more but gives nothing: stop, report
                break
            entries.extend(page)
        return entries, count if count >= 0 else len(entries)

    def add(self, entry: UninterceptEntry) -> None:
        types = ";".join(str(bit) for bit in sorted(entry.types))
        self.call("unintercept/add", {**_target(entry), "type": types})

    def delete(self, entry: UninterceptEntry) -> None:
        self.call("unintercept/delete", _target(entry))

    # -- ProviderClient ------------------------------------------------------------------

    def read(self, desired: AccountDesired) -> AccountLive:
        live = AccountLive()
        if desired.unintercepts is not None:
            live.unintercepts, live.unintercept_total = self.list_all()
        return live

    def apply(self, change: Change) -> str | None:
        match change.resource, change.action:
            case Resource.UNINTERCEPT, Action.CREATE:
                assert isinstance(change.after, UninterceptEntry)
                self.add(change.after)
            case Resource.UNINTERCEPT, Action.DELETE:
                assert isinstance(change.before, UninterceptEntry)
                self.delete(change.before)
            case Resource.UNINTERCEPT, Action.UPDATE:
                # There is no update call: delete, then add with the new types.
                assert isinstance(change.before, UninterceptEntry)
                assert isinstance(change.after, UninterceptEntry)
                self.delete(change.before)
                self.add(change.after)
            case _:
                raise AssertionError(f"SendCloud cannot carry out {change.resource}")
        return None

    # -- wire ----------------------------------------------------------------------------

    def call(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST one call; return its ``info`` or raise ``ProviderError``."""
        response = self.post(path, f"{self._base}/{path}", {**self._auth, **params}, {})
        data = decode_json(response)
        log.debug(
            "%s %s -> HTTP %s, statusCode %s in %.0f ms",
            PROVIDER,
            path,
            response.status_code,
            (data or {}).get("statusCode"),
            response.elapsed.total_seconds() * 1000,
        )
        if data is None or data.get("result") is not True:
            data = data or {}
            status = data.get("statusCode", response.status_code)
            raise ProviderError(
                str(data.get("message") or response.reason or "unexpected answer"),
                provider=PROVIDER,
                action=path,
                code=str(status),
                http_status=response.status_code,
                retryable=response.status_code >= 500 or status == RETRYABLE_STATUS,
            )
        info = data.get("info")
        return info if isinstance(info, dict) else {}


def _target(entry: UninterceptEntry) -> dict[str, str]:
    field = "email" if entry.target is Target.EMAIL else "domainName"
    return {"apiUserName": entry.api_user, field: entry.value}


def _entry(record: Mapping[str, Any]) -> UninterceptEntry:
    api_user = str(record.get("apiUserName") or "").strip() or ALL_API_USERS
    if api_user.lower() == ALL_API_USERS:
        api_user = ALL_API_USERS
    email = str(record.get("email") or "").strip()
    target, value = (
        (Target.EMAIL, email) if email else (Target.DOMAIN, str(record.get("domain") or "").strip())
    )
    return UninterceptEntry(api_user, target, value, _types(record.get("type")))


def _types(raw: Any) -> frozenset[int]:
    """The record's types; the docs show a list of ints, be lenient with ``"1;2"`` and masks."""
    valid = set(UNINTERCEPT_TYPES.values())
    if isinstance(raw, int):
        return frozenset(bit for bit in valid if raw & bit)
    if isinstance(raw, str):
        raw = [part for part in raw.replace(",", ";").split(";") if part.strip()]
    if isinstance(raw, list):
        bits = set()
        for item in raw:
            try:
                bits.add(int(item))
            except (TypeError, ValueError):
                continue
        return frozenset(bits & valid)
    return ALL_TYPES
