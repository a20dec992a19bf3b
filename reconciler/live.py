"""Connect to the providers of the selected accounts and read their live state."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from itertools import chain, zip_longest
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.credentials.resolve import resolve_all
from reconciler.model import Account, AccountDesired, AccountLive, Provider
from reconciler.providers import client_for
from reconciler.providers.base import ProviderClient
from reconciler.providers.limits import share_limits

# Accounts read at once, and threads fetching list pages for all of them: the threads a plan
# uses stay bounded however many accounts it reads (an account's own ``concurrency`` still
# bounds its calls in flight, through its credential's limits).
ACCOUNT_WORKERS = 16
PAGE_WORKERS = 64


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
    Clients of accounts with the same credential share its limits (``credential``), and all
    share one pool of threads for list pages.
    """
    with ExitStack() as stack:
        if sandbox_state is not None:
            desired = _use_sandbox(stack, desired, sandbox_state, announce)
        if sandbox_state is not None:
            fixed = _sandbox_secrets()
            secrets = {w.account.name: fixed[w.account.provider] for w in desired}
        else:
            secrets = resolve_all([w.account for w in desired])
        clients = {
            want.account.name: stack.enter_context(
                client_for(want.account, secrets[want.account.name])
            )
            for want in desired
        }
        groups: dict[object, list[ProviderClient]] = {}
        for want in desired:
            key = credential(want.account, secrets[want.account.name])
            groups.setdefault(key, []).append(clients[want.account.name])
        shared = share_limits(groups)
        workers = min(PAGE_WORKERS, sum(limits.concurrency for limits in shared.values()))
        pages = stack.enter_context(
            ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="pages")
        )
        for client in clients.values():
            client.executor = pages
        yield list(desired), clients


def credential(account: Account, secrets: Mapping[str, str]) -> tuple[str, str, str]:
    """Who the provider sees calling for ``account``: the provider, the endpoint's host and
    the key (AccessKeyId or apiUser). The provider throttles each one as a whole."""
    key = secrets.get("accessKeyId") or secrets.get("apiUser") or account.name
    host = (urlsplit(account.endpoint).netloc or account.endpoint).lower()
    return (account.provider.value, host, key)


def read(
    desired: Sequence[AccountDesired], clients: dict[str, ProviderClient]
) -> dict[str, AccountLive]:
    """Live state of what each account manages, read through its client.

    Accounts are read concurrently, at most ``ACCOUNT_WORKERS`` at once, taking turns between
    credentials so that one throttled key does not hold every worker while the others wait.
    If reads fail, the error of the first such account, in manifest order, is raised.
    """
    if len(desired) <= 1:
        return {
            want.account.name: clients[want.account.name].read(to_read(want)) for want in desired
        }
    by_key: dict[int, list[AccountDesired]] = {}
    for want in desired:
        by_key.setdefault(id(clients[want.account.name].limiter), []).append(want)
    turns = [w for w in chain.from_iterable(zip_longest(*by_key.values())) if w is not None]
    workers = min(ACCOUNT_WORKERS, len(desired))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read") as pool:
        futures = {
            want.account.name: pool.submit(clients[want.account.name].read, to_read(want))
            for want in turns
        }
    return {want.account.name: futures[want.account.name].result() for want in desired}


def to_read(want: AccountDesired) -> AccountDesired:
    """What to read of an account: what it manages, and what the lock-out rule (SPEC §5 rule 3,
    judged on the final state) needs of the half of IP protection it does not manage: the
    switch when only the whitelist is managed; the whitelist when only the switch is, and only
    if it ends up on (switched off, no whitelist can lock anyone out)."""
    if want.account.provider is not Provider.ALIYUN_DM:
        return want
    # Only whether each half is managed matters to ``read``, not its desired value.
    if want.whitelist is None and want.protection is True:
        return replace(want, whitelist={})
    if want.protection is None and want.whitelist is not None:
        return replace(want, protection=False)
    return want


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
