"""``IpWhitelist``: DirectMail's IP whitelist, one list per account, keyed by the canonical
address (``addresses.canonical_ip_entry``)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from reconciler.addresses import (
    canonical_ip_entry,
    find_overlaps,
    ip_entry_bounds,
    non_public_overlap,
)
from reconciler.errors import Problem, ProviderError
from reconciler.kinds.base import ADDITION, SWITCHING_OFF, Cell, Code, Kind, Loader, presence
from reconciler.model import (
    AccountDesired,
    AccountLive,
    Action,
    Change,
    IpEntry,
    ListPolicy,
    Phase,
    Provider,
    Resource,
    Value,
    id_order,
)

if TYPE_CHECKING:
    from reconciler.document import Document
    from reconciler.providers.base import ProviderClient
    from reconciler.providers.directmail import DirectMailClient


class IpWhitelist(Kind):
    resource = Resource.IP_WHITELIST
    document = "IpWhitelist"
    provider = Provider.ALIYUN_DM
    list_call = "GetIpfilterList"
    nouns = ("whitelist entry", "whitelist entries")
    always_counted = True
    list_name = "IP whitelist"

    entries_field = "entries"

    def check_entries(self, doc: Document, problems: list[Problem]) -> list[Any]:
        return list(whitelist_entries(doc, problems).values())

    def load(self, loader: Loader, doc: Document, desired: AccountDesired | None) -> None:
        from reconciler.kinds.policy import list_policy

        whitelist = whitelist_entries(doc, loader.problems)
        if desired is not None and loader.once_per_account(doc, self.document):
            desired.whitelist = whitelist
            desired.whitelist_policy = list_policy(doc.data["spec"])

    def slot(self, change: Change) -> int:
        if change.action is Action.DELETE:
            return Phase.WHITELIST_DELETIONS
        return Phase.WHITELIST_ADDITIONS

    def group(self, change: Change) -> str:
        return ADDITION if change.action is Action.CREATE else super().group(change)

    def depends_on(self, change: Change) -> frozenset[str]:
        if change.action is Action.DELETE:
            return frozenset({ADDITION, SWITCHING_OFF})
        return frozenset()

    def text_columns(self, change: Change) -> tuple[str, str]:
        entry = _entry(change)
        return entry.address, f"(id {entry.id})" if entry.id else ""

    def markdown_cells(self, change: Change) -> tuple[Cell, Cell]:
        entry = _entry(change)
        return (Code(entry.address),), ("id ", Code(entry.id)) if entry.id else ()

    def managed(self, want: AccountDesired) -> bool:
        return want.whitelist is not None

    def manage(self, want: AccountDesired) -> None:
        if want.whitelist is None:
            want.whitelist = {}

    def wanted(self, want: AccountDesired) -> Mapping[str, Any] | None:
        return want.whitelist

    def policy(self, want: AccountDesired) -> ListPolicy:
        return want.whitelist_policy

    def live(self, have: AccountLive) -> tuple[Sequence[Any] | None, int | None]:
        return have.whitelist, have.whitelist_total

    def diff(self, account: str, want: AccountDesired, have: AccountLive) -> list[Change]:
        if want.whitelist is None or have.whitelist is None:
            return []
        creates, deletes = _diff(account, want.whitelist, have.whitelist, want.whitelist_policy)
        return creates + deletes

    def undo(self, inverse: AccountDesired, before: AccountLive) -> None:
        if before.whitelist is not None:
            inverse.whitelist = {e.key: IpEntry(e.address) for e in before.whitelist}
            inverse.whitelist_policy = ListPolicy(prune=True)

    def deletes_counted(self, changes: Sequence[Change], want: AccountDesired) -> int:
        # Collapsing a live duplicate loses no address: it is not counted as a deletion.
        wanted = want.whitelist or {}
        return sum(1 for c in changes if c.action is Action.DELETE and c.key not in wanted)

    def snapshot(self, want: AccountDesired, have: AccountLive, keep: Collection[str]) -> Any:
        # The whole unmanaged whitelist is recorded when the manifests switch protection on:
        # its entries decide whether that locks mail out (rule 3, on the final state).
        unmanaged = want.whitelist is None and want.protection is True
        if have.whitelist is None or (want.whitelist is None and not unmanaged):
            return None
        addresses: dict[str, list[str]] = {}
        for ip in have.whitelist:
            if (
                unmanaged
                or ip.key in keep
                or want.whitelist_policy.sees_unnamed(ip.address, ip.raw)
            ):
                addresses.setdefault(ip.key, []).append(ip.id or "")
        return {a: sorted(ids, key=id_order) for a, ids in sorted(addresses.items())}

    def restore(
        self, want: AccountDesired, seen: Mapping[str, Any], policy: ListPolicy | None
    ) -> None:
        want.whitelist = {}
        if policy is not None:
            want.whitelist_policy = policy

    def needs_policy(self, seen: Mapping[str, Any], policies: Mapping[str, Any]) -> bool:
        # A whitelist without a policy beside the switch was read for the lock-out rule only:
        # all of it is in view, as the default policy has it.
        return not (Resource.IP_PROTECTION.value in seen and self.resource.value not in policies)

    def stale_text(self, key: str, seen: Any, now: Any) -> tuple[str, str]:
        return f"{self.resource.value} {key}", presence(seen, now, _ids)

    def inconsistency(self, change: Change, seen: Mapping[str, Any]) -> str | None:
        entry = _entry(change)
        if entry.address != change.key:
            return "its key is not its address"
        if change.action is Action.CREATE:
            if change.key in seen:
                return "creates an address the plan saw present"
            try:
                canonical = canonical_ip_entry(change.key)
            except ValueError as exc:
                return f"invalid address: {exc}"
            if canonical != change.key:
                return f"address not normalized (the plan writes {canonical})"
        elif entry.id not in seen.get(change.key, ()):
            return "deletes a record id the plan did not see"
        return None

    def shows(self, change: Change, now: Any) -> bool:
        if change.action is Action.CREATE:
            return now is not None
        # The record deleted, whatever other records hold.
        assert isinstance(change.before, IpEntry)
        return now is None or (isinstance(now, list) and change.before.id not in now)

    def export(self, account: str, have: AccountLive, warnings: list[str]) -> Any:
        if have.whitelist is None:
            return None
        return whitelist_document(account, have.whitelist, warnings)

    def read(self, client: ProviderClient, desired: AccountDesired, live: AccountLive) -> None:
        if desired.whitelist is not None:
            dm = cast("DirectMailClient", client)
            live.whitelist, live.whitelist_total = dm.get_ipfilter_list()

    def apply(self, client: ProviderClient, change: Change) -> str | None:
        from reconciler.outcome import ALREADY_GONE
        from reconciler.providers.directmail import GONE_CODE

        dm = cast("DirectMailClient", client)
        if change.action is Action.CREATE:
            assert isinstance(change.after, IpEntry)
            return f"id {dm.add_ipfilter(change.after.address)}"
        assert change.action is Action.DELETE
        assert isinstance(change.before, IpEntry) and change.before.id
        try:
            dm.delete_ipfilter(change.before.id)
        except ProviderError as exc:
            if exc.code != GONE_CODE:
                raise
            return ALREADY_GONE  # the goal of the change holds
        return None

    def value_from_json(self, data: Mapping[str, Any]) -> Value:
        return IpEntry(address=data["address"], id=data.get("id"))


def _ids(ids: list[str]) -> str:
    return f"id{'s' if len(ids) != 1 else ''} {', '.join(ids)}"


def _entry(change: Change) -> IpEntry:
    entry = change.after if change.action is Action.CREATE else change.before
    assert isinstance(entry, IpEntry)
    return entry


# SPEC §8: the DirectMail console documents this limit; more entries are allowed but warned.
WHITELIST_CONSOLE_LIMIT = 10


def whitelist_entries(doc: Document, problems: list[Problem]) -> dict[str, IpEntry]:
    """Canonical whitelist entries of an IpWhitelist document, keyed by address."""
    entries: dict[str, IpEntry] = {}
    written: dict[str, str] = {}
    for index, raw in enumerate(doc.data["spec"]["entries"]):
        position = doc.position(("spec", "entries", index))
        shown = raw.strip()
        try:
            address = canonical_ip_entry(raw)
        except ValueError as error:
            problems.append(Problem(position, f"invalid whitelist entry '{shown}': {error}"))
            continue
        network = non_public_overlap(address)
        if network is not None:
            problems.append(
                Problem(
                    position,
                    f"whitelist entry '{shown}' is not public: it overlaps {network}",
                    "DirectMail rejects private, loopback, link-local, multicast and reserved "
                    "addresses",
                )
            )
            continue
        first = entries.get(address)
        if first is not None:
            problems.append(
                Problem(
                    position,
                    f"duplicate whitelist entry '{shown}': same as '{written[address]}' "
                    f"at {first.position}",
                    "remove one of them",
                )
            )
            continue
        entries[address] = IpEntry(address, position=position)
        written[address] = shown
    for earlier, later in find_overlaps(list(entries)):
        problems.append(
            Problem(
                entries[later].position,
                f"whitelist entry '{written[later]}' overlaps '{written[earlier]}' "
                f"at {entries[earlier].position}",
                warning=True,
            )
        )
    if len(entries) > WHITELIST_CONSOLE_LIMIT:
        problems.append(
            Problem(
                doc.key_position(("spec", "entries")),
                f"{len(entries)} whitelist entries: the DirectMail console documents a limit of "
                f"{WHITELIST_CONSOLE_LIMIT} whitelist entries",
                "the provider may reject the extra ones",
                warning=True,
            )
        )
    return entries


def whitelist_document(
    account: str, live: Iterable[IpEntry], warnings: list[str]
) -> dict[str, Any]:
    """The IpWhitelist document of an account's live whitelist: canonical entries in address
    order; what no manifest can hold under ``ignore``, with a warning."""
    from reconciler.export_document import document, literal_pattern
    from reconciler.export_yaml import Items

    entries: dict[str, tuple[int, int]] = {}
    ignore: dict[str, None] = {}
    for entry in live:
        raw = (entry.raw if entry.raw is not None else entry.address).strip()
        reason = _unwritable_address(raw)
        if reason is None:
            address = canonical_ip_entry(raw)
            # A live duplicate (one address under several ids) is one manifest entry.
            entries.setdefault(address, ip_entry_bounds(address))
            continue
        if raw not in ignore:
            ignore[raw] = None
            warnings.append(
                f"{account}: whitelist entry {raw!r} cannot be written in a manifest ({reason}); "
                "it is listed under ignore, so plans leave it alone"
            )
    spec: dict[str, Any] = {
        "entries": Items(sorted(entries, key=lambda address: (*entries[address], address)))
    }
    if ignore:
        spec["ignore"] = [literal_pattern(raw) for raw in ignore]
    return document("IpWhitelist", account, spec)


def _unwritable_address(raw: str) -> str | None:
    try:
        address = canonical_ip_entry(raw)
    except ValueError as error:
        return str(error)
    network = non_public_overlap(address)
    return f"it overlaps the non-public network {network}" if network else None


def _diff(
    account: str, want: Mapping[str, IpEntry], have: Iterable[IpEntry], policy: ListPolicy
) -> tuple[list[Change], list[Change]]:
    seen: set[str] = set()
    kept_ids: set[str | None] = set()
    deletes: list[Change] = []
    for entry in have:
        if entry.key in want and entry.key not in seen:
            seen.add(entry.key)
            kept_ids.add(entry.id)
            continue
        # A second live id for an address already kept is a live duplicate: collapse it.
        duplicate = entry.key in seen
        if not duplicate and not policy.sees_unnamed(entry.address, entry.raw):
            continue
        deletes.append(Change(account, Resource.IP_WHITELIST, Action.DELETE, entry.key, entry))
    # An id that holds a wanted address is never deleted, whatever else it is listed with.
    deletes = [
        c for c in deletes if not (isinstance(c.before, IpEntry) and c.before.id in kept_ids)
    ]
    creates = [
        Change(account, Resource.IP_WHITELIST, Action.CREATE, key, None, entry)
        for key, entry in want.items()
        if key not in seen
    ]
    creates.sort(key=lambda c: _ip_order(c.key))
    deletes.sort(key=lambda c: (_ip_order(c.key), _record_id(c.before)))
    return creates, deletes


def _ip_order(address: str) -> tuple[int, int, str]:
    try:
        first, last = ip_entry_bounds(address)
    except ValueError:  # a live entry the provider holds in a form we cannot parse: last
        return (1 << 32, 0, address)
    return (first, last, address)


def _record_id(entry: Value) -> tuple[int, str]:
    return id_order(entry.id if isinstance(entry, IpEntry) else None)


KIND = IpWhitelist()
