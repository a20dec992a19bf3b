"""``UninterceptList``: SendCloud's unintercept entries, keyed by ``(apiUser, email|domain)``
case-insensitively; several documents of an account merge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from reconciler.addresses import canonical_domain, canonical_email
from reconciler.errors import Position, Problem
from reconciler.kinds.base import Cell, Code, Kind, Loader, changed_entries, json_text, presence
from reconciler.kinds.unintercept_export import LIST_NAME
from reconciler.model import (
    ALL_API_USERS,
    ALL_TYPES,
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
    from pathlib import Path

    from reconciler.document import Document
    from reconciler.kinds.base import StreamedExport
    from reconciler.providers.base import ProviderClient
    from reconciler.providers.sendcloud import SendCloudClient

BOUNCE = UNINTERCEPT_TYPES["bounce"]


class Unintercept(Kind):
    resource = Resource.UNINTERCEPT
    document = "UninterceptList"
    provider = Provider.SENDCLOUD
    list_call = "unintercept/list"
    nouns = ("unintercept entry", "unintercept entries")
    replace_nouns = ("types change", "types changes")
    always_counted = True
    list_name = LIST_NAME

    def update_deletes(self, change: Change) -> bool:
        """A changed ``types`` set is carried out as delete then add (there is no update
        call)."""
        return change.action is Action.UPDATE

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

    def undo(self, inverse: AccountDesired, before: AccountLive) -> None:
        if before.unintercepts is not None:
            inverse.unintercepts = {e.key: e for e in before.unintercepts}
            inverse.unintercept_policy = ListPolicy(prune=True)

    def differs(self, live: Any, wanted: Any) -> bool:
        return bool(live.types != wanted.types)

    def ignore_texts(self, entry: Any) -> tuple[str | None, ...]:
        return (entry.value, entry.api_user)

    entries_field = "entries"

    def check_entries(self, doc: Document, problems: list[Problem]) -> list[Any]:
        return unintercept_entries(doc, problems)

    def load(self, loader: Loader, doc: Document, desired: AccountDesired | None) -> None:
        entries = unintercept_entries(doc, loader.problems)
        if desired is not None:
            _merge(loader, desired, doc, entries)

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

    def markdown_cells(self, change: Change) -> tuple[Cell, Cell]:
        entry, replaced = entries(change)
        types = (
            f"types {_types(replaced, ', ')} → {_types(entry, ', ')}"
            if replaced
            else f"types {_types(entry, ', ')}"
        )
        return (f"{entry.target.value} ", Code(entry.value)), (
            "apiUser ",
            Code(entry.api_user),
            f"; {types}",
        )

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
        from reconciler.kinds.unintercept_export import unintercept_document

        if have.unintercepts is None:
            return None
        return unintercept_document(account, have.unintercepts, warnings)

    def stream_export(
        self, client: ProviderClient, want: AccountDesired, directory: Path, name: str
    ) -> StreamedExport | None:
        from reconciler.kinds.unintercept_stream import spooled

        return spooled(client, want, directory, name)

    def bounce_exempt(
        self, want: AccountDesired, emails: dict[str, str], domains: dict[str, str]
    ) -> None:
        if want.account.provider is not Provider.SENDCLOUD or not want.unintercepts:
            return
        for entry in want.unintercepts.values():
            if BOUNCE not in entry.types:
                continue
            where = (
                f"account {want.account.name}, {entry.position}"
                if entry.position
                else want.account.name
            )
            target = emails if entry.target is Target.EMAIL else domains
            target.setdefault(entry.value.strip().lower(), where)

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
    return changed_entries(change, UninterceptEntry)


def _listed(entry: Mapping[str, Any]) -> str:
    return ",".join(entry["types"]) or "(none)"


def _types(entry: UninterceptEntry, sep: str) -> str:
    return sep.join(entry.type_names) or "(none)"


# -- manifests --------------------------------------------------------------------------------


def unintercept_entries(doc: Document, problems: list[Problem]) -> list[UninterceptEntry]:
    """The entries of an UninterceptList document, normalized, in document order."""
    entries: list[UninterceptEntry] = []
    for index, item in enumerate(doc.data["spec"]["entries"]):
        field = "email" if "email" in item else "domain"
        target = Target.EMAIL if field == "email" else Target.DOMAIN
        raw: str = item[field]
        try:
            value = canonical_email(raw) if target is Target.EMAIL else canonical_domain(raw)
        except ValueError as error:
            position = doc.position(("spec", "entries", index, target.value))
            problems.append(Problem(position, f"invalid {target.value}: {error}"))
            continue
        api_user = (item.get("apiUser") or "").strip()
        if not api_user or api_user.lower() == ALL_API_USERS:
            api_user = ALL_API_USERS
        names = item.get("types")
        types = _type_set(tuple(names)) if names else ALL_TYPES
        position = doc.position(("spec", "entries", index))
        entries.append(UninterceptEntry(api_user, target, value, types, position))
    return entries


@cache
def _type_set(names: tuple[str, ...]) -> frozenset[int]:
    # A list of 100,000 entries holds a handful of distinct type sets: share them.
    return frozenset(UNINTERCEPT_TYPES[name] for name in names)


def describe(entry: UninterceptEntry) -> str:
    """``email vip@example.com (apiUser all)``: how messages name an unintercept entry."""
    return f"{entry.target.value} {entry.value} (apiUser {entry.api_user})"


def _merge(
    build: Loader, desired: AccountDesired, doc: Document, entries: list[UninterceptEntry]
) -> None:
    """Add one document's entries and policies to the account's list: a key given twice is an
    error naming both places, and so is a policy two documents ask differently."""
    # (account, policy) -> the value the first document asked for, where, and whether written.
    policies = build.state(Resource.UNINTERCEPT)
    name = desired.account.name
    if desired.unintercepts is None:
        desired.unintercepts = {}
    merged: dict[str, UninterceptEntry] = desired.unintercepts
    for entry in entries:
        first = merged.setdefault(entry.key, entry)
        if first is not entry:
            build.add(
                entry.position,
                f"duplicate unintercept entry {describe(entry)} for account "
                f"'{name}' (first at {first.position})",
                "an entry is identified by apiUser and email/domain, ignoring case",
            )
    spec = doc.data["spec"]
    first_doc = (name, "prune") not in policies
    effective: dict[str, Any] = {}
    for key in _LIST_POLICIES:
        # An omitted policy is its default: a document that says nothing about pruning asks
        # for the default as much as one that writes it (SPEC §2).
        given = key in spec
        value = _policy_value(spec, key)
        here = doc.position(("spec", key)) if given else doc.position(("metadata", "name"))
        agreed = policies.setdefault((name, key), (value, here, given))
        if agreed[0] != value:
            _policy_conflict(build, name, key, (value, here, given), agreed)
        effective[key] = agreed[0]
    desired.unintercept_policy = ListPolicy(
        prune=effective["prune"],
        ignore=tuple(spec.get("ignore", ())) if first_doc else desired.unintercept_policy.ignore,
        deletion_threshold=effective["deletionThreshold"],
    )


# The per-list policies of an UninterceptList: they cover the account's whole list, so every
# document of the list must ask for the same, an omitted policy counting as its default.
_LIST_POLICIES = ("prune", "ignore", "deletionThreshold")
_Given = tuple[Any, Position, bool]  # the effective value, where, and whether it was written


def _policy_conflict(build: Loader, name: str, key: str, here: _Given, first: _Given) -> None:
    hint = (
        "a policy covers the account's whole unintercept list; set it once or set the same values"
    )
    if here[2] and first[2]:
        build.add(here[1], f"{key} for account '{name}' differs from the one at {first[1]}", hint)
        return
    hint = (
        "a policy covers the account's whole unintercept list, and a document that omits it "
        f"asks for the default; write the same {key} in every document of the list"
    )
    if here[2]:
        build.add(
            here[1],
            f"{key} for account '{name}' is {_shown(key, here[0])} here, but the "
            f"UninterceptList at {first[1]} omits it (default {_shown(key, first[0])})",
            hint,
        )
    else:
        build.add(
            here[1],
            f"this UninterceptList omits {key} (default {_shown(key, here[0])}), but account "
            f"'{name}' has {key} {_shown(key, first[0])} at {first[1]}",
            hint,
        )


def _shown(key: str, value: Any) -> str:
    if key == "prune":
        return "true" if value else "false"
    if key == "ignore":
        return "[" + ", ".join(repr(p) for p in sorted(value)) + "]"
    return f"{{entries: {value.entries}, percent: {value.percent:g}}}"


def _policy_value(spec: Mapping[str, Any], key: str) -> Any:
    if key == "deletionThreshold":
        from reconciler.kinds.policy import threshold

        return threshold(spec)
    if key == "ignore":
        return frozenset(spec.get("ignore", ()))  # the order of the patterns means nothing
    return bool(spec.get(key, True))


KIND = Unintercept()
