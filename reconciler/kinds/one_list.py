"""What the kinds whose document holds one list of entries, one document per account (tags,
sending domains, sender addresses), do alike: load the entries, checked (no key twice, a warning
past the provider's limit), with the list's policy; and export the live list, sorted by key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.document import Document
from reconciler.errors import Position, Problem
from reconciler.kinds.base import Kind, Loader
from reconciler.model import AccountDesired, AccountLive


class OneList(Kind):
    """A kind whose ``document`` holds one list of entries (``entries_field``), at most one
    document an account. A kind says how one item of the manifest becomes an entry (``_entry``)
    and how a live entry is exported (``_exported``); the policy's ``prune`` defaults to
    ``default_policy``'s."""

    list_name: str
    entries_field: str
    key_field: str  # the item's field that keys the entry: where a duplicate is pointed at
    unique_hint: str  # how keys compare, said with a duplicate
    most: int | None = None  # the provider's limit: more entries are a warning
    most_says = "DirectMail allows at most"

    def _entry(self, item: Mapping[str, Any], here: Position) -> Any:
        raise NotImplementedError

    def _exported(self, entry: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _entries(self, doc: Document, problems: list[Problem]) -> dict[str, Any]:
        entries: dict[str, Any] = {}
        noun = self.list_name.removesuffix(" list")
        for i, item in enumerate(doc.data["spec"][self.entries_field]):
            here = doc.position(("spec", self.entries_field, i, self.key_field))
            entry = self._entry(item, here)
            first = entries.setdefault(entry.key, entry)
            if first is not entry:
                problems.append(
                    Problem(
                        here,
                        f"duplicate {noun} {entry.key!r} (first at {first.position})",
                        self.unique_hint,
                    )
                )
        if self.most is not None and len(entries) > self.most:
            problems.append(
                Problem(
                    doc.position(("spec", self.entries_field)),
                    f"{len(entries)} {self.nouns[1]}: {self.most_says} {self.most}",
                    warning=True,
                )
            )
        return entries

    def check_entries(self, doc: Document, problems: list[Problem]) -> list[Any]:
        return list(self._entries(doc, problems).values())

    def load(self, loader: Loader, doc: Document, desired: AccountDesired | None) -> None:
        from reconciler.kinds.policy import list_policy

        entries = self._entries(doc, loader.problems)
        if desired is None or not loader.once_per_account(doc, self.document):
            return
        desired.lists[self.resource] = entries
        desired.policies[self.resource] = list_policy(
            doc.data["spec"], prune=self.default_policy.prune
        )

    def export(self, account: str, have: AccountLive, warnings: list[str]) -> Any:
        from reconciler.export_document import document

        live = have.lists.get(self.resource)
        if not live:  # an account without any: nothing to manage (exports stay as they were)
            return None
        kept = {entry.key: entry for entry in live}  # the last of equal keys, as diff does
        items = [self._exported(kept[key]) for key in sorted(kept)]
        return document(self.document, account, {self.entries_field: items})
