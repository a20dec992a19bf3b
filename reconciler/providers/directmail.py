"""Alibaba Cloud DirectMail (``dm``, API version 2015-11-23, RPC style) over V3 signatures."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from reconciler.addresses import canonical_ip_entry
from reconciler.credentials.refresh import KeyHolder
from reconciler.errors import ProviderError
from reconciler.model import IpEntry
from reconciler.providers.answers import Checker
from reconciler.providers.base import (
    decode_json,
    incomplete_list,
    log,
    retry_after,
)
from reconciler.providers.directmail_lists import ListCalls
from reconciler.providers.limits import SlidingWindow
from reconciler.signing import canonical_query, v3_headers

API_VERSION = "2015-11-23"
PROVIDER = "DirectMail"
RETRYABLE_CODES = ("Throttling", "ServiceUnavailable", "InternalError")
# Codes that say the call was turned away before it was carried out.
REFUSED_CODES = ("Throttling", "ServiceUnavailable")
# A delete of an entry that is already gone: counted as done (SPEC §6).
GONE_CODE = "InvalidIpfilterId.NotFound"
# Where a signature error quotes what the provider signed.
SIGNED_TEXT = re.compile(r"\s*server (?:string to sign|canonical request) is:", re.IGNORECASE)
# Temporary keys the provider holds expired although our clock did not yet.
EXPIRED_CODE = "InvalidSecurityToken.Expired"
# DirectMail's documented per-action quotas: (calls, seconds).
QUOTAS: Mapping[str, tuple[int, float]] = {
    "GetIpfilterList": (60, 60.0),
    "UpdateIpProtection": (60, 60.0),
    # The sending-data calls (SPEC §9): the seed's and the API quota page's figures.
    "SenderStatisticsByTagNameAndBatchID": (50, 60.0),
    "SenderStatisticsDetailByParam": (500, 60.0),
    "GetTrackListByMailFromAndTagName": (60, 60.0),
    # Tags, domains and sender addresses (SPEC §10): those the quota page lists; the others
    # are bounded by the account's limits only.
    "CreateTag": (30, 10.0),
    "CheckDomain": (10, 60.0),
    "QueryMailAddressByParam": (5, 1.0),
    "ModifyMailAddress": (300, 60.0),
    "DeleteMailAddress": (10, 1.0),
}


class DirectMailClient(ListCalls):
    """The IP-protection calls (SPEC §8) here, the tag, domain and sender-address calls of
    SPEC §10 in ``ListCalls``, the sending-data calls (SPEC §9) through ``Telemetry``."""

    provider_name = PROVIDER

    def _configure(self, secrets: Mapping[str, str]) -> None:
        account = self.account
        # Keys obtained at run time are renewed before they expire (``credentials.refresh``);
        # each attempt is signed with the keys current then.
        self._keys = KeyHolder(secrets, self._renewed)
        self._renewed(secrets)
        self._url = account.endpoint.rstrip("/") + "/"
        self._host = urlsplit(account.endpoint).netloc
        self.quotas = {
            action: SlidingWindow(f"{PROVIDER} {action}", limit, window)
            for action, (limit, window) in QUOTAS.items()
        }

    def _renewed(self, keys: Mapping[str, str]) -> None:
        """Scrub the values of ``keys`` too (those of earlier keys stay scrubbed)."""
        fresh = (keys.get("accessKeySecret"), keys.get("securityToken"))
        self.secret_values = (*self.secret_values, *(v for v in fresh if v))

    # -- the five calls ------------------------------------------------------------------

    def get_ip_protection(self) -> bool:
        data = self.call("GetIpProtection")
        value = data.get("IpProtection")
        if not isinstance(value, str) or value not in ("0", "1"):
            check = Checker(PROVIDER, "GetIpProtection", data.get("RequestId"))
            raise check.bad(f'IpProtection is {_show(value)}, not "0" or "1"')
        return value == "1"

    def update_ip_protection(self, enabled: bool) -> None:
        def took_effect() -> dict[str, Any] | None:
            return {} if self.get_ip_protection() is enabled else None

        self.call(
            "UpdateIpProtection", {"IpProtection": "1" if enabled else "0"}, took_effect=took_effect
        )

    def get_ipfilter_list(self) -> tuple[list[IpEntry], int]:
        """Every whitelist entry and the provider's own ``TotalCount``.

        A list shorter than its total is fetched again, up to ``retry.attempts`` reads in all;
        if it stays short, it is returned as it is, with the largest total seen, so that the
        plan refuses to touch it (SPEC §5, rule 4).
        """
        return self.read_until_complete(
            "GetIpfilterList", self._ipfilter_list, lambda _entries, total: total
        )

    def add_ipfilter(self, address: str) -> str:
        wanted = canonical_ip_entry(address)

        def took_effect() -> dict[str, Any] | None:
            ids = [e.id for e in self._complete_list() if e.address == wanted and e.id]
            return {"IpFilterId": ids[0]} if ids else None

        data = self.call("AddIpfilter", {"IpAddress": address}, took_effect=took_effect)
        check = Checker(PROVIDER, "AddIpfilter", data.get("RequestId"))
        return check.text(data.get("IpFilterId"), "IpFilterId")

    def delete_ipfilter(self, ident: str) -> None:
        def took_effect() -> dict[str, Any] | None:
            return None if any(e.id == ident for e in self._complete_list()) else {}

        self.call("DeleteIpfilterByEdmId", {"Id": ident}, took_effect=took_effect)

    def _complete_list(self) -> list[IpEntry]:
        """The whole whitelist, to tell whether a write took effect: a list that stays short of
        its total cannot tell, so that raises."""
        entries, total = self.get_ipfilter_list()
        if len(entries) < total:
            raise incomplete_list(
                PROVIDER, "GetIpfilterList", len(entries), total, self.account.retry.attempts
            )
        return entries

    def _ipfilter_list(self) -> tuple[list[IpEntry], int]:
        data = self.call("GetIpfilterList")
        return ipfilter_listing(data)

    # -- wire ----------------------------------------------------------------------------

    def call_once(self, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST one signed RPC call; return the decoded answer or raise ``ProviderError``.

        The parameters go in the URL query and the body is empty, as the official V3 SDK sends
        them (SPEC §8): the query is sent exactly as it is signed. Each attempt is signed
        afresh: the provider rejects a nonce it has seen.
        """
        keys = self._keys.current()
        try:
            return self._call_with(keys, action, params)
        except ProviderError as exc:
            # Refused, so not carried out: once renewed, the same call may be sent again.
            if exc.code != EXPIRED_CODE or not self._keys.refused(keys):
                raise
        return self._call_with(self._keys.current(), action, params)

    def _call_with(
        self, keys: Mapping[str, str], action: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        headers = v3_headers(
            host=self._host,
            action=action,
            version=API_VERSION,
            body=b"",
            query=params,
            access_key_id=keys["accessKeyId"],
            access_key_secret=keys["accessKeySecret"],
            security_token=keys.get("securityToken"),
        )
        headers["Accept"] = "application/json"
        query = canonical_query(params)
        url = f"{self._url}?{query}" if query else self._url
        response = self.post(action, url, b"", headers)
        data = decode_json(response)
        log.debug(
            "account %s: %s %s -> HTTP %s in %.0f ms (request id %s)",
            self.account.name,
            PROVIDER,
            action,
            response.status_code,
            response.elapsed.total_seconds() * 1000,
            (data or {}).get("RequestId"),
        )
        # An answer carrying a ``Code`` is an error whatever its HTTP status (SPEC §6).
        if response.status_code >= 400 or data is None or data.get("Code") not in (None, ""):
            raise self._answer_error(action, response, data)
        return data

    def _answer_error(
        self, action: str, response: requests.Response, data: dict[str, Any] | None
    ) -> ProviderError:
        """The error an answer of ``action`` means; provider text in it is scrubbed."""
        status = response.status_code
        code = self.scrub(str((data or {}).get("Code") or f"HTTP{status}"))
        message = self.scrub(
            str((data or {}).get("Message") or response.reason or "unexpected answer")
        )
        signed = SIGNED_TEXT.search(message)
        if signed is not None:
            # What the gateway signed (its canonical request) helps debug a signer, not a
            # wrong secret: -v shows it.
            log.debug("account %s: %s %s: %s", self.account.name, PROVIDER, action, message)
            message = message[: signed.start()].rstrip() + " (-v shows what the provider signed)"
        # A server error, or an answer cut short, may come after the call was carried out.
        uncertain = (status >= 500 and not code.startswith(REFUSED_CODES)) or (
            data is None and status < 400
        )
        return ProviderError(
            message,
            provider=PROVIDER,
            action=action,
            code=code,
            request_id=_request_id(data, response, self.scrub),
            http_status=status,
            retryable=status >= 500
            or status == 429
            or code.startswith(RETRYABLE_CODES)
            or uncertain,
            retry_after=retry_after(response.headers),
            uncertain=uncertain,
        )


def _request_id(
    data: dict[str, Any] | None, response: requests.Response, scrub: Callable[[str], str]
) -> str | None:
    value = (data or {}).get("RequestId") or response.headers.get("x-acs-request-id")
    return scrub(value) if isinstance(value, str) and value else None


def ipfilter_listing(data: Mapping[str, Any]) -> tuple[list[IpEntry], int]:
    """The entries of a ``GetIpfilterList`` answer and its ``TotalCount``, checked (SPEC §8).

    The same record listed twice is one record; one ``Id`` with two addresses, or a page cut
    short by the service's ``PageSize`` (the call takes no paging parameters, so the rest
    cannot be read), is inconsistent live state.
    """
    check = Checker(PROVIDER, "GetIpfilterList", data.get("RequestId"))
    container = data.get("data")
    if container is None:
        container = {}
    records = check.records(check.mapping(container, "data").get("ipfilters"), "data.ipfilters")
    entries: list[IpEntry] = []
    by_id: dict[str, IpEntry] = {}
    for index, record in enumerate(records):
        ident = check.text(record.get("Id"), f"ipfilters[{index}].Id").strip()
        entry = _ip_entry(
            ident, check.text(record.get("IpAddress"), f"ipfilters[{index}].IpAddress")
        )
        known = by_id.get(ident)
        if known is None:
            by_id[ident] = entry
            entries.append(entry)
        elif known.address != entry.address:
            raise check.inconsistent(
                f"Id {ident} is listed with two addresses, {known.raw} and {entry.raw}"
            )
    total = check.count(data.get("TotalCount", len(records)), "TotalCount")
    page_size = data.get("PageSize")
    if (
        isinstance(page_size, int | str)
        and str(page_size).isdigit()
        and 0 < int(page_size) <= len(records) < total
    ):
        raise check.inconsistent(
            f"the answer holds {len(records)} of the {total} entries it counts, one page of "
            f"PageSize {page_size}; GetIpfilterList takes no paging parameters, so the other "
            f"{total - len(records)} cannot be read (remove entries in the console to fit one page)"
        )
    # The total counted the repeated records too.
    return entries, total - (len(records) - len(entries))


def _ip_entry(ident: str, raw: str) -> IpEntry:
    try:
        address = canonical_ip_entry(raw)
    except ValueError:
        address = raw.strip()  # keep what the provider holds; the plan can still delete it
    return IpEntry(address=address, id=ident, raw=raw)


def _show(value: Any) -> str:
    if value is None:
        return "missing"
    return repr(value)[:40] if isinstance(value, str) else f"{type(value).__name__} {value!r:.40}"
