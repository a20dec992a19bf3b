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
    """Notes of one merge request, its pipelines and the plan job's artifact."""

    notes: list[dict[str, Any]] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    artifact: bytes = b""
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
        if path == f"{base}/repository/commits/{SHA}/merge_requests":
            return 200, [{"iid": int(MR), "state": "merged"}]
        if path == f"{base}/merge_requests/{MR}/pipelines":
            return 200, [{"id": 52}, {"id": 51}]
        if path == f"{base}/pipelines/52/jobs":
            return 200, [{"id": 900, "name": "reconciler-plan", "status": "success"}]
        if path == f"{base}/jobs/900/artifacts/plan.json":
            return 200, self.artifact
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


def _job(
    name: str, tmp_path: Path, gitlab: GitLab, reconciler_bin: Path
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
        RECONCILER_GITLAB_TOKEN=TOKEN,
        RECONCILER_ARGS="--sandbox",
    )
    script = "\n".join(CI[name]["script"])
    # A real process: the job's script is a shell script that runs curl and reconciler.
    return subprocess.run(
        ["sh", "-ec", script], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )


def test_jobs_have_the_structure_of_plan_then_apply() -> None:
    assert CI["stages"] == ["plan", "apply"]
    plan, apply = CI["reconciler-plan"], CI["reconciler-apply"]
    assert plan["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert "plan.json" in plan["artifacts"]["paths"] and plan["artifacts"]["when"] == "always"
    assert "$CI_DEFAULT_BRANCH" in apply["rules"][0]["if"]
    assert apply["resource_group"]
    assert "reconciler apply --plan plan.json" in "\n".join(apply["script"])
    assert CI["variables"]["MARKER"] == MARKER
    for job in (plan, apply):  # read and write credentials are separate variables
        assert set(job["variables"]) == {
            "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        }  # fmt: skip
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
