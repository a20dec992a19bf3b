"""Renderers: the text plan of SPEC §4, the JSON document, the apply report."""

from __future__ import annotations

import json

from reconciler.apply import Outcome
from reconciler.errors import ProviderError
from reconciler.model import Account, IpEntry, Provider, Target, UninterceptEntry
from reconciler.output.console import Style
from reconciler.output.render import plan_document, plan_text, report_text, to_json
from reconciler.plan import Action, Change, Plan, Resource

DM = Account("prod-dm", Provider.ALIYUN_DM, "https://dm.aliyuncs.com", region="cn-hangzhou")
SC = Account("prod-sc", Provider.SENDCLOUD, "https://api.sendcloud.net/apiv2")


def spec_plan() -> Plan:
    vip = UninterceptEntry("all", Target.EMAIL, "vip@example.com", frozenset({1, 4}))
    partner_before = UninterceptEntry("marketing", Target.DOMAIN, "partner.example", frozenset({1}))
    partner_after = UninterceptEntry(
        "marketing", Target.DOMAIN, "partner.example", frozenset({1, 2})
    )
    return Plan(
        accounts=[DM, SC],
        changes=[
            Change("prod-dm", Resource.IP_WHITELIST, Action.CREATE, "203.0.113.7", None,
                   IpEntry("203.0.113.7")),
            Change("prod-dm", Resource.IP_PROTECTION, Action.UPDATE, "ip_protection", False, True),
            Change("prod-dm", Resource.IP_WHITELIST, Action.DELETE, "198.51.100.0/24",
                   IpEntry("198.51.100.0/24", id="10083")),
            Change("prod-sc", Resource.UNINTERCEPT, Action.CREATE, vip.key, None, vip),
            Change("prod-sc", Resource.UNINTERCEPT, Action.UPDATE, partner_after.key,
                   partner_before, partner_after),
        ],
    )  # fmt: skip


def test_text_plan_matches_the_spec_layout() -> None:
    lines = plan_text(spec_plan(), Style(color=False)).splitlines()
    assert lines[0] == "prod-dm  (aliyun-directmail, cn-hangzhou)"
    assert lines[1] == "  + ip_whitelist  203.0.113.7"
    assert lines[2] == "  ~ ip_protection enabled: false -> true"
    assert lines[3].startswith("  - ip_whitelist  198.51.100.0/24 ")
    assert lines[3].endswith(" (id 10083)")
    assert lines[4] == "prod-sc  (sendcloud)"
    assert lines[5] == (
        "  + unintercept   email vip@example.com  apiUser=all  types=bounce,complaint"
    )
    assert lines[6] == (
        "  ~ unintercept   domain partner.example apiUser=marketing  types: bounce -> bounce,block"
    )
    assert lines[7] == ""
    assert lines[8] == "Plan: 2 to add, 2 to change, 1 to delete."
    assert "\033[" not in "\n".join(lines)


def test_colors_only_when_asked() -> None:
    colored = plan_text(spec_plan(), Style(color=True))
    assert "\033[32m+\033[0m" in colored and "\033[31m-\033[0m" in colored


def test_empty_plan_says_so() -> None:
    text = plan_text(Plan(accounts=[DM]), Style(color=False))
    assert text == "No changes. Live state matches the manifests.\n"


def test_json_document_is_stable_and_serializable() -> None:
    doc = json.loads(to_json(plan_document(spec_plan())))
    assert doc["format_version"] == 1
    assert doc["summary"] == {"create": 2, "update": 2, "delete": 1}
    assert doc["refusals"] == []
    assert [c["action"] for c in doc["changes"]] == [
        "create",
        "update",
        "delete",
        "create",
        "update",
    ]
    assert doc["changes"][2]["before"] == {"address": "198.51.100.0/24", "id": "10083"}
    assert doc["changes"][3] == {
        "account": "prod-sc",
        "resource": "unintercept",
        "action": "create",
        "key": "all:email:vip@example.com",
        "before": None,
        "after": {"apiUser": "all", "email": "vip@example.com", "types": ["bounce", "complaint"]},
    }


def test_report_lists_every_change_with_its_outcome() -> None:
    changes = spec_plan().changes
    error = ProviderError(
        "Request was denied due to user flow control.", provider="DirectMail",
        action="AddIpfilter", code="Throttling.User", request_id="ABC-123", http_status=400,
    )  # fmt: skip
    outcomes = [
        Outcome(changes[0], "failed", str(error), error),
        Outcome(changes[1], "skipped", "skipped: a whitelist addition failed"),
        Outcome(changes[2], "applied"),
    ]
    text = report_text(outcomes, Style(color=False))
    assert (
        "FAILED   + ip_whitelist  203.0.113.7  DirectMail AddIpfilter failed: Throttling.User"
        in text
    )
    assert "request id ABC-123" in text
    assert "skipped  ~ ip_protection" in text
    assert text.rstrip().endswith("Apply: 1 applied, 1 failed, 1 skipped.")
    assert outcomes[0].as_dict()["error"]["code"] == "Throttling.User"
