"""``IpWhitelist``: DirectMail's IP whitelist, one list per account, keyed by the canonical
address (``addresses.canonical_ip_entry``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from reconciler.errors import ProviderError
from reconciler.kinds import Kind, register
from reconciler.kinds.ip_protection import SWITCHING_OFF
from reconciler.model import (
    AccountDesired,
    AccountLive,
    Action,
    Change,
    IpEntry,
    Phase,
    Provider,
    Resource,
    Value,
)

if TYPE_CHECKING:
    from reconciler.providers.base import ProviderClient
    from reconciler.providers.directmail import DirectMailClient

# Failure group: protection is not switched on, and no entry deleted, once an addition failed.
ADDITION = "a whitelist addition"


class IpWhitelist(Kind):
    resource = Resource.IP_WHITELIST
    document = "IpWhitelist"
    provider = Provider.ALIYUN_DM
    list_name = "IP whitelist"

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

    def markdown_cells(self, change: Change) -> tuple[str, str]:
        from reconciler.output.markdown import code

        entry = _entry(change)
        return code(entry.address), f"id {code(entry.id)}" if entry.id else ""

    def read(self, client: ProviderClient, desired: AccountDesired, live: AccountLive) -> None:
        if desired.whitelist is not None:
            dm = cast("DirectMailClient", client)
            live.whitelist, live.whitelist_total = dm.get_ipfilter_list()

    def apply(self, client: ProviderClient, change: Change) -> str | None:
        from reconciler.providers.directmail import ALREADY_GONE, GONE_CODE

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


def _entry(change: Change) -> IpEntry:
    entry = change.after if change.action is Action.CREATE else change.before
    assert isinstance(entry, IpEntry)
    return entry


KIND = register(IpWhitelist())
