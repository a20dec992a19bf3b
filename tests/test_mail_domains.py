"""MailDomainList and SenderAddressList (SPEC §10) end to end through the real CLI against the
real sandbox over 127.0.0.1: create, verify, refusals, replace, order, paging, export."""

from __future__ import annotations

from pathlib import Path

from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import run_cli, write
from tests.list_clients import DOMAIN, address_list, dm_client, domain_list, live, manifests, seed


def test_a_domain_is_created_its_records_printed_then_verified_once_published(
    tmp_path: Path,
) -> None:
    state = tmp_path / "sandbox.json"
    body = (
        domain_list("{name: Mail.Example.com, verified: true}"),
        address_list("{address: Notify@mail.example.com, type: trigger}"),
    )
    with Sandbox(state) as server:
        root = manifests(tmp_path, server, *body)
        before = run_cli("dns", "m", "--format", "json", cwd=root, env=SANDBOX_ENV)
        assert before.code == 0, before
        assert before.json == [
            {
                "domain": DOMAIN,
                "zone": None,
                "name": None,
                "type": None,
                "value": None,
                "status": "known after apply",
            }
        ]
        assert "known after apply" in before.err
        plan = run_cli("--no-color", "plan", "m", cwd=root, env=SANDBOX_ENV)
        assert plan.out.splitlines()[1:4] == [
            "  + mail_domain    mail.example.com        verified: true",
            "  ~ mail_domain    mail.example.com        verify",
            "  + sender_address notify@mail.example.com type=trigger",
        ]
        first = run_cli("--no-color", "apply", "m", "--yes", cwd=root, env=SANDBOX_ENV)
        # Created, but its records are not published: the verify fails naming them all.
        assert first.code == 1, first
        assert "Apply: 2 applied, 1 failed, 0 skipped." in first.out
        assert (
            "mail domain mail.example.com is still unverified; records failing: ownership TXT "
            "aliyundm.mail, spf TXT mail, dkim TXT aliyun-cn-hangzhou._domainkey.mail, "
            "dmarc TXT _dmarc.mail, mx MX mail, tracking CNAME dmtrace.mail"
        ) in first.out
        assert live(server)[0] == {DOMAIN: False}
        assert list(live(server)[1]) == ["notify@mail.example.com"]
        rows = run_cli("dns", "m", "--format", "json", cwd=root, env=SANDBOX_ENV).json
        assert {(r["name"], r["type"], r["status"]) for r in rows} == {
            ("aliyundm.mail", "TXT", "failed"),
            ("mail", "TXT", "failed"),
            ("aliyun-cn-hangzhou._domainkey.mail", "TXT", "failed"),
            ("_dmarc.mail", "TXT", "failed"),
            ("mail", "MX", "failed"),
            ("dmtrace.mail", "CNAME", "failed"),
        }
        again = run_cli("--no-color", "plan", "m", cwd=root, env=SANDBOX_ENV)
        # The unverified domain's failing records, on its one line.
        assert again.out.splitlines()[1] == (
            "  ~ mail_domain   mail.example.com verify (failing: ownership TXT aliyundm.mail, "
            "spf TXT mail, dkim TXT aliyun-cn-hangzhou._domainkey.mail, dmarc TXT _dmarc.mail, "
            "mx MX mail, tracking CNAME dmtrace.mail)"
        )
    # The records are published now (the sandbox's knob): the next apply verifies it.
    with Sandbox(state, dns_published=[DOMAIN]) as server:
        root = manifests(tmp_path, server, *body)
        second = run_cli("--no-color", "apply", "m", "--yes", cwd=root, env=SANDBOX_ENV)
        assert second.code == 0, second
        report = [line for line in second.out.splitlines() if "applied  ~" in line]
        assert len(report) == 1
        assert report[0].startswith("  applied  ~ mail_domain   mail.example.com verify (failing")
        assert report[0].endswith("dmtrace.mail)  verified")
        assert live(server)[0] == {DOMAIN: True}
        rows = run_cli("dns", "m", "--format", "json", cwd=root, env=SANDBOX_ENV).json
        assert {r["status"] for r in rows} == {"passed"}
        done = run_cli("plan", "m", "--detailed-exitcode", cwd=root, env=SANDBOX_ENV)
        assert done.code == 0, done
        assert "No changes" in done.out


def test_a_domain_published_before_it_is_created_is_verified_in_the_same_apply(
    tmp_path: Path,
) -> None:
    with Sandbox(tmp_path / "sandbox.json", dns_published=[DOMAIN]) as server:
        root = manifests(tmp_path, server, domain_list(f"{{name: {DOMAIN}, verified: true}}"))
        applied = run_cli("apply", "m", "--yes", "--format", "json", cwd=root, env=SANDBOX_ENV)
        assert applied.code == 0, applied
        outcomes = [(c["action"], c["status"]) for c in applied.json["outcomes"]]
        assert outcomes == [("create", "applied"), ("update", "applied")]
        assert live(server)[0] == {DOMAIN: True}


def test_an_address_on_a_domain_the_account_will_not_hold_is_refused(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    root = manifests(
        tmp_path,
        sandbox,
        domain_list(f"{{name: {DOMAIN}}}"),
        address_list(
            "{address: a@mail.example.com, type: batch}", "{address: b@other.org, type: batch}"
        ),
    )
    refused = run_cli(
        "apply", "m", "--yes", "--force", "--format", "json", cwd=root, env=SANDBOX_ENV
    )
    assert refused.code == 4, refused
    doc = run_cli("plan", "m", "--format", "json", cwd=root, env=SANDBOX_ENV).json
    assert [(r["rule"], r["overridable"]) for r in doc["refusals"]] == [("unknown-domain", False)]
    assert "sender address b@other.org is on domain other.org" in doc["refusals"][0]["message"]
    assert live(sandbox) == ({}, {})  # nothing written
    # Without a MailDomainList the live domains are the final list.
    seed(sandbox, [DOMAIN])
    write(root / "m" / "mail.yaml", address_list("{address: a@mail.example.com, type: batch}"))
    fine = run_cli("plan", "m", "--format", "json", cwd=root, env=SANDBOX_ENV)
    assert fine.code == 0, fine
    assert fine.json["refusals"] == []


def test_deleting_a_domain_in_use_is_refused_even_with_force(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    seed(sandbox, [DOMAIN, "spare.example.com"], [("a@mail.example.com", "batch")])
    # The addresses are not managed: they are read all the same, for this rule.
    root = manifests(
        tmp_path, sandbox, domain_list("{name: spare.example.com}", extra="  prune: true\n")
    )
    forced = run_cli("apply", "m", "--yes", "--force", cwd=root, env=SANDBOX_ENV)
    assert forced.code == 4, forced
    assert "domain-in-use" in forced.out + forced.err
    assert "a@mail.example.com" in forced.out + forced.err
    assert DOMAIN in live(sandbox)[0]
    # A planned address counts too.
    write(
        root / "m" / "mail.yaml",
        domain_list("{name: spare.example.com}", extra="  prune: true\n")
        + "---\n"
        + address_list("{address: new@mail.example.com, type: batch}"),
    )
    doc = run_cli("plan", "m", "--format", "json", cwd=root, env=SANDBOX_ENV).json
    rules = {r["rule"] for r in doc["refusals"]}
    assert {"domain-in-use", "unknown-domain"} <= rules


def test_deleting_a_verified_domain_needs_force_and_prune_defaults_to_false(
    tmp_path: Path,
) -> None:
    with Sandbox(tmp_path / "sandbox.json", dns_published=[DOMAIN]) as server:
        seed(server, [DOMAIN, "spare.example.com"])
        with dm_client(server) as client:
            ident = next(d.id for d in client.list_domains() if d.name == DOMAIN)
            assert client.check_domain(ident) != 1
        root = manifests(tmp_path, server, domain_list("{name: spare.example.com}"))
        kept = run_cli("plan", "m", "--detailed-exitcode", cwd=root, env=SANDBOX_ENV)
        assert kept.code == 0, kept  # prune: false by default: the other domain stays
        write(
            root / "m" / "mail.yaml",
            domain_list("{name: spare.example.com}", extra="  prune: true\n"),
        )
        refused = run_cli("--no-color", "apply", "m", "--yes", cwd=root, env=SANDBOX_ENV)
        assert refused.code == 4, refused
        assert "verified-domain" in refused.out + refused.err
        assert f"- mail_domain   {DOMAIN} (id {ident}, verified)" in refused.out
        assert DOMAIN in live(server)[0]
        forced = run_cli("apply", "m", "--yes", "--force", cwd=root, env=SANDBOX_ENV)
        assert forced.code == 0, forced
        assert live(server)[0] == {"spare.example.com": False}


def test_a_changed_type_is_a_replace_and_reply_to_an_update(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    seed(
        sandbox,
        [DOMAIN],
        [
            ("a@mail.example.com", "batch"),
            ("b@mail.example.com", "batch"),
            ("c@mail.example.com", "batch"),
        ],
    )
    ids = {address: found[0] for address, found in live(sandbox)[1].items()}
    body = address_list(
        "{address: a@mail.example.com, type: trigger}",
        "{address: b@mail.example.com, type: batch, replyTo: help@example.com}",
        "{address: c@mail.example.com, type: batch}",
    )
    root = manifests(tmp_path, sandbox, body)
    text = run_cli("--no-color", "plan", "m", cwd=root, env=SANDBOX_ENV)
    assert text.code == 0, text
    assert text.out.splitlines()[1:3] == [
        "  ~ sender_address a@mail.example.com replace (delete, then create): "
        "type batch -> trigger",
        "  ~ sender_address b@mail.example.com replyTo: '' -> 'help@example.com'",
    ]
    assert "Cost: 3 reads, 3 writes" in text.out  # the replace is two calls
    applied = run_cli("apply", "m", "--yes", cwd=root, env=SANDBOX_ENV)
    assert applied.code == 0, applied
    after = live(sandbox)[1]
    assert after["a@mail.example.com"][1:] == ("trigger", "")
    assert after["a@mail.example.com"][0] != ids["a@mail.example.com"]  # deleted, created
    assert after["b@mail.example.com"] == (ids["b@mail.example.com"], "batch", "help@example.com")
    # Rules 1 and 2 count a replace as a delete: replacing every address empties the list.
    write(
        root / "m" / "mail.yaml",
        address_list(
            "{address: a@mail.example.com, type: batch}",
            "{address: b@mail.example.com, type: trigger}",
            "{address: c@mail.example.com, type: trigger}",
        ),
    )
    doc = run_cli("plan", "m", "--format", "json", cwd=root, env=SANDBOX_ENV).json
    assert {r["rule"] for r in doc["refusals"]} == {"mass-deletion", "emptying"}
    assert "counting 3 type changes carried out as delete then add" in doc["refusals"][0]["message"]


def test_order_of_execution_across_tags_domains_and_addresses(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    seed(sandbox, ["old.example.com"], [("x@old.example.com", "batch")])
    with dm_client(sandbox) as client:
        client.create_tag("stale")
    tags = (
        "apiVersion: reconciler/v1\nkind: TagList\nmetadata: {name: tags}\n"
        "spec:\n  account: dm\n  tags:\n    - {name: fresh}\n"
    )
    root = manifests(
        tmp_path,
        sandbox,
        tags,
        domain_list(f"{{name: {DOMAIN}, verified: true}}", extra="  prune: true\n"),
        address_list("{address: n@mail.example.com, type: batch}", extra="  prune: true\n"),
    )
    doc = run_cli("plan", "m", "--format", "json", cwd=root, env=SANDBOX_ENV).json
    assert doc["refusals"] == []
    assert [(c["resource"], c["action"], c["key"]) for c in doc["changes"]] == [
        ("tag", "create", "fresh"),
        ("mail_domain", "create", DOMAIN),
        ("mail_domain", "update", DOMAIN),
        ("sender_address", "create", "n@mail.example.com"),
        ("sender_address", "delete", "x@old.example.com"),
        ("mail_domain", "delete", "old.example.com"),
        ("tag", "delete", "stale"),
    ]


def test_paging_export_and_round_trip(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "sandbox.json", list_page_size=2) as server:
        domains = ["a.example.com", "b.example.com", "c.example.com"]
        addresses = [
            (f"s{i}@{d}", "batch" if i % 2 else "trigger") for i, d in enumerate(domains * 2)
        ]
        seed(server, domains, addresses)
        root = manifests(tmp_path, server, domain_list("{name: a.example.com}"))
        exported = run_cli(
            "export", "m", "--account", "dm", "--out", "live.yaml", cwd=root, env=SANDBOX_ENV
        )
        assert exported.code == 0, exported
        text = (root / "live.yaml").read_text(encoding="utf-8")
        assert "kind: MailDomainList" in text and "kind: SenderAddressList" in text
        for domain in domains:
            assert f"name: {domain}" in text
        for address, _sendtype in addresses:
            assert f"address: {address}" in text
        for path in (root / "m").iterdir():
            path.unlink()
        (root / "m" / "live.yaml").write_text(text, encoding="utf-8")
        plan = run_cli("plan", "m", "--detailed-exitcode", cwd=root, env=SANDBOX_ENV)
        assert plan.code == 0, plan
        assert "No changes" in plan.out


def test_markdown_and_redact_mask_sender_addresses(tmp_path: Path, sandbox: Sandbox) -> None:
    seed(sandbox, [DOMAIN])
    root = manifests(
        tmp_path, sandbox, address_list("{address: victor@mail.example.com, type: batch}")
    )
    markdown = run_cli("plan", "m", "--format", "markdown", "--redact", cwd=root, env=SANDBOX_ENV)
    assert markdown.code == 0, markdown
    assert "victor@" not in markdown.out
    assert "`v**@mail.example.com#" in markdown.out
    assert "| create | sender_address |" in markdown.out
    text = run_cli("plan", "m", "--redact", cwd=root, env=SANDBOX_ENV)
    assert "victor@" not in text.out and "v**@mail.example.com#" in text.out


def test_plan_names_the_failing_records_of_an_unverified_domain(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    seed(sandbox, [DOMAIN, "other.example.com"])
    root = manifests(tmp_path, sandbox, domain_list(f"{{name: {DOMAIN}}}"))
    plan = run_cli("plan", "m", "--detailed-exitcode", cwd=root, env=SANDBOX_ENV)
    assert plan.code == 0, plan  # nothing to change: verified is not asked for
    assert plan.err.splitlines() == [
        "dm: mail domain mail.example.com is not verified; records failing: ownership TXT "
        "aliyundm.mail, spf TXT mail, dkim TXT aliyun-cn-hangzhou._domainkey.mail, dmarc TXT "
        "_dmarc.mail, mx MX mail, tracking CNAME dmtrace.mail (see: reconciler dns)"
    ]  # one line; a domain the manifests do not name is not mentioned
