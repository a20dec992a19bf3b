"""SendCloud unintercept (免拦截) entries: ``unintercept/list|add|delete`` with form posts.

Credentials travel in the POST body, never in a URL. Failure is ``result: false`` whatever the
HTTP status says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, NoReturn, Protocol, TypeVar

import requests

from reconciler.errors import ProviderError
from reconciler.model import (
    ALL_API_USERS,
    ALL_TYPES,
    UNINTERCEPT_TYPES,
    Target,
    UninterceptEntry,
)
from reconciler.outcome import ALREADY_GONE
from reconciler.providers.answers import MAX_ENTRIES, Checker
from reconciler.providers.base import (
    ProviderClient,
    decode_json,
    incomplete_list,
    log,
    naming_errors,
    retry_after,
)

PROVIDER = "SendCloud"
PAGE_SIZE = 100  # the API's maximum
SERVER_ERROR = 501  # SendCloud's documented server error
# Pages are read until a short one; this bounds a server that never sends one (a million
# entries, the most any count may claim).
MAX_PAGES = MAX_ENTRIES // PAGE_SIZE
LIST = "unintercept/list"

R = TypeVar("R")
T = TypeVar("T")
Page = tuple[list[UninterceptEntry], int]


class SendCloudClient(ProviderClient):
    provider_name = PROVIDER

    def _configure(self, secrets: Mapping[str, str]) -> None:
        self._auth = {"apiUser": secrets["apiUser"], "apiKey": secrets["apiKey"]}
        self.secret_values = tuple(v for v in (secrets["apiKey"],) if v)
        self._base = self.account.endpoint.rstrip("/")

    # -- the three calls -----------------------------------------------------------------

    def list_page(
        self, start: int, limit: int = PAGE_SIZE, filters: Mapping[str, str] | None = None
    ) -> tuple[list[UninterceptEntry], int]:
        """One page and the provider's ``count`` (-1 when it gives none).

        ``filters``: any of ``apiUserName``, ``email``, ``domainName``.
        """
        params = {**(filters or {}), "start": str(start), "limit": str(limit)}
        info = self.call(LIST, params)
        check = Checker(PROVIDER, LIST)
        records = check.records(info.get("dataList"), "info.dataList")
        count = -1 if info.get("count") is None else check.count(info["count"], "info.count")
        entries = [_entry(check, index, record) for index, record in enumerate(records)]
        return entries, count

    def list_all(self) -> tuple[list[UninterceptEntry], int]:
        """Every entry, and the number of entries the provider says it holds.

        Pages are read until a page shorter than ``limit`` (SPEC §6). Once a ``count`` above
        one page shows that it is the total, the pages it implies are fetched concurrently. The
        rows read must agree with ``count`` under one of its meanings, the total or the rows of
        each page: a larger total is returned as it is, so that the plan refuses the short
        list (SPEC §5 rule 4); any other disagreement is an ``InconsistentAnswer``.
        """
        # Each page joins the entries as it comes in, in order, while later pages are still
        # on their way: once the last one arrives, little is left to do.
        merged = _Merged()
        _, total = self.list_into(merged)
        if merged.conflict is not None:
            self.refuse_twice(merged.conflict)
        return list(merged.entries.values()), total - merged.repeats  # the same record twice is one

    @naming_errors
    def refuse_twice(self, entry: UninterceptEntry) -> NoReturn:
        """Raise what ``list_all`` raises for a list holding ``entry``'s key twice with other
        types, for a list read with ``list_into``."""
        raise Checker(PROVIDER, LIST).inconsistent(conflict_message(entry))

    @naming_errors
    def list_into(self, sink: Sink) -> tuple[int, int]:
        """Page through the whole list as ``list_all`` does, giving each page's entries to
        ``sink.add`` in list order as soon as it and those before it are in, and keeping
        nothing of them: the rows read and the total to judge them by (rows below the total:
        SPEC §5 rule 4). Entries listed twice are the sink's to join."""
        pages = [_shape(sink.add(self._page(0, -1)))]
        count = pages[0][1]
        if count > PAGE_SIZE:  # only a total can exceed a page
            pages += self._map(
                lambda start: self._page(start, count),
                range(PAGE_SIZE, count, PAGE_SIZE),
                lambda page: _shape(sink.add(page)),
            )
        while pages[-1][0] >= PAGE_SIZE and not _read_to_total(pages):
            if len(pages) >= MAX_PAGES:
                raise Checker(PROVIDER, LIST).bad(
                    f"no short page after {MAX_PAGES:,} pages of {PAGE_SIZE}"
                )
            pages.append(_shape(sink.add(self._page(len(pages) * PAGE_SIZE, -1))))
        return _reconcile(pages)

    def add(self, entry: UninterceptEntry) -> None:
        def took_effect() -> dict[str, Any] | None:
            found = self._find(entry)
            return {} if found is not None and found.types == entry.types else None

        types = ";".join(str(bit) for bit in sorted(entry.types))
        self.call("unintercept/add", {**_target(entry), "type": types}, took_effect=took_effect)

    def delete(self, entry: UninterceptEntry) -> str | None:
        """Delete one entry; ``"already gone"`` when the provider deleted nothing."""

        def took_effect() -> dict[str, Any] | None:
            return {"count": 1} if self._find(entry) is None else None

        info = self.call("unintercept/delete", _target(entry), took_effect=took_effect)
        if info.get("count") is None:
            return None
        gone = Checker(PROVIDER, "unintercept/delete").count(info["count"], "info.count") == 0
        return ALREADY_GONE if gone else None

    # -- paging --------------------------------------------------------------------------

    def _page(self, start: int, total: int, filters: Mapping[str, str] | None = None) -> Page:
        """The page at ``start``, fetched again while it is shorter than ``total`` (or its own
        ``count``) implies, up to ``retry.attempts`` reads in all."""
        return self.read_until_complete(
            "unintercept/list",
            lambda: self.list_page(start, filters=filters),
            lambda _page, count: min(PAGE_SIZE, max(total, count) - start),
        )

    def _map(
        self, fetch: Callable[[int], R], starts: Sequence[int], then: Callable[[R], T]
    ) -> list[T]:
        """``fetch`` every start, at most ``limits.concurrency`` at once, results in order;
        in the shared pool of ``executor`` when there is one. Each result goes through
        ``then`` in this thread, in order, as soon as it and those before it are in; only
        what ``then`` returns is kept."""
        workers = min(self.account.limits.concurrency, len(starts))
        if workers <= 1:
            return [then(fetch(start)) for start in starts]
        own = self.executor is None
        pool = self.executor or ThreadPoolExecutor(workers, thread_name_prefix="sendcloud-list")
        futures: list[Future[R] | None] = [pool.submit(fetch, start) for start in starts]
        try:
            results = []
            for index, future in enumerate(futures):
                assert future is not None
                results.append(then(future.result()))
                futures[index] = None  # its page is joined: let it go
            return results
        finally:
            # After a failure, pages not yet started are not fetched for nothing.
            pending = [future for future in futures if future is not None]
            for future in pending:
                future.cancel()
            if own:
                pool.shutdown(wait=True)
            else:
                wait(pending)

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
            "account %s: %s %s -> HTTP %s, statusCode %s in %.0f ms",
            self.account.name,
            PROVIDER,
            action,
            response.status_code,
            (data or {}).get("statusCode"),
            response.elapsed.total_seconds() * 1000,
        )
        if data is not None and not isinstance(data.get("result"), bool):
            raise Checker(PROVIDER, action).bad(f"result is {data.get('result')!r:.40}, not a bool")
        if data is None or data.get("result") is not True:
            raise self._answer_error(action, response, data)
        info = data.get("info")
        return dict(Checker(PROVIDER, action).mapping({} if info is None else info, "info"))

    def _answer_error(
        self, action: str, response: requests.Response, data: dict[str, Any] | None
    ) -> ProviderError:
        """The error an answer of ``action`` means; provider text in it is scrubbed."""
        http = response.status_code
        status = (data or {}).get("statusCode", http)
        # A server error, or an answer cut short, may come after the call was carried out;
        # throttling (429) and "unavailable" (503) turn the call away before it.
        uncertain = (
            status == SERVER_ERROR or (http >= 500 and http != 503) or (data is None and http < 400)
        )
        return ProviderError(
            self.scrub(str((data or {}).get("message") or response.reason or "unexpected answer")),
            provider=PROVIDER,
            action=action,
            code=str(status),
            http_status=http,
            retryable=http >= 500 or http == 429 or status in (SERVER_ERROR, 429) or uncertain,
            retry_after=retry_after(response.headers),
            uncertain=uncertain,
        )


def _read_to_total(pages: Sequence[tuple[int, int]]) -> bool:
    """Whether a ``count`` above one page (so: the total) shows that every entry is read."""
    counts = [count for _, count in pages if count > PAGE_SIZE]
    return bool(counts) and sum(rows for rows, _ in pages) >= max(counts)


def _shape(page: Page) -> tuple[int, int]:
    """What paging keeps of a page once its entries are joined: its rows and its count."""
    return len(page[0]), page[1]


class Sink(Protocol):
    """Where ``list_into`` gives each page, in list order."""

    def add(self, page: Page) -> Page: ...


class _Merged:
    """The entries of pages joined in order: each key once, how many records repeated an
    entry already read, and the first record listed again with other types, if any."""

    def __init__(self) -> None:
        self.entries: dict[str, UninterceptEntry] = {}
        self.repeats = 0
        self.conflict: UninterceptEntry | None = None

    def add(self, page: Page) -> Page:
        """Join ``page`` (the page after those added before it); return it."""
        if self.conflict is not None:
            return page
        entries = self.entries
        for entry in page[0]:
            known = entries.setdefault(entry.key, entry)
            if known is entry:
                continue
            if known.types != entry.types:
                self.conflict = entry
                break
            self.repeats += 1
        return page


def conflict_message(entry: UninterceptEntry) -> str:
    """What is wrong with a list holding ``entry`` twice with different types."""
    return (
        f"{entry.target.value} {entry.value} (apiUser {entry.api_user}) is listed "
        "twice with different types"
    )


def _reconcile(pages: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The rows of every page, and the total to judge them by (see ``list_all``)."""
    check = Checker(PROVIDER, LIST)
    rows = sum(page for page, _ in pages)
    counts = [count for _, count in pages if count >= 0]
    as_total = all(count == rows for count in counts)
    as_page = all(count in (-1, page) for page, count in pages)
    total = rows
    if not (as_total or as_page):
        if max(counts) <= rows:
            raise check.inconsistent(
                f"{rows} {'entry' if rows == 1 else 'entries'} read in {len(pages)} "
                f"page{'' if len(pages) == 1 else 's'}, but count says "
                f"{', '.join(str(c) for c in counts)}: neither the total nor each page's rows"
            )
        total = max(counts)  # fewer than the total: the plan refuses the list (rule 4)
    return rows, total


def _target(entry: UninterceptEntry) -> dict[str, str]:
    field = "email" if entry.target is Target.EMAIL else "domainName"
    return {"apiUserName": entry.api_user, field: entry.value}


def _entry(check: Checker, index: int, record: Mapping[str, Any]) -> UninterceptEntry:
    api_user, email, domain = record.get("apiUserName"), record.get("email"), record.get("domain")
    if not (type(api_user) is str and type(email) is str and type(domain) is str):
        # Not three strings, as a page of records nearly always has: check each in turn.
        where = f"dataList[{index}]"
        api_user = check.text(api_user, f"{where}.apiUserName", required=False)
        email = check.text(email, f"{where}.email", required=False)
        domain = check.text(domain, f"{where}.domain", required=False)
    api_user = api_user.strip() or ALL_API_USERS
    if api_user.lower() == ALL_API_USERS:
        api_user = ALL_API_USERS
    email, domain = email.strip(), domain.strip()
    if bool(email) == bool(domain):
        raise check.bad(f"dataList[{index}] has {'both' if email else 'neither'} email and domain")
    target, value = (Target.EMAIL, email) if email else (Target.DOMAIN, domain)
    types = _types(record.get("type"))
    if types is None:
        raise check.bad(
            f"dataList[{index}].type is {record.get('type')!r:.40}, not types among 1, 2, 4, 8"
        )
    return UninterceptEntry(api_user, target, value, types)


_VALID_TYPES = frozenset(UNINTERCEPT_TYPES.values())
# The type sets seen in answers (subsets of 1, 2, 4, 8), each kept once.
_TYPE_SETS: dict[frozenset[int], frozenset[int]] = {}


def _types(raw: Any) -> frozenset[int] | None:
    """The record's types; the docs show a list of ints, be lenient with ``"1;2"`` and masks.
    ``None`` when a value is not a type (or the field is not one of these shapes)."""
    valid = _VALID_TYPES
    if isinstance(raw, list) and all(type(item) is int for item in raw):
        # The documented shape, the hot path. A million records hold at most 16 distinct
        # type sets: share them instead of keeping one per record.
        types = frozenset(raw)
        return _TYPE_SETS.setdefault(types, types) if types <= valid else None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return frozenset(bit for bit in valid if raw & bit) if 0 <= raw <= sum(valid) else None
    if raw is None:
        return ALL_TYPES
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.replace(",", ";").split(";") if part.strip()]
    if not isinstance(raw, list):
        return None
    bits = set()
    for item in raw:
        if isinstance(item, bool) or not isinstance(item, int | str) or not str(item).isdigit():
            return None
        bits.add(int(item))
    return frozenset(bits) if bits <= valid else None
