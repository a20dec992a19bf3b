"""The sandbox's DirectMail tags, sending domains and sender addresses (SPEC §10), and their knobs.

Kept in the state file's ``directmail`` section, each field written only once it holds
something (so a state file without them reads as before):

- ``tags``, ``domains``, ``mail_addresses``: the records, in the provider's field names;
- ``dns_published``: the domains whose DNS records count as published, so that ``CheckDomain``
  verifies them (``reconciler sandbox --dns-published DOMAIN``);
- ``mail_address_deletions``: sender addresses deleted this month, ``{"YYYY-MM": n}`` (the
  provider allows 10 a month);
- ``list_page_size``: the most rows one page of the three listings holds, whatever the
  ``PageSize`` asked (``--list-page-size N``); absent, a page holds what was asked, up to 100.

Hold the ``SandboxState``'s lock around any use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.sandbox.records import Record, RecordList

TAG_FIELDS: Mapping[str, type] = {"TagId": str, "TagName": str, "TagDescription": str}
DOMAIN_FIELDS: Mapping[str, type] = {
    "DomainId": str,
    "DomainName": str,
    "DomainStatus": str,
    "CreateTime": str,
    "UtcCreateTime": int,
}
ADDRESS_FIELDS: Mapping[str, type] = {
    "MailAddressId": str,
    "AccountName": str,
    "Sendtype": str,
    "ReplyAddress": str,
    "CreateTime": str,
}


def _by(field: str) -> Any:
    return lambda record: str(record[field])


class AccountLists:
    def __init__(self) -> None:
        self.tags: RecordList[str] = RecordList(_by("TagId"))
        self.domains: RecordList[str] = RecordList(_by("DomainId"))
        self.addresses: RecordList[str] = RecordList(_by("MailAddressId"))
        self.dns_published: set[str] = set()
        self.page_size: int | None = None
        self.deletions: dict[str, int] = {}  # month (YYYY-MM, UTC+8) -> addresses deleted

    @classmethod
    def load(cls, directmail: Mapping[str, Any]) -> AccountLists:
        """From the state file's ``directmail`` section; ``ValueError`` if a field is bad."""
        lists = cls()
        for name, target, shape in (
            ("tags", lists.tags, TAG_FIELDS),
            ("domains", lists.domains, DOMAIN_FIELDS),
            ("mail_addresses", lists.addresses, ADDRESS_FIELDS),
        ):
            items = directmail.get(name, [])
            if not isinstance(items, list):
                raise ValueError(f"directmail.{name} must be a list")
            for item in items:
                target.append(_checked(item, shape, name))
        published = directmail.get("dns_published", [])
        if not isinstance(published, list) or not all(isinstance(d, str) for d in published):
            raise ValueError("directmail.dns_published must be a list of domain names")
        lists.dns_published = {d.strip().lower() for d in published}
        size = directmail.get("list_page_size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise ValueError("directmail.list_page_size must be a whole number, 1 or more")
        lists.page_size = size
        deletions = directmail.get("mail_address_deletions", {})
        if not isinstance(deletions, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in deletions.values()
        ):
            raise ValueError('directmail.mail_address_deletions must map "YYYY-MM" to a count')
        lists.deletions = dict(deletions)
        return lists

    def ids(self) -> Iterable[str]:
        """Every id in use, for the state's id counter."""
        yield from (str(r["TagId"]) for r in self.tags)
        yield from (str(r["DomainId"]) for r in self.domains)
        yield from (str(r["MailAddressId"]) for r in self.addresses)

    def records(self) -> dict[str, list[Record]]:
        """The record lists that hold something, by state-file field."""
        lists = {
            "tags": [dict(r) for r in self.tags],
            "domains": [dict(r) for r in self.domains],
            "mail_addresses": [dict(r) for r in self.addresses],
        }
        return {name: records for name, records in lists.items() if records}

    def knobs(self) -> dict[str, Any]:
        """The knobs that are set, by state-file field."""
        knobs: dict[str, Any] = {}
        if self.dns_published:
            knobs["dns_published"] = sorted(self.dns_published)
        if self.page_size is not None:
            knobs["list_page_size"] = self.page_size
        if self.deletions:
            knobs["mail_address_deletions"] = dict(self.deletions)
        return knobs

    def to_dict(self) -> dict[str, Any]:
        return {**self.knobs(), **self.records()}

    def domain_named(self, name: str) -> Record | None:
        wanted = name.lower()
        return next((r for r in self.domains if r["DomainName"] == wanted), None)

    def addresses_of(self, domain: str) -> list[Record]:
        suffix = f"@{domain.lower()}"
        return [r for r in self.addresses if str(r["AccountName"]).endswith(suffix)]


def _checked(item: Any, shape: Mapping[str, type], where: str) -> Record:
    if not isinstance(item, dict) or set(item) != set(shape):
        raise ValueError(f"directmail.{where}: expected records with {sorted(shape)}: {item!r}")
    for name, kind in shape.items():
        value = item[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"directmail.{where}: {name} must be a {kind.__name__}: {item!r}")
    return dict(item)
