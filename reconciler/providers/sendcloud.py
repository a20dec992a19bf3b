"""SendCloud unintercept (免拦截) entries: ``unintercept/list|add|delete`` with form posts.

Credentials travel in the POST body, never in a URL. Failure is ``result: false`` whatever the
HTTP status says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
from requests.adapters import BaseAdapter

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
from reconciler.providers.base import (
    ProviderClient,
    decode_json,
    incomplete_list,
    log,
    retry_after,
)

PROVIDER = "SendCloud"
PAGE_SIZE = 100  # the API's maximum
SERVER_ERROR = 501  # SendCloud's documented server error
# Without a ``count`` the list is paged until a short page; this bounds a server that never
# gives one (a million entries).
MAX_PAGES_WITHOUT_COUNT = 10_000

R = TypeVar("R")
Page = tuple[list[UninterceptEntry], int]


class SendCloudClient(ProviderClient):
    provider_name = PROVIDER

    def __init__(
        self, account: Account, secrets: Mapping[str, str], transport: BaseAdapter | None = None
    ) -> None:
        super().__init__(account, transport)
        self._auth = {"apiUser": secrets["apiUser"], "apiKey": secrets["apiKey"]}
        self.secret_values = tuple(v for v in (secrets["apiKey"],) if v)
        self._base = account.endpoint.rstrip("/")

    # -- the three calls -----------------------------------------------------------------

    def list_page(
        self, start: int, limit: int = PAGE_SIZE, filters: Mapping[str, str] | None = None
    ) -> tuple[list[UninterceptEntry], int]:
        """One page and the provider's ``count`` (-1 when it gives none).

        ``filters``: any of ``apiUserName``, ``email``, ``domainName``.
        """
        params = {**(filters or {}), "start": str(start), "limit": str(limit)}
        info = self.call("unintercept/list", params)
        records = info.get("dataList") or []
        count = info.get("count")
        return [_entry(r) for r in records], _count(count)

    def list_all(self) -> tuple[list[UninterceptEntry], int]:
        """Every entry, and the provider's own total (``count``).

        Once the first page gives the total, the other pages are fetched concurrently. A page
        shorter than the total implies is fetched again (see ``_page``); if pages disagree on
        the total,
        the largest is kept. The entries may then be fewer than the total: the plan refuses
        to write such a list (SPEC §5, rule 4) rather than this reading it forever.
        """
        first, count = self._page(0, -1)
        if count < 0:
            return self._list_without_count(first)
        pages = self._map(
            lambda start: self._page(start, count), range(PAGE_SIZE, count, PAGE_SIZE)
        )
        entries = list(first)
        for page, _ in pages:
            entries.extend(page)
        return entries, max([count, *(total for _, total in pages)])

    def add(self, entry: UninterceptEntry) -> None:
        def took_effect() -> dict[str, Any] | None:
            found = self._find(entry)
            return {} if found is not None and found.types == entry.types else None

        types = ";".join(str(bit) for bit in sorted(entry.types))
        self.call("unintercept/add", {**_target(entry), "type": types}, took_effect=took_effect)

    def delete(self, entry: UninterceptEntry) -> None:
        def took_effect() -> dict[str, Any] | None:
            return {} if self._find(entry) is None else None

        self.call("unintercept/delete", _target(entry), took_effect=took_effect)

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

    # -- paging --------------------------------------------------------------------------

    def _page(self, start: int, total: int, filters: Mapping[str, str] | None = None) -> Page:
        """The page at ``start``, fetched again while it is shorter than ``total`` (or its own
        ``count``) implies, up to ``retry.attempts`` reads in all."""
        return self.read_until_complete(
            "unintercept/list",
            lambda: self.list_page(start, filters=filters),
            lambda _page, count: min(PAGE_SIZE, max(total, count) - start),
        )

    def _list_without_count(self, first: list[UninterceptEntry]) -> Page:
        entries = list(first)
        page = first
        pages = 1
        while len(page) >= PAGE_SIZE and pages < MAX_PAGES_WITHOUT_COUNT:
            page, _ = self.list_page(len(entries))
            entries.extend(page)
            pages += 1
        return entries, len(entries)

    def _map(self, fetch: Callable[[int], R], starts: Sequence[int]) -> list[R]:
        """``fetch`` every start, at most ``limits.concurrency`` at once, results in order."""
        workers = min(self.account.limits.concurrency, len(starts))
        if workers <= 1:
            return [fetch(start) for start in starts]
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sendcloud-list")
        try:
            futures = [pool.submit(fetch, start) for start in starts]
            return [future.result() for future in futures]
        finally:
            # After a failure, pages not yet started are not fetched for nothing.
            pool.shutdown(wait=True, cancel_futures=True)

    def _find(self, entry: UninterceptEntry) -> UninterceptEntry | None:
        """The live entry with ``entry``'s key, if any: one filtered ``list`` call.

        Used to tell whether a write took effect: an answer that stays short of its own
        ``count`` cannot tell, so that raises.
        """
        found, count = self._page(0, -1, _target(entry))
        if len(found) < min(count, PAGE_SIZE):
            raise incomplete_list(
                PROVIDER, "unintercept/list", len(found), count, self.account.retry.attempts
            )
        return next((live for live in found if live.key == entry.key), None)

    # -- wire ----------------------------------------------------------------------------

    def call_once(self, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST one call; return its ``info`` or raise ``ProviderError``."""
        response = self.post(action, f"{self._base}/{action}", {**self._auth, **params}, {})
        data = decode_json(response)
        log.debug(
            "%s %s -> HTTP %s, statusCode %s in %.0f ms",
            PROVIDER,
            action,
            response.status_code,
            (data or {}).get("statusCode"),
            response.elapsed.total_seconds() * 1000,
        )
        if data is None or data.get("result") is not True:
            raise _error(action, response, data, self.scrub)
        info = data.get("info")
        return info if isinstance(info, dict) else {}


def _error(
    action: str,
    response: requests.Response,
    data: dict[str, Any] | None,
    scrub: Callable[[str], str] = str,
) -> ProviderError:
    http = response.status_code
    status = (data or {}).get("statusCode", http)
    # A server error, or an answer cut short, may come after the call was carried out;
    # throttling (429) and "unavailable" (503) turn the call away before it.
    uncertain = (
        status == SERVER_ERROR or (http >= 500 and http != 503) or (data is None and http < 400)
    )
    return ProviderError(
        scrub(str((data or {}).get("message") or response.reason or "unexpected answer")),
        provider=PROVIDER,
        action=action,
        code=str(status),
        http_status=http,
        retryable=http >= 500 or http == 429 or status in (SERVER_ERROR, 429) or uncertain,
        retry_after=retry_after(response.headers),
        uncertain=uncertain,
    )


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


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
    if isinstance(raw, list) and all(type(item) is int for item in raw):
        return frozenset(raw) & ALL_TYPES  # the documented shape, and a listing's hot path
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
