"""``UninterceptList``: SendCloud's unintercept entries, keyed by ``(apiUser, email|domain)``
case-insensitively; several documents of an account merge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from reconciler.errors import Problem
from reconciler.kinds import Kind, Loader, json_text, presence, register
from reconciler.model import (
    UNINTERCEPT_TYPES,
    AccountDesired,
    AccountLive,
    Action,
    Change,
    ListPolicy,
    Phase,
    Provider,
    Resource,
    Target,
    UninterceptEntry,
    Value,
)

if TYPE_CHECKING:
    from reconciler.manifests.document import Document
    from reconciler.providers.base import ProviderClient
    from reconciler.providers.sendcloud import SendCloudClient


class Unintercept(Kind):
    resource = Resource.UNINTERCEPT
    document = "UninterceptList"
    provider = Provider.SENDCLOUD
    list_call = "unintercept/list"
    nouns = ("unintercept entry", "unintercept entries")
    always_counted = True
    list_name = "unintercept list"

    updates_delete = True

    def managed(self, want: AccountDesired) -> bool:
        return want.unintercepts is not None

    def manage(self, want: AccountDesired) -> None:
        if want.unintercepts is None:
            want.unintercepts = {}

    def wanted(self, want: AccountDesired) -> Mapping[str, Any] | None:
        return want.unintercepts

    def policy(self, want: AccountDesired) -> ListPolicy:
        return want.unintercept_policy

    def live(self, have: AccountLive) -> tuple[Sequence[Any] | None, int | None]:
        return have.unintercepts, have.unintercept_total

    def differs(self, live: Any, wanted: Any) -> bool:
        return bool(live.types != wanted.types)

    def ignore_texts(self, entry: Any) -> tuple[str | None, ...]:
        return (entry.value, entry.api_user)

    entries_field = "entries"

    def check_entries(self, doc: Document, problems: list[Problem]) -> list[Any]:
        from reconciler.manifests import checks

        return list(checks.unintercept_entries(doc, problems))

    def load(self, loader: Loader, doc: Document, desired: AccountDesired | None) -> None:
        from reconciler.manifests import checks
        from reconciler.manifests.load import merge_unintercepts

        entries = checks.unintercept_entries(doc, loader.problems)
        if desired is not None:
            merge_unintercepts(loader, desired, doc, entries)

    def slot(self, change: Change) -> int:
        return Phase.UNINTERCEPT_CHANGES

    def text_columns(self, change: Change) -> tuple[str, str]:
        entry, replaced = entries(change)
        subject = f"{entry.target.value} {entry.value}"
        types = (
            f"types: {_types(replaced, ',')} -> {_types(entry, ',')}"
            if replaced
            else f"types={_types(entry, ',')}"
        )
        return subject, f"apiUser={entry.api_user}  {types}"

    def markdown_cells(self, change: Change) -> tuple[str, str]:
        from reconciler.output.markdown import code

        entry, replaced = entries(change)
        subject = f"{entry.target.value} {code(entry.value)}"
        types = (
            f"types {_types(replaced, ', ')} → {_types(entry, ', ')}"
            if replaced
            else f"types {_types(entry, ', ')}"
        )
        return subject, f"apiUser {code(entry.api_user)}; {types}"

    def writes(self, change: Change) -> int:
        # There is no update call: an update is a delete and an add.
        return 2 if change.action is Action.UPDATE else 1

    def restore(
        self, want: AccountDesired, seen: Mapping[str, Any], policy: ListPolicy | None
    ) -> None:
        want.unintercepts = {}
        if policy is not None:
            want.unintercept_policy = policy

    def stale_text(self, key: str, seen: Any, now: Any) -> tuple[str, str]:
        entry = now if now is not None else seen
        target = "email" if "email" in entry else "domain"
        subject = f"{self.resource.value} {target}:{entry[target]} apiUser={entry['apiUser']}"
        if seen is not None and now is not None:
            if seen["types"] == now["types"]:  # the spelling changed
                return subject, f"was {json_text(seen)}, now {json_text(now)}"
            return subject, f"types {_listed(seen)} -> {_listed(now)}"
        return subject, presence(seen, now, lambda e: f"types {_listed(e)}")

    def shows(self, change: Change, now: Any) -> bool:
        if change.action is Action.DELETE:
            return now is None
        assert isinstance(change.after, UninterceptEntry)
        return isinstance(now, dict) and now.get("types") == change.after.type_names

    def export(self, account: str, have: AccountLive, warnings: list[str]) -> Any:
        from reconciler.export import unintercept_document

        if have.unintercepts is None:
            return None
        return unintercept_document(account, have.unintercepts, warnings)

    def read(self, client: ProviderClient, desired: AccountDesired, live: AccountLive) -> None:
        if desired.unintercepts is not None:
            sc = cast("SendCloudClient", client)
            live.unintercepts, live.unintercept_total = sc.list_all()

    def apply(self, client: ProviderClient, change: Change) -> str | None:
        sc = cast("SendCloudClient", client)
        match change.action:
            case Action.CREATE:
                assert isinstance(change.after, UninterceptEntry)
                sc.add(change.after)
            case Action.DELETE:
                assert isinstance(change.before, UninterceptEntry)
                return sc.delete(change.before)
            case Action.UPDATE:
                # There is no update call: delete, then add with the new types.
                assert isinstance(change.before, UninterceptEntry)
                assert isinstance(change.after, UninterceptEntry)
                sc.delete(change.before)
                sc.add(change.after)
        return None

    def value_from_json(self, data: Mapping[str, Any]) -> Value:
        target = Target.EMAIL if "email" in data else Target.DOMAIN
        types_ = frozenset(UNINTERCEPT_TYPES[name] for name in data["types"])
        return UninterceptEntry(data["apiUser"], target, data[target.value], types_)


def entries(change: Change) -> tuple[UninterceptEntry, UninterceptEntry | None]:
    """The entry an unintercept change is about (the live one for a delete) and, for an
    update, the live entry it replaces."""
    entry = change.after if change.after is not None else change.before
    assert isinstance(entry, UninterceptEntry)
    replaced = change.before if change.action is Action.UPDATE else None
    assert replaced is None or isinstance(replaced, UninterceptEntry)
    return entry, replaced


def _listed(entry: Mapping[str, Any]) -> str:
    return ",".join(entry["types"]) or "(none)"


def _types(entry: UninterceptEntry, sep: str) -> str:
    return sep.join(entry.type_names) or "(none)"


KIND = register(Unintercept())
