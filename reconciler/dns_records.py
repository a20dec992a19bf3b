"""The DNS records of sending domains as text (``reconciler dns``, SPEC §10): zone-file lines
(``bind``), the record table octoDNS reads for a zone (``octodns``), or JSON rows.

Pure functions over ``DomainRecords`` (``DescDomain``'s answer, its hosts relative to the zone,
``@`` for the apex); a domain not created yet is ``None``: its records are known after apply.
The values were checked by the client (DNS names, no control characters), so what is written
here cannot break out of a quoted string or a YAML scalar.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.providers.directmail_entries import DnsRecord, DomainRecords

TTL = 600
MX_PREFERENCE = 10
UNKNOWN = "known after apply"
# A TXT record's character-strings hold at most 255 bytes each (RFC 1035 §3.3).
_TXT_CHUNK = 255


@dataclass(frozen=True)
class Domain:
    """One managed domain of an account: its records, or ``None`` when it is not created yet."""

    account: str
    name: str
    records: DomainRecords | None


def status(record: DnsRecord) -> str:
    if record.status is None:
        return "unknown"
    return "passed" if record.passed else "failed"


def _target(value: str) -> str:
    """A host name a record points to, fully qualified."""
    return value if value.endswith(".") else f"{value}."


def _txt_strings(value: str) -> str:
    data = value.encode("utf-8")
    chunks = [data[i : i + _TXT_CHUNK] for i in range(0, len(data), _TXT_CHUNK)] or [b""]
    quoted = []
    for chunk in chunks:
        text = chunk.decode("utf-8", errors="ignore")
        quoted.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(quoted)


def _rdata(record: DnsRecord) -> str:
    match record.type:
        case "TXT":
            return _txt_strings(record.value)
        case "MX":
            return f"{MX_PREFERENCE} {_target(record.value)}"
        case _:
            return _target(record.value)


def bind(domains: Sequence[Domain]) -> str:
    """Zone-file lines, each domain's under an ``$ORIGIN`` of its zone; statuses as comments."""
    lines: list[str] = []
    for domain in domains:
        if domain.records is None:
            lines.append(f"; {domain.name} (account {domain.account}): {UNKNOWN}")
            continue
        zone = domain.records.zone
        lines.append(f"; {domain.name} (account {domain.account}), zone {zone}")
        lines.append(f"$ORIGIN {zone}.")
        for record in domain.records.records:
            lines.append(
                f"{record.host} {TTL} IN {record.type} {_rdata(record)}"
                f" ; {record.purpose} {status(record)}"
            )
    return "\n".join(lines) + "\n" if lines else ""


def _octodns_value(record: DnsRecord) -> Any:
    match record.type:
        case "TXT":  # octoDNS wants ';' escaped in TXT values
            return record.value.replace("\\", "\\\\").replace(";", "\\;")
        case "MX":
            return {"exchange": _target(record.value), "preference": MX_PREFERENCE}
        case _:
            return _target(record.value)


def octodns_zones(domains: Sequence[Domain]) -> dict[str, dict[str, Any]]:
    """Per zone (``example.com.``): octoDNS's record table, name ('' the apex) to one record
    or a list of records of different types; TXT values of one name merge."""
    zones: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for domain in domains:
        if domain.records is None:
            continue
        names = zones.setdefault(f"{domain.records.zone}.", {})
        for record in domain.records.records:
            name = "" if record.host == "@" else record.host
            types = names.setdefault(name, {})
            entry = types.setdefault(record.type, {"type": record.type, "ttl": TTL, "values": []})
            value = _octodns_value(record)
            if value not in entry["values"]:
                entry["values"].append(value)
    tables: dict[str, dict[str, Any]] = {}
    for zone, names in zones.items():
        table: dict[str, Any] = {}
        for name in sorted(names):
            rows = []
            for kind in sorted(names[name]):
                entry = names[name][kind]
                values = entry.pop("values")
                if kind == "CNAME" or len(values) == 1:
                    entry["value"] = values[0]
                else:
                    entry["values"] = values
                rows.append(entry)
            table[name] = rows[0] if len(rows) == 1 else rows
        tables[zone] = table
    return tables


def octodns(domains: Sequence[Domain]) -> str:
    """The record table octoDNS's YamlProvider reads from ``<zone>.yaml``: one YAML document
    per zone (a single document when every domain is in one zone, as usual), the records'
    statuses and the domains known after apply as comments before it."""
    import yaml

    parts: list[str] = []
    for domain in domains:
        if domain.records is None:
            parts.append(f"# {domain.name} (account {domain.account}): {UNKNOWN}\n")
            continue
        checks = ", ".join(f"{r.purpose} {status(r)}" for r in domain.records.records)
        parts.append(f"# {domain.name} (account {domain.account}): {checks}\n")
    for i, (zone, table) in enumerate(octodns_zones(domains).items()):
        body = yaml.safe_dump(table, sort_keys=False, allow_unicode=True, default_flow_style=False)
        separator = "---\n" if i else ""
        parts.append(f"{separator}# zone {zone} (octoDNS: {zone}yaml)\n{body}")
    return "".join(parts)


def rows(domains: Sequence[Domain]) -> list[dict[str, Any]]:
    """``{domain, zone, name, type, value, status}`` per record (``name`` relative to ``zone``,
    ``@`` its apex); a domain known after apply is
    one row with ``status`` saying so and the rest ``null``."""
    found: list[dict[str, Any]] = []
    for domain in domains:
        if domain.records is None:
            found.append(
                {
                    "domain": domain.name,
                    "zone": None,
                    "name": None,
                    "type": None,
                    "value": None,
                    "status": UNKNOWN,
                }
            )
            continue
        zone = domain.records.zone
        for record in domain.records.records:
            found.append(
                {
                    "domain": domain.name,
                    "zone": zone,
                    "name": record.host,
                    "type": record.type,
                    "value": record.value,
                    "status": status(record),
                }
            )
    return found


def render(fmt: str, domains: Sequence[Domain]) -> str:
    if fmt == "bind":
        return bind(domains)
    if fmt == "octodns":
        return octodns(domains)
    return json.dumps(rows(domains), indent=2, ensure_ascii=False) + "\n"
