"""Why a saved plan may be applied: its seal, its age, and its agreement with its own inputs.

A saved plan travels through CI artifacts and reviewers' hands (SPEC §6), so nothing in it is
taken on trust that can be checked without the network:

- the *digest* (SHA-256 of the canonical file: sorted keys, no white space, without ``digest``
  and ``mac``) covers everything, the accounts' endpoints and credential references included;
- the *MAC* (HMAC-SHA256 of the same bytes under ``RECONCILER_PLAN_KEY``) is added when the key
  is set, and required when it is set at apply time: only holders of the key can make a plan;
  a MAC that cannot be checked (no key at apply time) refuses the plan unless the user allows
  it (``--allow-unsigned``): the environment that signs plans has lost its key;
- the age (``created_at``) is bounded by ``--max-age``;
- the changes, summary and refusals must be what ``plan.diff`` makes of the file's own desired
  state, policies and recorded live state (``recompute``).

Each failure is a ``PlanRefused`` (exit 4) naming its rule (``verdict``), raised before any
credential is resolved or any request is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from reconciler.dataclass_json import ShapeError, from_json
from reconciler.durations import describe
from reconciler.kinds import kinds
from reconciler.model import Account, AccountDesired, AccountLive
from reconciler.plan import diff
from reconciler.savedplan import verdict
from reconciler.savedplan.staleness import policies, seen_keys, snapshot
from reconciler.savedplan.verdict import PlanRefused

KEY_ENV = "RECONCILER_PLAN_KEY"
DEFAULT_MAX_AGE = "7d"
SEALS = ("digest", "mac")
MAC_PREFIX = "hmac-sha256:"
# A plan made a little "in the future" is clock skew between the CI runners, not an edit.
SKEW = timedelta(minutes=5)


def plan_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The key of ``RECONCILER_PLAN_KEY``; ``None`` when unset or empty (a CI secret that is
    not defined expands to an empty string)."""
    value = (os.environ if environ is None else environ).get(KEY_ENV, "")
    return value.encode("utf-8") if value else None


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes the digest and the MAC cover: the document without them, as canonical JSON."""
    body = {k: v for k, v in document.items() if k not in SEALS}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def _mac(key: bytes, body: bytes) -> str:
    return MAC_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def seal(document: dict[str, Any], key: bytes | None) -> None:
    """Add ``digest`` (always) and ``mac`` (with a key) to a saved plan document."""
    body = canonical(document)
    document.pop("mac", None)
    document["digest"] = "sha256:" + hashlib.sha256(body).hexdigest()
    if key is not None:
        document["mac"] = _mac(key, body)


def check_seal(
    document: Mapping[str, Any], key: bytes | None, name: str, *, allow_unsigned: bool = False
) -> str | None:
    """Refuse a document whose digest or MAC does not match, or whose MAC cannot be checked
    (no ``key``) unless ``allow_unsigned``; returns a warning, if any."""
    body = canonical(document)
    if document.get("digest") != "sha256:" + hashlib.sha256(body).hexdigest():
        raise PlanRefused(
            verdict.DIGEST,
            f"saved plan {name} does not match its digest: it was edited after plan --out saved "
            "it; nothing was read or applied; make a new plan with plan --out and review it",
        )
    mac = document.get("mac")
    if key is None:
        if mac is None:
            return None
        if not allow_unsigned:
            # The plan was signed, so the place it comes from has a key: an apply without it
            # is a misconfigured environment, and checking nothing would let any file through.
            raise PlanRefused(
                verdict.MAC_UNCHECKED,
                f"saved plan {name} carries a MAC but {KEY_ENV} is not set, so the MAC cannot "
                f"be checked: nothing was read or applied; set {KEY_ENV} to the key the plan "
                "was made with, or pass --allow-unsigned to apply it without checking the MAC",
            )
        return (
            f"{name} carries a MAC but {KEY_ENV} is not set: the MAC was not checked "
            "(--allow-unsigned), so anyone who could write the file could have made it"
        )
    if not isinstance(mac, str):
        raise PlanRefused(
            verdict.UNSIGNED,
            f"saved plan {name} has no MAC although {KEY_ENV} is set: it was not made by "
            f"plan --out with the key; nothing was read or applied",
        )
    if not hmac.compare_digest(mac.encode("utf-8"), _mac(key, body).encode("utf-8")):
        raise PlanRefused(
            verdict.MAC,
            f"saved plan {name}: its MAC is wrong: it was edited, or made with another "
            f"{KEY_ENV}; nothing was read or applied",
        )
    return None


def check_age(created_at: str, max_age: timedelta, name: str, now: datetime | None = None) -> None:
    """Refuse a plan made longer than ``max_age`` ago, or (beyond clock skew) in the future."""
    made = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    if made - now > SKEW:
        raise PlanRefused(
            verdict.EXPIRED,
            f"saved plan {name} says it was made at {created_at}, in the future: "
            "nothing was read or applied; make a new plan with plan --out",
        )
    if now - made > max_age:
        raise PlanRefused(
            verdict.EXPIRED,
            f"saved plan {name} was made at {created_at}, more than {describe(max_age)} ago "
            "(--max-age): nothing was read or applied; make a new plan with plan --out",
        )


def recompute(document: Mapping[str, Any], accounts: Sequence[Account]) -> list[str]:
    """Make the plan again from the document's desired state, policies and recorded live
    state; the parts of the document that differ from it (none: it is what it says)."""
    names = [account.name for account in accounts]
    for part in ("desired", "observed"):
        if sorted(document[part]) != sorted(names):
            raise ShapeError(part, "must hold each account of `accounts` exactly once")
    wants: list[AccountDesired] = []
    observed: dict[str, AccountLive] = {}
    problems: list[str] = []
    for i, account in enumerate(accounts):
        name = account.name
        where = f"desired.{name}"
        data = document["desired"][name]
        if not isinstance(data, dict) or "account" in data:
            raise ShapeError(where, "an object without `account` was expected")
        want = from_json(AccountDesired, {**data, "account": document["accounts"][i]}, where)
        wants.append(want)
        have = from_json(AccountLive, document["observed"][name], f"observed.{name}")
        for kind in kinds():
            kind.decode(want, have)
        observed[name] = have
        if document["policies"][name] != policies(want):
            problems.append(f"policies.{name} differ from the desired state's")
        seen = {k: v for k, v in document["live"][name].items() if k != "digest"}
        if seen != snapshot(want, have, seen_keys(want)):
            problems.append(f"live.{name} differs from the live state recorded")
    again = diff(wants, observed)
    for part, recomputed in (
        ("changes", [c.as_dict() for c in again.changes]),
        ("summary", again.summary),
        ("refusals", [r.as_dict() for r in again.refusals]),
    ):
        if document[part] != recomputed:
            verb = "differs" if part == "summary" else "differ"
            problems.append(f"its {part} {verb} ({_difference(document[part], recomputed)})")
    return problems


def _difference(saved: Any, recomputed: Any) -> str:
    if isinstance(saved, list) and isinstance(recomputed, list):
        if len(saved) != len(recomputed):
            return f"{len(saved)} in the file, {len(recomputed)} recomputed"
        first = next(i for i, (a, b) in enumerate(zip(saved, recomputed, strict=True)) if a != b)
        return f"the first at [{first}]"
    return f"{_short(saved)} in the file, {_short(recomputed)} recomputed"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."
