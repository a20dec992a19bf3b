"""Saved plans: ``plan --out FILE`` writes one, ``apply --plan FILE`` loads, checks and runs it.

A saved plan is the JSON plan document (``render.plan_document``) plus what apply needs without
the manifests (``schemas/plan.schema.json``): each account's definition with credential
*references*, the list policies, a digest of every manifest read, and the live state the plan saw
in a compact keyed form with a digest per account (``staleness``), the desired state and the
live state as read (``desired``, ``observed``: what the plan is recomputed from), and a digest
of the whole file, with a MAC under ``RECONCILER_PLAN_KEY`` when it is set (``plantrust``).

Loading trusts nothing it can check offline: the seal, the age, and that the changes, summary
and refusals are what ``diff`` makes of the file's own inputs. Only then does apply read live
state again and compare it entry by entry with what the plan saw: any difference makes the plan
stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from reconciler import __version__, files, strictjson
from reconciler.dataclass_json import ShapeError, from_json, to_json
from reconciler.errors import InputError
from reconciler.jsonschemas import validator
from reconciler.kinds import kind_of, kinds, list_kinds
from reconciler.manifests.checks import endpoint_problem
from reconciler.model import (
    Account,
    AccountDesired,
    AccountLive,
    DesiredState,
    IpEntry,
    ListPolicy,
)
from reconciler.output import render
from reconciler.plan import Action, Change, Plan, Refusal, Resource, Value
from reconciler.safety import shortfalls
from reconciler.savedplan import plantrust, verdict
from reconciler.savedplan.origin import file_digest
from reconciler.savedplan.staleness import (
    StaleEntry,
    differences,
    digest,
    policies,
    seen_keys,
    snapshot,
)

# -- building a saved plan ------------------------------------------------------------------


def saved_document(
    plan: Plan,
    state: DesiredState,
    live: Mapping[str, AccountLive],
    *,
    sandbox: bool,
    now: datetime | None = None,
    key: bytes | None = None,
) -> dict[str, Any]:
    """The saved form of ``plan``, made from ``state`` (the manifests: account definitions as
    written, not as a sandbox rewrote them) and ``live`` (what the plan was diffed against),
    sealed with a digest and, given ``key``, a MAC."""
    document = render.plan_document(plan)
    wants = [state.accounts[account.name] for account in plan.accounts]
    # What staleness compares at apply time: each account's policies and the live entries
    # the plan depends on.
    kept = {want.account.name: policies(want) for want in wants}
    seen = {
        want.account.name: snapshot(
            want, live.get(want.account.name, AccountLive()), seen_keys(want)
        )
        for want in wants
    }
    document["accounts"] = [
        {**entry, **to_json(want.account)}
        for entry, want in zip(document["accounts"], wants, strict=True)
    ]
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    document["created_at"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    document["reconciler_version"] = __version__
    document["sandbox"] = sandbox
    document["manifests"] = {path: file_digest(path) for path in state.files}
    document["policies"] = kept
    document["live"] = {name: {"digest": digest(part), **part} for name, part in seen.items()}
    document["desired"] = {want.account.name: _desired(want) for want in wants}
    document["observed"] = {
        want.account.name: to_json(live.get(want.account.name, AccountLive())) for want in wants
    }
    plantrust.seal(document, key)
    return document


def _desired(want: AccountDesired) -> dict[str, Any]:
    # Generic, so that what the manifests gain later travels too; the account is in `accounts`.
    data: dict[str, Any] = to_json(want)
    del data["account"]
    return data


# -- loading a saved plan -------------------------------------------------------------------


@dataclass
class SavedPlan:
    """A saved plan as apply needs it."""

    path: Path
    plan: Plan
    accounts: list[AccountDesired]  # what to read again: the account and what it manages
    seen: dict[str, dict[str, Any]]  # account name -> live state seen (``snapshot`` form)
    sandbox: bool
    created_at: str
    document: Mapping[str, Any] = field(default_factory=dict)  # as read


def load(path: Path) -> SavedPlan:
    """Read, validate and check the shape of ``path``; every way it can be malformed is an
    ``InputError`` naming the file (exit 3). ``check`` then decides whether it may be trusted."""
    if not path.exists():
        raise InputError(f"plan file {path} does not exist")
    data = files.read_bytes(path, files.PLAN_LIMIT, "plan file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a saved plan (not UTF-8 text)") from None
    try:
        document = strictjson.loads(text)
    except strictjson.BadJSON as exc:
        raise InputError(
            f"{exc.at(path)}: not a saved plan: invalid JSON ({exc.message}); "
            "was it truncated or edited? Save it again with plan --out"
        ) from None
    if not isinstance(document, dict):
        raise InputError(f"{path}: not a saved plan (a JSON object was expected)")
    version = document.get("format_version")
    if type(version) is not int or version != render.FORMAT_VERSION:
        raise verdict.PlanInvalid(
            verdict.FORMAT_VERSION,
            f"{path}: plan format_version {version!r} is not supported: reconciler "
            f"{__version__} reads format_version {render.FORMAT_VERSION}; make the plan again",
        )
    if "live" not in document:
        raise InputError(
            f"{path}: this plan has no saved live state (plan --format json prints one for "
            "reading only); save a plan to apply with plan --out FILE"
        )
    # One error per place: the schema's conditional parts can say the same thing twice.
    errors: dict[str, Any] = {}
    for error in validator("plan").iter_errors(document):
        errors.setdefault(_json_path(error.absolute_path), error)
    if errors:
        lines = [_schema_error(where, e) for where, e in sorted(errors.items())]
        shown = "\n  ".join(lines[:5])
        more = f"\n  ... and {len(lines) - 5} more" if len(lines) > 5 else ""
        raise InputError(
            f"{path}: not a valid saved plan (schemas/plan.schema.json):\n  {shown}{more}"
        )
    try:
        saved = _build(path, document)
        _verify(saved, document)
    except ShapeError as exc:
        raise _malformed(path, exc) from None
    saved.document = document
    return saved


def _malformed(path: Path, exc: ShapeError) -> InputError:
    return verdict.PlanInvalid(
        verdict.INCONSISTENT,
        f"{path}: not a valid saved plan: {exc} (was it edited? save it again with plan --out)",
    )


def check(
    saved: SavedPlan, *, key: bytes | None, max_age: timedelta, allow_unsigned: bool = False
) -> list[str]:
    """Refuse (``PlanRefused``, exit 4) a loaded plan whose seal does not match (its digest;
    its MAC when ``key`` is given; a MAC without ``key`` unless ``allow_unsigned``), that is
    older than ``max_age``, or whose changes, summary or refusals are not what its own inputs
    make. Offline: nothing is resolved or sent. Returns warnings to show."""
    name = str(saved.path)
    warning = plantrust.check_seal(saved.document, key, name, allow_unsigned=allow_unsigned)
    try:
        plantrust.check_age(saved.created_at, max_age, name)
    except ValueError:  # the schema's pattern admits month 13
        raise InputError(f"{name}: not a valid saved plan: created_at is not a date") from None
    try:
        problems = plantrust.recompute(saved.document, saved.plan.accounts)
    except ShapeError as exc:
        raise _malformed(saved.path, exc) from None
    if problems:
        raise verdict.PlanRefused(
            verdict.INCONSISTENT,
            f"saved plan {name} is not what its own desired and live state make: "
            + "; ".join(problems)
            + "; it was edited after plan --out saved it; nothing was read or applied",
        )
    return [] if warning is None else [warning]


def _schema_error(where: str, error: Any) -> str:
    message = str(error.message)
    # jsonschema quotes the offending value, which can be a whole list: keep lines short.
    return f"{where}: {message if len(message) <= 160 else message[:157] + '...'}"


def _json_path(parts: Iterable[Any]) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return text.lstrip(".") or "(top level)"


def _build(path: Path, document: Mapping[str, Any]) -> SavedPlan:
    accounts: list[Account] = []
    for i, entry in enumerate(document["accounts"]):
        account = from_json(Account, entry, f"accounts[{i}]")
        problem = endpoint_problem(account.endpoint)
        if problem is not None:
            raise ShapeError(f"accounts[{i}].endpoint", problem[0])
        accounts.append(account)
    names = [a.name for a in accounts]
    for part in ("live", "policies"):
        if sorted(document[part]) != sorted(names) or len(set(names)) != len(names):
            raise ShapeError(part, "must hold each account of `accounts` exactly once")
    seen: dict[str, dict[str, Any]] = {}
    wants: list[AccountDesired] = []
    for account in accounts:
        section = dict(document["live"][account.name])
        if section.pop("digest") != digest(section):
            raise ShapeError(f"live.{account.name}", "does not match its digest")
        seen[account.name] = section
        wants.append(_managed(account, section, document["policies"][account.name]))
    plan = Plan(
        accounts=accounts,
        changes=[_change(c, f"changes[{i}]") for i, c in enumerate(document["changes"])],
        refusals=[_refusal(r, f"refusals[{i}]") for i, r in enumerate(document["refusals"])],
    )
    plan.guards = _guards(document, names)  # guard hook (SPEC §11)
    return SavedPlan(path, plan, wants, seen, document["sandbox"], document["created_at"])


def _guards(document: Mapping[str, Any], names: list[str]) -> list[Any]:
    """The sealed guards of a saved plan (``guard.spec.Guard``), each on one of its accounts."""
    from reconciler.guard.spec import Guard

    guards = []
    for i, data in enumerate(document.get("guards", [])):
        try:
            guard = Guard.from_dict(data)
        except ValueError as exc:
            raise ShapeError(f"guards[{i}].watch", str(exc)) from None
        if guard.account not in names:
            raise ShapeError(f"guards[{i}].account", "must name an account of `accounts`")
        guards.append(guard)
    return guards


def saved_wants(saved: SavedPlan) -> list[AccountDesired]:
    """The accounts of a saved plan as a roll-back needs them: with the declared senders of
    its desired state (the lock-out rule judges a roll-back too)."""
    wants = []
    desired = saved.document.get("desired", {})
    for want in saved.accounts:
        section = desired.get(want.account.name, {}) if isinstance(desired, dict) else {}
        senders = section.get("senders", []) if isinstance(section, dict) else []
        entries = tuple(
            IpEntry(str(s["address"])) for s in senders if isinstance(s, dict) and "address" in s
        )
        wants.append(replace(want, senders=entries))
    return wants


def _managed(
    account: Account, seen: Mapping[str, Any], policies: Mapping[str, Any]
) -> AccountDesired:
    """What to read again for ``account``: the resources the plan saw. The values here only
    mark a resource as managed (``None`` means not); providers read what is marked."""
    where = f"policies.{account.name}"
    want = AccountDesired(account)
    expected = {
        kind.resource.value
        for kind in list_kinds()
        if kind.resource.value in seen and kind.needs_policy(seen, policies)
    }
    if set(policies) != expected:
        raise ShapeError(
            where, "must hold a policy for each list of the live state, and only those"
        )
    for kind in kinds():
        resource = kind.resource.value
        if resource in seen:
            policy = None
            if resource in policies:
                policy = from_json(ListPolicy, policies[resource], f"{where}.{resource}")
            kind.restore(want, seen, policy)
    return want


def change_from_dict(data: Mapping[str, Any]) -> Change:
    """A ``Change`` from its JSON form (``Change.as_dict``), already schema-valid."""
    resource = Resource(data["resource"])
    return Change(
        account=data["account"],
        resource=resource,
        action=Action(data["action"]),
        key=data["key"],
        before=value_from_json(resource, data["before"]),
        after=value_from_json(resource, data["after"]),
    )


def value_from_json(resource: Resource, data: Mapping[str, Any] | None) -> Value:
    """A change's ``before`` or ``after`` from its JSON form."""
    if data is None:
        return None
    return kind_of(resource).value_from_json(data)


def _change(data: Mapping[str, Any], where: str) -> Change:
    try:
        return change_from_dict(data)
    except (KeyError, ValueError) as exc:  # the schema admits what this cannot read
        raise ShapeError(where, f"unreadable change ({exc})") from None


def _refusal(data: Mapping[str, Any], where: str) -> Refusal:
    # A refusal that does not say it may be overridden is not: --force must not gain power
    # from a key left out.
    refusal: Refusal = from_json(Refusal, {"overridable": False, **data}, where)
    return refusal


def _verify(saved: SavedPlan, document: Mapping[str, Any]) -> None:
    """Check that the changes are what a plan could make from the live state it saw, so that a
    hand-edited change cannot slip through as "reviewed"."""
    if document["summary"] != saved.plan.summary:
        raise ShapeError("summary", "does not count the changes")
    providers = {a.name: a.provider for a in saved.plan.accounts}
    for i, change in enumerate(saved.plan.changes):
        where = f"changes[{i}]"
        if change.account not in providers:
            raise ShapeError(where, f"account {change.account!r} is not in `accounts`")
        if providers[change.account] is not kind_of(change.resource).provider:
            raise ShapeError(where, f"{change.resource.value} is not a resource of its provider")
        seen = saved.seen[change.account]
        if change.resource.value not in seen:
            raise ShapeError(where, f"the plan saw no live {change.resource.value}")
        problem = _inconsistency(change, seen[change.resource.value])
        if problem:
            raise ShapeError(where, problem)


def _inconsistency(change: Change, seen: Any) -> str | None:
    return kind_of(change.resource).inconsistency(change, seen)


# -- what changed since ---------------------------------------------------------------------


def stale_entries(saved: SavedPlan, live: Mapping[str, AccountLive]) -> list[StaleEntry]:
    """Every entry the plan saw, or would see now, that differs in ``live``; none: not stale."""
    stale: list[StaleEntry] = []
    by_account = saved.plan.by_account()
    for want in saved.accounts:
        name = want.account.name
        seen = saved.seen[name]
        changes = by_account.get(name, [])
        planned = {(c.resource.value, c.key): c.action.value for c in changes}
        # Entries the plan saw or changes stay in view whatever the policies say.
        keep = {
            r: set(seen.get(r, ())) | {k for (res, k) in planned if res == r}
            for r in (kind.resource.value for kind in list_kinds())
        }
        now = snapshot(want, live.get(name, AccountLive()), keep)
        stale.extend(differences(name, seen, now, planned))
    return stale


def incomplete(saved: SavedPlan, live: Mapping[str, AccountLive]) -> list[Refusal]:
    """Safety rule 4 on the live state read again: a list returned short is never written."""
    return [
        shortfall.refusal(want.account.name, "nothing was applied")
        for want in saved.accounts
        for shortfall in shortfalls(live.get(want.account.name, AccountLive()))
    ]
