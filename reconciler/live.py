"""Connect to the providers of the selected accounts and read their live state."""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, overload

from reconciler.credentials.resolve import resolve_all
from reconciler.errors import ProviderError, ProviderErrors
from reconciler.kinds import kinds
from reconciler.model import AccountDesired, AccountLive, Provider
from reconciler.providers import client_for
from reconciler.providers.base import ProviderClient, naming_errors
from reconciler.providers.limits import share_limits
from reconciler.providers.pools import caller, origin, sized

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
    Clients of accounts with the same caller (``pools.caller``: the provider throttles each
    key as a whole) share its limits, clients of accounts at the same endpoint origin share its
    connections (``pools.sized``), and all
    share one pool of threads for list pages.
    """
    with ExitStack() as stack:
        if sandbox_state is not None:
            desired = _use_sandbox(stack, desired, sandbox_state, announce)
            fixed = _sandbox_secrets()
            secrets = {w.account.name: fixed[w.account.provider] for w in desired}
        else:
            secrets = resolve_all([w.account for w in desired])
        accounts = [w.account for w in desired]
        callers = {a.name: caller(a, secrets[a.name]) for a in accounts}
        pools = sized(accounts, callers, PAGE_WORKERS + ACCOUNT_WORKERS)
        clients = {}
        groups: dict[object, list[ProviderClient]] = {}
        for account in accounts:
            pool = pools[origin(account.endpoint)]
            client = client_for(account, secrets[account.name], pool.adapter)
            client.pool = pool
            clients[account.name] = stack.enter_context(client)
            groups.setdefault(callers[account.name], []).append(client)
        shared = share_limits(groups)
        workers = min(PAGE_WORKERS, sum(limits.concurrency for limits in shared.values()))
        pages = stack.enter_context(
            ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="pages")
        )
        for client in clients.values():
            client.executor = pages
        yield list(desired), clients


T = TypeVar("T")


@overload
def read(
    desired: Sequence[AccountDesired], clients: Mapping[str, ProviderClient]
) -> dict[str, AccountLive]: ...


@overload
def read(
    desired: Sequence[AccountDesired],
    clients: Mapping[str, ProviderClient],
    reader: Callable[[ProviderClient, AccountDesired], T],
) -> dict[str, T]: ...


def read(
    desired: Sequence[AccountDesired],
    clients: Mapping[str, ProviderClient],
    reader: Callable[[ProviderClient, AccountDesired], Any] | None = None,
) -> dict[str, Any]:
    """Live state of what each account manages, read through its client by ``reader``
    (``read_one`` unless given: ``plan`` reads an account whose listing contradicts itself
    as nothing, and refuses it; ``export`` reads a list it streams into files).

    Accounts are read concurrently, at most ``ACCOUNT_WORKERS`` at once, and those of one
    credential at most as many at once as it may have calls in flight: more would only wait
    on its limits while holding workers that other credentials could use. The credentials
    with the most accounts start first (theirs is the longest read). If reads fail, every
    failed account's error is raised together (``ProviderErrors``, in manifest order); an
    error that refuses an account's keys names the credential references to fix, at their
    positions.
    """
    reading = _Reading((clients[want.account.name] for want in desired), reader or read_one)
    found: dict[str, Any] = {}
    failed: dict[str, Exception] = {}

    def one(want: AccountDesired) -> None:
        name = want.account.name
        try:
            found[name] = reading.read(clients[name], want)
        except Exception as exc:  # raised below, in manifest order
            failed[name] = exc

    if len(desired) <= 1:  # no thread to read one account
        for want in desired:
            one(want)
    else:
        _in_lanes(desired, clients, one)
    _raise(desired, failed)
    return {want.account.name: found[want.account.name] for want in desired}


def _in_lanes(
    desired: Sequence[AccountDesired],
    clients: Mapping[str, ProviderClient],
    one: Callable[[AccountDesired], None],
) -> None:
    """``one`` for each account, in lanes: as many per credential as it may have calls in
    flight, the credentials with the most accounts first, ``ACCOUNT_WORKERS`` at once."""
    by_key: dict[int, list[AccountDesired]] = {}
    for want in desired:
        by_key.setdefault(id(clients[want.account.name].limiter), []).append(want)
    lanes: list[deque[AccountDesired]] = []
    for wants in sorted(by_key.values(), key=len, reverse=True):
        queue = deque(wants)
        lanes.extend([queue] * min(len(wants), *(w.account.limits.concurrency for w in wants)))

    def lane(queue: deque[AccountDesired]) -> None:
        while queue:
            try:
                want = queue.popleft()
            except IndexError:  # another lane took the last one
                return
            one(want)

    workers = min(ACCOUNT_WORKERS, len(lanes))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read") as pool:
        for done in [pool.submit(lane, queue) for queue in lanes]:
            done.result()


def _raise(desired: Sequence[AccountDesired], failed: Mapping[str, Exception]) -> None:
    """Raise what reading ``desired`` met: anything but a provider's error first (a bug,
    whatever else failed), else every provider error (``ProviderErrors`` for several, in
    manifest order); each names the credential references to fix if the keys were refused
    (``providers.blame``)."""
    for want in desired:
        error = failed.get(want.account.name)
        if error is not None and not isinstance(error, ProviderError):
            raise error
    errors: list[ProviderError] = []
    for want in desired:
        error = failed.get(want.account.name)
        if isinstance(error, ProviderError):
            errors.append(error)
    if len(errors) > 1:
        raise ProviderErrors(errors)
    if errors:
        raise errors[0]


@naming_errors
def read_one(client: ProviderClient, desired: AccountDesired) -> AccountLive:
    """Read through ``client`` the live state of what ``desired`` manages (and nothing else):
    each kind of the client's provider reads its part."""
    live = AccountLive()
    for kind in kinds():
        if kind.provider is client.account.provider:
            kind.read(client, desired, live)
    return live


class _Reading:
    """Reads accounts and, once every account using a pool of connections has been read,
    releases that pool's idle connections: accounts at many endpoints do not keep one open
    to each while the others are read."""

    def __init__(
        self,
        clients: Iterable[ProviderClient],
        reader: Callable[[ProviderClient, AccountDesired], Any],
    ) -> None:
        self._reader = reader
        self._left: dict[int, int] = {}
        self._lock = threading.Lock()
        for client in clients:
            pool = getattr(client, "pool", None)
            if pool is not None:
                self._left[id(pool)] = self._left.get(id(pool), 0) + 1

    def read(self, client: ProviderClient, want: AccountDesired) -> Any:
        try:
            return self._reader(client, to_read(want))
        finally:
            pool = getattr(client, "pool", None)
            if pool is not None:
                with self._lock:
                    self._left[id(pool)] -= 1
                    done = self._left[id(pool)] == 0
                if done:
                    pool.release()


def to_read(want: AccountDesired) -> AccountDesired:
    """What to read of an account: what it manages, and what rules that join kinds need of a
    kind it does not manage (``Kind.widen_read``: the lock-out rule, SPEC §5 rule 3)."""
    for kind in kinds():
        want = kind.widen_read(want)
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
