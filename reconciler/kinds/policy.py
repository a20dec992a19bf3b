"""A list document's policy as its spec asks for it: ``prune``, ``ignore`` and
``deletionThreshold`` (SPEC §2). The kinds read it when they load their documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import DeletionThreshold, ListPolicy


def threshold(spec: Mapping[str, Any]) -> DeletionThreshold:
    given = spec.get("deletionThreshold", {})
    default = DeletionThreshold()
    return DeletionThreshold(
        entries=given.get("entries", default.entries),
        percent=float(given.get("percent", default.percent)),
    )


def list_policy(spec: Mapping[str, Any], prune: bool = True) -> ListPolicy:
    """The ``prune`` (``prune``: its default), ``ignore`` and ``deletionThreshold`` a list
    document's spec asks for."""
    return ListPolicy(
        prune=spec.get("prune", prune),
        ignore=tuple(spec.get("ignore", ())),
        deletion_threshold=threshold(spec),
    )
