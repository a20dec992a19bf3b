"""What the kinds whose document holds one list of entries, one document per account (tags,
sending domains, sender addresses), load alike: the entries, checked, and the list's policy."""

from __future__ import annotations

from typing import Any

from reconciler.document import Document
from reconciler.errors import Problem
from reconciler.kinds.base import Kind, Loader
from reconciler.model import AccountDesired


class OneList(Kind):
    """A kind whose ``document`` holds one list of entries, at most one document an account;
    ``_entries`` reads and checks them, keyed, and the policy's ``prune`` defaults to
    ``default_policy``'s."""

    def _entries(self, doc: Document, problems: list[Problem]) -> dict[str, Any]:
        raise NotImplementedError

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
