"""``SenderAddressList``: DirectMail's sender addresses (SPEC §10), keyed by the lower-cased
address (``AccountName``).

An address has a ``type`` (``Sendtype``: batch or trigger) that cannot change in place: a changed
type is a replace (``DeleteMailAddress`` then ``CreateMailAddress``), shown as such and counted
as a delete by rules 1 and 2. A changed ``replyTo`` is an update (``ModifyMailAddress``).
``prune`` defaults to false: the provider allows 10 address deletions a month. Addresses are
created after their domain's create and verify, and deleted before their domain's delete. An
address whose domain is not in the account's final domain list is refused (``unknown-domain``).
The SMTP password is not managed (it cannot be read back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from reconciler.errors import Position
from reconciler.kinds.base import Cell, Code, Text, changed_entries
from reconciler.kinds.mail_domain import creating, domain_of, emptying
from reconciler.kinds.one_list import OneList
from reconciler.model import (
    AccountDesired,
    AccountLive,
    Action,
    Change,
    ListPolicy,
    Provider,
    Resource,
    Value,
)
from reconciler.outcome import ALREADY_GONE

if TYPE_CHECKING:
    from reconciler.providers.base import ProviderClient
    from reconciler.providers.directmail import DirectMailClient
    from reconciler.refusals import Refusal

# After the domains' creates and verifies (12, 14); deletes before the domains' deletes (86).
WRITE, DELETE = 16, 84
UNKNOWN_DOMAIN = "unknown-domain"


@dataclass(frozen=True, slots=True)
class AddressEntry:
    """A sender address: ``address`` is the key; ``id`` is the provider's ``MailAddressId``
    (live entries only)."""

    address: str
    type: str
    reply_to: str = ""
    id: str | None = None
    position: Position | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return self.address

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"address": self.address, "type": self.type}
        data["replyTo"] = self.reply_to
        if self.id is not None:
            data["id"] = self.id
        return data


class SenderAddressList(OneList):
    resource = Resource.SENDER_ADDRESS
    document = "SenderAddressList"
    provider = Provider.ALIYUN_DM
    list_name = "sender address list"
    list_call = "QueryMailAddressByParam"
    nouns = ("address", "addresses")
    replace_nouns = ("type change", "type changes")
    entries_field = "addresses"
    key_field = "address"
    unique_hint = "addresses are unique per account (compared in lower case)"
    default_policy = ListPolicy(prune=False)

    # -- manifests ------------------------------------------------------------------------

    def _entry(self, item: Mapping[str, Any], here: Position) -> AddressEntry:
        return AddressEntry(
            item["address"].lower(), item["type"], item.get("replyTo", ""), position=here
        )

    # -- the plan -------------------------------------------------------------------------

    def widen_read(self, want: AccountDesired) -> AccountDesired:
        # unknown-domain is judged on the final domain list: read the domains with the addresses.
        domain = Resource.MAIL_DOMAIN
        if self.resource in want.lists and domain not in want.lists:
            return replace(want, lists={**want.lists, domain: {}})
        return want

    def as_wanted(self, entry: Any) -> Any:
        return AddressEntry(entry.address, entry.type, entry.reply_to)

    def update_deletes(self, change: Change) -> bool:
        return _replace(change)

    def slot(self, change: Change) -> int:
        return DELETE if change.action is Action.DELETE else WRITE

    def group(self, change: Change) -> str:
        if change.action is Action.DELETE:
            return emptying(domain_of(change.key))
        return super().group(change)

    def depends_on(self, change: Change) -> frozenset[str]:
        if change.action is Action.DELETE:
            return frozenset()
        return frozenset({creating(domain_of(change.key))})

    def refusals(
        self,
        account: str,
        want: AccountDesired,
        have: AccountLive,
        changes: Mapping[Resource, Sequence[Change]],
    ) -> list[Refusal]:
        from reconciler.refusals import Refusal

        wanted = want.lists.get(self.resource)
        live = have.lists.get(Resource.MAIL_DOMAIN)
        if not wanted or live is None:
            return []
        domains = changes.get(Resource.MAIL_DOMAIN, ())
        gone = {c.key for c in domains if c.action is Action.DELETE}
        final = {e.key for e in live if e.key not in gone} | set(
            want.lists.get(Resource.MAIL_DOMAIN) or {}
        )
        unknown = sorted(a for a in wanted if domain_of(a) not in final)
        return [
            Refusal(
                UNKNOWN_DOMAIN,
                f"{account}: sender address {address} is on domain {domain_of(address)}, which "
                "the account's mail domains will not hold; add it to the MailDomainList "
                "(--force does not override this)",
                account,
                self.resource.value,
                overridable=False,
            )
            for address in unknown
        ]

    def text_columns(self, change: Change) -> tuple[str, str]:
        entry, before = _entries(change)
        if change.action is Action.DELETE:
            return entry.address, f"(id {entry.id}, {entry.type})" if entry.id else entry.type
        if before is None:
            reply = f" replyTo={entry.reply_to}" if entry.reply_to else ""
            return entry.address, f"type={entry.type}{reply}"
        if before.type != entry.type:
            return entry.address, (
                f"replace (delete, then create): type {before.type} -> {entry.type}"
            )
        return entry.address, f"replyTo: {before.reply_to!r} -> {entry.reply_to!r}"

    def markdown_cells(self, change: Change) -> tuple[Cell, Cell]:
        subject, detail = self.text_columns(change)
        return (Code(subject),), (Text(detail),)

    # -- the provider ---------------------------------------------------------------------

    def read(self, client: ProviderClient, desired: AccountDesired, live: AccountLive) -> None:
        if self.resource not in desired.lists:
            return
        found = cast("DirectMailClient", client).list_mail_addresses()
        live.lists[self.resource] = [
            AddressEntry(a.address, a.sendtype, a.reply_to, a.id) for a in found
        ]
        live.totals[self.resource] = len(found)

    def apply(self, client: ProviderClient, change: Change) -> str | None:
        dm = cast("DirectMailClient", client)
        entry, before = _entries(change)
        match change.action:
            case Action.CREATE:
                return f"id {dm.create_mail_address(entry.address, entry.type, entry.reply_to)}"
            case Action.UPDATE:
                assert before is not None and before.id
                if before.type == entry.type:
                    dm.modify_mail_address(before.id, entry.reply_to)
                    return None
                dm.delete_mail_address(before.id)
                new = dm.create_mail_address(entry.address, entry.type, entry.reply_to)
                return f"replaced: id {new}"
            case Action.DELETE:
                assert entry.id
                if not dm.delete_mail_address(entry.id):
                    return ALREADY_GONE
        return None

    def value_from_json(self, data: Mapping[str, Any]) -> Value:
        # ``as_dict``'s form (changes, snapshots) or the field names (desired and observed).
        reply_to = data["replyTo"] if "replyTo" in data else data.get("reply_to", "")
        return AddressEntry(data["address"], data["type"], reply_to, data.get("id"))

    def _exported(self, entry: AddressEntry) -> dict[str, Any]:
        reply = {"replyTo": entry.reply_to} if entry.reply_to else {}
        return {"address": entry.address, "type": entry.type, **reply}


def _replace(change: Change) -> bool:
    before, after = change.before, change.after
    return (
        change.action is Action.UPDATE
        and isinstance(before, AddressEntry)
        and isinstance(after, AddressEntry)
        and before.type != after.type
    )


def _entries(change: Change) -> tuple[AddressEntry, AddressEntry | None]:
    return changed_entries(change, AddressEntry)


KIND = SenderAddressList()
