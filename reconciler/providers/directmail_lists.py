"""DirectMail's tag, sending-domain and sender-address calls (SPEC §10), for ``DirectMailClient``.

``ListCalls`` is a base of ``DirectMailClient``: its methods go through the client's ``call``
(V3-signed, every parameter in the query as a string, retries, the account's limits and
quotas). Listings are paged (``PageNo`` from 1, ``PageSize`` 50) until ``TotalCount`` rows are
in hand; the provider may serve fewer rows a page than asked and says so in the answer's
``PageSize``. A page shorter than the ``PageSize`` it states before ``TotalCount`` is reached,
rows past ``TotalCount``, a ``TotalCount`` that changes between pages, or one id listed twice is
incomplete or inconsistent live state (SPEC §5 rule 4, ``InconsistentAnswer``): the listing is
read again from its first page, up to ``retry.attempts`` reads, and then refused.

Writes pass ``took_effect`` so that a write whose outcome is unknown is repeated only if live
state shows it did not take effect (SPEC §6). Deletes return ``False`` when the entry was
already gone (``InvalidTag.NotFound``, ``InvalidDomainId.NotFound``,
``InvalidMailAddressId.NotFound``): the goal holds, and the caller notes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from reconciler.errors import ProviderError
from reconciler.providers.answers import MAX_ENTRIES, Checker, InconsistentAnswer
from reconciler.providers.base import ProviderClient, given, log, naming_errors
from reconciler.providers.directmail_entries import (
    Domain,
    DomainRecords,
    SenderAddress,
    Tag,
    address_entry,
    domain_entry,
    domain_records,
    tag_entry,
)

PROVIDER = "DirectMail"
PAGE_SIZE = 50
# Deletes of an entry that is already gone (SPEC §10); the last is the sandbox's code, as the
# provider documents none for sender addresses.
TAG_GONE = "InvalidTag.NotFound"
DOMAIN_GONE = "InvalidDomainId.NotFound"
ADDRESS_GONE = "InvalidMailAddressId.NotFound"
# CreateMailAddress of an address that exists.
ADDRESS_DUPLICATE = "InvalidMailAddressName.Duplicate"
SENDTYPES = ("batch", "trigger")

QUERY_TAGS = "QueryTagByParam"
QUERY_DOMAINS = "QueryDomainByParam"
QUERY_ADDRESSES = "QueryMailAddressByParam"

Entry = TypeVar("Entry", Tag, Domain, SenderAddress)


class ListCalls(ProviderClient):
    """The thirteen calls of SPEC §10; ``DirectMailClient`` provides the wire."""

    # -- tags ----------------------------------------------------------------------------

    @naming_errors
    def list_tags(self, keyword: str = "") -> list[Tag]:
        """Every tag (``QueryTagByParam``), in the provider's order; ``keyword`` filters."""
        return self._listing(QUERY_TAGS, given(KeyWord=keyword), "tag", tag_entry)

    @naming_errors
    def create_tag(self, name: str, description: str = "") -> str:
        """``CreateTag``; the new ``TagId``."""

        def took_effect() -> dict[str, Any] | None:
            ids = [t.id for t in self.list_tags() if t.name == name]
            return {"TagId": ids[0]} if ids else None

        params = {"TagName": name, **given(TagDescription=description)}
        data = self.call("CreateTag", params, took_effect=took_effect)
        check = Checker(PROVIDER, "CreateTag", data.get("RequestId"))
        return check.text(data.get("TagId"), "TagId").strip()

    @naming_errors
    def modify_tag(self, ident: str, name: str, description: str = "") -> None:
        """``ModifyTag``: ``TagName`` is required even when only the description changes; the
        description is always sent, so an empty one clears it."""

        def took_effect() -> dict[str, Any] | None:
            done = any(
                t.id == ident and t.name == name and t.description == description
                for t in self.list_tags()
            )
            return {} if done else None

        params = {"TagId": ident, "TagName": name, "TagDescription": description}
        self.call("ModifyTag", params, took_effect=took_effect)

    @naming_errors
    def delete_tag(self, ident: str) -> bool:
        """``DeleteTag``; ``False`` if the tag was already gone."""
        return self._delete("DeleteTag", {"TagId": ident}, TAG_GONE, self.list_tags)

    # -- domains -------------------------------------------------------------------------

    @naming_errors
    def list_domains(self, keyword: str = "", status: str = "") -> list[Domain]:
        """Every sending domain (``QueryDomainByParam``); ``keyword`` and ``status`` filter."""
        params = given(KeyWord=keyword, Status=status)
        return self._listing(QUERY_DOMAINS, params, "domain", domain_entry)

    @naming_errors
    def describe_domain(self, ident: str, *, real_time: bool = False) -> DomainRecords:
        """``DescDomain``: the DNS records the domain needs and their statuses."""
        params = {"DomainId": ident}
        if real_time:
            params["RequireRealTimeDnsRecords"] = "true"
        data = self.call("DescDomain", params)
        return domain_records(Checker(PROVIDER, "DescDomain", data.get("RequestId")), data)

    @naming_errors
    def create_domain(self, name: str) -> str:
        """``CreateDomain``; the new ``DomainId``."""
        wanted = name.strip().lower()

        def took_effect() -> dict[str, Any] | None:
            ids = [d.id for d in self.list_domains() if d.name == wanted]
            return {"DomainId": ids[0]} if ids else None

        data = self.call("CreateDomain", {"DomainName": name}, took_effect=took_effect)
        check = Checker(PROVIDER, "CreateDomain", data.get("RequestId"))
        return check.text(data.get("DomainId"), "DomainId").strip()

    @naming_errors
    def delete_domain(self, ident: str) -> bool:
        """``DeleteDomain`` (refused by the provider while the domain has sender addresses);
        ``False`` if it was already gone."""
        return self._delete("DeleteDomain", {"DomainId": ident}, DOMAIN_GONE, self.list_domains)

    @naming_errors
    def check_domain(self, ident: str) -> int:
        """``CheckDomain``: ask the provider to verify the domain's DNS; its ``DomainStatus``
        (1 not verified, any other value verified)."""
        data = self.call("CheckDomain", {"DomainId": ident})
        check = Checker(PROVIDER, "CheckDomain", data.get("RequestId"))
        value = data.get("DomainStatus")
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise check.bad(f"DomainStatus is {value!r:.40}, not a status number")
        return value

    # -- sender addresses ----------------------------------------------------------------

    @naming_errors
    def list_mail_addresses(self, keyword: str = "", sendtype: str = "") -> list[SenderAddress]:
        """Every sender address (``QueryMailAddressByParam``); ``keyword``, ``sendtype``
        filter."""
        params = given(KeyWord=keyword, Sendtype=sendtype)
        return self._listing(QUERY_ADDRESSES, params, "mailAddress", address_entry)

    @naming_errors
    def create_mail_address(self, address: str, sendtype: str, reply_to: str = "") -> str:
        """``CreateMailAddress``; the new ``MailAddressId``. An address that exists is the
        provider's ``InvalidMailAddressName.Duplicate`` (``ADDRESS_DUPLICATE``)."""
        if sendtype not in SENDTYPES:
            raise ValueError(f"sendtype must be batch or trigger, not {sendtype!r}")
        wanted = address.strip().lower()

        def took_effect() -> dict[str, Any] | None:
            ids = [a.id for a in self.list_mail_addresses() if a.address == wanted]
            return {"MailAddressId": ids[0]} if ids else None

        params = {"AccountName": address, "Sendtype": sendtype, **given(ReplyAddress=reply_to)}
        data = self.call("CreateMailAddress", params, took_effect=took_effect)
        check = Checker(PROVIDER, "CreateMailAddress", data.get("RequestId"))
        return check.text(data.get("MailAddressId"), "MailAddressId").strip()

    @naming_errors
    def modify_mail_address(self, ident: str, reply_to: str) -> None:
        """``ModifyMailAddress``: set the reply-to address (the password is not managed)."""

        def took_effect() -> dict[str, Any] | None:
            done = any(
                a.id == ident and a.reply_to == reply_to.strip() for a in self.list_mail_addresses()
            )
            return {} if done else None

        params = {"MailAddressId": ident, "ReplyAddress": reply_to}
        self.call("ModifyMailAddress", params, took_effect=took_effect)

    @naming_errors
    def delete_mail_address(self, ident: str) -> bool:
        """``DeleteMailAddress`` (the provider allows 10 a month); ``False`` if it was
        already gone."""
        return self._delete(
            "DeleteMailAddress", {"MailAddressId": ident}, ADDRESS_GONE, self.list_mail_addresses
        )

    # -- shared --------------------------------------------------------------------------

    def _delete(
        self,
        action: str,
        params: dict[str, str],
        gone: str,
        listing: Callable[[], list[Any]],
    ) -> bool:
        ident = next(iter(params.values()))

        def took_effect() -> dict[str, Any] | None:
            return None if any(e.id == ident for e in listing()) else {}

        try:
            self.call(action, params, took_effect=took_effect)
        except ProviderError as exc:
            if exc.code != gone:
                raise
            return False
        return True

    def _listing(
        self,
        action: str,
        params: dict[str, str],
        key: str,
        entry: Callable[[Checker, Mapping[str, Any], str], Entry],
    ) -> list[Entry]:
        """Every entry of a paged listing; read again from page 1 while it is incomplete or
        inconsistent, up to ``retry.attempts`` reads, then refused (rule 4)."""
        attempts = max(1, self.account.retry.attempts)
        for read in range(1, attempts + 1):
            try:
                return self._pages(action, params, key, entry)
            except InconsistentAnswer as exc:
                if read >= attempts:
                    raise
                log.info("%s %s: %s; reading it again", PROVIDER, action, exc.what)
        raise AssertionError("unreachable")

    def _pages(
        self,
        action: str,
        params: dict[str, str],
        key: str,
        entry: Callable[[Checker, Mapping[str, Any], str], Entry],
    ) -> list[Entry]:
        entries: list[Entry] = []
        seen: set[str] = set()
        total: int | None = None
        first_size = 0
        number = 1
        while True:
            data = self.call(action, {**params, "PageNo": str(number), "PageSize": str(PAGE_SIZE)})
            check = Checker(PROVIDER, action, data.get("RequestId"))
            container = data.get("data")
            container = {} if container is None else check.mapping(container, "data")
            records = check.records(container.get(key), f"data.{key}")
            page_total = check.count(data.get("TotalCount"), "TotalCount")
            size = check.count(data.get("PageSize", PAGE_SIZE), "PageSize")
            if size == 0:
                raise check.bad("PageSize is 0")
            if total is None:
                total, first_size = page_total, size
            elif page_total != total:
                raise check.inconsistent(
                    f"TotalCount was {total} on page 1 and is {page_total} on page {number}"
                )
            elif size != first_size:
                # Pages of another size start elsewhere: rows would be skipped or repeated.
                raise check.inconsistent(
                    f"PageSize was {first_size} on page 1 and is {size} on page {number}"
                )
            if "PageNumber" in data and check.count(data["PageNumber"], "PageNumber") != number:
                raise check.inconsistent(
                    f"page {number} was asked for and PageNumber {data['PageNumber']!r} answered"
                )
            if len(records) > size:
                raise check.inconsistent(
                    f"page {number} holds {len(records)} rows, more than its PageSize {size}"
                )
            for index, record in enumerate(records):
                found = entry(check, record, f"data.{key}[{index}]")
                if found.id in seen:
                    raise check.inconsistent(f"id {found.id} is listed twice")
                seen.add(found.id)
                entries.append(found)
            if len(entries) > total:
                raise check.inconsistent(
                    f"{len(entries)} rows were read, more than the TotalCount of {total}"
                )
            if len(entries) == total:
                return entries
            if len(records) < size:
                raise check.inconsistent(
                    f"page {number} holds {len(records)} rows of its PageSize {size} with "
                    f"{len(entries)} of the TotalCount of {total} read"
                )
            if number * size >= MAX_ENTRIES:
                raise check.bad(f"more than {MAX_ENTRIES:,} entries could not be read")
            number += 1
