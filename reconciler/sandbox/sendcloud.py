"""The emulated SendCloud ``unintercept`` API (apiv2): list, add and delete.

Status codes where SendCloud documents none for these calls (its documented ones are 40002
bad ``start``, 40004 bad ``limit``, 40005 authentication failed, 40011 "email cannot be empty"
and 40012 invalid email):

- neither ``domainName`` nor ``email`` given to add or delete: 40011;
- a ``domainName`` that is not a host name with at least one dot: 41001;
- a ``type`` that is not a ``;``-separated list of 1, 2, 4 and 8: 41002.

Adding an entry whose key already exists (same apiUser and the same email or domain, compared
case-insensitively) does not duplicate it: the existing record takes the new types and keeps its
place and creation time. ``list`` with both ``email`` and ``domainName`` matches nothing, since
a record holds only one of them; an empty ``apiUserName`` filter matches every apiUser.

What ``list``'s ``count`` means is written nowhere (every documented example has it equal to
the rows shown): ``count_means="total"`` (the default) answers the number of matching records,
``"page"`` the rows of this page. A deletion that matches nothing succeeds with ``count: 0``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from reconciler.sandbox.credentials import API_KEY, API_USER
from reconciler.sandbox.records import Record
from reconciler.sandbox.state import SandboxState, UninterceptKey, api_user_of
from reconciler.sandbox.wire import Reply

PREFIX = "/apiv2/"
ACTIONS = frozenset({"unintercept/list", "unintercept/add", "unintercept/delete"})
MAX_LIMIT = 100
COUNT_MEANINGS = ("total", "page")
TYPES = (1, 2, 4, 8)
SUCCESS_MESSAGE = "请求成功"
# SendCloud reports times in UTC+8.
SERVICE_TIMEZONE = timezone(timedelta(hours=8))

INVALID_START = 40002
INVALID_LIMIT = 40004
AUTH_FAILED = 40005
TARGET_MISSING = 40011
INVALID_EMAIL = 40012
INVALID_DOMAIN = 41001
INVALID_TYPE = 41002

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+")


class SendCloudError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message


def action_of(path: str) -> str | None:
    """``unintercept/list`` for ``/apiv2/unintercept/list``; None for any other path."""
    if not path.startswith(PREFIX):
        return None
    action = path[len(PREFIX) :].rstrip("/")
    return action if action in ACTIONS else None


def failure(status_code: int, message: str) -> Reply:
    """SendCloud's failure shape (HTTP 200); also what injected faults should answer with."""
    body = {"result": False, "statusCode": status_code, "message": message, "info": {}}
    return Reply(200, body)


def success(info: dict[str, Any]) -> Reply:
    return Reply(200, {"result": True, "statusCode": 200, "message": SUCCESS_MESSAGE, "info": info})


def handle(
    action: str, params: Mapping[str, str], state: SandboxState, count_means: str = "total"
) -> Reply:
    """Authenticate and carry out one unintercept call."""
    try:
        _authenticate(params)
        match action:
            case "unintercept/list":
                return success(_list(params, state, count_means))
            case "unintercept/add":
                return success(_add(params, state))
            case "unintercept/delete":
                return success(_delete(params, state))
        raise AssertionError(f"unrouted action {action}")  # action_of admits only ACTIONS
    except SendCloudError as error:
        return failure(error.status_code, error.message)


def _authenticate(params: Mapping[str, str]) -> None:
    user_ok = hmac.compare_digest(params.get("apiUser", "").encode(), API_USER.encode())
    key_ok = hmac.compare_digest(params.get("apiKey", "").encode(), API_KEY.encode())
    if not (user_ok and key_ok):
        raise SendCloudError(AUTH_FAILED, "认证失败")


def _list(params: Mapping[str, str], state: SandboxState, count_means: str) -> dict[str, Any]:
    start = _integer(params, "start", 0, INVALID_START, minimum=0)
    limit = _integer(params, "limit", MAX_LIMIT, INVALID_LIMIT, minimum=1, maximum=MAX_LIMIT)
    api_user = params.get("apiUserName", "").lower()
    email = params.get("email", "")
    domain = params.get("domainName", "")
    with state.lock:
        if not (email or domain or api_user):
            # The common case, and the one listed 100,000 entries at a time: a slice.
            page = state.unintercepts.page(start, limit)
            count = len(state.unintercepts)
        elif not (email or domain):
            # Only by apiUser: a slice of that user's own list.
            page, count = state.user_page(api_user, start, limit)
        else:
            matches = state.unintercept_view(
                (api_user, email, domain), lambda: _filtered(state, api_user, email, domain)
            )
            page = matches[start : start + limit]
            count = len(matches)
        if count_means == "page":
            count = len(page)
        return {"dataList": [_public(record) for record in page], "count": count}


def _filtered(state: SandboxState, api_user: str, email: str, domain: str) -> list[Record]:
    if email and domain:
        return []
    if email or domain:
        target, value = ("email", email) if email else ("domain", domain)
        found = (state.unintercepts.get(key) for key in state.keys_for_target(target, value))
        records = [record for record in found if record is not None]
    else:
        records = list(state.unintercepts)
    if api_user:
        records = [r for r in records if api_user_of(r["apiUserName"]).lower() == api_user]
    return records


def _add(params: Mapping[str, str], state: SandboxState) -> dict[str, Any]:
    api_user = api_user_of(params.get("apiUserName", ""))
    targets = _targets(params)
    types = _types(params.get("type", ""))
    created = datetime.now(SERVICE_TIMEZONE).strftime("%Y-%m-%d %H:%M:%S")
    stored = []
    with state.lock:
        for target, value in targets:
            record = {
                "apiUserName": api_user,
                "domain": value if target == "domain" else "",
                "email": value if target == "email" else "",
                "type": list(types),
                "createTime": created,
            }
            stored.append(_public(state.put_unintercept(record)))
    return {"dataList": stored}


def _delete(params: Mapping[str, str], state: SandboxState) -> dict[str, Any]:
    api_user = api_user_of(params.get("apiUserName", "")).lower()
    count = 0
    with state.lock:
        for target, value in _targets(params):
            key: UninterceptKey = (api_user, target, value.lower())
            count += state.remove_unintercept(key)
    return {"count": count}


def _targets(params: Mapping[str, str]) -> list[tuple[str, str]]:
    """The (target, value) pairs a call names, domain first, each validated."""
    domain = params.get("domainName", "")
    email = params.get("email", "")
    if not (domain or email):
        raise SendCloudError(TARGET_MISSING, "domainName和email不能同时为空")
    if domain and not _DOMAIN.fullmatch(domain):
        raise SendCloudError(INVALID_DOMAIN, "domainName格式错误")
    if email and not _EMAIL.fullmatch(email):
        raise SendCloudError(INVALID_EMAIL, "email格式错误")
    pairs = [("domain", domain)] if domain else []
    return [*pairs, ("email", email)] if email else pairs


def _types(text: str) -> list[int]:
    if not text:
        return list(TYPES)
    try:
        values = {int(part) for part in text.split(";") if part.strip()}
    except ValueError:
        values = set()
    if not values or not values <= set(TYPES):
        raise SendCloudError(INVALID_TYPE, "type格式错误,合法取值为1、2、4、8,用;分隔")
    return sorted(values)


def _integer(
    params: Mapping[str, str],
    name: str,
    default: int,
    code: int,
    *,
    minimum: int,
    maximum: int | None = None,
) -> int:
    text = params.get(name, "")
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SendCloudError(code, f"{name}格式错误") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise SendCloudError(code, f"{name}格式错误")
    return value


def _public(record: Record) -> Record:
    """A copy for a response, so later edits of the stored record cannot leak into it."""
    return {**record, "type": list(record["type"])}
