"""Provider clients: read live state and perform one change; wire details only.

``client_for(account, secrets)`` returns the client for an account's provider.
"""

from __future__ import annotations

from collections.abc import Mapping

from requests.adapters import BaseAdapter

from reconciler.model import Account, Provider
from reconciler.providers.base import ProviderClient


def client_for(
    account: Account, secrets: Mapping[str, str], transport: BaseAdapter | None = None
) -> ProviderClient:
    """Build the client for ``account``; ``secrets`` come from ``credentials.resolve``.

    ``transport`` replaces the HTTP adapter (tests answer from an in-process sandbox)."""
    match account.provider:
        case Provider.ALIYUN_DM:
            from reconciler.providers.directmail import DirectMailClient

            return DirectMailClient(account, secrets, transport)
        case Provider.SENDCLOUD:
            from reconciler.providers.sendcloud import SendCloudClient

            return SendCloudClient(account, secrets, transport)
    raise AssertionError(f"unknown provider {account.provider!r}")
