"""The registry of managed kinds: each kind declares itself in one module of this package.

A kind (``Kind``) says what the engine needs to know of it and nothing more: the document it is
written in and how it is checked and loaded, its entries and their key, the resource name a
plan shows, its provider, its place in the order of execution and what it depends on there,
how one of its changes reads in the text and Markdown plans, how many calls apply makes for a
change, which client calls read it and carry one out, its policy defaults and what rules 1, 2
and 4 count, its saved-plan form, its export, and what a guard's roll-back restores. The
engine (loading, plan, safety, apply, the renderers, cost, saved plans, export, the early read)
asks the registry, ``kind_of(resource)`` or ``kinds()``, and never names a kind. A new kind is a
module of this package whose ``Kind`` subclass (``kinds.base``) it makes once as ``KIND``; this
module imports it and lists it in ``KINDS``. The kind modules import ``kinds.base``, never this
module: the registry stands above the kinds, and the engine above the registry.

Importing this package imports no provider client: ``validate`` loads no HTTP library.
"""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.kinds import (
    ip_protection,
    ip_whitelist,
    mail_domain,
    sender_address,
    tag,
    unintercept,
)
from reconciler.kinds.base import (
    INDEPENDENT,
    Kind,
    Loader,
    StreamedExport,
    json_text,
    keyed_diff,
    presence,
)
from reconciler.model import Change, Provider, Resource

# Every kind, in the order plans, exports and reports follow.
KINDS: tuple[Kind, ...] = (
    ip_protection.KIND,
    ip_whitelist.KIND,
    unintercept.KIND,
    tag.KIND,
    mail_domain.KIND,
    sender_address.KIND,
)
_REGISTRY: dict[Resource, Kind] = {kind.resource: kind for kind in KINDS}


def kind_of(resource: Resource) -> Kind:
    """The kind of ``resource``."""
    return _REGISTRY[resource]


def kinds() -> Iterator[Kind]:
    """Every kind, in the order of ``KINDS``."""
    return iter(tuple(_REGISTRY.values()))


def slot(change: Change) -> int:
    """When ``change`` runs within its account (``Kind.slot``)."""
    return _REGISTRY[change.resource].slot(change)


def list_kinds() -> Iterator[Kind]:
    """The kinds that are lists (rules 1, 2 and 4 apply to them)."""
    return (kind for kind in kinds() if kind.list_name is not None)


def list_kind_read_by(provider: Provider, action: str) -> Kind:
    """The list kind of ``provider`` that ``action`` reads (its first list kind otherwise)."""
    own = [kind for kind in list_kinds() if kind.provider is provider]
    return next((kind for kind in own if kind.list_call == action), own[0])


__all__ = [
    "INDEPENDENT",
    "KINDS",
    "Kind",
    "Loader",
    "StreamedExport",
    "ip_protection",
    "ip_whitelist",
    "json_text",
    "keyed_diff",
    "kind_of",
    "kinds",
    "list_kind_read_by",
    "list_kinds",
    "mail_domain",
    "presence",
    "sender_address",
    "slot",
    "tag",
    "unintercept",
]
