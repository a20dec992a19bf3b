"""Resolve accounts' credential references to values, at run time only.

Values never leave this process except in the requests that need them: they are not logged,
not rendered, and not part of any error message (errors name the variable, never its value).
DirectMail accounts whose credentials say ``chain``, ``profile`` or ``role`` obtain temporary
keys instead, through ``chain`` (loaded only then: ``validate`` never needs it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler import files
from reconciler.errors import InputError
from reconciler.manifests.checks import endpoint_problem
from reconciler.model import DEFAULT_CREDENTIALS, OPTIONAL_CREDENTIALS, Account, SecretRef


def resolve_all(
    accounts: Sequence[Account], environ: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """``{account name: {field: value}}``. Every missing credential of every account is
    reported in one error, before any account is contacted.

    Accounts with a ``credential_source`` (chain, profile, role) then obtain their keys, in
    manifest order; the first that cannot is the error (naming the account and what is
    missing), and STS refusing a role or token is a provider error.

    First of all, every account's endpoint must be one ``validate`` accepts: whatever route
    an account took here, no credential of an account is read, and none is sent, for an
    endpoint the manifests' checks refuse (plain http to a host that is not loopback)."""
    for account in accounts:
        wrong = endpoint_problem(account.endpoint)
        if wrong is not None:
            raise InputError(
                f"account {account.name!r}: {wrong[0]}; no credential was read and nothing was sent"
            )
    env = os.environ if environ is None else environ
    resolved: dict[str, dict[str, str]] = {}
    missing: list[str] = []
    for account in accounts:
        if account.credential_source is None:
            resolved[account.name] = _resolve(account, env, missing)
    if missing:
        raise InputError(
            "missing credentials:\n  "
            + "\n  ".join(missing)
            + "\n(set them in the environment, or run with --sandbox to use the local sandbox)"
        )
    for account in accounts:
        if account.credential_source is not None:
            from reconciler.credentials import chain

            base = _resolve(account, env, [])
            obtained = chain.obtain(account, account.credential_source, base, env)
            resolved[account.name] = obtained
    return {account.name: resolved[account.name] for account in accounts}


def _resolve(account: Account, env: Mapping[str, str], missing: list[str]) -> dict[str, str]:
    """The account's credential values (optional ones may be absent); appends what is missing."""
    refs: dict[str, SecretRef] = {
        name: SecretRef(env=var) for name, var in DEFAULT_CREDENTIALS[account.provider].items()
    }
    refs.update(account.credentials)
    values: dict[str, str] = {}
    for name, ref in refs.items():
        value = _read(ref, env)
        if value:
            values[name] = value
        elif name not in OPTIONAL_CREDENTIALS:
            where = f"{ref.position}: " if ref.position else ""
            missing.append(
                f"{where}{name} of account {account.name!r}: {ref.describe()} is not set"
            )
    return values


def _read(ref: SecretRef, env: Mapping[str, str]) -> str | None:
    if ref.env is not None:
        return env.get(ref.env) or None
    if ref.file is not None:
        # The path is not secret; the file's content is never echoed (errors name the line
        # of a UTF-8 error at most).
        path = Path(ref.file).expanduser()
        return files.read_text(path, files.CREDENTIAL_LIMIT, "credential file").strip() or None
    return None
