"""The GitHub composite action, its script run against the sandbox, and the example workflows."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.output.markdown import MARKER
from reconciler.sandbox import Sandbox
from reconciler.savedplan.plantrust import KEY_ENV, seal
from tests.builders import SANDBOX_ENV, WRITES, demo_manifests
from tests.cli_helpers import EXAMPLES, REPO, accounts_yaml, copy_examples, run_cli, write

ACTION_DIR = REPO / ".github" / "actions" / "reconciler"
RUN_SH = ACTION_DIR / "run.sh"
WORKFLOWS = EXAMPLES / "github"


@dataclass
class Run:
    code: int
    log: str
    outputs: dict[str, str]
    summary: str

    @property
    def markdown(self) -> str:
        return Path(self.outputs["markdown-file"]).read_text(encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path, reconciler_bin: Path) -> Path:
    """A checkout: the examples as manifests, and `reconciler` on PATH."""
    copy_examples(tmp_path / "work" / "examples")
    (tmp_path / "bin").symlink_to(reconciler_bin)
    return tmp_path


def _run(repo: Path, command: str, secrets: dict[str, str] | None = None, **inputs: str) -> Run:
    """run.sh as the action's step runs it, with GitHub's files pointed at temp files (and
    ``secrets`` in the environment, as a workflow passes them)."""
    output, summary = repo / "github_output", repo / "step_summary"
    output.write_text("")
    summary.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_", "SENDCLOUD_"))}
    env.update(
        PATH=f"{repo / 'bin'}{os.pathsep}{env['PATH']}",
        PYTHONPATH=str(REPO),
        RUNNER_TEMP=str(repo / "runner_temp"),
        GITHUB_OUTPUT=str(output),
        GITHUB_STEP_SUMMARY=str(summary),
        RECONCILER_COMMAND=command,
        RECONCILER_PATHS="examples/",
        RECONCILER_SANDBOX="true",
    )
    env.update({f"RECONCILER_{k.upper()}": v for k, v in inputs.items()})
    env.update(secrets or {})
    # A real process: the action's run.sh is a shell script that runs `reconciler`.
    proc = subprocess.run(
        ["bash", str(RUN_SH)],
        cwd=repo / "work", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return Run(proc.returncode, proc.stdout + proc.stderr, outputs, summary.read_text())


def test_plan_with_changes_succeeds_and_reports_them(repo: Path) -> None:
    run = _run(repo, "plan")
    assert run.code == 0, run.log
    assert run.outputs["exitcode"] == "2"
    assert run.outputs["has-changes"] == "true"
    assert run.markdown.startswith(MARKER + "\n")
    assert "5 to add, 2 to change, 2 to delete" in run.markdown
    assert run.summary == run.markdown  # the step summary shows the plan
    saved = json.loads(Path(run.outputs["plan-file"]).read_text())
    assert saved["summary"] == {"create": 5, "update": 2, "delete": 2}


def test_comment_masks_addresses_by_default_and_plan_file_keeps_them(repo: Path) -> None:
    from reconciler.output.redact import mask

    run = _run(repo, "plan")
    assert "vip@example.com" not in run.markdown + run.summary + run.log
    assert mask("vip@example.com") in run.markdown
    assert "vip@example.com" in Path(run.outputs["plan-file"]).read_text()
    shown = _run(repo, "plan", redact="false")
    assert "vip@example.com" in shown.markdown

    applied = _run(repo, "apply")
    assert applied.code == 0, applied.log
    assert "vip@example.com" not in applied.markdown + applied.log
    assert mask("vip@example.com") in applied.markdown


def test_drift_fails_until_apply_converges(repo: Path) -> None:
    drift = _run(repo, "drift")
    assert drift.code == 2, drift.log
    assert drift.outputs["exitcode"] == "2" and drift.outputs["has-changes"] == "true"
    assert "::error::reconciler drift exited 2: live state drifted" in drift.log

    applied = _run(repo, "apply")
    assert applied.code == 0, applied.log
    assert applied.outputs["exitcode"] == "0"
    assert "Apply: 9 applied, 0 failed, 0 skipped." in applied.log
    assert applied.summary.startswith("### reconciler apply: exit code 0")

    for command in ("drift", "plan"):
        clean = _run(repo, command)
        assert clean.code == 0, clean.log
        assert clean.outputs["exitcode"] == "0" and clean.outputs["has-changes"] == "false"
        assert "no changes" in clean.markdown


def test_check_evaluates_the_delivery_checks(repo: Path) -> None:
    run = _run(repo, "check")
    assert run.code == 0, run.log
    assert run.outputs["exitcode"] == "0" and run.outputs["has-changes"] == "false"
    assert run.markdown.startswith("### Delivery checks")
    assert "| prod-health | prod-dm | **PASS** |" in run.markdown
    # The action redacts addresses by default.
    assert "v\\*\\*@example.com#" in run.markdown or "v**@example.com#" in run.markdown
    assert "is exempted from SendCloud's bounce interception" in run.markdown
    assert run.summary == run.markdown


def test_a_failing_delivery_check_fails_the_step(repo: Path) -> None:
    strict = repo / "work" / "examples" / "checks" / "strict.yaml"
    strict.write_text(
        "apiVersion: reconciler/v1\nkind: DeliveryCheck\nmetadata: {name: strict}\n"
        "spec: {account: prod-dm, window: 24h, minRequests: 1, maxFailedPercent: 0,"
        " maxInvalidPercent: 0}\n"
    )
    run = _run(repo, "check")
    assert run.code == 2, run.log
    assert "::error::reconciler check exited 2: a delivery check failed" in run.log
    assert "| strict | prod-dm | **FAIL** |" in run.markdown


def test_apply_carries_out_the_reviewed_plan(repo: Path) -> None:
    plan = _run(repo, "plan", plan_file=str(repo / "reviewed.json"))
    assert plan.outputs["exitcode"] == "2", plan.log
    applied = _run(repo, "apply", plan_file=str(repo / "reviewed.json"), paths="")
    assert applied.code == 0, applied.log
    assert "Applying the reviewed plan" in applied.log
    assert "9 applied" in applied.log
    again = _run(repo, "apply", plan_file=str(repo / "reviewed.json"), paths="")
    assert again.code == 0, again.log  # every change of the plan is in effect already
    assert again.outputs["exitcode"] == "0"
    assert "Already applied" in again.log and "nothing was written" in again.log
    write(
        repo / "work" / "examples" / "directmail" / "ip-protection.yaml",
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: prod}\n"
        "spec: {account: prod-dm, enabled: false}\n",
    )
    assert _run(repo, "apply").code == 0
    stale = _run(repo, "apply", plan_file=str(repo / "reviewed.json"), paths="")
    assert stale.code == 4, stale.log  # live state moved on since the plan was made
    assert stale.outputs["exitcode"] == "4"


def _sandbox_state(repo: Path) -> dict[str, Any]:
    state = json.loads((repo / "work" / ".reconciler" / "sandbox.json").read_text())
    assert isinstance(state, dict)
    return state


def test_a_plan_file_that_is_missing_applies_nothing(repo: Path) -> None:
    plan = _run(repo, "plan", plan_file=str(repo / "reviewed.json"))
    assert plan.outputs["exitcode"] == "2", plan.log
    before = _sandbox_state(repo)
    typo = _run(repo, "apply", plan_file=str(repo / "reveiwed.json"))
    assert typo.code == 3, typo.log
    assert "reveiwed.json' does not exist; nothing was applied" in typo.log
    assert "Apply:" not in typo.log
    assert _sandbox_state(repo) == before  # the sandbox saw no write


def test_a_stale_plan_stops_with_why_and_how_to_get_a_new_one(repo: Path) -> None:
    _run(repo, "plan", plan_file=str(repo / "reviewed.json"))
    _run(repo, "apply", plan_file=str(repo / "reviewed.json"), paths="")
    # Live state then moves away from the plan (protection switched off by another apply): the
    # plan is neither in effect nor applicable, and a fresh plan would change something else.
    # The manifests are the reviewed ones again: the plan is stale, not of another commit.
    protection = repo / "work" / "examples" / "directmail" / "ip-protection.yaml"
    reviewed = protection.read_text()
    write(
        protection,
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: prod}\n"
        "spec: {account: prod-dm, enabled: false}\n",
    )
    assert _run(repo, "apply").code == 0
    protection.write_text(reviewed)
    for on_stale in ("stop", "replan"):
        stale = _run(repo, "apply", plan_file=str(repo / "reviewed.json"), on_stale=on_stale)
        assert stale.code == 4, stale.log
        expected = "stale" if on_stale == "stop" else "changed"
        assert stale.outputs["outcome"] == expected, stale.log
        assert "nothing was applied" in stale.log
        assert "a new plan is made and reviewed" in stale.log
        assert "Apply:" not in stale.log


def test_replan_applies_main_only_when_it_plans_the_reviewed_changes(repo: Path) -> None:
    plan = _run(repo, "plan", plan_file=str(repo / "reviewed.json"))
    assert plan.outputs["exitcode"] == "2", plan.log
    # Live state moves on without touching what the plan changes: the kept entry gets a new id.
    state_file = repo / "work" / ".reconciler" / "sandbox.json"
    state = _sandbox_state(repo)
    kept = next(f for f in state["directmail"]["ipfilters"] if f["IpAddress"] == "198.51.100.0/24")
    kept["Id"] = "77777"
    state_file.write_text(json.dumps(state))
    stopped = _run(repo, "apply", plan_file=str(repo / "reviewed.json"))
    assert stopped.code == 4 and stopped.outputs["outcome"] == "stale", stopped.log
    assert "on-stale: replan" in stopped.log
    replanned = _run(repo, "apply", plan_file=str(repo / "reviewed.json"), on_stale="replan")
    assert replanned.code == 0, replanned.log
    assert replanned.outputs["outcome"] == "applied"
    assert "changes are exactly the reviewed ones" in replanned.log
    assert "9 applied" in replanned.log


def test_replan_never_carries_a_reviewed_plan_to_another_endpoint(
    repo: Path, sandbox: Sandbox
) -> None:
    """The reviewed plan is for one sandbox; the merged manifests point the account at a
    second one with the same entries, so the same changes plan there: nothing is written to
    either, and the log says which account moved."""
    manifests = demo_manifests(repo / "work" / "m", sandbox)
    reviewed = str(repo / "reviewed.json")
    plan = _run(repo, "plan", SANDBOX_ENV, paths="m/", sandbox="false", plan_file=reviewed)
    assert plan.outputs["exitcode"] == "2", plan.log
    # Live state moves on without touching what the plan changes: the reviewed plan is stale.
    state = sandbox.snapshot()
    kept = next(f for f in state["directmail"]["ipfilters"] if f["IpAddress"] == "198.51.100.0/24")
    kept["Id"] = "77777"
    sandbox.set_state(state)
    with Sandbox(repo / "second.json") as second:
        write(manifests / "accounts.yaml", accounts_yaml(second.url))
        before = (sandbox.snapshot(), second.snapshot())
        sandbox.reset_calls()
        for on_stale, outcome in (("stop", "mismatch"), ("replan", "changed")):
            run = _run(
                repo, "apply", SANDBOX_ENV, paths="m/", sandbox="false", plan_file=reviewed,
                on_stale=on_stale,
            )  # fmt: skip
            assert run.code == 4 and run.outputs["outcome"] == outcome, run.log
            assert "differ from the plan's: m/accounts.yaml" in run.log
            assert "Apply:" not in run.log and "nothing was applied" in run.log
        assert f'account dm: endpoint "{sandbox.url}" in the reviewed plan, ' in run.log
        assert f'"{second.url}" now' in run.log
        assert (sandbox.snapshot(), second.snapshot()) == before
        assert not any(server.calls[a] for server in (sandbox, second) for a in WRITES)


def _keyed_plan(repo: Path, edit: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    """A reviewed plan made with a plan key, then edited and sealed again with that key."""
    key = {KEY_ENV: "a-key-of-the-ci-environment"}
    _run(repo, "plan", key, plan_file=str(repo / "reviewed.json"))
    document = json.loads((repo / "reviewed.json").read_text())
    edit(document)
    seal(document, key[KEY_ENV].encode())
    (repo / "reviewed.json").write_text(json.dumps(document))
    return key


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.update({name: value})


_NONE = {"create": 0, "update": 0, "delete": 0}


@pytest.mark.parametrize(
    ("edit", "secrets", "code", "outcome", "said"),
    [
        pytest.param(
            _set("sandbox", False), True, 3, "sandbox", "made without --sandbox", id="sandbox"
        ),
        pytest.param(
            _set("format_version", 2), True, 3, "unsupported", "format_version 2", id="version"
        ),
        pytest.param(
            _set("created_at", "2020-01-01T00:00:00Z"), True, 4, "expired", "than 7d", id="old"
        ),
        pytest.param(_set("sandbox", True), False, 4, "unsigned", "carries a MAC", id="no-key"),
        pytest.param(
            lambda d: d.update(changes=[], summary=_NONE), True, 4, "tampered", "differ", id="edit"
        ),
    ],
)
def test_a_refused_plan_is_named_by_its_rule(
    repo: Path,
    edit: Callable[[dict[str, Any]], None],
    secrets: bool,
    code: int,
    outcome: str,
    said: str,
) -> None:
    key = _keyed_plan(repo, edit)
    before = _sandbox_state(repo)
    run = _run(repo, "apply", key if secrets else None, plan_file=str(repo / "reviewed.json"))
    assert run.code == code and run.outputs["outcome"] == outcome, run.log
    assert said in run.log and "reconciler apply: the reviewed plan" in run.log
    assert "Apply:" not in run.log
    assert _sandbox_state(repo) == before


def test_a_tampered_plan_is_not_replaced_by_a_fresh_apply(repo: Path) -> None:
    _run(repo, "plan", plan_file=str(repo / "reviewed.json"))
    saved = json.loads((repo / "reviewed.json").read_text())
    saved["live"]["prod-dm"]["ip_whitelist"]["192.0.2.1"] = ["1"]  # not what the plan saw
    (repo / "reviewed.json").write_text(json.dumps(saved))
    before = _sandbox_state(repo)
    run = _run(repo, "apply", plan_file=str(repo / "reviewed.json"), on_stale="replan")
    assert run.code in (3, 4), run.log
    assert run.outputs["outcome"] == "tampered", run.log
    assert "failed verification" in run.log and "nothing was applied" in run.log
    assert _sandbox_state(repo) == before


def test_a_refused_plan_fails_but_still_reports(repo: Path) -> None:
    write(
        repo / "work" / "examples" / "directmail" / "ip-whitelist.yaml",
        "apiVersion: reconciler/v1\nkind: IpWhitelist\nmetadata: {name: prod}\n"
        "spec: {account: prod-dm, entries: []}\n",
    )
    run = _run(repo, "plan")
    assert run.code == 4, run.log
    assert run.outputs["exitcode"] == "4" and run.outputs["has-changes"] == "true"
    assert "> [!CAUTION]" in run.markdown and "emptying" in run.markdown
    assert "refused by a safety rule" in run.log
    softly = _run(repo, "plan", fail="false", accounts="prod-sc")
    assert softly.code == 0 and softly.outputs["exitcode"] == "2"  # prod-dm not planned


def test_bad_input_fails_with_exit_3(repo: Path) -> None:
    assert _run(repo, "destroy").code == 3
    missing = _run(repo, "plan", paths="no-such-dir/")
    assert missing.code == 3 and missing.outputs["exitcode"] == "3"
    assert _run(repo, "plan", paths="").code == 3


def test_invalid_manifests_annotate_the_diff_and_fill_the_comment(repo: Path) -> None:
    path = repo / "work" / "examples" / "directmail" / "ip-whitelist.yaml"
    path.write_text(path.read_text().replace("203.0.113.7 ", "300.1.1.1 "))
    run = _run(repo, "plan")
    assert run.code == 3, run.log
    assert "::error file=examples/directmail/ip-whitelist.yaml,line=" in run.log
    assert run.markdown.startswith(MARKER + "\n")
    assert "examples/directmail/ip-whitelist.yaml:" in run.markdown and "300.1.1.1" in run.markdown


# -- action.yml and the workflows, as GitHub reads them ----------------------------------


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as true; GitHub reads it as "on".
    triggers = workflow.get("on", workflow.get(True))
    assert isinstance(triggers, dict)
    return triggers


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_action_inputs_and_outputs_are_consistent() -> None:
    action = _load(ACTION_DIR / "action.yml")
    assert action["runs"]["using"] == "composite"
    text = (ACTION_DIR / "action.yml").read_text()
    used = set(re.findall(r"inputs\.([a-z-]+)", text))
    assert used <= set(action["inputs"]), used - set(action["inputs"])
    assert set(action["inputs"]) <= used, "an input nothing reads"
    steps = action["runs"]["steps"]
    run = next(step for step in steps if step.get("id") == "run")
    assert 'bash "$GITHUB_ACTION_PATH/run.sh"' in run["run"]
    written = set(re.findall(r'echo "([a-z-]+)=', RUN_SH.read_text()))
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
        assert name in written
    # Inputs reach scripts through the environment only: no ${{ }} inside a run script.
    assert all("${{" not in step.get("run", "") for step in steps)
    install = next(step for step in steps if step.get("name") == "Install reconciler")
    assert "$GITHUB_ACTION_PATH/../../.." in install["run"]
    assert (ACTION_DIR / "../../..").resolve() == REPO


def _action_uses(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [s for s in _steps(workflow) if ".github/actions/reconciler@" in s.get("uses", "")]


@pytest.mark.parametrize("name", ["plan.yml", "apply.yml", "drift.yml"])
def test_workflows_use_the_action_with_declared_inputs(name: str) -> None:
    inputs = set(_load(ACTION_DIR / "action.yml")["inputs"])
    workflow = _load(WORKFLOWS / name)
    uses = _action_uses(workflow)
    assert uses, f"{name} does not run the action"
    for step in uses:
        assert step["uses"].endswith(".github/actions/reconciler@main")
        assert set(step.get("with", {})) <= inputs
    text = (WORKFLOWS / name).read_text()
    for variable in re.findall(r"(ALIBABA_CLOUD_\w+|SENDCLOUD_\w+): (.+)", text):
        assert variable[1].startswith("${{ secrets."), variable
    assert workflow["permissions"]["contents"] == "read"


def test_plan_workflow_comments_once_and_keeps_the_plan() -> None:
    workflow = _load(WORKFLOWS / "plan.yml")
    assert "pull_request" in _triggers(workflow)
    assert workflow["permissions"]["pull-requests"] == "write"
    steps = _steps(workflow)
    comment = next(s for s in steps if s.get("uses", "").startswith("actions/github-script@"))
    assert MARKER in comment["with"]["script"]
    assert "updateComment" in comment["with"]["script"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "reconciler-plan"


def test_apply_workflow_never_overlaps_and_prefers_the_reviewed_plan() -> None:
    workflow = _load(WORKFLOWS / "apply.yml")
    assert _triggers(workflow)["push"]["branches"] == ["main"]
    assert workflow["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    job = next(iter(workflow["jobs"].values()))
    assert job["environment"]
    commands = [s["with"] for s in _action_uses(workflow)]
    assert [c["command"] for c in commands] == ["apply", "apply"]
    assert "plan-file" in commands[0] and "plan-file" not in commands[1]
    assert "reconciler-plan" in (WORKFLOWS / "apply.yml").read_text()  # the plan's artifact


def test_apply_workflow_never_falls_back_to_an_unreviewed_apply() -> None:
    workflow = _load(WORKFLOWS / "apply.yml")
    saved, fresh = _action_uses(workflow)
    assert saved["with"]["on-stale"] in ("stop", "replan")
    assert fresh["if"] == "github.event_name == 'workflow_dispatch'"  # only by hand
    last = _steps(workflow)[-1]
    assert last["if"] == "always()"
    for outcome in ("stale", "refused", "tampered"):
        assert outcome in last["run"]
    assert "Get a new plan reviewed" in last["run"]


def test_drift_workflow_is_scheduled_and_fails_on_drift() -> None:
    workflow = _load(WORKFLOWS / "drift.yml")
    triggers = _triggers(workflow)
    assert triggers["schedule"][0]["cron"]
    assert "workflow_dispatch" in triggers
    assert [s["with"]["command"] for s in _action_uses(workflow)] == ["drift", "check"]
    assert workflow["concurrency"]["group"] != "reconciler-apply"
    last = _steps(workflow)[-1]
    assert "exit 1" in last["run"] and "exitcode != '0'" in last["if"]


def test_workflows_beside_the_examples_are_not_read_as_manifests(tmp_path: Path) -> None:
    assert (WORKFLOWS / ".reconcilerignore").exists()
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    result = run_cli("validate", "examples/", cwd=tmp_path)
    assert result.code == 0, result
    assert result.out.startswith("Valid: 7 files, 2 accounts")
    # Named directly, the directory is read (and its workflows are not manifests).
    direct = run_cli("validate", "examples/github/plan.yml", cwd=tmp_path)
    assert direct.code == 3 and "plan.yml:" in direct.err


# -- pre-commit ---------------------------------------------------------------------------


def test_pre_commit_hook_validates_the_whole_manifest_set(tmp_path: Path) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "reconciler-validate")
    assert hook["language"] == "python"
    assert re.search(hook["files"], "manifests/x.yaml") and re.search(hook["files"], "a.yml")
    assert not re.search(hook["files"], "README.md")
    entry = hook["entry"].split()
    assert entry[:2] == ["reconciler", "validate"]
    # pre-commit runs `entry args` (and the file names, which this hook does not pass).
    assert hook["pass_filenames"] is False
    shutil.copytree(EXAMPLES, tmp_path / "manifests")
    ok = run_cli(*entry[1:], *hook["args"], cwd=tmp_path)
    assert ok.code == 0, ok
    write(tmp_path / "manifests" / "broken.yaml", "apiVersion: reconciler/v1\nkind: Nope\n")
    bad = run_cli(*entry[1:], *hook["args"], cwd=tmp_path)
    assert bad.code == 3 and "manifests/broken.yaml:2:" in bad.err
    # Why not the changed files alone: a list without its account does not validate.
    alone = run_cli("validate", "manifests/sendcloud/unintercept-all.yaml", cwd=tmp_path)
    assert alone.code == 3 and "unknown account 'prod-sc'" in alone.err
