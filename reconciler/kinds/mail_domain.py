"""``MailDomainList``: DirectMail's sending domains (SPEC §10), keyed by the lower-cased name.

A domain is created (``CreateDomain``), verified (``CheckDomain``, asked for by ``verified:
true``) or deleted (``DeleteDomain``); nothing of it is updated in place. ``prune`` defaults to
false: deleting a domain throws its DKIM key away. A ``verified: true`` domain that is not
verified gets a ``verify`` change (an update), carried out after every create of the account;
if the domain is still unverified afterwards the change fails naming the records that fail.

Refusals that join this list and the sender addresses (``refusals``): a domain deleted while
live or planned addresses use it (``domain-in-use``, the provider refuses it too), a verified
domain deleted without ``--force`` (``verified-domain``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from reconciler.errors import Position, ProviderError
from reconciler.kinds.base import Cell, Code, Text, changed_entries, keyed_diff
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
    from reconciler.providers.directmail_entries import DnsRecord
    from reconciler.refusals import Refusal

# The console's limit: more domains than this is a warning (SPEC §10).
MOST_DOMAINS = 5
# SPEC §10's order: tag creates (10), domain creates, verifies, address creates/updates, …,
# address deletes, domain deletes, tag deletes (90).
CREATE, VERIFY, DELETE = 12, 14, 86
DOMAIN_IN_USE = "domain-in-use"
VERIFIED_DOMAIN = "verified-domain"
VERIFY_TEXT = "verify"


def creating(name: str) -> str:
    """The failure group of a domain's create (its verify and its addresses depend on it)."""
    return f"creating mail domain {name}"


def emptying(name: str) -> str:
    """The failure group of the deletes of a domain's addresses (its delete depends on them)."""
    return f"deleting the sender addresses of {name}"


@dataclass(frozen=True, slots=True)
class DomainEntry:
    """A sending domain. Wanted: ``verified`` is whether the manifest asks for it (``None``:
    not said). Live: ``verified`` is the provider's status, ``id`` its ``DomainId`` and
    ``failing`` the records that fail (``"spf TXT @"``), when the domain is unverified."""

    name: str
    verified: bool | None = None
    id: str | None = None
    failing: tuple[str, ...] = field(default=(), compare=False)
    position: Position | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return self.name

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.verified is not None:
            data["verified"] = self.verified
        if self.id is not None:
            data["id"] = self.id
        return data


def record_text(record: DnsRecord) -> str:
    """How a failing record is named: purpose, type and host (``dkim TXT aliyun-…._domainkey``)."""
    return f"{record.purpose} {record.type} {record.host}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


class MailDomainList(OneList):
    resource = Resource.MAIL_DOMAIN
    document = "MailDomainList"
    provider = Provider.ALIYUN_DM
    list_name = "mail domain list"
    list_call = "QueryDomainByParam"
    nouns = ("domain", "domains")
    entries_field = "domains"
    key_field = "name"
    unique_hint = "domain names are unique per account (compared in lower case)"
    most = MOST_DOMAINS
    default_policy = ListPolicy(prune=False)

    # -- manifests ------------------------------------------------------------------------

    def _entry(self, item: Mapping[str, Any], here: Position) -> DomainEntry:
        verified = True if item.get("verified") is True else None
        return DomainEntry(item["name"].lower(), verified, position=here)

    # -- the plan -------------------------------------------------------------------------

    def widen_read(self, want: AccountDesired) -> AccountDesired:
        # domain-in-use is judged on the live addresses too: read them with the domains.
        address = Resource.SENDER_ADDRESS
        if self.resource in want.lists and address not in want.lists:
            return replace(want, lists={**want.lists, address: {}})
        return want

    def as_wanted(self, entry: Any) -> Any:
        # A guard's roll-back: a verified domain stays asked to be verified (none is unverified).
        return DomainEntry(entry.name, True if entry.verified else None)

    def differs(self, live: Any, wanted: Any) -> bool:
        return bool(wanted.verified and not live.verified)

    def diff(self, account: str, want: AccountDesired, have: AccountLive) -> list[Change]:
        wanted, (live, _total) = self.wanted(want), self.live(have)
        if wanted is None or live is None:
            return []
        changes = keyed_diff(self, account, wanted, live, self.policy(want))
        # A domain created with ``verified: true`` is verified once every create has run; its
        # ``before`` is the domain as the create leaves it (unverified, no id yet).
        verifies = [
            Change(account, self.resource, Action.UPDATE, c.key, DomainEntry(c.key, False), c.after)
            for c in changes
            if c.action is Action.CREATE and cast(DomainEntry, c.after).verified
        ]
        return changes + verifies

    def slot(self, change: Change) -> int:
        return {Action.CREATE: CREATE, Action.UPDATE: VERIFY, Action.DELETE: DELETE}[change.action]

    def group(self, change: Change) -> str:
        if change.action is Action.CREATE:
            return creating(change.key)
        return super().group(change)

    def depends_on(self, change: Change) -> frozenset[str]:
        if change.action is Action.UPDATE:
            return frozenset({creating(change.key)})
        if change.action is Action.DELETE:
            return frozenset({emptying(change.key)})
        return frozenset()

    def refusals(
        self,
        account: str,
        want: AccountDesired,
        have: AccountLive,
        changes: Mapping[Resource, Sequence[Change]],
    ) -> list[Refusal]:
        from reconciler.refusals import Refusal

        deleted = [c for c in changes.get(self.resource, ()) if c.action is Action.DELETE]
        if not deleted:
            return []
        address = Resource.SENDER_ADDRESS
        gone = {c.key for c in changes.get(address, ()) if c.action is Action.DELETE}
        users = {e.key for e in have.lists.get(address) or () if e.key not in gone}
        users |= set(want.lists.get(address) or {})
        refusals: list[Refusal] = []
        for change in deleted:
            using = sorted(a for a in users if domain_of(a) == change.key)
            if using:
                refusals.append(
                    Refusal(
                        DOMAIN_IN_USE,
                        f"{account}: mail domain {change.key} would be deleted while sender "
                        f"addresses use it ({', '.join(using)}); delete them first "
                        "(--force does not override this)",
                        account,
                        self.resource.value,
                        overridable=False,
                    )
                )
            if cast(DomainEntry, change.before).verified:
                refusals.append(
                    Refusal(
                        VERIFIED_DOMAIN,
                        f"{account}: would delete verified mail domain {change.key} (its DKIM "
                        "key is lost and the domain must be verified again; --force deletes it)",
                        account,
                        self.resource.value,
                    )
                )
        return refusals

    def notes(self, want: AccountDesired, have: AccountLive) -> list[str]:
        # An unverified domain that a change does not verify: its failing records, on one line
        # (one that a ``verify`` change verifies shows them on its own line).
        wanted, (live, _total) = self.wanted(want), self.live(have)
        if not wanted or live is None:
            return []
        return [
            f"{want.account.name}: mail domain {entry.name} is not verified; records failing: "
            f"{', '.join(entry.failing) or 'none named'} (see: reconciler dns)"
            for entry in live
            if entry.key in wanted and not entry.verified and not wanted[entry.key].verified
        ]

    def text_columns(self, change: Change) -> tuple[str, str]:
        entry = _entry(change)
        match change.action:
            case Action.CREATE:
                return entry.name, "verified: true" if entry.verified else ""
            case Action.UPDATE:
                return entry.name, VERIFY_TEXT + _failing(change.before)
            case _:
                state = "verified" if entry.verified else "unverified"
                return entry.name, f"(id {entry.id}, {state})" + _failing(entry)

    def markdown_cells(self, change: Change) -> tuple[Cell, Cell]:
        subject, detail = self.text_columns(change)
        return (Code(subject),), (Text(detail),)

    # -- the provider ---------------------------------------------------------------------

    def read(self, client: ProviderClient, desired: AccountDesired, live: AccountLive) -> None:
        if self.resource not in desired.lists:
            return
        dm = cast("DirectMailClient", client)
        found = dm.list_domains()
        entries = []
        for domain in found:
            failing: tuple[str, ...] = ()
            if not domain.verified:  # at most 5 domains: one more call each
                records = dm.describe_domain(domain.id)
                failing = tuple(record_text(r) for r in records.failing())
            entries.append(DomainEntry(domain.name, domain.verified, domain.id, failing))
        live.lists[self.resource] = entries
        live.totals[self.resource] = len(found)

    def apply(self, client: ProviderClient, change: Change) -> str | None:
        dm = cast("DirectMailClient", client)
        entry = _entry(change)
        match change.action:
            case Action.CREATE:
                return f"id {dm.create_domain(entry.name)}"
            case Action.UPDATE:
                return _verify(dm, change)
            case Action.DELETE:
                assert entry.id
                if not dm.delete_domain(entry.id):
                    return ALREADY_GONE
        return None

    def value_from_json(self, data: Mapping[str, Any]) -> Value:
        return DomainEntry(data["name"], data.get("verified"), data.get("id"))

    def inconsistency(self, change: Change, seen: Mapping[str, Any]) -> str | None:
        if change.action is Action.UPDATE and _entry_id(change.before) is None:  # after create
            return None if change.key not in seen else "does not match the entries the plan saw"
        return super().inconsistency(change, seen)

    def shows(self, change: Change, now: Any) -> bool:
        if change.action is Action.UPDATE:
            return isinstance(now, dict) and now.get("verified") is True
        if change.action is Action.CREATE:
            return isinstance(now, dict)
        return super().shows(change, now)

    def _exported(self, entry: DomainEntry) -> dict[str, Any]:
        return {"name": entry.name, **({"verified": True} if entry.verified else {})}


def _verify(dm: DirectMailClient, change: Change) -> str:
    before = cast("DomainEntry | None", change.before)
    ident = before.id if before is not None else None
    if ident is None:  # created by this apply: its id is the provider's now
        found = [d for d in dm.list_domains(keyword=change.key) if d.name == change.key]
        if not found:
            raise ProviderError(
                f"mail domain {change.key} is not there to verify",
                provider=Provider.ALIYUN_DM.value,
                action="CheckDomain",
            )
        ident = found[0].id
    if dm.check_domain(ident) != 1:
        return "verified"
    failing = dm.describe_domain(ident).failing()
    names = ", ".join(record_text(r) for r in failing) or "none named"
    raise ProviderError(
        f"mail domain {change.key} is still unverified; records failing: {names} "
        f"(see: reconciler dns)",
        provider=Provider.ALIYUN_DM.value,
        action="CheckDomain",
    )


def _entry_id(entry: Value) -> str | None:
    return entry.id if isinstance(entry, DomainEntry) else None


def _failing(entry: Value) -> str:
    if not isinstance(entry, DomainEntry) or not entry.failing:
        return ""
    return f" (failing: {', '.join(entry.failing)})"


def _entry(change: Change) -> DomainEntry:
    return changed_entries(change, DomainEntry)[0]


KIND = MailDomainList()
