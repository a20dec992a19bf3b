"""Property: for any desired and live state, after apply the plan is empty.

Random live states go into a real sandbox, random desired states are planned against them and
carried out through the real provider clients over 127.0.0.1; then live state is read again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import sandbox as sb
from reconciler.addresses import canonical_ip_entry
from reconciler.apply import execute
from reconciler.live import read_one
from reconciler.model import (
    ALL_TYPES,
    Account,
    AccountDesired,
    DeletionThreshold,
    IpEntry,
    Limits,
    ListPolicy,
    Provider,
    Target,
    UninterceptEntry,
)
from reconciler.plan import diff
from reconciler.providers import client_for
from reconciler.sandbox import Sandbox

# Addresses in several spellings: equal entries must compare equal, however they are written.
LIVE_FORMS = {
    "203.0.113.1": ["203.0.113.1", "203.0.113.1/32", "203.0.113.1-203.0.113.1"],
    "203.0.113.2": ["203.0.113.2"],
    "198.51.100.0/24": ["198.51.100.0/24", "198.51.100.0-198.51.100.255"],
    "192.0.2.10-192.0.2.20": ["192.0.2.10-192.0.2.20"],
    "192.0.2.64/26": ["192.0.2.64/26"],
    "203.0.113.128/25": ["203.0.113.128/25"],
}
TARGETS = [
    (Target.EMAIL, "vip@example.com"),
    (Target.EMAIL, "Boss@Example.COM"),
    (Target.EMAIL, "ops@partner.example"),
    (Target.DOMAIN, "partner.example"),
    (Target.DOMAIN, "reseller.example"),
]
API_USERS = ["all", "marketing", "transactional"]
TYPE_SETS = st.frozensets(st.sampled_from(sorted(ALL_TYPES)), min_size=1)
FAST = Limits(requests_per_second=10_000, concurrency=4)
PERMISSIVE = DeletionThreshold(entries=1_000_000, percent=100)


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def accounts(server: Sandbox) -> tuple[Account, Account]:
    return (
        Account("dm", Provider.ALIYUN_DM, server.directmail_endpoint, limits=FAST),
        Account("sc", Provider.SENDCLOUD, server.sendcloud_endpoint, limits=FAST),
    )


SECRETS = {
    Provider.ALIYUN_DM: {"accessKeyId": sb.ACCESS_KEY_ID, "accessKeySecret": sb.ACCESS_KEY_SECRET},
    Provider.SENDCLOUD: {"apiUser": sb.API_USER, "apiKey": sb.API_KEY},
}

live_whitelist = st.lists(
    st.sampled_from(sorted(LIVE_FORMS)).flatmap(lambda a: st.sampled_from(LIVE_FORMS[a])),
    max_size=8,
)
unintercept_keys = st.tuples(st.sampled_from(API_USERS), st.sampled_from(TARGETS))
live_unintercepts = st.dictionaries(unintercept_keys, TYPE_SETS, max_size=10)
desired_unintercepts = st.dictionaries(unintercept_keys, TYPE_SETS, max_size=10)
policies = st.builds(
    ListPolicy,
    prune=st.booleans(),
    ignore=st.sampled_from([(), ("*.example",), ("marketing",), ("203.0.113.*",)]),
    deletion_threshold=st.just(PERMISSIVE),
)


def _state(
    protection: bool, whitelist: list[str], unintercepts: dict[Any, frozenset[int]]
) -> dict[str, Any]:
    return {
        "directmail": {
            "ip_protection": "1" if protection else "0",
            "next_id": 500,
            "ipfilters": [
                {"Id": str(10 + i), "IpAddress": address, "CreateTime": "1653547140"}
                for i, address in enumerate(whitelist)
            ],
        },
        "sendcloud": {
            "unintercepts": [
                {
                    "apiUserName": api_user,
                    "email": value if target is Target.EMAIL else "",
                    "domain": value if target is Target.DOMAIN else "",
                    "type": sorted(types),
                    "createTime": "2021-07-15 15:32:03",
                }
                for (api_user, (target, value)), types in _unique(unintercepts).items()
            ]
        },
    }


def _unique(entries: dict[Any, frozenset[int]]) -> dict[Any, frozenset[int]]:
    """One record per case-insensitive key, as the provider holds them."""
    seen: dict[str, Any] = {}
    for (api_user, (target, value)), types in entries.items():
        seen.setdefault(f"{api_user}:{value}".lower(), ((api_user, (target, value)), types))
    return dict(seen.values())


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    have_on=st.booleans(),
    want_on=st.none() | st.booleans(),
    have_list=live_whitelist,
    want_list=st.none() | st.sets(st.sampled_from(sorted(LIVE_FORMS)), max_size=6),
    whitelist_policy=policies,
    have_unintercepts=live_unintercepts,
    want_unintercepts=st.none() | desired_unintercepts,
    unintercept_policy=policies,
)
def test_after_apply_the_plan_is_empty(
    server: Sandbox,
    have_on: bool,
    want_on: bool | None,
    have_list: list[str],
    want_list: set[str] | None,
    whitelist_policy: ListPolicy,
    have_unintercepts: dict[Any, frozenset[int]],
    want_unintercepts: dict[Any, frozenset[int]] | None,
    unintercept_policy: ListPolicy,
) -> None:
    server.set_state(_state(have_on, have_list, have_unintercepts))
    dm, sc = accounts(server)
    wants = [
        AccountDesired(
            dm,
            protection=want_on,
            whitelist=None if want_list is None else {a: IpEntry(a) for a in want_list},
            whitelist_policy=whitelist_policy,
        ),
        AccountDesired(
            sc,
            unintercepts=None
            if want_unintercepts is None
            else {
                entry.key: entry
                for entry in (
                    UninterceptEntry(api_user, target, value, types)
                    for (api_user, (target, value)), types in _unique(want_unintercepts).items()
                )
            },
            unintercept_policy=unintercept_policy,
        ),
    ]
    clients = {w.account.name: client_for(w.account, SECRETS[w.account.provider]) for w in wants}
    try:
        first = diff(wants, {w.account.name: read_one(clients[w.account.name], w) for w in wants})
        outcomes = execute(first, clients)
        assert [o.status for o in outcomes] == ["applied"] * len(outcomes), outcomes
        second = diff(wants, {w.account.name: read_one(clients[w.account.name], w) for w in wants})
    finally:
        for client in clients.values():
            client.close()
    assert second.changes == [], second.changes
    assert second.refusals == []
    # Every managed address is held once: live duplicates of it were collapsed.
    held = Counter(canonical_ip_entry(f["IpAddress"]) for f in server.ipfilters())
    assert all(held[address] == 1 for address in want_list or ()), held
