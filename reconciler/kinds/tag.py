"""``TagList``: DirectMail's tags (SPEC §10), keyed by ``TagName`` (case-sensitive).

A tag is its name (1–50 of ``[A-Za-z0-9_]``, which the schema checks) and an optional
description; a changed description is an update, carried out by ``ModifyTag`` (which takes the
name too). Tag creates and updates run first in an account, tag deletes last: a tag that
``stats --tag`` or a ``DeliveryCheck`` names is there before anything else changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from reconciler.errors import Position, Problem
from reconciler.kinds.base import Cell, Code, changed_entries
from reconciler.kinds.one_list import OneList
from reconciler.model import (
    AccountDesired,
    AccountLive,
    Action,
    Change,
    DeliveryCheck,
    Provider,
    Resource,
    Value,
)
from reconciler.outcome import ALREADY_GONE

if TYPE_CHECKING:
    from reconciler.providers.base import ProviderClient
    from reconciler.providers.directmail import DirectMailClient

# The console's limit: more tags than this is a warning (SPEC §10).
MOST_TAGS = 100
# Before every other change of an account, and after every other one (SPEC §10's order).
FIRST, LAST = 10, 90


@dataclass(frozen=True, slots=True)
class TagEntry:
    """A tag: ``name`` is the key; ``id`` is the provider's ``TagId`` (live entries only)."""

    name: str
    description: str = ""
    id: str | None = None
    position: Position | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return self.name

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.id is not None:
            data["id"] = self.id
        return data


class TagList(OneList):
    resource = Resource.TAG
    document = "TagList"
    provider = Provider.ALIYUN_DM
    list_name = "tag list"
    list_call = "QueryTagByParam"
    nouns = ("tag", "tags")
    entries_field = "tags"
    key_field = "name"
    unique_hint = "tag names are unique per account (case-sensitive)"
    most = MOST_TAGS
    most_says = "DirectMail's console allows at most"

    # -- manifests ------------------------------------------------------------------------

    def _entry(self, item: Mapping[str, Any], here: Position) -> TagEntry:
        return TagEntry(item["name"], item.get("description", ""), position=here)

    def check_state(
        self,
        accounts: Mapping[str, AccountDesired],
        checks: Sequence[DeliveryCheck],
        problems: list[Problem],
    ) -> None:
        for check in checks:
            want = accounts.get(check.account)
            tags = want.lists.get(self.resource) if want is not None else None
            if not check.tag or tags is None or check.tag in tags:
                continue
            problems.append(
                Problem(
                    check.position,
                    f"DeliveryCheck '{check.name}' names tag {check.tag!r}, which the "
                    f"TagList of account '{check.account}' does not hold",
                    "add it to the TagList, or check the spelling (tag names are case-sensitive)",
                    warning=True,
                )
            )

    # -- the plan -------------------------------------------------------------------------

    def as_wanted(self, entry: Any) -> Any:
        return TagEntry(entry.name, entry.description)

    def slot(self, change: Change) -> int:
        return LAST if change.action is Action.DELETE else FIRST

    def text_columns(self, change: Change) -> tuple[str, str]:
        entry, before = _entries(change)
        if change.action is Action.DELETE:
            return entry.name, f"(id {entry.id})" if entry.id else ""
        if before is not None:
            return entry.name, f"description: {before.description!r} -> {entry.description!r}"
        return entry.name, f"description={entry.description!r}" if entry.description else ""

    def markdown_cells(self, change: Change) -> tuple[Cell, Cell]:
        entry, before = _entries(change)
        name: Cell = (Code(entry.name),)
        if change.action is Action.DELETE:
            return name, ("id ", Code(entry.id)) if entry.id else ()
        if before is not None:
            described = Code(before.description), " → ", Code(entry.description)
            return name, ("description ", *described)
        return name, ("description ", Code(entry.description)) if entry.description else ()

    # -- the provider ---------------------------------------------------------------------

    def read(self, client: ProviderClient, desired: AccountDesired, live: AccountLive) -> None:
        if self.resource not in desired.lists:
            return
        # ``list_tags`` reads until the provider's TotalCount is in hand, or raises (rule 4).
        found = cast("DirectMailClient", client).list_tags()
        live.lists[self.resource] = [TagEntry(t.name, t.description, t.id) for t in found]
        live.totals[self.resource] = len(found)

    def apply(self, client: ProviderClient, change: Change) -> str | None:
        dm = cast("DirectMailClient", client)
        entry, before = _entries(change)
        match change.action:
            case Action.CREATE:
                return f"id {dm.create_tag(entry.name, entry.description)}"
            case Action.UPDATE:
                assert before is not None and before.id
                dm.modify_tag(before.id, entry.name, entry.description)
            case Action.DELETE:
                assert entry.id
                if not dm.delete_tag(entry.id):
                    return ALREADY_GONE  # the goal of the change holds
        return None

    def value_from_json(self, data: Mapping[str, Any]) -> Value:
        return TagEntry(data["name"], data.get("description", ""), data.get("id"))

    def _exported(self, entry: TagEntry) -> dict[str, Any]:
        return {
            "name": entry.name,
            **({"description": entry.description} if entry.description else {}),
        }


def _entries(change: Change) -> tuple[TagEntry, TagEntry | None]:
    return changed_entries(change, TagEntry)


KIND = TagList()
