"""MailDomainList and SenderAddressList (SPEC §10): loading checks, saved plans and reports,
dependencies between changes, a guard's roll-back; end to end through the real CLI against the
real sandbox where it talks to the provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import accounts_yaml, run_cli, write
from tests.list_clients import DOMAIN, address_list, dm_client, domain_list, live, manifests, seed


@pytest.mark.parametrize(
    ("documents", "expected"),
    [
        (
            [domain_list("{name: a.example.com}", "{name: A.example.com}")],
            "duplicate mail domain 'a.example.com'",
        ),
        (
            [
                domain_list("{name: a.example.com}"),
                domain_list("{name: b.example.com}", name="more"),
            ],
            "MailDomainList",
        ),
        (
            [address_list("{address: a@x.org, type: batch}", "{address: A@X.org, type: trigger}")],
            "duplicate sender address 'a@x.org'",
        ),
        ([address_list("{address: a@x.org, type: both}")], "'both' is not one of batch, trigger"),
        ([domain_list("{name: 'not a domain'}")], "name"),
    ],
    ids=["duplicate domain", "two lists", "duplicate address", "bad type", "bad name"],
)
def test_bad_manifests_are_errors(tmp_path: Path, documents: list[str], expected: str) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    write(tmp_path / "m" / "mail.yaml", "---\n".join(documents))
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 3, result
    assert expected in result.err
    assert "mail.yaml:" in result.err


def test_more_than_five_domains_warn(tmp_path: Path) -> None:
    names = [f"{{name: d{i}.example.com}}" for i in range(6)]
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    write(tmp_path / "m" / "mail.yaml", domain_list(*names))
    result = run_cli("validate", "m", cwd=tmp_path)
    assert result.code == 0, result
    assert "6 domains: DirectMail allows at most 5" in result.err
    assert "6 domains" in result.out


def test_a_saved_plan_with_a_verify_applies_and_says_already_applied(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "sandbox.json", dns_published=[DOMAIN]) as server:
        root = manifests(tmp_path, server, domain_list(f"{{name: {DOMAIN}, verified: true}}"))
        made = run_cli("plan", "m", "--out", "plan.json", cwd=root, env=SANDBOX_ENV)
        assert made.code == 0, made
        saved = json.loads((root / "plan.json").read_text(encoding="utf-8"))
        assert [c["action"] for c in saved["changes"]] == ["create", "update"]
        applied = run_cli("apply", "--plan", "plan.json", "m", "--yes", cwd=root, env=SANDBOX_ENV)
        assert applied.code == 0, applied
        assert live(server)[0] == {DOMAIN: True}
        again = run_cli("apply", "--plan", "plan.json", "m", "--yes", cwd=root, env=SANDBOX_ENV)
        assert again.code == 0, again
        assert "Already applied" in again.out + again.err


def test_plans_and_reports_validate_and_a_stale_saved_plan_is_refused(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    from reconciler.jsonschemas import validator

    seed(sandbox, ["old.example.com"], [("x@old.example.com", "batch")])
    root = manifests(
        tmp_path,
        sandbox,
        domain_list(f"{{name: {DOMAIN}, verified: true}}", "{name: old.example.com}"),
        address_list(
            "{address: x@old.example.com, type: trigger, replyTo: r@example.com}",
            "{address: n@mail.example.com, type: batch}",
        ),
    )
    made = run_cli("plan", "m", "--format", "json", "--out", "plan.json", cwd=root, env=SANDBOX_ENV)
    assert made.code == 0, made
    validator("plan").validate(made.json)
    saved = json.loads((root / "plan.json").read_text(encoding="utf-8"))
    validator("plan").validate(saved)
    assert sorted(saved["live"]["dm"]["sender_address"]) == ["x@old.example.com"]
    shown = run_cli("--no-color", "show", "plan.json", "--redact", cwd=root, env=SANDBOX_ENV)
    assert "replace (delete, then create): type batch -> trigger" in shown.out
    assert "x@old" not in shown.out and "n@mail" not in shown.out
    with dm_client(sandbox) as client:  # an address the plan replaces is gone meanwhile
        client.delete_mail_address(live(sandbox)[1]["x@old.example.com"][0])
    stale = run_cli("apply", "--plan", "plan.json", "--yes", cwd=root, env=SANDBOX_ENV)
    assert stale.code == 4, stale
    assert "sender_address x@old.example.com: was present" in stale.out + stale.err
    applied = run_cli("apply", "m", "--yes", "--format", "json", cwd=root, env=SANDBOX_ENV)
    assert applied.code == 1, applied  # the verify fails: the records are not published
    validator("report").validate(applied.json)
    assert [o["status"] for o in applied.json["outcomes"]] == [
        "applied",
        "failed",
        "applied",
        "applied",
    ]


def test_a_guards_roll_back_wants_the_domains_and_addresses_held_before_the_apply() -> None:
    from reconciler.guard.rollback import inverse_desired
    from reconciler.kinds.mail_domain import DomainEntry
    from reconciler.kinds.sender_address import AddressEntry
    from reconciler.model import (
        Account,
        AccountDesired,
        AccountLive,
        Action,
        Change,
        Provider,
        Resource,
    )

    want = AccountDesired(Account("dm", Provider.ALIYUN_DM, "http://127.0.0.1:9"))
    before = AccountLive(
        lists={
            Resource.MAIL_DOMAIN: [
                DomainEntry("a.org", True, "1"),
                DomainEntry("b.org", False, "2"),
            ],
            Resource.SENDER_ADDRESS: [AddressEntry("x@a.org", "batch", "r@a.org", "3")],
        }
    )
    touched = [
        Change("dm", Resource.MAIL_DOMAIN, Action.CREATE, "c.org", None, DomainEntry("c.org")),
        Change(
            "dm",
            Resource.SENDER_ADDRESS,
            Action.CREATE,
            "y@c.org",
            None,
            AddressEntry("y@c.org", "batch"),
        ),
    ]
    inverse = inverse_desired(want, before, touched)
    assert inverse.lists[Resource.MAIL_DOMAIN] == {
        "a.org": DomainEntry("a.org", True),
        "b.org": DomainEntry("b.org", None),
    }
    assert inverse.lists[Resource.SENDER_ADDRESS] == {
        "x@a.org": AddressEntry("x@a.org", "batch", "r@a.org")
    }
    assert inverse.policies[Resource.MAIL_DOMAIN].prune
    assert inverse.policies[Resource.SENDER_ADDRESS].prune


def test_a_failed_domain_create_skips_its_verify_and_its_addresses(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    seed(sandbox, [f"d{i}.example.com" for i in range(5)])  # the sandbox's limit: 5 domains
    root = manifests(
        tmp_path,
        sandbox,
        domain_list(f"{{name: {DOMAIN}, verified: true}}"),
        address_list(
            "{address: n@mail.example.com, type: batch}", "{address: k@d0.example.com, type: batch}"
        ),
    )
    applied = run_cli("apply", "m", "--yes", "--format", "json", cwd=root, env=SANDBOX_ENV)
    assert applied.code == 1, applied
    assert [(o["resource"], o["key"], o["status"]) for o in applied.json["outcomes"]] == [
        ("mail_domain", DOMAIN, "failed"),
        ("mail_domain", DOMAIN, "skipped"),
        ("sender_address", "k@d0.example.com", "applied"),  # its domain is there: independent
        ("sender_address", "n@mail.example.com", "skipped"),
    ]
    assert "Domain.LimitExceeded" in applied.json["outcomes"][0]["detail"]
