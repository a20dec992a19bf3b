"""The registry of managed kinds: each kind declares itself in one module of this package.

A kind (``Kind``) says what the engine needs to know of it and nothing more: the resource name a
plan shows, the document it is written in, its provider, its place in the order of execution
and what it depends on there, how one of its changes reads in the text and Markdown plans,
how many calls apply makes for a change, which client calls carry one out, and how an entry of
a saved plan is read back. The engine (plan, apply, the renderers, cost, saved plans) asks the
registry, ``kind_of(resource)``, and never names a kind.

Importing this package imports no provider client: ``validate`` loads no HTTP library.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from reconciler.model import (
    AccountDesired,
    AccountLive,
    Action,
    Change,
    Provider,
    Resource,
    Value,
)

if TYPE_CHECKING:
    from reconciler.providers.base import ProviderClient

# Failure groups (``Kind.group``) that later changes may depend on (``Kind.depends_on``).
INDEPENDENT = "an independent change"


class Kind(ABC):
    """One managed kind. Subclasses set the class attributes and implement the methods."""

    resource: Resource  # the plan's ``resource`` field
    document: str  # the manifest ``kind`` it is written in
    provider: Provider
    list_name: str | None = None  # how a list kind is named in the safety rules' messages

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
    def markdown_cells(self, change: Change) -> tuple[str, str]:
        """``(subject, detail)`` cells of ``change`` in the Markdown plan (escaped)."""

    def writes(self, change: Change) -> int:
        """Calls apply makes to carry out ``change``."""
        return 1

    @abstractmethod
    def read(self, client: ProviderClient, desired: AccountDesired, live: AccountLive) -> None:
        """Fill in ``live`` with what ``desired`` manages of this kind (nothing if it does not)."""

    @abstractmethod
    def apply(self, client: ProviderClient, change: Change) -> str | None:
        """Carry out ``change`` through ``client``'s calls; the report's detail, if any."""

    @abstractmethod
    def value_from_json(self, data: Mapping[str, Any]) -> Value:
        """A change's ``before``/``after`` as a saved plan holds it (not ``None``)."""

    def __repr__(self) -> str:
        return f"<kind {self.resource.value}>"


_REGISTRY: dict[Resource, Kind] = {}


def register(kind: Kind) -> Kind:
    """Make ``kind`` known to the engine (called once, at the end of its module)."""
    _REGISTRY[kind.resource] = kind
    return kind


def kind_of(resource: Resource) -> Kind:
    """The kind of ``resource``."""
    return _REGISTRY[resource]


def kinds() -> Iterator[Kind]:
    """Every registered kind, in registration order."""
    return iter(tuple(_REGISTRY.values()))


def slot(change: Change) -> int:
    """When ``change`` runs within its account (``Kind.slot``)."""
    return _REGISTRY[change.resource].slot(change)


def subject_entry(change: Change) -> Value:
    """The entry a change is about: the wanted one, or the live one for a delete."""
    return change.before if change.action is Action.DELETE else change.after


# The kinds register themselves; imported last, as they import the names above.
from reconciler.kinds import ip_protection, ip_whitelist, unintercept  # noqa: E402

__all__ = [
    "INDEPENDENT",
    "Kind",
    "ip_protection",
    "ip_whitelist",
    "kind_of",
    "kinds",
    "register",
    "slot",
    "subject_entry",
    "unintercept",
]
