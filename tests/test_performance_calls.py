"""What keeps ``plan`` fast at scale and is not a timing: the calls it makes, the modules
``--version`` loads, and the sandbox's cached filtered lists staying right across writes.

The timings themselves are in ``benchmarks/run.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from reconciler import __version__
from reconciler import sandbox as sb
from reconciler.sandbox import Sandbox
from tests.cli_helpers import EXAMPLES, REPO, accounts_yaml, run_cli, write

SANDBOX_ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": sb.ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sb.ACCESS_KEY_SECRET,
    "SENDCLOUD_API_USER": sb.API_USER,
    "SENDCLOUD_API_KEY": sb.API_KEY,
}


def _record(i: int, api_user: str = "all") -> dict[str, Any]:
    return {
        "apiUserName": api_user,
        "domain": "",
        "email": f"user{i:04d}@example.com",
        "type": [1, 2, 4, 8],
        "createTime": "2024-01-01 00:00:00",
    }


def _state(unintercepts: int) -> dict[str, Any]:
    return {
        "directmail": {
            "ip_protection": "0",
            "next_id": 2,
            "ipfilters": [{"Id": "1", "IpAddress": "203.0.113.7", "CreateTime": "1700000000"}],
        },
        "sendcloud": {"unintercepts": [_record(i) for i in range(unintercepts)]},
    }


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
  entries: [203.0.113.7, 198.51.100.0/24]
---
apiVersion: reconciler/v1
kind: UninterceptList
metadata: {name: many}
spec:
  account: sc
  entries:
"""


@pytest.mark.parametrize(
    ("live", "pages"),
    # A full first page whose count is 100 may be the whole list or one page of many (what
    # count means is written nowhere, SPEC §6): the next page is read to know.
    [(0, 1), (100, 2), (250, 3), (300, 3)],
    ids=["empty", "one-full-page", "250", "300"],
)
def test_plan_makes_the_fewest_calls(tmp_path: Path, live: int, pages: int) -> None:
    """One call per resource, and one list call per page of 100: no trailing empty page once
    a count above one page proves to be the total, no call repeated. Every list is managed
    and every list differs, so each must be read."""
    entries = "".join(f"    - email: user{i:04d}@example.com\n" for i in range(live + 1))
    with Sandbox(tmp_path / "state.json", initial_state=_state(live)) as server:
        write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
        write(tmp_path / "m" / "managed.yaml", MANAGED + entries)
        result = run_cli("plan", "m", "--detailed-exitcode", cwd=tmp_path, env=SANDBOX_ENV)
        assert result.code == 2, result
        assert "Plan: 2 to add, 1 to change, 0 to delete." in result.out, result
        assert server.calls == {
            "GetIpProtection": 1,
            "GetIpfilterList": 1,
            "unintercept/list": pages,
        }


def _imported(*args: str) -> set[str]:
    """The modules ``python -X importtime ARGS`` imports, as importtime reports them."""
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    # A real process: what a fresh interpreter imports.
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}  # [0] is the header


def test_version_imports_next_to_nothing() -> None:
    """``--version`` is what scripts call to probe the tool: it must not pay for YAML,
    schemas, HTTP or the commands (nor for dataclasses, which pulls in inspect)."""
    baseline = _imported("-c", "pass")
    loaded = _imported("-m", "reconciler", "--version") - baseline
    heavy = {
        "yaml",
        "jsonschema",
        "requests",
        "urllib3",
        "deepdiff",
        "dataclasses",
        "inspect",
        "reconciler.errors",
        "reconciler.commands",
        "reconciler.manifests",
        "reconciler.sandbox",
    }
    assert loaded & heavy == set()
    assert {"reconciler", "reconciler.cli"} <= loaded  # the measurement itself works


def test_validate_imports_no_http() -> None:
    """``validate`` is offline (pre-commit runs it on every commit): it never pays for the
    HTTP stack, the providers, the sandbox or deepdiff."""
    loaded = _imported("-m", "reconciler", "validate", str(EXAMPLES))
    http = {
        "requests",
        "urllib3",
        "tenacity",
        "deepdiff",
        "reconciler.providers",
        "reconciler.sandbox",
        "reconciler.live",
    }
    assert loaded & http == set(), sorted(loaded & http)
    assert {"yaml", "jsonschema", "reconciler.manifests.load"} <= loaded  # it did validate


def test_building_the_parser_loads_no_command() -> None:
    """Each command declares its arguments in a light module (``reconciler/commands/args/``):
    the whole parser, as ``--help`` builds it, loads none of the commands nor what they run on."""
    from reconciler.cli import COMMANDS

    code = (
        "import sys; from reconciler.cli import build_parser; build_parser(); print(*sys.modules)"
    )
    # A real process: what a fresh interpreter loads (this one has loaded everything).
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=60,
        check=True,
    )
    loaded = set(proc.stdout.split())
    assert {f"reconciler.commands.args.{name}" for name in COMMANDS} <= loaded  # it built
    heavy = {f"reconciler.commands.{name}" for name in COMMANDS} | {
        "yaml",
        "jsonschema",
        "requests",
        "deepdiff",
        "reconciler.errors",
        "reconciler.manifests",
        "reconciler.output.console",
        "reconciler.sandbox",
    }
    assert loaded & heavy == set(), sorted(loaded & heavy)


def test_version_output_is_unchanged(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert (result.code, result.out, result.err) == (0, f"reconciler {__version__}\n", "")


def test_filtered_list_follows_writes(sandbox: Sandbox) -> None:
    """The sandbox filters a list once for all its pages; a write must show in the next one."""
    sandbox.set_state(_state(0))
    url = f"{sandbox.sendcloud_endpoint}/unintercept"
    auth = {"apiUser": sb.API_USER, "apiKey": sb.API_KEY}

    def listed(start: int = 0) -> tuple[list[str], int]:
        form = {**auth, "apiUserName": "ops", "start": str(start), "limit": "2"}
        info = requests.post(f"{url}/list", data=form, timeout=10).json()["info"]
        return [record["email"] for record in info["dataList"]], info["count"]

    def add(email: str, api_user: str = "ops") -> None:
        form = {**auth, "apiUserName": api_user, "email": email, "type": "1"}
        assert requests.post(f"{url}/add", data=form, timeout=10).json()["result"] is True

    for email in ("a@example.com", "b@example.com", "c@example.com"):
        add(email)
    add("other@example.com", api_user="marketing")
    assert listed() == (["a@example.com", "b@example.com"], 3)
    assert listed(2) == (["c@example.com"], 3)
    add("d@example.com")
    assert listed(2) == (["c@example.com", "d@example.com"], 4)
    form = {**auth, "apiUserName": "ops", "email": "a@example.com"}
    assert requests.post(f"{url}/delete", data=form, timeout=10).json()["info"]["count"] == 1
    assert listed() == (["b@example.com", "c@example.com"], 3)
