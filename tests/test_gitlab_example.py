"""The GitLab CI example: its jobs' scripts run against a local stand-in for GitLab's API and
the embedded sandbox, as a runner would run them (sh, curl, python3, reconciler on PATH)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.output.markdown import MARKER
from reconciler.output.redact import mask
from tests.cli_helpers import EXAMPLES, REPO
from tests.serving import serving

CI = yaml.safe_load((EXAMPLES / "gitlab" / ".gitlab-ci.yml").read_text(encoding="utf-8"))
TOKEN = "glpat-test-token-0a1b2c"
PROJECT, MR, SHA = "7", "3", "c0ffee" * 6 + "beef"
pytestmark = pytest.mark.skipif(not shutil.which("curl"), reason="the jobs' scripts use curl")


@dataclass
class GitLab:
    """Notes of one merge request, its pipelines, the plan job's artifact (None: expired) and
    the project's issues; every write, in order."""

    notes: list[dict[str, Any]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    artifact: bytes | None = b""
    url: str = ""

    def answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, Any]:
        base = f"/api/v4/projects/{PROJECT}"
        notes = f"{base}/merge_requests/{MR}/notes"
        if method == "GET" and path == notes:
            return 200, self.notes
        if method == "POST" and path == notes:
            self.notes.append({"id": 100 + len(self.notes), "body": form["body"]})
            self.writes.append("POST")
            return 201, self.notes[-1]
        if method == "PUT" and path.startswith(notes + "/"):
            note = next(n for n in self.notes if str(n["id"]) == path.rsplit("/", 1)[1])
            note["body"] = form["body"]
            self.writes.append(f"PUT {note['id']}")
            return 200, note
        if path.startswith(f"{base}/issues"):
            return self._issues(method, path.removeprefix(f"{base}/issues"), form)
        if path == f"{base}/repository/commits/{SHA}/merge_requests":
            return 200, [{"iid": int(MR), "state": "merged"}]
        if path == f"{base}/merge_requests/{MR}/pipelines":
            return 200, [{"id": 52}, {"id": 51}]
        if path == f"{base}/pipelines/52/jobs":
            return 200, [{"id": 900, "name": "reconciler-plan", "status": "success"}]
        if path == f"{base}/jobs/900/artifacts/plan.json" and self.artifact is not None:
            return 200, self.artifact
        return 404, {"message": "404 Not Found"}

    def _issues(self, method: str, rest: str, form: dict[str, str]) -> tuple[int, Any]:
        """GitLab's issues API, as far as the drift and check jobs use it."""
        if method == "GET" and rest == "":
            return 200, [i for i in self.issues if i["state"] == "opened"]
        if method == "POST" and rest == "":
            issue: dict[str, Any] = {
                "iid": len(self.issues) + 1,
                "state": "opened",
                "notes": [],
                **form,
            }
            self.issues.append(issue)
            self.writes.append(f"open issue {issue['iid']}")
            return 201, issue
        iid, _, what = rest.lstrip("/").partition("/")
        known = next(i for i in self.issues if str(i["iid"]) == iid)
        if method == "POST" and what == "notes":
            known["notes"].append(form["body"])
            return 201, {"body": form["body"]}
        if method == "PUT" and not what:
            if form.get("state_event") == "close":
                known["state"] = "closed"
                self.writes.append(f"close issue {iid}")
            else:
                known.update(form)
                self.writes.append(f"update issue {iid}")
            return 200, known
        return 404, {"message": "404 Not Found"}


@pytest.fixture
def gitlab() -> Iterator[GitLab]:
    state = GitLab()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            if self.headers.get("PRIVATE-TOKEN") != TOKEN:
                self._send(401, {"message": "401 Unauthorized"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            form = {
                k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()
            }
            path = urllib.parse.urlsplit(self.path).path
            self._send(*state.answer(self.command, path, form))

        do_GET = do_POST = do_PUT = _serve

        def _send(self, status: int, value: Any) -> None:
            body = value if isinstance(value, bytes) else json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    with serving(server):
        yield state


def _flat(item: str | list[str]) -> list[str]:
    return [item] if isinstance(item, str) else item


def _job(
    name: str, tmp_path: Path, gitlab: GitLab, reconciler_bin: Path, token: str = TOKEN
) -> subprocess.CompletedProcess[str]:
    """The job's script as the runner runs it: one sh, with the job's variables."""
    work = tmp_path / "work"
    if not work.exists():
        shutil.copytree(EXAMPLES, work / "manifests")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_", "SENDCLOUD_"))}
    env.update({k: str(v) for k, v in CI["variables"].items()})
    env.update(
        PATH=f"{reconciler_bin}{os.pathsep}{env['PATH']}",
        PYTHONPATH=str(REPO),
        CI_API_V4_URL=gitlab.url,
        CI_PROJECT_ID=PROJECT,
        CI_MERGE_REQUEST_IID=MR,
        CI_COMMIT_SHA=SHA,
        CI_COMMIT_SHORT_SHA=SHA[:8],
        CI_JOB_URL="https://gitlab.example/acme/mail/-/jobs/1",
        RECONCILER_GITLAB_TOKEN=token,
        RECONCILER_ARGS="--sandbox",
    )
    # GitLab flattens the nested list a YAML alias (*gitlab-api) makes.
    lines = [line for item in CI[name]["script"] for line in _flat(item)]
    script = "\n".join(lines)
    # A real process: the job's script is a shell script that runs curl and reconciler.
    return subprocess.run(
        ["sh", "-ec", script], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )


def test_jobs_have_the_structure_of_plan_then_apply_then_scheduled_checks() -> None:
    assert CI["stages"] == ["plan", "apply", "drift"]
    plan, apply = CI["reconciler-plan"], CI["reconciler-apply"]
    drift, check = CI["reconciler-drift"], CI["reconciler-check"]
    assert plan["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert "plan.json" in plan["artifacts"]["paths"] and plan["artifacts"]["when"] == "always"
    assert "$CI_DEFAULT_BRANCH" in apply["rules"][0]["if"]
    assert apply["resource_group"]
    # The reviewed plan is applied only to the manifests it was made from.
    assert "reconciler apply --plan plan.json $MANIFESTS" in apply["script"][-1]
    assert CI["variables"]["MARKER"] == MARKER
    for job in (drift, check):
        assert job["stage"] == "drift" and "schedule" in job["rules"][0]["if"]
        assert job["variables"] == plan["variables"]  # read-only credentials
    assert "--detailed-exitcode" in drift["script"][-1]
    assert "reconciler check $MANIFESTS" in check["script"][-1]
    for job in (plan, apply, drift, check):  # read and write credentials are separate variables
        assert set(job["variables"]) == {
            "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        }  # fmt: skip
        assert job["script"][0] == CI[".gitlab-api"]  # the API helpers come first
    assert plan["variables"] != apply["variables"]


def test_plan_posts_one_note_and_updates_it_then_apply_carries_out_the_reviewed_plan(
    tmp_path: Path, gitlab: GitLab, reconciler_bin: Path
) -> None:
    first = _job("reconciler-plan", tmp_path, gitlab, reconciler_bin)
    assert first.returncode == 0, first.stdout + first.stderr
    again = _job("reconciler-plan", tmp_path, gitlab, reconciler_bin)
    assert again.returncode == 0, again.stdout + again.stderr
    assert gitlab.writes == ["POST", "PUT 100"]
    (note,) = gitlab.notes
    assert note["body"].startswith(MARKER + "\n")
    assert "5 to add, 2 to change, 2 to delete" in note["body"]
    assert "vip@example.com" not in note["body"] and mask("vip@example.com") in note["body"]
    assert TOKEN not in first.stdout + first.stderr

    saved = tmp_path / "work" / "plan.json"
    assert "vip@example.com" in saved.read_text()
    gitlab.artifact = saved.read_bytes()
    saved.unlink()
    applied = _job("reconciler-apply", tmp_path, gitlab, reconciler_bin)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Applying the plan reviewed in !3 (job 900)" in applied.stdout
    assert "Apply: 9 applied, 0 failed, 0 skipped." in applied.stdout


def test_a_refused_or_invalid_plan_fails_the_job_and_is_still_posted(
    tmp_path: Path, gitlab: GitLab, reconciler_bin: Path
) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "work" / "manifests")
    bad = tmp_path / "work" / "manifests" / "sendcloud" / "unintercept-all.yaml"
    bad.write_text(bad.read_text() + "    - email: not-an-address\n")
    failed = _job("reconciler-plan", tmp_path, gitlab, reconciler_bin)
    assert failed.returncode == 3, failed.stdout + failed.stderr
    (note,) = gitlab.notes
    assert note["body"].startswith(MARKER + "\n")


def test_apply_without_a_reviewed_plan_applies_nothing(
    tmp_path: Path, gitlab: GitLab, reconciler_bin: Path
) -> None:
    gitlab.artifact = b"not a plan"
    failed = _job("reconciler-apply", tmp_path, gitlab, reconciler_bin)
    assert failed.returncode == 3, failed.stdout + failed.stderr


def _sandbox_state(tmp_path: Path) -> str:
    state = tmp_path / "work" / ".reconciler" / "sandbox.json"
    return state.read_text() if state.exists() else ""


def test_apply_refuses_a_plan_whose_change_is_not_in_the_merged_manifests(
    tmp_path: Path, gitlab: GitLab, reconciler_bin: Path
) -> None:
    """The merge request's newest plan was made from manifests the merged commit does not
    hold (a change that was dropped before the merge): it is refused, naming the file."""
    shutil.copytree(EXAMPLES, tmp_path / "work" / "manifests")
    whitelist = tmp_path / "work" / "manifests" / "directmail" / "ip-whitelist.yaml"
    merged = whitelist.read_text()
    whitelist.write_text(merged + "    - 192.0.2.44\n")
    planned = _job("reconciler-plan", tmp_path, gitlab, reconciler_bin)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "192.0.2.44" in (tmp_path / "work" / "plan.json").read_text()
    gitlab.artifact = (tmp_path / "work" / "plan.json").read_bytes()
    whitelist.write_text(merged)  # the checkout of the merged commit
    before = _sandbox_state(tmp_path)

    refused = _job("reconciler-apply", tmp_path, gitlab, reconciler_bin)
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "was not made from the manifests at manifests/" in refused.stderr
    assert "differ from the plan's: manifests/directmail/ip-whitelist.yaml" in refused.stderr
    assert "Apply:" not in refused.stdout and "Traceback" not in refused.stderr
    assert _sandbox_state(tmp_path) == before  # nothing written


def test_an_expired_artifact_is_exit_3_with_what_to_do(
    tmp_path: Path, gitlab: GitLab, reconciler_bin: Path
) -> None:
    gitlab.artifact = None  # expired: GitLab answers 404
    gone = _job("reconciler-apply", tmp_path, gitlab, reconciler_bin)
    assert gone.returncode == 3, gone.stdout + gone.stderr
    assert "the plan reviewed in !3 (job 900) is gone" in gone.stderr
    assert "expire after 30 days" in gone.stderr and "Retry that reconciler-plan job" in gone.stderr
    assert "curl: (22)" not in gone.stderr
    assert not (tmp_path / "work" / "plan.json").exists()


@pytest.mark.parametrize("name", ["reconciler-plan", "reconciler-apply", "reconciler-drift"])
def test_a_wrong_token_is_a_clean_error(
    name: str, tmp_path: Path, gitlab: GitLab, reconciler_bin: Path
) -> None:
    wrong = "glpat-wrong-token-9z8y7x"
    failed = _job(name, tmp_path, gitlab, reconciler_bin, token=wrong)
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert "GitLab refused RECONCILER_GITLAB_TOKEN (HTTP 401" in failed.stderr
    assert "Traceback" not in failed.stderr and "JSONDecodeError" not in failed.stderr
    assert wrong not in failed.stdout + failed.stderr
    assert gitlab.writes == []


def test_an_answer_that_is_not_json_is_a_clean_error(
    tmp_path: Path, gitlab: GitLab, reconciler_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GitLab, "_issues", lambda *_: (200, b"<html>maintenance</html>"))
    failed = _job("reconciler-drift", tmp_path, gitlab, reconciler_bin)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "error: GitLab gave an answer of another shape (JSONDecodeError" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_drift_keeps_one_issue_while_live_state_differs_and_closes_it(
    tmp_path: Path, gitlab: GitLab, reconciler_bin: Path
) -> None:
    drifted = _job("reconciler-drift", tmp_path, gitlab, reconciler_bin)
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    again = _job("reconciler-drift", tmp_path, gitlab, reconciler_bin)
    assert again.returncode == 2, again.stdout + again.stderr
    assert gitlab.writes == ["open issue 1", "update issue 1"]
    (issue,) = gitlab.issues
    assert issue["title"] == "reconciler: live state drifted from the manifests"
    assert issue["description"].startswith("<!-- reconciler-drift -->\n")
    assert "5 to add, 2 to change, 2 to delete" in issue["description"]
    assert "vip@example.com" not in issue["description"]  # --redact

    gitlab.artifact = None
    applied = subprocess.run(
        ["reconciler", "apply", "manifests/", "--sandbox", "--yes", "-q"],
        cwd=tmp_path / "work",
        env={**os.environ, "PATH": f"{reconciler_bin}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stdout + applied.stderr
    fine = _job("reconciler-drift", tmp_path, gitlab, reconciler_bin)
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert gitlab.writes[-1] == "close issue 1" and issue["state"] == "closed"
    assert issue["notes"] and issue["notes"][0].startswith("Fine again")


def test_check_runs_the_delivery_checks_and_opens_an_issue_when_one_fails(
    tmp_path: Path, gitlab: GitLab, reconciler_bin: Path
) -> None:
    passed = _job("reconciler-check", tmp_path, gitlab, reconciler_bin)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "| prod-health | prod-dm | **PASS** |" in passed.stdout
    assert gitlab.writes == []  # no issue while every check passes
    strict = tmp_path / "work" / "manifests" / "checks" / "strict.yaml"
    strict.write_text(
        "apiVersion: reconciler/v1\nkind: DeliveryCheck\nmetadata: {name: strict}\n"
        "spec: {account: prod-dm, window: 24h, minRequests: 1, maxFailedPercent: 0,"
        " maxInvalidPercent: 0}\n"
    )
    failed = _job("reconciler-check", tmp_path, gitlab, reconciler_bin)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    (issue,) = gitlab.issues
    assert issue["title"] == "reconciler: a delivery check failed"
    assert issue["description"].startswith("<!-- reconciler-check -->\n")
    assert "| strict | prod-dm | **FAIL** |" in issue["description"]
