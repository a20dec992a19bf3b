"""The entries of DirectMail's tag, domain and sender-address lists (SPEC §10), read from answers.

Each ``*_entry`` function checks one record of a listing as untrusted input (SPEC §6): ids and
names non-empty strings, statuses strings (or integers) of digits, ``UtcCreateTime`` an integer.
A record that does not match is a ``BadAnswer`` naming the call, the field and the request id.
The values are returned as small frozen dataclasses that a kind can hold as live entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.providers.answers import Checker

# What a record's host may hold (relative names, ``@``, the ``_dmarc``/``_domainkey`` labels),
# and a domain name: nothing that could end a zone-file line or start another.
_HOST = re.compile(r"@|[A-Za-z0-9_*-]+(?:\.[A-Za-z0-9_-]+)*")
_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A DomainStatus of "1" means not verified; any other value (0, 2, 3, 4 have been seen) verified.
UNVERIFIED = "1"


@dataclass(frozen=True)
class Tag:
    """A tag (``QueryTagByParam``): ``TagId``, ``TagName``, ``TagDescription``."""

    id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Domain:
    """A sending domain as ``QueryDomainByParam`` lists it; statuses as the provider wrote them."""

    id: str
    name: str
    status: str  # DomainStatus
    spf_status: str = ""  # SpfAuthStatus
    mx_status: str = ""  # MxAuthStatus
    cname_status: str = ""  # CnameAuthStatus
    confirm_status: str = ""  # ConfirmStatus
    record: str = ""  # DomainRecord
    create_time: str = ""  # CreateTime, the provider's local text
    utc_create_time: int | None = None  # UtcCreateTime, epoch seconds

    @property
    def verified(self) -> bool:
        return is_verified(self.status)


@dataclass(frozen=True)
class DnsRecord:
    """One DNS record a domain needs (``DescDomain``).

    ``purpose``: ``ownership``, ``spf``, ``dkim``, ``dmarc``, ``mx`` or ``tracking``. ``host``:
    relative to the zone (``DomainRecords.zone``), ``@`` for the zone's apex. ``status``: 0 the
    provider found it, 1 it did not, ``None`` it did not say.
    """

    purpose: str
    type: str
    host: str
    value: str
    status: int | None

    @property
    def passed(self) -> bool:
        return self.status == 0


@dataclass(frozen=True)
class DomainRecords:
    """What ``DescDomain`` says of a domain: its zone, status and the records it needs."""

    id: str
    name: str
    zone: str  # TlDomainName
    status: str  # DomainStatus
    records: tuple[DnsRecord, ...]

    @property
    def verified(self) -> bool:
        return is_verified(self.status)

    def failing(self) -> tuple[DnsRecord, ...]:
        """The records the provider did not find (status 1)."""
        return tuple(r for r in self.records if r.status is not None and r.status != 0)


@dataclass(frozen=True)
class SenderAddress:
    """A sender address (``QueryMailAddressByParam``)."""

    id: str
    address: str  # AccountName
    sendtype: str  # batch | trigger
    reply_to: str = ""  # ReplyAddress
    reply_status: str = ""
    account_status: str = ""
    domain_status: str = ""
    create_time: str = ""


def is_verified(status: str) -> bool:
    return status.strip() != UNVERIFIED


def tag_entry(check: Checker, record: Mapping[str, Any], where: str) -> Tag:
    return Tag(
        id=check.text(record.get("TagId"), f"{where}.TagId").strip(),
        name=check.text(record.get("TagName"), f"{where}.TagName"),
        description=check.text(
            record.get("TagDescription"), f"{where}.TagDescription", required=False
        ),
    )


def domain_name(check: Checker, value: Any, where: str) -> str:
    """A domain name, lower-cased: labels of letters, digits, ``-`` and ``_``."""
    name = check.text(value, where).strip().lower()
    if not _NAME.fullmatch(name):
        raise check.bad(f"{where} {name[:60]!r} is not a domain name")
    return name


def domain_entry(check: Checker, record: Mapping[str, Any], where: str) -> Domain:
    def status(name: str, required: bool = False) -> str:
        return digits(check, record.get(name), f"{where}.{name}", required=required)

    def text(name: str) -> str:
        return check.text(record.get(name), f"{where}.{name}", required=False)

    return Domain(
        id=check.text(record.get("DomainId"), f"{where}.DomainId").strip(),
        name=domain_name(check, record.get("DomainName"), f"{where}.DomainName"),
        status=status("DomainStatus", required=True),
        spf_status=status("SpfAuthStatus"),
        mx_status=status("MxAuthStatus"),
        cname_status=status("CnameAuthStatus"),
        confirm_status=status("ConfirmStatus"),
        record=text("DomainRecord"),
        create_time=text("CreateTime"),
        utc_create_time=integer(check, record.get("UtcCreateTime"), f"{where}.UtcCreateTime"),
    )


def address_entry(check: Checker, record: Mapping[str, Any], where: str) -> SenderAddress:
    def text(name: str) -> str:
        return check.text(record.get(name), f"{where}.{name}", required=False)

    return SenderAddress(
        id=check.text(record.get("MailAddressId"), f"{where}.MailAddressId").strip(),
        address=check.text(record.get("AccountName"), f"{where}.AccountName").strip().lower(),
        sendtype=check.text(record.get("Sendtype"), f"{where}.Sendtype").strip().lower(),
        reply_to=text("ReplyAddress").strip(),
        reply_status=digits(check, record.get("ReplyStatus"), f"{where}.ReplyStatus"),
        account_status=digits(check, record.get("AccountStatus"), f"{where}.AccountStatus"),
        domain_status=digits(check, record.get("DomainStatus"), f"{where}.DomainStatus"),
        create_time=text("CreateTime"),
    )


def domain_records(check: Checker, data: Mapping[str, Any]) -> DomainRecords:
    """The records of a ``DescDomain`` answer (SPEC §10), hosts relative to ``TlDomainName``."""
    name = domain_name(check, data.get("DomainName"), "DomainName")
    zone = name
    if data.get("TlDomainName") not in (None, ""):
        zone = domain_name(check, data.get("TlDomainName"), "TlDomainName")
    if name != zone and not name.endswith(f".{zone}"):
        raise check.bad(f"TlDomainName {zone!r} is not the zone of DomainName {name!r}")
    status = digits(check, data.get("DomainStatus"), "DomainStatus", required=True)
    apex = "@" if name == zone else name[: -len(zone) - 1]

    def text(field: str) -> str:
        return check.text(data.get(field), field, required=False).strip()

    def auth(field: str) -> int | None:
        value = digits(check, data.get(field), field)
        return int(value) if value else None

    ownership = 1 if status == UNVERIFIED else 0
    wanted = (
        ("ownership", "TXT", text("HostRecord"), text("DomainType"), ownership),
        ("spf", "TXT", apex, text("SpfRecordV2"), auth("SpfAuthStatus")),
        ("dkim", "TXT", text("DkimRR"), text("DkimPublicKey"), auth("DkimAuthStatus")),
        ("dmarc", "TXT", text("DmarcHostRecord"), text("DmarcRecord"), auth("DmarcAuthStatus")),
        ("mx", "MX", apex, text("MxRecord"), auth("MxAuthStatus")),
        ("tracking", "CNAME", text("CnameRecord"), text("TracefRecord"), auth("CnameAuthStatus")),
    )
    records = []
    for purpose, kind, host, value, state in wanted:
        if not value:
            continue  # a record the provider does not ask for
        if not host:
            raise check.bad(f"the {purpose} record {value[:40]!r} has no host")
        if not _HOST.fullmatch(host):
            raise check.bad(f"the {purpose} record's host {host[:60]!r} is not a DNS name")
        if _CONTROL.search(value):
            raise check.bad(f"the {purpose} record's value holds a control character")
        records.append(DnsRecord(purpose, kind, host, value, state))
    return DomainRecords(
        id=check.text(data.get("DomainId"), "DomainId", required=False).strip(),
        name=name,
        zone=zone,
        status=status,
        records=tuple(records),
    )


def digits(check: Checker, value: Any, where: str, *, required: bool = False) -> str:
    """A status: the decimal text of a non-negative number (a string, or an integer)."""
    text = check.text(value, where, required=required).strip()
    if text and not text.isdigit():
        raise check.bad(f"{where} is {text[:40]!r}, not a status number")
    return text


def integer(check: Checker, value: Any, where: str) -> int | None:
    """An integer field (``UtcCreateTime``); absent is ``None``."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise check.bad(f"{where} is {_kind(value)}, not an integer")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return f"{type(value).__name__} {value!r:.40}"
