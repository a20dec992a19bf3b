"""Guarded apply end to end (SPEC §11): the real CLI against real sandboxes whose traffic model
rejects an unwhitelisted sender's messages from the moment of the change.

Each test here watches for real (a guard polls every 10 s at least), so there are few of them,
each covering several cases in one apply: a failing guard ends at its first poll with enough
messages, a passing one only at the end of its one-minute watch.
"""

from __future__ import annotations

import json
from pathlib import Path

from reconciler import notify
from reconciler.jsonschemas import validator
from tests.guard_helpers import (
    ALERTS,
    NEWSLETTER,
    NOTIFY,
    account_yaml,
    box,
    guard_report,
    live,
    manifests,
    run,
)
from tests.webhook import SECRET, receiving, text_of


def test_failed_guards_roll_back_what_the_apply_did_and_exit_5(tmp_path: Path) -> None:
    # Three accounts in one apply, each on its own sandbox:
    # - "dm-on": protection switched on with the newsletter sender left out of the whitelist (and
    #   not declared, so the lock-out rule lets it through): rolled back, switch and entries;
    # - "dm-shrink": protection already on, the whitelist shrinks and blocks that sender: the
    #   deleted entry is added again;
    # - "dm-never": as "dm-on" with rollback: never: the change is kept, exit 5 all the same.
    before = [NOTIFY, ALERTS, "198.51.100.0/24"]
    with (
        box(tmp_path / "on.json", protection=False, whitelist=["198.51.100.0/24"]) as on,
        box(tmp_path / "shrink.json", protection=True, whitelist=[NEWSLETTER, NOTIFY]) as shrink,
        box(tmp_path / "never.json", protection=False, whitelist=["198.51.100.0/24"]) as never,
    ):
        start = {name: live(b) for name, b in (("on", on), ("shrink", shrink), ("never", never))}
        path = manifests(
            tmp_path,
            account_yaml("dm-on", on.url, protection=True, whitelist=[NOTIFY, ALERTS]),
            account_yaml("dm-shrink", shrink.url, protection=None, whitelist=[NOTIFY]),
            account_yaml(
                "dm-never",
                never.url,
                protection=True,
                whitelist=[NOTIFY, ALERTS],
                guard="{watch: 1m, rollback: never}",
            ),
        )
        result = run(tmp_path, "apply", path, "--yes", "--format", "json")
        assert result.code == 5, result
        assert list(validator("report").iter_errors(result.json)) == []
        guards = guard_report(result)
        for name in ("on", "shrink", "never"):
            item = guards[f"dm-{name}-health"]
            assert item["status"] == "fail", item
            assert item["polls"] == 1, item  # failed at the first poll with enough messages
            assert item["measured"]["requests"] >= 20
            assert item["measured"]["failed_percent"] > 2
        # Entry for entry, live state is what it was before the apply...
        assert live(on) == start["on"] == ("0", ["198.51.100.0/24"])
        assert live(shrink) == start["shrink"] == ("1", sorted([NEWSLETTER, NOTIFY]))
        undone = guards["dm-on-health"]["rollback_result"]
        assert undone["status"] == "complete" and undone["left"] == []
        # ... undone last first: the deleted entry back, protection off, the additions gone.
        steps = [(o["resource"], o["action"], o["key"]) for o in undone["undone"]]
        assert steps == [
            ("ip_whitelist", "create", "198.51.100.0/24"),
            ("ip_protection", "update", "ip_protection"),
            ("ip_whitelist", "delete", NOTIFY),
            ("ip_whitelist", "delete", ALERTS),
        ]
        readded = guards["dm-shrink-health"]["rollback_result"]["undone"]
        assert [(o["action"], o["key"], o["status"]) for o in readded] == [
            ("create", NEWSLETTER, "applied")
        ]
        # rollback: never keeps the change and says nothing was rolled back.
        assert live(never) == ("1", sorted([NOTIFY, ALERTS])) != start["never"]
        assert guards["dm-never-health"]["rollback_result"]["status"] == "not rolled back"
        assert before  # the demo whitelist of "on" and "never" covered every sender

    text = result.err
    assert "Watching dm-on for 1m" in text and "a poll every 10 s" in text


def test_a_rollback_write_the_provider_refuses_exits_6_and_names_what_is_left(
    tmp_path: Path,
) -> None:
    # A saved plan (apply --plan watches its sealed guards too) that shrinks the whitelist and
    # removes a second entry; re-adding the newsletter's address is refused (no retries).
    with box(
        tmp_path / "s.json", protection=True, whitelist=[NEWSLETTER, NOTIFY, "203.0.113.99"]
    ) as sandbox:
        path = manifests(
            tmp_path,
            account_yaml("dm", sandbox.url, protection=None, whitelist=[NOTIFY], attempts=1),
        )
        plan_file = tmp_path / "plan.json"
        assert run(tmp_path, "plan", path, "--out", str(plan_file)).code == 0
        assert [g["name"] for g in json.loads(plan_file.read_text())["guards"]] == ["dm-health"]
        sandbox.faults.script("AddIpfilter", "5xx")  # the first re-add is refused
        with receiving("dingtalk") as receiver:
            result = run(
                tmp_path,
                "apply",
                "--plan",
                str(plan_file),
                "--yes",
                "--notify",
                "dingtalk",
                env={notify.URL_ENV: receiver.url, notify.SECRET_ENV: SECRET},
            )
        assert result.code == 6, result
        posted = text_of(receiver.received[0])
        assert posted.startswith("reconciler apply: a guard FAILED, roll-back INCOMPLETE (exit 6)")
        assert "guard dm-health (dm): FAILED: " in posted and "Roll-back of dm INCOMPLETE" in posted
        assert "Guard dm-health (dm): FAILED after 10 s" in result.out
        assert "Roll-back of dm INCOMPLETE: 1 change could not be undone." in result.out
        left = result.out.split("Left to undo by hand (1 change):\n", 1)[1]
        removed = ({NEWSLETTER}, {"203.0.113.99"})
        assert left.splitlines()[0].strip() in {f"+ ip_whitelist {a}" for s in removed for a in s}
        # The other deletion was undone: what is left is exactly what the report names.
        addresses = set(live(sandbox)[1])
        missing = {NEWSLETTER, "203.0.113.99"} - addresses
        assert len(missing) == 1 and left.splitlines()[0].strip().endswith(missing.pop())


def test_a_passing_guard_keeps_the_change_and_one_without_traffic_has_insufficient_data(
    tmp_path: Path,
) -> None:
    # Two guards on one account, watched together for one minute: every sender covered, so
    # the account-wide one passes; the other counts only the quiet tag "survey" (about one
    # message in a thousand), so it ends with insufficient data: a warning, exit 0.
    with box(tmp_path / "s.json", protection=False, whitelist=["203.0.113.99"]) as sandbox:
        everyone = [f"{NEWSLETTER}-{ALERTS}"]
        quiet = """\
apiVersion: reconciler/v1
kind: DeliveryCheck
metadata: {name: survey}
spec:
  account: dm
  window: 24h
  tag: survey
  minRequests: 1
  maxFailedPercent: 2
  maxInvalidPercent: 5
  guard: {watch: 1m, minRequests: 20}
"""
        path = manifests(
            tmp_path,
            account_yaml("dm", sandbox.url, protection=True, whitelist=everyone),
            quiet,
        )
        result = run(tmp_path, "apply", path, "--yes")
        assert result.code == 0, result
        assert "Guard dm-health (dm): passed after 60 s" in result.out
        assert "Guard survey (dm): insufficient data after 60 s" in result.out
        assert "warning: guard survey:" in result.err and "fewer than minRequests 20" in result.err
        assert live(sandbox) == ("1", everyone)  # kept (203.0.113.99 pruned, as planned)
