"""Every plan says what it cost in calls and what apply will cost, in calls and in time."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler import cost
from reconciler.model import Action, Change, Resource
from reconciler.output import costs as cost_text
from reconciler.plan import Plan
from reconciler.sandbox import Sandbox
from tests.builders import DM, SANDBOX_ENV, SC, domain, email
from tests.cli_helpers import accounts_yaml, run_cli, write

WRITES = ("AddIpfilter", "DeleteIpfilter", "UpdateIpProtection")

MANAGED = """\
apiVersion: reconciler/v1
kind: IpProtection
metadata: {name: prod}
spec: {account: dm, enabled: true}
---
apiVersion: reconciler/v1
kind: IpWhitelist
metadata: {name: prod}
spec:
  account: dm
  entries: [198.51.100.0/24]
---
apiVersion: reconciler/v1
kind: UninterceptList
metadata: {name: many}
spec:
  account: sc
  entries:
"""


def _state(size: int) -> dict[str, Any]:
    records = [
        {
            "apiUserName": "all",
            "domain": "",
            "email": f"user{i:04d}@example.com",
            "type": [1, 2, 4, 8],
            "createTime": "2024-01-01 00:00:00",
        }
        for i in range(size)
    ]
    return {
        "directmail": {"ip_protection": "0", "next_id": 1, "ipfilters": []},
        "sendcloud": {"unintercepts": records},
    }


def test_the_plan_states_the_calls_it_made_and_apply_makes_those_it_states(
    tmp_path: Path,
) -> None:
    # 250 live entries: 3 pages. The manifest keeps 200 of them, changes the types of 10
    # (two calls each), and adds 5.
    entries = "".join(f"    - email: user{i:04d}@example.com\n" for i in range(190))
    entries += "".join(
        f"    - {{email: user{i:04d}@example.com, types: [bounce]}}\n" for i in range(190, 200)
    )
    entries += "".join(f"    - email: new{i}@example.com\n" for i in range(5))
    with Sandbox(tmp_path / "state.json", initial_state=_state(250)) as server:
        write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url, 20))
        write(tmp_path / "m" / "managed.yaml", MANAGED + entries)
        text = run_cli("plan", "m", cwd=tmp_path, env=SANDBOX_ENV)
        # The same at 250 req/s: apply writes the same, in a third of a second instead of four.
        write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url, 250))
        server.reset_calls()
        result = run_cli("plan", "m", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
        reads = dict(server.calls)
        document = json.loads(result.out)
        server.reset_calls()
        applied = run_cli("apply", "m", "--yes", cwd=tmp_path, env=SANDBOX_ENV)
        assert applied.code == 0, applied
        made = dict(server.calls)
    got = document["cost"]
    assert got["accounts"]["dm"]["reads"] == reads["GetIpProtection"] + reads["GetIpfilterList"]
    assert got["accounts"]["sc"]["reads"] == reads["unintercept/list"] == 3
    assert got["reads"] == sum(reads.values())
    assert got["accounts"]["dm"]["writes"] == sum(made.get(a, 0) for a in WRITES) == 2
    sc_writes = made.get("unintercept/add", 0) + made.get("unintercept/delete", 0)
    assert got["accounts"]["sc"]["writes"] == sc_writes == 5 + 2 * 10 + 50
    assert got["accounts"]["sc"]["apply_seconds"] == sc_writes / 250
    assert got["apply_seconds"] == sc_writes / 250  # the two credentials write side by side
    lines = text.out.splitlines()
    assert lines[-3:] == [
        "Cost: 5 reads, 77 writes over 2 accounts; apply about 4 s",
        "  dm: 2 reads, 2 writes, under 1 s at 20 req/s",
        "  sc: 3 reads, 75 writes, about 4 s at 20 req/s",
    ]


def _change(account: str, action: Action, resource: Resource) -> Change:
    before = after = None
    if resource is Resource.UNINTERCEPT:
        before = email("a@example.com") if action is not Action.CREATE else None
        after = domain("example.com") if action is not Action.DELETE else None
    return Change(account, resource, action, "key", before, after)


def test_one_account_is_one_line() -> None:
    plan = Plan(accounts=[SC])
    plan.changes = [_change("sc", Action.CREATE, Resource.UNINTERCEPT)] * 40
    costs = cost.estimate(plan, {"sc": 1_012}, {"sc": (10.0, "sc")})
    assert cost_text.summary(costs) == ["Cost: 1,012 reads, 40 writes, about 4 s at 10 req/s"]
    assert cost_text.document(costs)["apply_seconds"] == 4.0


def test_accounts_sharing_a_credential_add_up_their_writes() -> None:
    dm2 = replace(DM, name="dm2")
    plan = Plan(accounts=[DM, dm2])
    plan.changes = [_change(n, Action.CREATE, Resource.IP_WHITELIST) for n in ("dm", "dm2")] * 10
    shared = cost.estimate(plan, {}, {"dm": (5.0, "dm"), "dm2": (5.0, "dm")})
    apart = cost.estimate(plan, {}, {"dm": (5.0, "dm"), "dm2": (5.0, "dm2")})
    assert cost.apply_seconds(shared) == 4.0
    assert cost.apply_seconds(apart) == 2.0


def test_the_markdown_plan_states_the_cost_too() -> None:
    from reconciler.output.markdown import plan_markdown

    plan = Plan(accounts=[SC])
    plan.changes = [_change("sc", Action.CREATE, Resource.UNINTERCEPT)] * 40
    plan.cost = cost.estimate(plan, {"sc": 1_012}, {"sc": (10.0, "sc")})
    assert "Cost: 1,012 reads, 40 writes, about 4 s at 10 req/s" in plan_markdown(plan)


def test_a_plan_without_writes_says_nothing_is_left_to_apply() -> None:
    idle = {"dm": cost.AccountCost(reads=2, writes=0, requests_per_second=10, shared_by="dm")}
    assert cost_text.summary(idle) == ["Cost: 2 reads, 0 writes, nothing to apply"]
    idle["sc"] = cost.AccountCost(reads=1, writes=0, requests_per_second=10, shared_by="sc")
    assert cost_text.summary(idle) == ["Cost: 3 reads, 0 writes over 2 accounts; nothing to apply"]


def test_a_fleet_plan_ends_with_its_summary(tmp_path: Path) -> None:
    """Eight SendCloud accounts on one sandbox, account ``sc<i>`` adding i + 1 entries: the
    text plan names the five slowest to apply (slowest first), counts the others, and ends
    with the ``Plan:`` line; the JSON plan has the cost of every account."""
    sc = accounts_yaml("URL").split("---\n")[1]
    names = [f"sc{i}" for i in range(8)]
    documents = [
        f"apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {{name: {name}}}\n"
        f"spec:\n  account: {name}\n  prune: false\n  entries:\n"
        + "".join(f"    - email: {name}-{n}@example.com\n" for n in range(i + 1))
        for i, name in enumerate(names)
    ]
    with Sandbox(tmp_path / "state.json", initial_state=_state(0)) as server:
        accounts = sc.replace("URL", server.url)
        write(
            tmp_path / "m" / "accounts.yaml",
            "---\n".join(accounts.replace("{name: sc}", f"{{name: {n}}}") for n in names),
        )
        write(tmp_path / "m" / "lists.yaml", "---\n".join(documents))
        text = run_cli("plan", "m", cwd=tmp_path, env=SANDBOX_ENV)
        as_json = run_cli("plan", "m", "--format", "json", cwd=tmp_path, env=SANDBOX_ENV)
    assert text.code == 0, text
    lines = text.out.splitlines()
    assert lines[-8:] == [
        "Cost: 8 reads, 36 writes over 8 accounts; apply under 1 s",
        "  sc7: 1 read, 8 writes, under 1 s at 1000 req/s",
        "  sc6: 1 read, 7 writes, under 1 s at 1000 req/s",
        "  sc5: 1 read, 6 writes, under 1 s at 1000 req/s",
        "  sc4: 1 read, 5 writes, under 1 s at 1000 req/s",
        "  sc3: 1 read, 4 writes, under 1 s at 1000 req/s",
        "  and 3 more accounts to write to (--format json lists every account)",
        "Plan: 36 to add, 0 to change, 0 to delete.",
    ]
    accounts_cost = as_json.json["cost"]["accounts"]
    assert list(accounts_cost) == names
    assert [accounts_cost[n]["writes"] for n in names] == list(range(1, 9))


def test_a_few_accounts_keep_their_cost_after_the_summary() -> None:
    plan = Plan(accounts=[replace(SC, name=f"sc{i}") for i in range(5)])
    plan.changes = [_change(f"sc{i}", Action.CREATE, Resource.UNINTERCEPT) for i in range(5)]
    plan.cost = cost.estimate(plan, {}, {f"sc{i}": (10.0, f"sc{i}") for i in range(5)})
    from reconciler.output.console import Style
    from reconciler.output.render import plan_text

    lines = plan_text(plan, Style(color=False)).splitlines()
    assert lines[-7] == "Plan: 5 to add, 0 to change, 0 to delete."
    assert lines[-6].startswith("Cost: 0 reads, 5 writes over 5 accounts")
    assert [line.split(":")[0] for line in lines[-5:]] == [f"  sc{i}" for i in range(5)]
