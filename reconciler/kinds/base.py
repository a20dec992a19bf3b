"""What a kind is (``Kind``) and what the kinds share: the base class whose hooks the engine
calls, what a kind's ``load`` is given (``Loader``), a streamed export (``StreamedExport``),
the failure groups, the keyed diff of a list and how a changed entry is described.

A kind module imports this module and the layers below it (model, errors, document, refusals,
export_document, ``kinds.policy``, the provider clients), never the registry
(``reconciler.kinds``), which imports the kind modules and lists them, nor the engine or the
renderers: a kind says how an entry reads in the Markdown plan in parts (its own words,
``Code`` and ``Text`` values) that ``output.markdown`` escapes.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from reconciler.errors import Position, Problem
from reconciler.model import (
    AccountDesired,
    AccountLive,
    Action,
    Change,
    DeliveryCheck,
    ListPolicy,
    Provider,
    Resource,
    Value,
)

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.document import Document
    from reconciler.export_yaml import Streamed
    from reconciler.providers.base import ProviderClient
    from reconciler.refusals import Refusal


@dataclass(frozen=True)
class Code:
    """A value a Markdown cell shows as a code span (an address, an id, a name)."""

    value: str


@dataclass(frozen=True)
class Text:
    """A value a Markdown cell shows as literal text (a sentence made of values)."""

    value: str


# One cell of the Markdown plan, in parts: the kind's own words (``str``, shown as they are)
# and values (``Code``, ``Text``), which the Markdown renderer escapes (``output.markdown``).
Cell = tuple["str | Code | Text", ...]


class Loader(Protocol):
    """What a kind's ``load`` is given of the manifests being loaded (``manifests.load``)."""

    problems: list[Problem]

    def add(self, position: Position | None, message: str, hint: str | None = None) -> None:
        """Report a problem."""

    def once_per_account(self, doc: Document, kind: str) -> bool:
        """Whether ``doc`` is the first ``kind`` document of its account (else an error)."""

    def state(self, resource: Resource) -> dict[Any, Any]:
        """What ``resource``'s kind keeps between its documents while they are loaded."""


class StreamedExport(Protocol):
    """A kind's list read for ``export`` into files rather than into memory
    (``Kind.stream_export``): its document is written as the files are merged."""

    def document(self, name: str, warnings: list[str], problems: list[str]) -> Streamed:
        """Account ``name``'s document; its warnings go to ``warnings`` and, once it is
        written, a list found incomplete to ``problems``."""


# Failure groups (``Kind.group``) that later changes may depend on (``Kind.depends_on``).
INDEPENDENT = "an independent change"
# A whitelist deletion waits for switching protection off (make before break).
SWITCHING_OFF = "switching protection off"
# Protection is not switched on, and no whitelist entry deleted, once an addition failed.
ADDITION = "a whitelist addition"


class Kind(ABC):
    """One managed kind. Subclasses set the class attributes and implement the methods."""

    resource: Resource  # the plan's ``resource`` field
    document: str  # the manifest ``kind`` it is written in
    provider: Provider
    list_name: str | None = None  # how a list kind is named in the safety rules' messages
    # ``validate``'s count of the entries: singular and plural, and whether shown when none.
    nouns: tuple[str, str] = ("entry", "entries")
    # What an update carried out as delete then add is (``update_deletes``), as rules 1 and 2
    # count it in their messages.
    replace_nouns: tuple[str, str] = ("update", "updates")
    always_counted = False
    list_call: str = ""  # the provider call that lists it (names it in a rule 4 refusal)

    # -- manifests ------------------------------------------------------------------------

    entries_field: str | None = None  # the spec's list checked entry by entry, if any

    def check_entries(self, doc: Document, problems: list[Problem]) -> list[Any]:
        """The entries of ``doc``'s list, normalized, in document order; each bad one is a
        problem. Also run alone on a document otherwise unusable (a required key misspelt)."""
        return []

    @abstractmethod
    def load(self, loader: Loader, doc: Document, desired: AccountDesired | None) -> None:
        """Add schema-valid ``doc`` to ``desired`` (``None``: it names no usable account; its
        entries are checked all the same)."""

    def check_state(
        self,
        accounts: Mapping[str, AccountDesired],
        checks: Sequence[DeliveryCheck],
        problems: list[Problem],
    ) -> None:
        """Checks across documents, once every document is loaded (none by default)."""
        return

    # -- the plan -------------------------------------------------------------------------

    @abstractmethod
    def slot(self, change: Change) -> int:
        """When ``change`` runs within its account (lower first; make before break)."""

    def group(self, change: Change) -> str:
        """The dependency group a failure of ``change`` marks as failed."""
        return INDEPENDENT

    def depends_on(self, change: Change) -> frozenset[str]:
        """The groups whose failure (in an earlier slot) skips ``change``."""
        return frozenset()

    @abstractmethod
    def text_columns(self, change: Change) -> tuple[str, str]:
        """``(subject, detail)`` of ``change`` in the text plan and apply report (unescaped)."""

    @abstractmethod
    def markdown_cells(self, change: Change) -> tuple[Cell, Cell]:
        """``(subject, detail)`` cells of ``change`` in the Markdown plan, in parts that the
        renderer escapes."""

    def writes(self, change: Change) -> int:
        """Calls apply makes to carry out ``change``: two for an update carried out as delete
        then add (``update_deletes``), else one."""
        return 2 if self.update_deletes(change) else 1

    @abstractmethod
    def read(self, client: ProviderClient, desired: AccountDesired, live: AccountLive) -> None:
        """Fill in ``live`` with what ``desired`` manages of this kind (nothing if it does not)."""

    @abstractmethod
    def apply(self, client: ProviderClient, change: Change) -> str | None:
        """Carry out ``change`` through ``client``'s calls; the report's detail, if any."""

    @abstractmethod
    def value_from_json(self, data: Mapping[str, Any]) -> Value:
        """A change's ``before``/``after`` as a saved plan holds it (not ``None``)."""

    # -- a list kind (``list_name`` set): what rules 1, 2 and 4 and the diff need ---------

    default_policy = ListPolicy()

    def update_deletes(self, change: Change) -> bool:
        """Whether update ``change`` is carried out as delete then add (rules 1 and 2 count its
        delete half; a failure after the delete leaves the entry deleted). None does unless
        the kind says so."""
        return False

    def refusals(
        self,
        account: str,
        want: AccountDesired,
        have: AccountLive,
        changes: Mapping[Resource, Sequence[Change]],
    ) -> list[Refusal]:
        """Refusals of this kind's own rules for one account, given every kind's changes
        (none by default; rules 1, 2 and 4 are the engine's)."""
        return []

    def notes(self, want: AccountDesired, have: AccountLive) -> list[str]:
        """What ``plan`` says of the live state besides the changes (on stderr; none by
        default): a sending domain that is not verified, with its failing records."""
        return []

    def managed(self, want: AccountDesired) -> bool:
        """Whether the manifests manage this kind for the account (then it is read)."""
        return self.resource in want.lists

    def manage(self, want: AccountDesired) -> None:
        """Mark the kind managed on ``want`` (nothing wanted yet), so that it is read."""
        want.lists.setdefault(self.resource, {})

    def widen_read(self, want: AccountDesired) -> AccountDesired:
        """``want`` with what a rule needs read besides what the manifests manage (a copy, or
        ``want`` itself when nothing more is needed)."""
        return want

    def quick_look(self, want: AccountDesired, head: str) -> None:
        """Mark the kind managed on ``want`` from the first lines (``head``) of one of its
        documents, before the manifests are loaded (``prefetch``): what an early read reads."""
        self.manage(want)

    def wanted(self, want: AccountDesired) -> Mapping[str, Any] | None:
        """The wanted entries by key; ``None`` when the kind is not managed."""
        return want.lists.get(self.resource)

    def policy(self, want: AccountDesired) -> ListPolicy:
        return want.policies.get(self.resource, self.default_policy)

    def live(self, have: AccountLive) -> tuple[Sequence[Any] | None, int | None]:
        """The live entries read (``None``: not read) and the provider's own total."""
        return have.lists.get(self.resource), have.totals.get(self.resource)

    def diff(self, account: str, want: AccountDesired, have: AccountLive) -> list[Change]:
        """This kind's changes for one account (any order: the plan sorts them by slot)."""
        wanted, (live, _total) = self.wanted(want), self.live(have)
        if wanted is None or live is None:
            return []
        return keyed_diff(self, account, wanted, live, self.policy(want))

    def differs(self, live: Any, wanted: Any) -> bool:
        """Whether a live entry and the wanted one of the same key call for an update: by
        default, whether the live one as a manifest would want it (``as_wanted``: without the
        provider's id) is another."""
        return bool(self.as_wanted(live) != wanted)

    def ignore_texts(self, entry: Any) -> tuple[str | None, ...]:
        """The texts of a live entry that ``ignore`` patterns are matched against."""
        return (str(entry.key),)

    def deletes_counted(self, changes: Sequence[Change], want: AccountDesired) -> int:
        """Deletes that lose an entry (rules 1 and 2)."""
        return sum(1 for c in changes if c.action is Action.DELETE)

    def decode(self, want: AccountDesired, have: AccountLive) -> None:
        """Turn the entries a saved plan's ``desired`` and ``observed`` hold (their JSON form)
        back into entries (``value_from_json``)."""
        from reconciler.dataclass_json import ShapeError

        try:
            wanted = want.lists.get(self.resource)
            if wanted is not None:
                want.lists[self.resource] = {
                    key: self.value_from_json(value) for key, value in wanted.items()
                }
            live = have.lists.get(self.resource)
            if live is not None:
                have.lists[self.resource] = [self.value_from_json(value) for value in live]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ShapeError(self.resource.value, "an entry is not of this kind's form") from None

    def undo(self, inverse: AccountDesired, before: AccountLive) -> None:
        """Make ``inverse`` want what ``before`` (live state read before an apply) held of this
        kind, pruned: a guard's roll-back (SPEC §11) diffs live state against it."""
        live, _total = self.live(before)
        if live is None:
            return
        self.manage(inverse)
        inverse.lists[self.resource] = {entry.key: self.as_wanted(entry) for entry in live}
        inverse.policies[self.resource] = ListPolicy(prune=True)

    def as_wanted(self, entry: Any) -> Any:
        """A live entry as a manifest would want it (without the provider's id)."""
        return entry

    # -- export ---------------------------------------------------------------------------

    def export(self, account: str, have: AccountLive, warnings: list[str]) -> Any:
        """The manifest document of the live state (``None``: not read); a live entry that
        no manifest could express is left out, listed under ``ignore``, with a warning."""
        return None

    def stream_export(
        self, client: ProviderClient, want: AccountDesired, directory: Path, name: str
    ) -> StreamedExport | None:
        """For ``export``: the account's list read page by page into files named ``name``
        under ``directory``, for a kind whose export streams in bounded memory (the account's
        whole live state then: its provider has no other kind); ``None`` (the default): the
        account is read as usual."""
        return None

    def bounce_exempt(
        self, want: AccountDesired, emails: dict[str, str], domains: dict[str, str]
    ) -> None:
        """For ``check``'s bounce lint (SPEC §9): add the addresses ``want`` exempts from the
        provider's bounce interception, by e-mail and by domain (lower case), each with where
        it is written (the first kept); none by default."""
        return

    # -- saved plans: the live state a plan saw, in a compact keyed form ---------------------

    def snapshot(self, want: AccountDesired, have: AccountLive, keep: Collection[str]) -> Any:
        """What a saved plan records of this kind's live state (``None``: nothing): each live
        entry the plan sees, or whose key is in ``keep``, in its ``as_dict`` form by key."""
        wanted, (live, _total) = self.wanted(want), self.live(have)
        if wanted is None or live is None:
            return None
        policy = self.policy(want)
        entries = {
            entry.key: entry.as_dict()  # the last of equal keys, as diff does
            for entry in live
            if entry.key in keep or policy.sees_unnamed(*self.ignore_texts(entry))
        }
        return dict(sorted(entries.items()))

    # Whether a saved plan's snapshot holds the kind as one entry (else: entries by key).
    single = False

    def restore(
        self, want: AccountDesired, seen: Mapping[str, Any], policy: ListPolicy | None
    ) -> None:
        """Mark the kind managed on ``want`` as a saved plan that saw it read it (``seen``: the
        account's snapshot), with ``policy``: what to read again when the plan is applied."""
        self.manage(want)
        if policy is not None:
            want.policies[self.resource] = policy

    def needs_policy(self, seen: Mapping[str, Any], policies: Mapping[str, Any]) -> bool:
        """Whether a saved plan that saw this list holds a policy for it."""
        return True

    def stale_text(self, key: str, seen: Any, now: Any) -> tuple[str, str]:
        """``(subject, what)`` of an entry that changed since a saved plan saw it."""
        return f"{self.resource.value} {key}", presence(seen, now, json_text)

    def inconsistency(self, change: Change, seen: Mapping[str, Any]) -> str | None:
        """Why ``change`` cannot come from the live entries a saved plan saw (``None``: it can)."""
        for entry in (change.before, change.after):
            if entry is not None and getattr(entry, "key", None) != change.key:
                return "its key is not its entry's"
        if (change.action is Action.CREATE) == (change.key in seen):
            return "does not match the entries the plan saw"
        if change.action is Action.UPDATE:
            before = cast(Any, change.before)
            if before.as_dict() != seen[change.key] or not self.differs(before, change.after):
                return "does not match the entry the plan saw"
        return None

    def shows(self, change: Change, now: Any) -> bool:
        """Whether ``now`` (a live entry in the snapshot form; None: absent) is the state
        ``change`` leaves behind."""
        if change.action is Action.DELETE:
            return now is None
        # What the change sets; the live form adds what the provider holds (its id).
        wanted = cast(Any, change.after).as_dict()
        return isinstance(now, dict) and all(now.get(k) == v for k, v in wanted.items())

    def __repr__(self) -> str:
        return f"<kind {self.resource.value}>"


# -- what the kinds share ----------------------------------------------------------------

E = TypeVar("E")


def changed_entries(change: Change, entry_type: type[E]) -> tuple[E, E | None]:
    """The entry ``change`` is about (the live one for a delete) and, for an update, the live
    entry it changes."""
    entry = change.before if change.action is Action.DELETE else change.after
    assert isinstance(entry, entry_type)
    before = change.before if change.action is Action.UPDATE else None
    assert before is None or isinstance(before, entry_type)
    return entry, before


def keyed_diff(
    kind: Kind,
    account: str,
    want: Mapping[str, Any],
    have: Iterable[Any],
    policy: ListPolicy,
) -> list[Change]:
    """Creates, updates and deletes of a list keyed by each entry's ``key``, each group in key
    order: one pass over the live list (a dict lookup per entry, never a deep diff of lists)."""
    resource = kind.resource
    updates: list[Change] = []
    deletes: list[Change] = []
    live: dict[str, Any] = {}
    matched = 0
    for entry in have:
        key = entry.key
        wanted = want.get(key)
        if wanted is None:
            if policy.sees_unnamed(*kind.ignore_texts(entry)):
                deletes.append(Change(account, resource, Action.DELETE, key, entry))
            continue
        live[key] = entry
        matched += 1
        if kind.differs(entry, wanted):
            updates.append(Change(account, resource, Action.UPDATE, key, entry, wanted))
    if matched != len(live):  # a key listed twice: its last live record is the one compared
        updates = [
            Change(account, resource, Action.UPDATE, key, current, want[key])
            for key, current in live.items()
            if kind.differs(current, want[key])
        ]
    creates = [
        Change(account, resource, Action.CREATE, key, None, want[key])
        for key in want.keys() - live.keys()
    ]
    for group in (creates, updates, deletes):
        group.sort(key=lambda c: c.key)
    return creates + updates + deletes


def presence(seen: Any, now: Any, describe: Callable[[Any], str]) -> str:
    """``was absent, now present (...)``: an entry that came, went or changed."""
    if seen is None:
        return f"was absent, now present ({describe(now)})"
    if now is None:
        return f"was present ({describe(seen)}), now absent"
    return f"was present ({describe(seen)}), now present ({describe(now)})"


def json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
