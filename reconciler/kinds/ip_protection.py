"""``IpProtection``: DirectMail's IP protection switch (one per account)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from reconciler.addresses import canonical_ip_entry
from reconciler.errors import Problem
from reconciler.kinds.base import ADDITION, SWITCHING_OFF, Cell, Code, Kind, Loader
from reconciler.kinds.lockout import judge
from reconciler.model import (
    PROTECTION_KEY,
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
)

if TYPE_CHECKING:
    from reconciler.document import Document
    from reconciler.providers.base import ProviderClient
    from reconciler.providers.directmail import DirectMailClient
    from reconciler.refusals import Refusal

_ENABLED = re.compile(r"\benabled:[ \t]*(\w+)")
_OFF = {"false", "no", "off"}  # YAML 1.1 spellings of false


class IpProtection(Kind):
    resource = Resource.IP_PROTECTION
    document = "IpProtection"
    provider = Provider.ALIYUN_DM

    entries_field = "senders"

    def check_entries(self, doc: Document, problems: list[Problem]) -> list[Any]:
        return list(senders(doc, problems))

    def load(self, loader: Loader, doc: Document, desired: AccountDesired | None) -> None:
        if desired is not None and loader.once_per_account(doc, self.document):
            desired.protection = bool(doc.data["spec"]["enabled"])
            desired.protection_position = doc.position(("spec", "enabled"))
            desired.senders = senders(doc, loader.problems)

    def slot(self, change: Change) -> int:
        return Phase.PROTECTION_ON if change.after is True else Phase.PROTECTION_OFF

    def group(self, change: Change) -> str:
        return SWITCHING_OFF if change.after is False else super().group(change)

    def refusals(
        self,
        account: str,
        want: AccountDesired,
        have: AccountLive,
        changes: Mapping[Resource, Sequence[Change]],
    ) -> list[Refusal]:
        return judge(account, want, have, changes)  # rule 3, joined with the whitelist

    def depends_on(self, change: Change) -> frozenset[str]:
        return frozenset({ADDITION}) if change.after is True else frozenset()

    def text_columns(self, change: Change) -> tuple[str, str]:
        return f"enabled: {_bool(change.before)} -> {_bool(change.after)}", ""

    def markdown_cells(self, change: Change) -> tuple[Cell, Cell]:
        return ("enabled",), (Code(_bool(change.before)), " → ", Code(_bool(change.after)))

    def managed(self, want: AccountDesired) -> bool:
        return want.protection is not None

    def manage(self, want: AccountDesired) -> None:
        if want.protection is None:
            want.protection = True

    def widen_read(self, want: AccountDesired) -> AccountDesired:
        # Rule 3 is judged on the final state: the switch is read when only the whitelist is
        # managed; the whitelist when only the switch is, and only if it ends up on (switched
        # off, no whitelist can lock anyone out). Whether a half is managed is what matters to
        # ``read``, not its desired value.
        if want.account.provider is not self.provider:
            return want
        if want.whitelist is None and want.protection is True:
            return replace(want, whitelist={})
        if want.protection is None and want.whitelist is not None:
            return replace(want, protection=False)
        return want

    def undo(self, inverse: AccountDesired, before: AccountLive) -> None:
        inverse.protection = before.protection

    def quick_look(self, want: AccountDesired, head: str) -> None:
        # Whether protection ends on decides whether the whitelist is read (rule 3).
        switch = _ENABLED.search(head)
        want.protection = switch is None or switch.group(1).lower() not in _OFF

    def diff(self, account: str, want: AccountDesired, have: AccountLive) -> list[Change]:
        if want.protection is None or have.protection is None:
            return []
        if want.protection == have.protection:
            return []
        before, after = have.protection, want.protection
        return [Change(account, self.resource, Action.UPDATE, PROTECTION_KEY, before, after)]

    # One entry, under its own key, in a saved plan's snapshot.
    single = True

    def snapshot(self, want: AccountDesired, have: AccountLive, keep: Collection[str]) -> Any:
        # Read for rule 3 too (judged on the final state) when only the whitelist is managed.
        if have.protection is None:
            return None
        if want.protection is None and want.whitelist is None:
            return None
        return {"enabled": have.protection}

    def restore(
        self, want: AccountDesired, seen: Mapping[str, Any], policy: ListPolicy | None
    ) -> None:
        # On: the whitelist is read again when the plan read it; off: it was not read, the
        # switch ending off (``live.to_read``), and it is not read again.
        want.protection = Resource.IP_WHITELIST.value in seen

    def stale_text(self, key: str, seen: Any, now: Any) -> tuple[str, str]:
        return self.resource.value, f"enabled {_known(seen)} -> {_known(now)}"

    def inconsistency(self, change: Change, seen: Mapping[str, Any]) -> str | None:
        if change.before != seen["enabled"] or change.after == change.before:
            return "does not match the protection switch the plan saw"
        return None

    def shows(self, change: Change, now: Any) -> bool:
        return bool(now == {"enabled": change.after})

    def export(self, account: str, have: AccountLive, warnings: list[str]) -> Any:
        from reconciler.export_document import document

        if have.protection is None:
            return None
        return document(self.document, account, {"enabled": have.protection})

    def read(self, client: ProviderClient, desired: AccountDesired, live: AccountLive) -> None:
        if desired.protection is not None:
            live.protection = cast("DirectMailClient", client).get_ip_protection()

    def apply(self, client: ProviderClient, change: Change) -> str | None:
        cast("DirectMailClient", client).update_ip_protection(bool(change.after))
        return None

    def value_from_json(self, data: Mapping[str, Any]) -> Value:
        return bool(data["enabled"])


def senders(doc: Document, problems: list[Problem]) -> tuple[IpEntry, ...]:
    """``IpProtection.spec.senders``, canonical, each with its position (SPEC §5 rule 3)."""
    found: list[IpEntry] = []
    for index, raw in enumerate(doc.data["spec"].get("senders", ())):
        position = doc.position(("spec", "senders", index))
        try:
            found.append(IpEntry(canonical_ip_entry(raw), position=position))
        except ValueError as error:
            problems.append(Problem(position, f"invalid sender '{raw.strip()}': {error}"))
    return tuple(found)


def _known(value: Any) -> str:
    return "unknown" if value is None else ("true" if value["enabled"] else "false")


def _bool(value: object) -> str:
    return "true" if value else "false"


KIND = IpProtection()
