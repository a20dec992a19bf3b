"""``reconciler dns`` (SPEC §10): the records each managed sending domain needs, as zone-file
lines a zone parser accepts (dnspython), octoDNS's record table, or JSON rows; through the real
CLI against the real sandbox, and the formatting functions on their own."""

from __future__ import annotations

from pathlib import Path

import dns.rdatatype
import dns.zone
import yaml

from reconciler import dns_records
from reconciler.providers.directmail_entries import DnsRecord, DomainRecords
from reconciler.sandbox import Sandbox
from tests.builders import SANDBOX_ENV
from tests.cli_helpers import accounts_yaml, run_cli, write
from tests.list_clients import domain_list, seed


def _root(tmp_path: Path, server: Sandbox, *domains: str) -> Path:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(server.url))
    write(tmp_path / "m" / "mail.yaml", domain_list(*(f"{{name: {d}}}" for d in domains)))
    return tmp_path


def _zones(text: str) -> dict[str, dns.zone.Zone]:
    """Each ``$ORIGIN`` block of ``text`` parsed as a zone, as a DNS server loads it."""
    zones = {}
    for block in text.split("$ORIGIN ")[1:]:
        origin, _, body = block.partition("\n")
        soa = "@ 600 IN SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 600\n"
        zones[origin] = dns.zone.from_text(soa + body, origin=origin, check_origin=False)
    return zones


def test_bind_lines_parse_as_zones(tmp_path: Path, sandbox: Sandbox) -> None:
    seed(sandbox, ["mail.example.com", "example.org"])
    root = _root(tmp_path, sandbox, "mail.example.com", "example.org", "later.example.net")
    result = run_cli("dns", "m", cwd=root, env=SANDBOX_ENV)
    assert result.code == 0, result
    assert "; later.example.net (account dm): known after apply" in result.out
    assert "later.example.net (account dm) is not created yet" in result.err
    zones = _zones(result.out)
    assert sorted(zones) == ["example.com.", "example.org."]
    com = zones["example.com."]
    spf = com.find_rdataset("mail", dns.rdatatype.TXT)
    assert [b"".join(r.strings) for r in spf] == [b"v=spf1 include:spf1.dm.aliyun.com -all"]
    mx = com.find_rdataset("mail", dns.rdatatype.MX)
    assert [(r.preference, r.exchange.to_text()) for r in mx] == [(10, "mxdm.aliyun.com.")]
    cname = com.find_rdataset("dmtrace.mail", dns.rdatatype.CNAME)
    assert [r.target.to_text() for r in cname] == ["tracedm.aliyuncs.com."]
    dkim = com.find_rdataset("aliyun-cn-hangzhou._domainkey.mail", dns.rdatatype.TXT)
    assert b"".join(next(iter(dkim)).strings).startswith(b"v=DKIM1; k=rsa; p=")
    org = zones["example.org."]
    apex = org.find_rdataset("@", dns.rdatatype.MX)
    assert len(apex) == 1
    assert org.find_rdataset("_dmarc", dns.rdatatype.TXT)
    # Each record's status, after it.
    assert 'mail 600 IN TXT "v=spf1 include:spf1.dm.aliyun.com -all" ; spf failed' in result.out


def test_long_and_quoted_txt_values_stay_whole() -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 400 + ' "q" \\ end'
    records = DomainRecords(
        "1",
        "x.example.com",
        "example.com",
        "1",
        (DnsRecord("dkim", "TXT", "s._domainkey.x", value, 0),),
    )
    text = dns_records.bind([dns_records.Domain("dm", "x.example.com", records)])
    zone = _zones(text)["example.com."]
    (rdata,) = zone.find_rdataset("s._domainkey.x", dns.rdatatype.TXT)
    assert all(len(s) <= 255 for s in rdata.strings)
    assert b"".join(rdata.strings).decode() == value
    assert "; dkim passed" in text


def test_octodns_table_for_the_zone(tmp_path: Path, sandbox: Sandbox) -> None:
    seed(sandbox, ["mail.example.com", "example.org"])
    root = _root(tmp_path, sandbox, "mail.example.com", "example.org")
    result = run_cli("dns", "m", "--format", "octodns", cwd=root, env=SANDBOX_ENV)
    assert result.code == 0, result
    documents = list(yaml.safe_load_all(result.out))
    assert len(documents) == 2  # one per zone
    assert "# zone example.com. (octoDNS: example.com.yaml)" in result.out
    com, org = documents
    assert com["_dmarc.mail"] == {
        "type": "TXT",
        "ttl": 600,
        "value": "v=DMARC1\\;p=none\\;rua=mailto:dmarc_report@service.aliyun.com",
    }
    assert com["dmtrace.mail"] == {"type": "CNAME", "ttl": 600, "value": "tracedm.aliyuncs.com."}
    assert com["mail"] == [
        {"type": "MX", "ttl": 600, "value": {"exchange": "mxdm.aliyun.com.", "preference": 10}},
        {"type": "TXT", "ttl": 600, "value": "v=spf1 include:spf1.dm.aliyun.com -all"},
    ]
    assert com["aliyun-cn-hangzhou._domainkey.mail"]["value"].startswith("v=DKIM1\\; k=rsa\\; p=")
    assert [r["type"] for r in org[""]] == ["MX", "TXT"]  # the apex is ''
    # One zone: a single document, what octoDNS's YamlProvider reads from example.com.yaml.
    write(root / "m" / "mail.yaml", domain_list("{name: mail.example.com}"))
    single = run_cli("dns", "m", "--format", "octodns", cwd=root, env=SANDBOX_ENV)
    assert yaml.safe_load(single.out) == com


def test_two_domains_of_one_zone_merge_their_txt_values() -> None:
    def records(name: str, host: str) -> DomainRecords:
        return DomainRecords(
            "1", name, "example.com", "1", (DnsRecord("spf", "TXT", host, f"v=spf1 {name}", 1),)
        )

    tables = dns_records.octodns_zones(
        [
            dns_records.Domain("dm", "a.example.com", records("a.example.com", "shared")),
            dns_records.Domain("dm", "b.example.com", records("b.example.com", "shared")),
        ]
    )
    assert tables["example.com."]["shared"] == {
        "type": "TXT",
        "ttl": 600,
        "values": ["v=spf1 a.example.com", "v=spf1 b.example.com"],
    }


def test_json_rows_with_statuses(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "sandbox.json", dns_published=["mail.example.com"]) as server:
        seed(server, ["mail.example.com"])
        root = _root(tmp_path, server, "mail.example.com")
        rows = run_cli("dns", "m", "--format", "json", cwd=root, env=SANDBOX_ENV).json
    assert [(r["name"], r["type"]) for r in rows] == [
        ("aliyundm.mail", "TXT"),
        ("mail", "TXT"),
        ("aliyun-cn-hangzhou._domainkey.mail", "TXT"),
        ("_dmarc.mail", "TXT"),
        ("mail", "MX"),
        ("dmtrace.mail", "CNAME"),
    ]
    assert {(r["domain"], r["zone"]) for r in rows} == {("mail.example.com", "example.com")}
    assert set(rows[0]) == {"domain", "zone", "name", "type", "value", "status"}


def test_without_a_domain_list_it_says_so(tmp_path: Path, sandbox: Sandbox) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml(sandbox.url))
    result = run_cli("dns", "m", cwd=tmp_path, env=SANDBOX_ENV)
    assert result.code == 3, result
    assert "no MailDomainList in the manifests" in result.err
    unknown = run_cli("dns", "m", "--account", "nope", cwd=tmp_path, env=SANDBOX_ENV)
    assert unknown.code == 3, unknown
    assert "--account 'nope' is not defined" in unknown.err


def test_on_the_embedded_sandbox(tmp_path: Path) -> None:
    write(tmp_path / "m" / "accounts.yaml", accounts_yaml("http://127.0.0.1:9"))
    write(tmp_path / "m" / "mail.yaml", domain_list("{name: mail.example.com}"))
    result = run_cli("dns", "m", "--sandbox", cwd=tmp_path)
    assert result.code == 0, result
    assert result.out == "; mail.example.com (account dm): known after apply\n"
    applied = run_cli("apply", "m", "--sandbox", "--yes", cwd=tmp_path)
    assert applied.code == 0, applied
    after = run_cli("dns", "m", "--sandbox", "--format", "json", cwd=tmp_path)
    assert len(after.json) == 6
