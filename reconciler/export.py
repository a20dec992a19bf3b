"""Live state as manifests: what ``reconciler export`` writes (SPEC §3).

The output is such that ``plan`` on it shows no changes: the Account document as it is written
in the manifests (credential references, never values), then the account's resources in
canonical form and a stable order. A live entry that no manifest could express (an address
DirectMail holds but the manifest rules reject, an e-mail that would normalize to another
key, an entry without types) is left out of ``entries`` and listed under ``ignore`` instead,
so the plan still leaves it alone; each one is reported as a warning.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import strictjson
from reconciler.errors import InputError, RefusedError
from reconciler.files import read_text
from reconciler.jsonschemas import SCHEMA_PATH, manifest_schema
from reconciler.kinds import kinds
from reconciler.manifests import yamlpos
from reconciler.model import (
    Account,
    AccountDesired,
    AccountLive,
)
from reconciler.safety import shortfalls

SCHEMA_LIMIT = 1024 * 1024  # the manifest schema is 14 KiB


@dataclass
class Export:
    """Manifest documents, and warnings about live entries they could not express."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def export_accounts(
    accounts: Sequence[Account],
    definitions: Sequence[Mapping[str, Any]],
    live: Mapping[str, AccountLive],
) -> Export:
    """The manifests of several accounts (each with its Account document as defined).

    Raises ``RefusedError`` if any list was returned incomplete: a partial manifest would
    delete what the provider left out at the next apply.
    """
    problems = [s.message(a.name) for a in accounts for s in shortfalls(live[a.name])]
    if problems:
        raise RefusedError(f"{'; '.join(problems)} — incomplete live state, nothing was written")
    result = Export()
    for account, definition in zip(accounts, definitions, strict=True):
        one = export_account(account, definition, live[account.name])
        result.documents.extend(one.documents)
        result.warnings.extend(one.warnings)
    return result


def reading(account: Account) -> AccountDesired:
    """An AccountDesired that manages everything its provider has, so that reading it returns
    the whole live state of the account."""
    want = AccountDesired(account)
    for kind in kinds():
        if kind.provider is account.provider:
            kind.manage(want)
    return want


def account_document(account: Account) -> dict[str, Any]:
    """The Account document that defines ``account``, as written in its manifest file."""
    if account.position is not None:
        documents, _ = yamlpos.load_file(account.position.file)
        for doc in documents:
            data = doc.data
            if (
                isinstance(data, dict)
                and data.get("kind") == "Account"
                and (data.get("metadata") or {}).get("name") == account.name
            ):
                return data
    raise InputError(
        f"cannot read the Account document of {account.name!r} again"
        + (f" from {account.position.file}" if account.position else "")
        + "; was the file changed during the run?"
    )


def export_account(account: Account, definition: Mapping[str, Any], live: AccountLive) -> Export:
    """The manifests of one account: its definition, then each resource its provider holds."""
    result = Export(documents=[dict(definition)])
    for kind in kinds():
        if kind.provider is account.provider:
            written = kind.export(account.name, live, result.warnings)
            if written is not None:
                result.documents.append(written)
    return result


# The placeholder of the schema's published address (README, "Manifest reference"): an $id
# holding it names no address that exists, so a modeline names a file instead.
ID_PLACEHOLDER = "/OWNER/REPO/"
SCHEMA_RELATIVE = Path("schemas") / "manifest.schema.json"


def schema_reference(directory: Path) -> str:
    """What the modelines of a file in ``directory`` name as ``$schema``.

    The schema's ``$id`` once it is a real address (a fork that publishes its own); while it
    holds the ``OWNER/REPO`` placeholder, the nearest ``schemas/manifest.schema.json`` with the
    same ``$id`` in ``directory`` or above, as a path relative to ``directory`` (a clone of this
    repository, or manifests kept beside a copy of the schema); else the schema installed with
    the package, by absolute path. The YAML language server resolves a relative path from the
    file's own directory.
    """
    published = str(manifest_schema()["$id"])
    if ID_PLACEHOLDER not in published:
        return published
    start = directory.resolve()
    for folder in (start, *start.parents):
        candidate = folder / SCHEMA_RELATIVE
        if _same_schema(candidate, published):
            return Path(os.path.relpath(candidate, start)).as_posix()
    return SCHEMA_PATH.resolve().as_posix()


def modeline_warning(reference: str) -> str | None:
    """What to say when the modelines name the schema by an absolute path (the one installed
    with reconciler): that path exists on this machine only, and inside a virtual environment
    it goes when the environment is rebuilt. ``None`` for a relative path or an address."""
    path = Path(reference)
    if not path.is_absolute():
        return None
    where = ""
    environment = Path(sys.prefix).resolve()
    if sys.prefix != sys.base_prefix and path.resolve().is_relative_to(environment):
        where = f" inside the virtual environment {environment.as_posix()}"
    return (
        f"the modelines name the schema installed with reconciler by its absolute "
        f"path{where} ({reference}): editors find it on this machine only, and not after the "
        "environment is rebuilt. To avoid it, keep a copy of the schema beside the manifests "
        f"(mkdir -p schemas && cp {reference} schemas/, in the output's directory or above) "
        "and export again: the modelines then name it by a relative path."
    )


def _same_schema(path: Path, published: str) -> bool:
    try:
        if not path.is_file():
            return False
        found = strictjson.loads(read_text(path, SCHEMA_LIMIT, "schema"))
    except (OSError, ValueError, InputError):
        return False
    return isinstance(found, dict) and found.get("$id") == published
