"""The saved-plan tamper check: a hand-edited change is invalid input, each edit named.

``planfile.load`` checks that every change is one a plan could make from the live state saved
beside it (``planfile._verify``): these edits keep the schema and the digests valid, so only
that check can catch them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.errors import InputError
from reconciler.savedplan import planfile
from reconciler.savedplan.staleness import digest
from tests.cli_helpers import EXAMPLES

Edit = Callable[[dict[str, Any]], None]

# The saved plan of the examples against the demo state holds, in this order:
# 0-1 whitelist creates, 2 protection on, 3 whitelist delete, 4-6 unintercept creates,
# 7 the update of vip@example.com, 8 an unintercept delete.
VIP = "all:email:vip@example.com"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("tamper")
    shutil.copytree(EXAMPLES, workdir / "examples")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        assert main(["plan", "examples/", "--sandbox", "-q", "--out", "plan.json"]) == 0
    document: dict[str, Any] = json.loads((workdir / "plan.json").read_text())
    assert [c["key"] for c in document["changes"]][2::5] == ["ip_protection", VIP]
    yield document


def _redigest(document: dict[str, Any]) -> None:
    for section in document["live"].values():
        section["digest"] = digest({k: v for k, v in section.items() if k != "digest"})


def _change(index: int, **fields: Any) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        document["changes"][index].update(fields)

    return edit


def _entry(index: int, side: str, **fields: Any) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        document["changes"][index][side].update(fields)

    return edit


def _live(account: str, resource: str, update: Callable[[Any], Any]) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        section = document["live"][account]
        if (value := update(section.get(resource))) is None:
            section.pop(resource)
        else:
            section[resource] = value
        _redigest(document)

    return edit


def _summary(document: dict[str, Any]) -> None:
    document["summary"]["create"] += 1


TAMPERED = {
    "summary-miscounts": (_summary, "summary: does not count the changes"),
    "unknown-account": (_change(0, account="ghost"), "account 'ghost' is not in `accounts`"),
    "resource-of-another-provider": (
        _change(4, account="prod-dm"),
        "changes[4]: unintercept is not a resource of its provider",
    ),
    "no-live-state-for-it": (
        _live("prod-dm", "ip_protection", lambda _: None),
        "changes[2]: the plan saw no live ip_protection",
    ),
    "protection-before-is-not-what-was-seen": (
        _entry(2, "before", enabled=True),
        "changes[2]: does not match the protection switch the plan saw",
    ),
    "protection-update-that-changes-nothing": (
        _entry(2, "after", enabled=False),
        "changes[2]: does not match the protection switch the plan saw",
    ),
    "invalid-address": (
        lambda d: (
            _change(1, key="203.0.113.300")(d),
            _entry(1, "after", address="203.0.113.300")(d),
        ),
        "changes[1]: invalid address",
    ),
    "address-not-normalized": (
        lambda d: (
            _change(1, key="203.0.113.7/32")(d),
            _entry(1, "after", address="203.0.113.7/32")(d),
        ),
        "changes[1]: address not normalized (the plan writes 203.0.113.7)",
    ),
    "unintercept-entry-under-another-key": (
        _entry(7, "after", email="other@example.com"),
        "changes[7]: its key is not its entry's",
    ),
    "create-of-an-entry-already-seen": (
        _live(
            "prod-sc",
            "unintercept",
            lambda seen: {
                **seen,
                "marketing:domain:reseller.example": {
                    "apiUser": "marketing",
                    "domain": "reseller.example",
                    "types": ["bounce"],
                },
            },
        ),
        "changes[4]: does not match the entries the plan saw",
    ),
    "update-from-types-not-seen": (
        _entry(7, "before", types=["block"]),
        "changes[7]: does not match the entry the plan saw",
    ),
    "update-that-changes-nothing": (
        _entry(7, "after", types=["bounce"]),
        "changes[7]: does not match the entry the plan saw",
    ),
}


@pytest.mark.parametrize(("edit", "message"), TAMPERED.values(), ids=list(TAMPERED))
def test_a_tampered_change_is_invalid_input_naming_what_is_wrong(
    saved: dict[str, Any], tmp_path: Path, edit: Edit, message: str
) -> None:
    document = json.loads(json.dumps(saved))
    edit(document)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        planfile.load(path)
    assert message in str(caught.value)
    assert "was it edited?" in str(caught.value)


def test_the_untampered_plan_loads(saved: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(saved), encoding="utf-8")
    assert len(planfile.load(path).plan.changes) == len(saved["changes"])
