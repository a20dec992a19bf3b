"""diff() as data tables: desired + live in, changes out, no network."""

from __future__ import annotations

import pytest

from reconciler.model import (
    AccountDesired,
    AccountLive,
    IpEntry,
    ListPolicy,
)
from reconciler.plan import Action, Resource, diff
from tests.builders import DM, SC, domain, email, ips, live_ips


def summarize(desired: AccountDesired, live: AccountLive) -> list[tuple[str, str, str]]:
    plan = diff([desired], {desired.account.name: live})
    return [(c.resource.value, c.action.value, c.key) for c in plan.changes]


WHITELIST_CASES = [
    pytest.param(ips("203.0.113.7"), [], [("ip_whitelist", "create", "203.0.113.7")], id="add"),
    pytest.param(
        ips(),
        live_ips(("1", "203.0.113.7")),
        [("ip_whitelist", "delete", "203.0.113.7")],
        id="delete",
    ),
    pytest.param(ips("203.0.113.7"), live_ips(("1", "203.0.113.7")), [], id="same"),
    pytest.param(
        ips("203.0.113.7"),
        live_ips(("1", "203.0.113.7"), ("2", "203.0.113.7")),
        [("ip_whitelist", "delete", "203.0.113.7")],
        id="live-duplicate-collapsed",
    ),
    pytest.param(
        ips("198.51.100.0/24", "203.0.113.9"),
        live_ips(("5", "203.0.113.200"), ("6", "198.51.100.0/24")),
        [("ip_whitelist", "create", "203.0.113.9"), ("ip_whitelist", "delete", "203.0.113.200")],
        id="add-and-delete",
    ),
]


@pytest.mark.parametrize(("want", "have", "expected"), WHITELIST_CASES)
def test_whitelist(want, have, expected):
    desired = AccountDesired(DM, whitelist=want)
    assert summarize(desired, AccountLive(whitelist=have)) == expected


def test_whitelist_duplicate_deletes_exactly_one_id():
    desired = AccountDesired(DM, whitelist=ips("203.0.113.7"))
    live = AccountLive(whitelist=live_ips(("20", "203.0.113.7"), ("7", "203.0.113.7")))
    [change] = diff([desired], {"dm": live}).changes
    # The first id the provider lists is kept; the other is deleted, never both.
    assert change.action is Action.DELETE
    assert isinstance(change.before, IpEntry)
    assert change.before.id == "7"


def test_prune_false_never_deletes():
    desired = AccountDesired(DM, whitelist=ips(), whitelist_policy=ListPolicy(prune=False))
    assert summarize(desired, AccountLive(whitelist=live_ips(("1", "203.0.113.7")))) == []


def test_ignore_hides_matching_live_entries():
    desired = AccountDesired(
        SC, unintercepts={}, unintercept_policy=ListPolicy(ignore=("*@partner.example",))
    )
    live = AccountLive(unintercepts=[email("a@partner.example"), email("b@other.example")])
    assert summarize(desired, live) == [("unintercept", "delete", "all:email:b@other.example")]


UNINTERCEPT_CASES = [
    pytest.param(
        [email("vip@example.com")], [], [("create", "all:email:vip@example.com")], id="add"
    ),
    pytest.param(
        [], [email("vip@example.com")], [("delete", "all:email:vip@example.com")], id="delete"
    ),
    pytest.param([email("VIP@Example.COM")], [email("vip@example.com")], [], id="case-insensitive"),
    pytest.param(
        [email("vip@example.com", types=frozenset({1, 4}))],
        [email("vip@example.com", types=frozenset({1}))],
        [("update", "all:email:vip@example.com")],
        id="types-update",
    ),
    pytest.param(
        [domain("partner.example", "marketing")],
        [domain("partner.example", "all")],
        [("create", "marketing:domain:partner.example"), ("delete", "all:domain:partner.example")],
        id="apiuser-is-identity",
    ),
    pytest.param(
        [email("x@example.com")],
        [domain("x@example.com")],
        [("create", "all:email:x@example.com"), ("delete", "all:domain:x@example.com")],
        id="email-and-domain-differ",
    ),
    # A key listed twice live: the last of its records is the one compared.
    pytest.param(
        [email("vip@example.com", types=frozenset({1}))],
        [email("vip@example.com", types=frozenset({1})), email("vip@example.com")],
        [("update", "all:email:vip@example.com")],
        id="listed-twice-last-differs",
    ),
    pytest.param(
        [email("vip@example.com", types=frozenset({1}))],
        [email("vip@example.com"), email("VIP@example.com", types=frozenset({1}))],
        [],
        id="listed-twice-last-matches",
    ),
]


@pytest.mark.parametrize(("want", "have", "expected"), UNINTERCEPT_CASES)
def test_unintercepts(want, have, expected):
    desired = AccountDesired(SC, unintercepts={e.key: e for e in want})
    got = summarize(desired, AccountLive(unintercepts=have))
    assert [(action, key) for _, action, key in got] == expected


@pytest.mark.parametrize(
    ("want", "have", "expected"),
    [
        (True, False, [("ip_protection", "update", "ip_protection")]),
        (True, True, []),
        (False, True, [("ip_protection", "update", "ip_protection")]),
        (None, True, []),
    ],
)
def test_protection(want, have, expected):
    desired = AccountDesired(DM, protection=want)
    assert (
        summarize(desired, AccountLive(protection=have if want is not None else None)) == expected
    )


def test_make_before_break_order_when_switching_on():
    desired = AccountDesired(DM, protection=True, whitelist=ips("203.0.113.7"))
    live = AccountLive(protection=False, whitelist=live_ips(("1", "198.51.100.0/24")))
    plan = diff([desired], {"dm": live})
    assert [(c.resource, c.action) for c in plan.changes] == [
        (Resource.IP_WHITELIST, Action.CREATE),
        (Resource.IP_PROTECTION, Action.UPDATE),
        (Resource.IP_WHITELIST, Action.DELETE),
    ]


def test_protection_off_comes_before_whitelist_deletions():
    desired = AccountDesired(DM, protection=False, whitelist=ips())
    live = AccountLive(protection=True, whitelist=live_ips(("1", "203.0.113.7")))
    plan = diff([desired], {"dm": live})
    assert [c.resource for c in plan.changes] == [Resource.IP_PROTECTION, Resource.IP_WHITELIST]
    assert plan.summary == {"create": 0, "update": 1, "delete": 1}


def test_unintercept_order_creates_updates_deletes():
    desired = AccountDesired(
        SC,
        unintercepts={
            e.key: e for e in [email("b@example.com"), email("a@example.com", types=frozenset({1}))]
        },
    )
    live = AccountLive(unintercepts=[email("a@example.com"), email("z@example.com")])
    plan = diff([desired], {"sc": live})
    assert [c.action for c in plan.changes] == [Action.CREATE, Action.UPDATE, Action.DELETE]


def test_unmanaged_resources_are_left_alone():
    desired = AccountDesired(DM)  # neither protection nor whitelist managed
    live = AccountLive(protection=True, whitelist=live_ips(("1", "203.0.113.7")))
    assert diff([desired], {"dm": live}).changes == []


def test_diff_of_large_lists_is_keyed_not_quadratic():
    # 20,000 entries each side; a quadratic diff would take minutes, a keyed one milliseconds.
    want = {e.key: e for e in (email(f"user{i}@example.com") for i in range(20_000))}
    have = [email(f"USER{i}@example.com") for i in range(1_000, 21_000)]
    plan = diff([AccountDesired(SC, unintercepts=want)], {"sc": AccountLive(unintercepts=have)})
    assert plan.summary == {"create": 1_000, "update": 0, "delete": 1_000}


def test_whitelist_changes_are_in_numeric_address_order():
    desired = AccountDesired(DM, whitelist=ips("192.0.2.10", "192.0.2.9", "192.0.2.0/28"))
    live = AccountLive(
        whitelist=[
            IpEntry("not an address", id="3", raw="not an address"),
            *live_ips(("2", "203.0.113.20"), ("1", "203.0.113.3")),
        ]
    )
    plan = diff([desired], {"dm": live})
    assert [(c.action.value, c.key) for c in plan.changes] == [
        ("create", "192.0.2.0/28"),
        ("create", "192.0.2.9"),
        ("create", "192.0.2.10"),
        ("delete", "203.0.113.3"),
        ("delete", "203.0.113.20"),
        ("delete", "not an address"),
    ]
