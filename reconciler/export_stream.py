"""An export in bounded memory, whatever a list's length.

``export`` writes a list sorted by key, so it cannot write an entry before it has read them
all. A kind whose export streams (``Kind.stream_export``) has its list read page by page into
files under a temporary directory and its document written while they are merged; every other
account is read and exported as ``export.export_accounts`` does. Nothing reaches the export's
file unless every list proved complete: the caller writes into a temporary file and renames it
only at the end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler import live
from reconciler.errors import RefusedError
from reconciler.export import export_account
from reconciler.export_yaml import Streamed
from reconciler.kinds import StreamedExport, kinds
from reconciler.model import Account, AccountDesired, AccountLive
from reconciler.providers.base import ProviderClient
from reconciler.safety import shortfalls


def read(
    wants: Sequence[AccountDesired], clients: dict[str, ProviderClient], directory: Path
) -> dict[str, AccountLive | StreamedExport]:
    """Live state of every account through ``live.read`` (its lanes per credential, its
    errors all raised together), a streamed kind's list read into files under ``directory``
    instead of into memory."""
    numbers = {want.account.name: number for number, want in enumerate(wants)}

    def one(client: ProviderClient, want: AccountDesired) -> AccountLive | StreamedExport:
        for kind in kinds():
            name = f"list{numbers[want.account.name]}"
            listed = kind.stream_export(client, want, directory, name)
            if listed is not None:
                return listed
        return live.read_one(client, want)

    return live.read(wants, clients, one)


def documents(
    accounts: Sequence[Account],
    definitions: Sequence[Mapping[str, Any]],
    found: Mapping[str, AccountLive | StreamedExport],
    clients: Mapping[str, ProviderClient],  # unused: tests wrap this call to read the same state
    warnings: list[str],
) -> Iterator[Mapping[str, Any] | Streamed]:
    """The documents ``export.export_accounts`` makes of the same live state, a streamed list
    made while it is written. Once the last one is written, ``RefusedError`` if any list was
    incomplete (the caller writes into a temporary file: nothing is written); a streamed list
    holding a key twice with other types raises ``InconsistentAnswer`` once it is merged.
    Warnings about entries no manifest can hold go to ``warnings``."""
    problems: list[str] = []
    for account, definition in zip(accounts, definitions, strict=True):
        have = found[account.name]
        if not isinstance(have, AccountLive):
            yield dict(definition)
            yield have.document(account.name, warnings, problems)
            continue
        problems.extend(s.message(account.name) for s in shortfalls(have))
        one = export_account(account, definition, have)
        warnings.extend(one.warnings)
        yield from one.documents
    if problems:
        raise RefusedError(f"{'; '.join(problems)} — incomplete live state, nothing was written")
