"""Guarded apply end to end (SPEC §11): the real CLI against real sandboxes whose traffic model
rejects an unwhitelisted sender's messages from the moment of the change.

Each test here watches for real (a guard polls every 10 s at least), so there are few of them,
each covering several cases in one apply: a failing guard ends at its first poll with enough
messages, a passing one only at the end of its one-minute watch.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reconciler import notify
from reconciler.jsonschemas import validator
from tests.cli_helpers import REPO, process_env, write
from tests.guard_helpers import (
    ALERTS,
    ENV,
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
        with receiving("dingtalk") as receiver:
            result = run(
                tmp_path,
                "apply",
                path,
                "--yes",
                "--format",
                "json",
                "--notify",
                "dingtalk",
                env={notify.URL_ENV: receiver.url, notify.SECRET_ENV: SECRET},
            )
        assert result.code == 5, result
        posted = text_of(receiver.received[0])
        assert posted.startswith("reconciler apply: a guard FAILED, changes rolled back (exit 5)")
        assert "guard dm-on-health (dm-on): FAILED: " in posted
        assert "Rolled back dm-on: live state is as before the apply." in posted
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


def test_the_action_applies_a_reviewed_plan_whose_rollback_is_refused_exit_6(
    tmp_path: Path, reconciler_bin: Path
) -> None:
    # Through the GitHub action, as examples/github/apply.yml runs it: a reviewed (saved) plan
    # whose sealed guard fails; the plan shrinks the whitelist by two entries, and the provider
    # refuses the first re-add (no retries): exit 6, and the step summary names what is left.
    (tmp_path / "bin").symlink_to(reconciler_bin)
    with box(
        tmp_path / "s.json", protection=True, whitelist=[NEWSLETTER, NOTIFY, "203.0.113.99"]
    ) as sandbox:
        write(
            tmp_path / "work" / "m" / "all.yaml",
            account_yaml("dm", sandbox.url, protection=None, whitelist=[NOTIFY], attempts=1),
        )
        plan_file = tmp_path / "reviewed.json"
        plan = _action(tmp_path, "plan", plan_file)
        assert plan.outputs["exitcode"] == "2", plan.log
        assert [g["name"] for g in json.loads(plan_file.read_text())["guards"]] == ["dm-health"]
        sandbox.faults.script("AddIpfilter", "5xx")  # the first re-add is refused
        applied = _action(tmp_path, "apply", plan_file)
        addresses = set(live(sandbox)[1])
    assert applied.code != 0 and applied.outputs["exitcode"] == "6", applied.log
    assert applied.outputs["outcome"] == "rollback-incomplete"
    summary = applied.summary
    assert "### reconciler apply: exit code 6: a guard failed and the roll-back did NOT" in summary
    assert "Guard dm-health (dm, watch 1m): fail: " in summary
    assert "  roll-back: incomplete" in summary
    [left] = [line.split() for line in summary.splitlines() if line.strip().startswith("LEFT")]
    # What is left is exactly the entry still missing; the other deletion was undone.
    assert left[1:3] == ["create", "ip_whitelist"]
    assert {NEWSLETTER, NOTIFY, "203.0.113.99"} - addresses == {left[3]}


@dataclass
class ActionRun:
    code: int
    log: str
    outputs: dict[str, str]
    summary: str


def _action(tmp_path: Path, command: str, plan_file: Path) -> ActionRun:
    """The action's run.sh, as its step runs it, against the sandbox of the manifests."""
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    output.write_text("")
    summary.write_text("")
    env = process_env(ENV)
    env.update(
        PATH=f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}",
        RUNNER_TEMP=str(tmp_path / "runner_temp"),
        GITHUB_OUTPUT=str(output),
        GITHUB_STEP_SUMMARY=str(summary),
        RECONCILER_COMMAND=command,
        RECONCILER_PATHS="m/",
        RECONCILER_PLAN_FILE=str(plan_file),
        RECONCILER_SANDBOX="false",
    )
    # A real process: the action's run.sh is a shell script that runs `reconciler`.
    proc = subprocess.run(
        ["bash", str(REPO / ".github" / "actions" / "reconciler" / "run.sh")],
        cwd=tmp_path / "work",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return ActionRun(proc.returncode, proc.stdout + proc.stderr, outputs, summary.read_text())


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
