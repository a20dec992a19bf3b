"""Connect to the providers of the selected accounts and read their live state."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

from reconciler import credentials
from reconciler.model import AccountDesired, AccountLive, Provider
from reconciler.providers import client_for
from reconciler.providers.base import ProviderClient


@contextmanager
def connect(
    desired: Sequence[AccountDesired],
    *,
    sandbox_state: Path | None = None,
    announce: bool = True,
) -> Iterator[tuple[list[AccountDesired], dict[str, ProviderClient]]]:
    """Open one client per account; with ``sandbox_state``, point every account at an embedded
    sandbox (its fixed credentials, an ephemeral loopback port) instead of the real providers.

    Yields the accounts as they will be used (endpoints may differ) and the clients by name.
    """
    with ExitStack() as stack:
        if sandbox_state is not None:
            desired = _use_sandbox(stack, desired, sandbox_state, announce)
        if sandbox_state is not None:
            fixed = _sandbox_secrets()
            secrets = {w.account.name: fixed[w.account.provider] for w in desired}
        else:
            secrets = credentials.resolve_all([w.account for w in desired])
        clients = {
            want.account.name: stack.enter_context(
                client_for(want.account, secrets[want.account.name])
            )
            for want in desired
        }
        yield list(desired), clients


def read(
    desired: Sequence[AccountDesired], clients: dict[str, ProviderClient]
) -> dict[str, AccountLive]:
    """Live state of what each account manages, read through its client.

    Accounts are independent (each has its own limits), so they are read concurrently. If
    reads fail, the error of the first such account, in manifest order, is raised.
    """
    if len(desired) <= 1:
        return {
            want.account.name: clients[want.account.name].read(to_read(want)) for want in desired
        }
    with ThreadPoolExecutor(max_workers=len(desired), thread_name_prefix="read") as pool:
        futures = {
            want.account.name: pool.submit(clients[want.account.name].read, to_read(want))
            for want in desired
        }
    return {name: future.result() for name, future in futures.items()}


def to_read(want: AccountDesired) -> AccountDesired:
    """What to read of an account: what it manages, and for the lock-out rule (SPEC §5 rule 3,
    judged on the final state) the other half of IP protection when only one half is managed:
    the whitelist when only the switch is managed, the switch when only the whitelist is."""
    if (want.protection is None) == (want.whitelist is None):
        return want
    if want.account.provider is not Provider.ALIYUN_DM:
        return want
    # Only whether each half is managed matters to ``read``, not its desired value.
    if want.protection is None:
        return replace(want, protection=False)
    return replace(want, whitelist={})


def _use_sandbox(
    stack: ExitStack, desired: Sequence[AccountDesired], state: Path, announce: bool
) -> list[AccountDesired]:
    from reconciler.sandbox import Sandbox

    server = stack.enter_context(Sandbox(state))
    if announce:
        print(f"Using the local sandbox at {server.url} (state in {state})", file=sys.stderr)
    endpoints = {
        Provider.ALIYUN_DM: server.directmail_endpoint,
        Provider.SENDCLOUD: server.sendcloud_endpoint,
    }
    return [
        replace(want, account=replace(want.account, endpoint=endpoints[want.account.provider]))
        for want in desired
    ]


def _sandbox_secrets() -> dict[Provider, dict[str, str]]:
    from reconciler import sandbox

    return {
        Provider.ALIYUN_DM: {
            "accessKeyId": sandbox.ACCESS_KEY_ID,
            "accessKeySecret": sandbox.ACCESS_KEY_SECRET,
        },
        Provider.SENDCLOUD: {"apiUser": sandbox.API_USER, "apiKey": sandbox.API_KEY},
    }
