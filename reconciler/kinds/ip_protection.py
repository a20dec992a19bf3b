"""``IpProtection``: DirectMail's IP protection switch (one per account)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from reconciler.kinds import Kind, register
from reconciler.model import (
    PROTECTION_KEY,
    AccountDesired,
    AccountLive,
    Action,
    Change,
    Phase,
    Provider,
    Resource,
    Value,
)

if TYPE_CHECKING:
    from reconciler.providers.base import ProviderClient
    from reconciler.providers.directmail import DirectMailClient

# Failure groups: a whitelist deletion waits for switching protection off (make before break).
SWITCHING_OFF = "switching protection off"


class IpProtection(Kind):
    resource = Resource.IP_PROTECTION
    document = "IpProtection"
    provider = Provider.ALIYUN_DM

    def slot(self, change: Change) -> int:
        return Phase.PROTECTION_ON if change.after is True else Phase.PROTECTION_OFF

    def group(self, change: Change) -> str:
        return SWITCHING_OFF if change.after is False else super().group(change)

    def depends_on(self, change: Change) -> frozenset[str]:
        from reconciler.kinds.ip_whitelist import ADDITION

        return frozenset({ADDITION}) if change.after is True else frozenset()

    def text_columns(self, change: Change) -> tuple[str, str]:
        return f"enabled: {_bool(change.before)} -> {_bool(change.after)}", ""

    def markdown_cells(self, change: Change) -> tuple[str, str]:
        from reconciler.output.markdown import code

        return "enabled", f"{code(_bool(change.before))} → {code(_bool(change.after))}"

    def managed(self, want: AccountDesired) -> bool:
        return want.protection is not None

    def manage(self, want: AccountDesired) -> None:
        if want.protection is None:
            want.protection = True

    def diff(self, account: str, want: AccountDesired, have: AccountLive) -> list[Change]:
        if want.protection is None or have.protection is None:
            return []
        if want.protection == have.protection:
            return []
        before, after = have.protection, want.protection
        return [Change(account, self.resource, Action.UPDATE, PROTECTION_KEY, before, after)]

    def read(self, client: ProviderClient, desired: AccountDesired, live: AccountLive) -> None:
        if desired.protection is not None:
            live.protection = cast("DirectMailClient", client).get_ip_protection()

    def apply(self, client: ProviderClient, change: Change) -> str | None:
        cast("DirectMailClient", client).update_ip_protection(bool(change.after))
        return None

    def value_from_json(self, data: Mapping[str, Any]) -> Value:
        return bool(data["enabled"])


def _bool(value: object) -> str:
    return "true" if value else "false"


KIND = register(IpProtection())
