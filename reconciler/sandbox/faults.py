"""Fault injection: the single place where the sandbox stops behaving like a healthy service.

The HTTP layer calls ``Faults.before`` once a request is known to be a call of some action and
``Faults.after`` once the call has been handled (its write, if any, already took effect). Every
kind of fault belongs in these two hooks, so the provider handlers stay faithful emulations.

Each call gets at most one fault, decided in ``before`` (after the latency): first from the
script for its action (``Faults.script``), else by a draw from the seeded rng. The draws happen
only when a rate is above zero, so ``Faults()`` draws nothing and the same seed with the same
sequence of calls gives the same faults.

The kinds, in each provider's own shapes:

- ``throttling``: DirectMail answers HTTP 400 ``Throttling.User``, the code its gateway uses for
  flow control. SendCloud documents no throttling answer for these calls; the sandbox answers
  HTTP 429 with its usual failure body and ``statusCode`` 429, the status an HTTP front end
  would give. With ``retry_after`` set, DirectMail carries ``x-acs-retry-after`` in
  milliseconds and SendCloud ``Retry-After`` in whole seconds (rounded up); HTTP has no
  ``Retry-After`` below one second, so a shorter hint sends none to SendCloud clients.
- ``5xx``: DirectMail answers HTTP 503 ``ServiceUnavailable``; SendCloud HTTP 500 with
  ``statusCode`` 501, its documented server error. Neither carries a retry hint.
- ``drop-before``: the connection closes without a response; the call is not handled.
- ``drop-after``: the call is handled (a write takes effect and is saved), then the connection
  closes without a response: the write whose outcome the client cannot know.
- ``truncate`` (the list calls of ``LIST_RECORDS``): the answer loses the second half of its
  records (rounded up, so a page of one comes back empty) while ``TotalCount`` / ``count``
  still give the full total. An answer without records is left alone and not counted.

Faults before the call apply whether or not it would authenticate, like an overloaded front
end; ``drop-after`` and ``truncate`` apply to whatever the handler answered.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.model import Provider
from reconciler.sandbox import directmail, sendcloud
from reconciler.sandbox.directmail_auth import AcsError
from reconciler.sandbox.wire import Reply

FAULT_KINDS = ("throttling", "5xx", "drop-before", "drop-after")
SCRIPT_KINDS = (*FAULT_KINDS, "truncate")
# The list calls and where their answers hold the records.
LIST_RECORDS = {
    "GetIpfilterList": ("data", "ipfilters"),
    "QueryTagByParam": ("data", "tag"),
    "QueryDomainByParam": ("data", "domain"),
    "QueryMailAddressByParam": ("data", "mailAddress"),
    "unintercept/list": ("info", "dataList"),
}
LIST_ACTIONS = frozenset(LIST_RECORDS)
KNOWN_ACTIONS = directmail.ACTIONS | sendcloud.ACTIONS

THROTTLING_MESSAGE = "Request was denied due to user flow control."
UNAVAILABLE_MESSAGE = "The request has failed due to a temporary failure of the server."
SENDCLOUD_THROTTLING_MESSAGE = "请求过于频繁,请稍后再试"
SENDCLOUD_SERVER_ERROR = 501


@dataclass
class Faults:
    """What to inject. ``seed`` makes every randomized fault reproducible.

    ``error_rate`` is the probability that a call gets one of ``kinds`` (picked uniformly);
    ``truncate_rate`` the probability that a list answer is truncated; ``actions``, when set,
    limits both to those actions. ``retry_after`` (seconds) adds a retry hint to throttling.
    """

    latency: float = 0.0  # seconds added to every call
    seed: int | None = None
    error_rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    truncate_rate: float = 0.0
    actions: frozenset[str] | None = None
    retry_after: float | None = None
    rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)
    _script: dict[str, deque[str]] = field(init=False, repr=False, compare=False)
    _injected: Counter[str] = field(init=False, repr=False, compare=False)
    # The fault decided in `before` for the call this thread is serving, read by `after`: the
    # server handles each call on one thread, and calls run concurrently.
    _pending: threading.local = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_seconds("latency", self.latency)
        if self.retry_after is not None:
            _check_seconds("retry_after", self.retry_after)
        _check_fraction("error_rate", self.error_rate)
        _check_fraction("truncate_rate", self.truncate_rate)
        given: object = self.kinds  # a str is iterable too, but would spell letters
        if isinstance(given, str):
            raise ValueError(f"kinds must be a tuple of fault kinds, not the string {given!r}")
        self.kinds = tuple(dict.fromkeys(self.kinds))  # a repeated kind must not weigh more
        for kind in self.kinds:
            _check_kind(kind, FAULT_KINDS)
        if self.error_rate > 0 and not self.kinds:
            raise ValueError("kinds must name at least one fault kind when error_rate is above 0")
        if self.actions is not None:
            self.actions = frozenset(self.actions)
            for action in sorted(self.actions):
                _check_action(action)
        self.rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._script = {}
        self._injected = Counter()
        self._pending = threading.local()

    # --- for tests and the banner -------------------------------------------------------------

    def script(self, action: str, *kinds: str) -> None:
        """Make the next calls of ``action`` get these faults, in order, before any random
        draw: one call per kind. Kinds are those of ``FAULT_KINDS`` and ``"truncate"`` (list
        actions only)."""
        _check_action(action)
        for kind in kinds:
            _check_kind(kind, SCRIPT_KINDS)
            if kind == "truncate" and action not in LIST_ACTIONS:
                raise ValueError(
                    f"'truncate' applies to list actions only "
                    f"({', '.join(sorted(LIST_ACTIONS))}), not {action!r}"
                )
        with self._lock:
            self._script.setdefault(action, deque()).extend(kinds)

    @property
    def injected(self) -> Counter[str]:
        """How many faults of each kind were injected so far (a copy)."""
        with self._lock:
            return Counter(self._injected)

    @property
    def active(self) -> bool:
        """Whether anything beyond a healthy service is configured (scripts aside)."""
        return self.latency > 0 or self.error_rate > 0 or self.truncate_rate > 0

    def summary(self) -> str:
        """One line naming the configured faults; empty when none is."""
        parts = []
        if self.latency > 0:
            parts.append(f"latency {self.latency:g} s")
        if self.error_rate > 0:
            parts.append(f"error rate {self.error_rate:g} ({', '.join(self.kinds)})")
        if self.truncate_rate > 0:
            parts.append(f"truncate rate {self.truncate_rate:g}")
        if not parts:
            return ""
        if self.retry_after is not None and self.error_rate > 0 and "throttling" in self.kinds:
            parts.append(f"retry-after {self.retry_after:g} s")
        if self.actions is not None:
            parts.append(f"only {', '.join(sorted(self.actions)) or 'no actions'}")
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        return ", ".join(parts)

    # --- the hooks ----------------------------------------------------------------------------

    def before(self, provider: Provider, action: str) -> Reply | None:
        """Runs before the call is authenticated and handled.

        Returning a Reply answers the call with it and skips the handler: the hook for injected
        errors and throttling. ``None`` lets the call proceed.
        """
        if self.latency > 0:
            time.sleep(self.latency)
        kind = self._decide(action)
        self._pending.kind = kind
        if kind is None or kind in ("drop-after", "truncate"):
            return None  # decided now, carried out by `after`
        self._count(kind)
        match kind:
            case "drop-before":
                return Reply.dropped()
            case "throttling":
                return self._throttled(provider)
            case "5xx":
                return _unavailable(provider)
        raise AssertionError(f"unhandled fault kind {kind}")  # kinds are checked on entry

    def after(self, provider: Provider, action: str, reply: Reply) -> Reply:
        """Runs after the call was handled; returns the reply to send.

        The hook for faults that happen once a write has taken effect (a lost response) and for
        altered answers (a truncated list).
        """
        kind = getattr(self._pending, "kind", None)
        self._pending.kind = None
        if kind == "drop-after":
            self._count(kind)
            return replace(reply, drop=True)
        if kind == "truncate":
            truncated = _truncated(action, reply)
            if truncated is not None:
                self._count(kind)
                return truncated
        return reply

    # --- internals ----------------------------------------------------------------------------

    def _decide(self, action: str) -> str | None:
        with self._lock:
            queue = self._script.get(action)
            if queue:
                return queue.popleft()
            if not self._targets(action):
                return None
            if self.error_rate > 0 and self.rng.random() < self.error_rate:
                return self.rng.choice(self.kinds)
            if (
                self.truncate_rate > 0
                and action in LIST_ACTIONS
                and self.rng.random() < self.truncate_rate
            ):
                return "truncate"
            return None

    def _targets(self, action: str) -> bool:
        return self.actions is None or action in self.actions

    def _count(self, kind: str) -> None:
        with self._lock:
            self._injected[kind] += 1

    def _throttled(self, provider: Provider) -> Reply:
        if provider is Provider.ALIYUN_DM:
            reply = directmail.error_reply(AcsError("Throttling.User", THROTTLING_MESSAGE, 400))
            if self.retry_after is not None:
                reply.headers["x-acs-retry-after"] = str(round(self.retry_after * 1000))
            return reply
        body = {"result": False, "statusCode": 429, "message": SENDCLOUD_THROTTLING_MESSAGE}
        reply = Reply(429, {**body, "info": {}})
        if self.retry_after is not None and self.retry_after >= 1:
            reply.headers["Retry-After"] = str(math.ceil(self.retry_after))
        return reply


def parse_kinds(text: str) -> tuple[str, ...]:
    """``"throttling,5xx"`` as a ``kinds`` tuple; ValueError naming what is wrong."""
    kinds = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not kinds:
        raise ValueError(f"name at least one fault kind: {', '.join(FAULT_KINDS)}")
    for kind in kinds:
        _check_kind(kind, FAULT_KINDS)
    return kinds


def format_injected(counts: Counter[str]) -> str:
    """``"3 (throttling 1, 5xx 2)"`` for the counts ``Faults.injected`` gives."""
    total = sum(counts.values())
    if not total:
        return "0"
    order = {kind: index for index, kind in enumerate(SCRIPT_KINDS)}
    kinds = sorted((kind for kind in counts if counts[kind]), key=lambda k: order.get(k, 99))
    return f"{total} ({', '.join(f'{kind} {counts[kind]}' for kind in kinds)})"


def _unavailable(provider: Provider) -> Reply:
    if provider is Provider.ALIYUN_DM:
        return directmail.error_reply(AcsError("ServiceUnavailable", UNAVAILABLE_MESSAGE, 503))
    return replace(sendcloud.failure(SENDCLOUD_SERVER_ERROR, "服务器错误"), status=500)


def _truncated(action: str, reply: Reply) -> Reply | None:
    """The reply without the second half of its records, or None if it has none to lose."""
    if reply.status != 200:
        return None
    outer, inner = LIST_RECORDS[action]
    container = reply.body.get(outer)
    if not isinstance(container, dict):
        return None
    records: Any = container.get(inner)
    if not isinstance(records, list) or not records:
        return None
    kept = {**container, inner: records[: len(records) // 2]}
    return replace(reply, body={**reply.body, outer: kept})


def _check_seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite, non-negative number of seconds, got {value!r}")


def _check_fraction(name: str, value: float) -> None:
    if not 0 <= value <= 1:  # also false for NaN
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {value!r}")


def _check_kind(kind: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if kind == "truncate" and kind not in allowed:
        raise ValueError(
            "'truncate' is not an error kind: truncated lists have their own rate "
            "(truncate_rate, --truncate-rate)"
        )
    if kind not in allowed:
        raise ValueError(f"unknown fault kind {kind!r}; known kinds: {', '.join(allowed)}")


def _check_action(action: str) -> None:
    if action not in KNOWN_ACTIONS:
        known = ", ".join(sorted(KNOWN_ACTIONS))
        raise ValueError(f"unknown action {action!r}; known actions: {known}")
