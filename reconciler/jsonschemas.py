"""The JSON Schemas of ``schemas/``: the manifest, the saved plan and the apply report.

They ship inside the package (``reconciler/schemas`` links to the repository's ``schemas/``, and
``package-data`` puts them in the wheel); this module is the one place that finds and reads them,
each once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator, validators

SchemaName = Literal["manifest", "plan", "report"]

SCHEMA_DIR = Path(__file__).parent / "schemas"
SCHEMA_PATH = SCHEMA_DIR / "manifest.schema.json"


@cache
def schema(name: SchemaName) -> dict[str, Any]:
    """``schemas/{name}.schema.json``, read once from the package."""
    with (SCHEMA_DIR / f"{name}.schema.json").open(encoding="utf-8") as stream:
        loaded: dict[str, Any] = json.load(stream)
    return loaded


def manifest_schema() -> Mapping[str, Any]:
    """The manifest schema (``schemas/manifest.schema.json``)."""
    return schema("manifest")


# Definitions whose `pattern` is for editors only: it flags a typo as you type, while the
# checks after the schema pass (``manifests.checks``) judge the same strings with a precise
# message and hint. Validating against the pattern too would report every such mistake twice.
_EDITOR_PATTERNS = ("ipv4Entry", "emailAddress", "domainName")


@cache
def validation_schema() -> Mapping[str, Any]:
    """The manifest schema as ``validate`` checks it: without the editor-only patterns."""
    whole = schema("manifest")
    defs = dict(whole["$defs"])
    for name in _EDITOR_PATTERNS:
        defs[name] = {k: v for k, v in defs[name].items() if k != "pattern"}
    return {**whole, "$defs": defs}


@cache
def validator(name: SchemaName) -> Any:
    """A draft 2020-12 validator of one schema. The report schema refers to the plan schema,
    so those two are resolved together; the manifest schema stands alone."""
    if name == "manifest":
        checker = Draft202012Validator.TYPE_CHECKER.redefine("number", _is_finite_number)
        finite = validators.extend(Draft202012Validator, type_checker=checker)
        return finite(validation_schema())
    from referencing import Registry
    from referencing import Resource as SchemaResource

    registry: Registry[Any] = Registry().with_resources(
        (schema(n)["$id"], SchemaResource.from_contents(schema(n))) for n in ("plan", "report")
    )
    return Draft202012Validator(schema(name), registry=registry)


def manifest_validator(kind: Any) -> Any:
    """The manifest validator for a document whose ``kind`` is ``kind``. For a string, the
    schema's ``allOf`` branches of the form ``if kind is K then ...`` (no ``else``) for any other
    K are left out: their ``if`` cannot hold for that document, so they add no error and the
    errors are exactly those of ``validator("manifest")``; only faster (every document used to
    try every kind's branch). Any other ``kind`` gets the whole schema."""
    if not isinstance(kind, str):
        return validator("manifest")
    return _validator_of_kind(kind)


@cache
def _validator_of_kind(kind: str) -> Any:
    whole = validation_schema()
    branches = [b for b in whole.get("allOf", ()) if _branch_kind(b) in (None, kind)]
    return type(validator("manifest"))({**whole, "allOf": branches})


def _branch_kind(branch: Any) -> str | None:
    """K for a branch written exactly ``{if: {required: [kind], properties: {kind: {const:
    K}}}, then: ...}`` with a string K; None for any other branch (always kept)."""
    if not isinstance(branch, Mapping) or set(branch) != {"if", "then"}:
        return None
    condition = branch["if"]
    try:
        kind = condition["properties"]["kind"]["const"]
    except (KeyError, TypeError):
        return None
    if not isinstance(kind, str):
        return None
    shape = {"required": ["kind"], "properties": {"kind": {"const": kind}}}
    return kind if condition == shape else None


def _is_finite_number(checker: Any, value: Any) -> bool:
    # YAML has .nan and .inf, JSON has neither: a non-finite number is never a valid setting
    # (a .nan threshold compares false with everything and would switch its rule off).
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
