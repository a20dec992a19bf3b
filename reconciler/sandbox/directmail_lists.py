"""The emulated DirectMail tag, sending-domain and sender-address calls (SPEC §10).

Shapes as the official SDK (``alibabacloud-dm20151123`` 1.11.1) reads them: ids and statuses
strings, ``UtcCreateTime`` and the paging numbers integers, ``DmarcAuthStatus`` and
``CheckDomain``'s ``DomainStatus`` integers. Listings page by ``PageNo`` (from 1) and
``PageSize`` (default 10, at most 100, or the state's ``list_page_size`` if lower; the answer's
``PageSize`` says what a page holds). ``KeyWord`` matches part of the name.

What the sandbox enforces, and its error codes where the provider documents none (HTTP 400
unless said; ``*.NotFound`` are 404s):

- at most 100 tags (``Tag.LimitExceeded``; SPEC §10 makes more a warning, after the console's
  limit), 5 domains (``Domain.LimitExceeded``), 10 sender addresses
  (``MailAddress.LimitExceeded``);
- duplicates: ``InvalidTagName.Duplicate``, ``InvalidDomainName.Duplicate``,
  ``InvalidMailAddressName.Duplicate`` (the provider's);
- malformed: ``InvalidTagName.Malformed`` (not 1-50 of ``[A-Za-z0-9_]``),
  ``InvalidDomainName.Malformed``, ``InvalidMailAddressName.Malformed``,
  ``InvalidSendtype.Malformed`` (not ``batch``/``trigger``), ``InvalidReplyAddress.Malformed``,
  ``InvalidParameter`` (``PageNo``/``PageSize`` not a whole number from 1);
- a sender address on a domain the account does not hold: ``InvalidMailAddressDomain.NotFound``;
- ``DeleteDomain`` while the domain has sender addresses: ``InvalidDomain.HasMailAddress``;
- an 11th ``DeleteMailAddress`` in a calendar month (UTC+8): ``MailAddress.DeletionLimitExceeded``
  (the count is kept in the state file, ``mail_address_deletions``);
- unknown ids: ``InvalidTag.NotFound``, ``InvalidDomainId.NotFound`` (the provider's),
  ``InvalidMailAddressId.NotFound``.

Domain names and addresses are stored lower-cased. A new domain is not verified
(``DomainStatus`` "1"); ``CheckDomain`` verifies it (``DomainStatus`` 0, every record's status
"0") when its name is among ``dns_published``, and otherwise leaves it unverified with every
record's status "1". ``DescDomain``'s records are derived from the domain's name alone
(``dns.records``), so they are the same on every run.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from reconciler.sandbox import dns
from reconciler.sandbox.directmail_auth import AcsError, invalid, missing
from reconciler.sandbox.records import Record, RecordList
from reconciler.sandbox.state import SandboxState

MAX_TAGS = 100
MAX_DOMAINS = 5
MAX_ADDRESSES = 10
MAX_ADDRESS_DELETIONS = 10  # a month
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
SENDTYPES = ("batch", "trigger")
ACTIONS = frozenset(
    {
        "QueryTagByParam",
        "CreateTag",
        "ModifyTag",
        "DeleteTag",
        "QueryDomainByParam",
        "DescDomain",
        "CreateDomain",
        "DeleteDomain",
        "CheckDomain",
        "QueryMailAddressByParam",
        "CreateMailAddress",
        "ModifyMailAddress",
        "DeleteMailAddress",
    }
)

_TAG_NAME = re.compile(r"[A-Za-z0-9_]{1,50}")
_DOMAIN = dns.DOMAIN_NAME
_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_ZONE = timezone(timedelta(hours=8))  # the provider's local time, as CreateTime shows it


def perform(action: str, params: dict[str, str], state: SandboxState) -> dict[str, Any]:
    """Carry out one call of ``ACTIONS``; its answer body (``RequestId`` added by the caller)."""
    with state.lock:
        lists = state.lists
        match action:
            case "QueryTagByParam":
                return _page(params, state, "tag", lists.tags, "TagName", _tag_row)
            case "CreateTag":
                return _create_tag(params, state)
            case "ModifyTag":
                ident = _required(params, "TagId")
                name = _tag_name(params)  # required even when only the description changes
                tag = _find(lists.tags, ident, "InvalidTag.NotFound")
                if any(r["TagName"] == name and r is not tag for r in lists.tags):
                    raise _duplicate("InvalidTagName.Duplicate", "TagName", name)
                tag["TagName"] = name
                if "TagDescription" in params:
                    tag["TagDescription"] = params["TagDescription"]
                state.persist()
                return {}
            case "DeleteTag":
                _remove(lists.tags, _required(params, "TagId"), "InvalidTag.NotFound", state)
                return {}
            case "QueryDomainByParam":
                return _page(params, state, "domain", lists.domains, "DomainName", _domain_row)
            case "DescDomain":
                domain = _find(lists.domains, _required(params, "DomainId"), _NO_DOMAIN)
                return _describe(domain, state)
            case "CreateDomain":
                return _create_domain(params, state)
            case "DeleteDomain":
                ident = _required(params, "DomainId")
                domain = _find(lists.domains, ident, _NO_DOMAIN)
                if lists.addresses_of(domain["DomainName"]):
                    raise AcsError(
                        "InvalidDomain.HasMailAddress",
                        f"The domain {domain['DomainName']} still has sender addresses; "
                        "delete them first.",
                    )
                _remove(lists.domains, ident, _NO_DOMAIN, state)
                return {}
            case "CheckDomain":
                domain = _find(lists.domains, _required(params, "DomainId"), _NO_DOMAIN)
                published = domain["DomainName"] in lists.dns_published
                domain["DomainStatus"] = "0" if published else "1"
                state.persist()
                return {"DomainStatus": int(domain["DomainStatus"])}
            case "QueryMailAddressByParam":
                return _page(
                    params, state, "mailAddress", lists.addresses, "AccountName", _address_row
                )
            case "CreateMailAddress":
                return _create_address(params, state)
            case "ModifyMailAddress":
                ident = _required(params, "MailAddressId")
                address = _find(lists.addresses, ident, _NO_ADDRESS)
                if "ReplyAddress" in params:
                    address["ReplyAddress"] = _reply_address(params)
                state.persist()
                return {}
            case "DeleteMailAddress":
                ident = _required(params, "MailAddressId")
                _find(lists.addresses, ident, _NO_ADDRESS)
                month = datetime.now(_ZONE).strftime("%Y-%m")
                deleted = lists.deletions.get(month, 0)
                if deleted >= MAX_ADDRESS_DELETIONS:
                    raise AcsError(
                        "MailAddress.DeletionLimitExceeded",
                        f"{MAX_ADDRESS_DELETIONS} sender addresses were deleted this month, "
                        "the limit.",
                    )
                lists.deletions = {month: deleted + 1}  # earlier months no longer count
                _remove(lists.addresses, ident, _NO_ADDRESS, state)
                return {}
    raise AssertionError(f"unrouted action {action}")


_NO_DOMAIN = "InvalidDomainId.NotFound"
_NO_ADDRESS = "InvalidMailAddressId.NotFound"


# -- writes -----------------------------------------------------------------------------------


def _create_tag(params: dict[str, str], state: SandboxState) -> dict[str, Any]:
    tags = state.lists.tags
    name = _tag_name(params)
    if any(r["TagName"] == name for r in tags):
        raise _duplicate("InvalidTagName.Duplicate", "TagName", name)
    _limit(len(tags), MAX_TAGS, "Tag", "tags")
    ident = state.new_id()
    description = params.get("TagDescription", "")
    tags.append({"TagId": ident, "TagName": name, "TagDescription": description})
    state.persist()
    return {"TagId": ident}


def _create_domain(params: dict[str, str], state: SandboxState) -> dict[str, Any]:
    lists = state.lists
    name = _required(params, "DomainName").strip().lower()
    if not dns.is_domain_name(name):
        raise AcsError("InvalidDomainName.Malformed", f'The domain name "{name}" is not valid.')
    if lists.domain_named(name) is not None:
        raise _duplicate("InvalidDomainName.Duplicate", "DomainName", name)
    _limit(len(lists.domains), MAX_DOMAINS, "Domain", "domains")
    ident = state.new_id()
    now = int(time.time())
    lists.domains.append(
        {
            "DomainId": ident,
            "DomainName": name,
            "DomainStatus": "1",
            "CreateTime": _local_time(now),
            "UtcCreateTime": now,
        }
    )
    state.persist()
    return {"DomainId": ident}


def _create_address(params: dict[str, str], state: SandboxState) -> dict[str, Any]:
    lists = state.lists
    address = _required(params, "AccountName").strip().lower()
    local, _, domain = address.partition("@")
    if not _LOCAL.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        raise AcsError("InvalidMailAddressName.Malformed", f'The address "{address}" is not valid.')
    sendtype = _required(params, "Sendtype")
    if sendtype not in SENDTYPES:
        raise AcsError("InvalidSendtype.Malformed", "Sendtype must be batch or trigger.")
    reply = _reply_address(params)
    if any(r["AccountName"] == address for r in lists.addresses):
        raise _duplicate("InvalidMailAddressName.Duplicate", "AccountName", address)
    if lists.domain_named(domain) is None:
        raise AcsError(
            "InvalidMailAddressDomain.NotFound",
            f"The domain {domain} of the address is not a sending domain of this account.",
            status=404,
        )
    _limit(len(lists.addresses), MAX_ADDRESSES, "MailAddress", "sender addresses")
    ident = state.new_id()
    lists.addresses.append(
        {
            "MailAddressId": ident,
            "AccountName": address,
            "Sendtype": sendtype,
            "ReplyAddress": reply,
            "CreateTime": _local_time(int(time.time())),
        }
    )
    state.persist()
    return {"MailAddressId": ident}


def _remove(records: RecordList[str], ident: str, code: str, state: SandboxState) -> None:
    if records.remove(ident) is None:
        raise _not_found(code, ident)
    state.persist()


# -- reads ------------------------------------------------------------------------------------


def _page(
    params: dict[str, str],
    state: SandboxState,
    key: str,
    records: RecordList[str],
    name_field: str,
    row: Any,
) -> dict[str, Any]:
    number = _whole(params, "PageNo", 1)
    asked = _whole(params, "PageSize", DEFAULT_PAGE_SIZE)
    size = min(asked, MAX_PAGE_SIZE, state.lists.page_size or MAX_PAGE_SIZE)
    keyword = params.get("KeyWord", "").lower()
    selected = [r for r in records if keyword in str(r[name_field]).lower()]
    if key == "domain" and params.get("Status", ""):
        selected = [r for r in selected if r["DomainStatus"] == params["Status"]]
    if key == "mailAddress" and params.get("Sendtype", ""):
        selected = [r for r in selected if r["Sendtype"] == params["Sendtype"]]
    start = (number - 1) * size
    return {
        "PageNumber": number,
        "PageSize": size,
        "TotalCount": len(selected),
        "data": {key: [row(r, state) for r in selected[start : start + size]]},
    }


def _tag_row(record: Record, state: SandboxState) -> dict[str, Any]:
    return dict(record)


def _domain_row(record: Record, state: SandboxState) -> dict[str, Any]:
    status = record["DomainStatus"]
    return {
        "DomainId": record["DomainId"],
        "DomainName": record["DomainName"],
        "DomainStatus": status,
        "SpfAuthStatus": status,
        "MxAuthStatus": status,
        "CnameAuthStatus": status,
        "ConfirmStatus": status,
        "IcpStatus": "1",
        "DomainRecord": dns.records(record["DomainName"])["DomainType"],
        "CreateTime": record["CreateTime"],
        "UtcCreateTime": record["UtcCreateTime"],
    }


def _address_row(record: Record, state: SandboxState) -> dict[str, Any]:
    domain = state.lists.domain_named(str(record["AccountName"]).partition("@")[2])
    return {
        **record,
        "ReplyStatus": "1" if record["ReplyAddress"] else "0",
        "AccountStatus": "0",
        "DomainStatus": "1" if domain is None else domain["DomainStatus"],
        "DailyCount": "0",
        "MonthCount": "0",
    }


def _describe(domain: Record, state: SandboxState) -> dict[str, Any]:
    """``DescDomain``: the records from the name, the statuses of the last ``CheckDomain``,
    and what DNS holds now (``Dns*``): the records if published, else nothing."""
    name = domain["DomainName"]
    derived = dns.records(name)
    status = domain["DomainStatus"]
    published = name in state.lists.dns_published
    return {
        "DomainId": domain["DomainId"],
        "DomainName": name,
        "DomainStatus": status,
        "CreateTime": domain["CreateTime"],
        **derived,
        "SpfAuthStatus": status,
        "DkimAuthStatus": status,
        "DmarcAuthStatus": int(status),
        "MxAuthStatus": status,
        "CnameAuthStatus": status,
        "CnameConfirmStatus": status,
        "IcpStatus": "1",
        "DefaultDomain": "0",
        "DkimRsaLength": 1024,
        "DomainVersion": 2,
        "DnsTxt": derived["DomainType"] if published else "",
        "DnsSpf": derived["SpfRecordV2"] if published else "",
        "DnsMx": derived["MxRecord"] if published else "",
        "DnsDmarc": derived["DmarcRecord"] if published else "",
    }


# -- parameters -------------------------------------------------------------------------------


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value.strip():
        raise missing(name)
    return value


def _whole(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name, "")
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise invalid(name)
    return int(value)


def _tag_name(params: dict[str, str]) -> str:
    name = _required(params, "TagName")
    if not _TAG_NAME.fullmatch(name):
        raise AcsError(
            "InvalidTagName.Malformed",
            f'The tag name "{name[:60]}" must be 1 to 50 letters, digits or underscores.',
        )
    return name


def _reply_address(params: dict[str, str]) -> str:
    reply = params.get("ReplyAddress", "").strip()
    local, at, domain = reply.lower().partition("@")
    if reply and (not at or not _LOCAL.fullmatch(local) or not _DOMAIN.fullmatch(domain)):
        raise AcsError("InvalidReplyAddress.Malformed", f'The address "{reply}" is not valid.')
    return reply


def _find(records: RecordList[str], ident: str, code: str) -> Record:
    record = records.get(ident)
    if record is None:
        raise _not_found(code, ident)
    return record


def _not_found(code: str, ident: str) -> AcsError:
    return AcsError(code, f'The specified id "{ident[:60]}" does not exist.', status=404)


def _duplicate(code: str, field: str, value: str) -> AcsError:
    return AcsError(code, f'The specified {field} "{value[:60]}" already exists.')


def _limit(count: int, limit: int, what: str, plural: str) -> None:
    if count >= limit:
        raise AcsError(
            f"{what}.LimitExceeded", f"The account already holds {limit} {plural}, its limit."
        )


def _local_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, _ZONE).strftime("%Y-%m-%dT%H:%MZ")
