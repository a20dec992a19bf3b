"""What of a document that breaks the schema can still be checked, so that one run reports
every error (SPEC §2) instead of hiding a document's address errors behind a misspelt key.

Two degrees: a document whose only fault is unknown keys is checked whole once they are
dropped (``without_unknown_keys``); a document that still breaks the schema elsewhere — a
required key misspelt (``acount:``) or missing — has its list of entries checked alone, when
that list itself is schema-valid (``list_only``). Positions stay those of the original.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from reconciler.document import Document
from reconciler.kinds import kinds
from reconciler.manifests.schema_errors import iter_errors

# The list of addresses each kind holds, which the checks look into entry by entry.
LIST_FIELDS: Mapping[str, str] = {
    kind.document: kind.entries_field for kind in kinds() if kind.entries_field is not None
}


def _stripped(doc: Document) -> tuple[Any, bool]:
    """A copy of ``doc.data`` without the keys the schema does not know, and whether any was."""
    data = copy.deepcopy(doc.data)
    stripped = False
    for error, path in list(iter_errors(doc.data)):
        if error.validator != "additionalProperties" or not isinstance(error.instance, Mapping):
            continue
        target: Any = data
        for part in path:
            target = target[part]
        allowed = error.schema.get("properties", {})
        for key in [key for key in target if key not in allowed]:
            del target[key]
            stripped = True
    return data, stripped


def without_unknown_keys(doc: Document) -> Document | None:
    """``doc`` without the keys the schema does not know, if that makes it valid; else None.

    The semantic checks can then run on a document whose only fault is a misspelt key, and
    report its bad addresses in the same run."""
    data, stripped = _stripped(doc)
    if not stripped or any(True for _ in iter_errors(data)):
        return None
    return dataclasses.replace(doc, data=data)


def list_only(doc: Document) -> tuple[str, Document] | None:
    """The kind of ``doc`` and ``doc`` (unknown keys dropped) when its list of addresses can
    be checked although the document cannot be used: every schema error left lies outside
    that list. None when there is no such list or the list itself breaks the schema (its
    errors were reported)."""
    data, _ = _stripped(doc)
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if not isinstance(kind, str) or kind not in LIST_FIELDS:
        return None
    field, spec = LIST_FIELDS[kind], data.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get(field), list):
        return None
    if any(path[:2] == ("spec", field) for _, path in iter_errors(data)):
        return None
    return kind, dataclasses.replace(doc, data=data)
