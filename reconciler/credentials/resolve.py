"""Resolve accounts' credential references to values, at run time only.

Values never leave this process except in the requests that need them: they are not logged,
not rendered, and not part of any error message (errors name the variable, never its value).
DirectMail accounts whose credentials say ``chain``, ``profile`` or ``role`` obtain temporary
keys instead, through ``chain`` (loaded only then: ``validate`` never needs it).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler import files
from reconciler.errors import InputError
from reconciler.manifests.checks import endpoint_problem
from reconciler.model import (
    DEFAULT_CREDENTIALS,
    OPTIONAL_CREDENTIALS,
    Account,
    CredentialSource,
    SecretRef,
)


def resolve_all(
    accounts: Sequence[Account], environ: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """``{account name: {field: value}}``. Every account's credential problem (a variable
    not set or empty, a file that cannot be read or is empty, a chain that finds nothing) is
    reported in one error, each at the position of its reference, before any call to the
    providers themselves. Accounts with a credential source are tried even when another
    account's reference is already missing, so that one run reports every problem: that may
    ask STS or the instance's metadata service for keys that are then not used.

    Accounts with a ``credential_source`` (chain, profile, role) obtain their keys, in
    manifest order; STS refusing a role or token is a provider error. Temporary keys come
    with how to renew them (``refresh.TemporaryKeys.renew``).

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
    problems: dict[str, list[str]] = {account.name: [] for account in accounts}
    for account in accounts:
        if account.credential_source is None:
            resolved[account.name] = _resolve(account, env, problems[account.name])
    for account in accounts:
        if account.credential_source is not None:
            found = problems[account.name]
            obtained = _obtain(account, account.credential_source, env, found)
            if obtained is not None:
                resolved[account.name] = obtained
    if any(problems.values()):
        raise InputError(
            "missing credentials:\n  "
            + "\n  ".join(line for lines in problems.values() for line in lines)
            + "\n(set them, or run with --sandbox to use the local sandbox)"
        )
    return {account.name: resolved[account.name] for account in accounts}


def _obtain(
    account: Account, source: CredentialSource, env: Mapping[str, str], problems: list[str]
) -> dict[str, str] | None:
    """The keys ``source`` gives, renewable if temporary; None after adding the problem."""
    from reconciler.credentials import chain
    from reconciler.credentials.refresh import TemporaryKeys

    base = _resolve(account, env, [])
    try:
        obtained = chain.obtain(account, source, base, env)
    except InputError as exc:
        where = source.position or account.position
        problems.append(f"{where}: {exc}" if where else str(exc))
        return None
    if isinstance(obtained, TemporaryKeys) and obtained.renew is None:
        obtained.renew = functools.partial(chain.obtain, account, source, base, env)
    return obtained


def _resolve(account: Account, env: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    """The account's credential values (optional ones may be absent); appends what is wrong
    with each, at the position of its reference (the account's own if it has none)."""
    refs: dict[str, SecretRef] = {
        name: SecretRef(env=var) for name, var in DEFAULT_CREDENTIALS[account.provider].items()
    }
    refs.update(account.credentials)
    values: dict[str, str] = {}
    for name, ref in refs.items():
        where = ref.position or account.position
        what = f"{f'{where}: ' if where else ''}{name} of account {account.name!r}"
        try:
            value = _read(ref, env)
        except InputError as exc:
            problems.append(f"{what}: {exc}")
            continue
        if value:
            values[name] = value
        elif name not in OPTIONAL_CREDENTIALS:
            problems.append(f"{what}: {ref.describe()} {_absent(ref, env)}")
    return values


def _absent(ref: SecretRef, env: Mapping[str, str]) -> str:
    """Why an empty value is missing: never set, or set to nothing (or only blanks)."""
    if ref.env is not None and ref.env not in env:
        return "is not set"
    return "is empty"


def _read(ref: SecretRef, env: Mapping[str, str]) -> str | None:
    if ref.env is not None:
        value = env.get(ref.env)
        return value if value and value.strip() else None
    if ref.file is not None:
        # The path is not secret; the file's content is never echoed (errors name the line
        # of a UTF-8 error at most).
        path = Path(ref.file).expanduser()
        return files.read_text(path, files.CREDENTIAL_LIMIT, "credential file").strip() or None
    return None
