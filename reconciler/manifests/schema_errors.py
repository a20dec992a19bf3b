"""Validate documents against ``schemas/manifest.schema.json`` and explain what is wrong.

jsonschema's own messages embed the repr of the failing instance (a 100,000-entry list, or a
secret written where a reference belongs). Here each common validator gets a short message at the
position of the offending key or value, with the right answer where the schema knows it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from functools import cache
from typing import Any

from jsonschema import ValidationError

from reconciler.document import Document, PathKey
from reconciler.errors import Position, Problem
from reconciler.jsonschemas import manifest_validator, validation_schema

_EXPECTED = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "null": "null",
}
_PATTERN_HINTS = {
    "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$": (
        "use lowercase letters, digits and '-', at most 63 characters, "
        "starting and ending with a letter or digit"
    ),
    "^[A-Za-z_][A-Za-z0-9_]*$": (
        "an environment variable name: letters, digits and '_', not starting with a digit"
    ),
}
_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (Mapping, "a mapping"),
    (list, "a list"),
)


def describe_type(value: Any) -> str:
    """``a string``, ``an integer``, ... as a person would name the YAML value's type."""
    if isinstance(value, float) and not math.isfinite(value):
        return "a non-finite number"
    for kind, name in _TYPE_NAMES:  # bool before int: a boolean is an int to Python
        if isinstance(value, kind):
            return name
    if value is None:
        return "null"
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value) if isinstance(value, (str, int, float)) else describe_type(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _where(path: Sequence[str | int]) -> str:
    if not path:
        return "the document"
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _field(path: Sequence[str | int]) -> str:
    """The name a person would use for the value at ``path``: its key, or where it is."""
    return path[-1] if path and isinstance(path[-1], str) else _where(path)


def _comma_list(names: Sequence[str]) -> str:
    return ", ".join(names)


def _did_you_mean(word: Any, choices: Sequence[str]) -> str | None:
    if not isinstance(word, str):
        return None
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _is_secret(path: PathKey) -> bool:
    # Nothing found under spec.credentials is echoed: a literal there is likely a real secret.
    return path[:2] == ("spec", "credentials")


def _unknown_keys(doc: Document, error: ValidationError, path: PathKey) -> Iterator[Problem]:
    allowed = list(error.schema.get("properties", {}))
    for key in error.instance:
        if key in allowed:
            continue
        hints = [hint for hint in (_did_you_mean(key, allowed),) if hint]
        hints.append(f"allowed: {_comma_list(allowed)}" if allowed else "no keys are allowed here")
        yield Problem(
            doc.key_position((*path, key)),
            f"unknown key '{key}' in {_where(path)}",
            "; ".join(hints),
        )


def _missing_keys(doc: Document, error: ValidationError, path: PathKey) -> Iterator[Problem]:
    position = doc.key_position(path) if path else doc.position(path)
    for name in error.validator_value:
        if name not in error.instance:
            yield Problem(position, f"missing required key '{name}' in {_where(path)}")


def _type_message(error: ValidationError, path: PathKey) -> tuple[str, str | None]:
    if _is_secret(path) and len(path) == 3:
        return (
            f"credential '{path[2]}' is written as a literal value; "
            "secrets never belong in a manifest",
            "use {env: NAME}",
        )
    wanted = error.validator_value
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    expected = " or ".join(_EXPECTED.get(name, name) for name in names)
    got = describe_type(error.instance)
    if not _is_secret(path) and isinstance(error.instance, (str, int, float)):
        got += f" ({_show(error.instance)})"
    hint = None
    instance = error.instance
    if "boolean" in names and isinstance(instance, str) and instance.lower() in YAML11_WORDS:
        hint = "write true or false (YAML 1.1 words such as yes/no/on/off are not booleans)"
    return f"expected {expected}, got {got}", hint


# Words YAML 1.1 readers (PyYAML among them) take for booleans and YAML 1.2 does not.
YAML11_WORDS = frozenset(("yes", "no", "on", "off", "y", "n"))


def yaml11_boolean_problems(doc: Document, found: Sequence[Problem]) -> list[Problem]:
    """An error for each YAML 1.1 boolean (``yes``, ``Off``...) that no other error covers.

    PyYAML reads them as booleans, editors and the schema as strings; ``true``/``false`` mean
    the same to every reader."""
    taken = {problem.position for problem in found}
    problems = []
    for line, column, text in doc.yaml11_booleans:
        position = Position(doc.file, line, column)
        if position not in taken:
            problems.append(
                Problem(
                    position,
                    f"{_show(text)} is a YAML 1.1 boolean: PyYAML reads it as one, "
                    "YAML 1.2 and editors as a string",
                    "write true or false",
                )
            )
    return problems


def _one_of_message(error: ValidationError) -> tuple[str, str | None]:
    branches = error.validator_value
    names = [name for branch in branches for name in branch.get("required", ())]
    title = error.schema.get("title", "entry")
    article = "an" if title[:1] in "aeiou" else "a"
    present = [name for name in names if name in error.instance]
    choices = " or ".join(f"'{name}'" for name in names)
    hint = "it has both" if len(present) > 1 else "it has neither"
    return f"{article} {title} needs exactly one of {choices}", hint


def _duplicate_item(items: Sequence[Any]) -> Any:
    seen: list[Any] = []
    for item in items:
        if item in seen:
            return item
        seen.append(item)
    return None


def _message(error: ValidationError, path: PathKey) -> tuple[str, str | None]:
    """Message and hint for validators that concern one value (not its keys)."""
    validator, value, instance = error.validator, error.validator_value, error.instance
    secret = _is_secret(path)
    field = _field(path)
    if validator == "type":
        return _type_message(error, path)
    if validator == "enum":
        options = [str(option) for option in value]
        shown = "this value" if secret else _show(instance)
        return f"{shown} is not one of {_comma_list(options)}", _did_you_mean(instance, options)
    if validator == "const":
        got = None if secret else f"got {_show(instance)}"
        return f"{field} must be {value!r}", got
    if validator == "oneOf" and all("required" in branch for branch in value):
        return _one_of_message(error)
    if validator == "pattern":
        hint = _PATTERN_HINTS.get(value, f"must match {value}")
        if secret:
            return f"invalid {field} in credential '{path[2]}'", hint
        return f"{_show(instance)} is not a valid {field}", hint
    if validator == "minItems":
        return f"{field} needs at least {value} item{'s' if value != 1 else ''}", None
    if validator == "uniqueItems":
        return f"{field} lists {_show(_duplicate_item(instance))} more than once", None
    if validator == "minLength":
        return f"{field} must not be empty", None
    if validator == "maxLength":
        return f"{field} has {len(instance)} characters; at most {value} are allowed", None
    if validator == "exclusiveMinimum":
        return f"{field} must be greater than {value}", None
    if validator == "minimum":
        return f"{field} must be at least {value}", None
    if validator == "maximum":
        return f"{field} is {_show(instance)}; at most {value} is allowed", None
    if validator in ("minProperties", "maxProperties") and secret:
        return f"credential '{field}' needs exactly one of 'env' or 'file'", "use {env: NAME}"
    return f"{_where(path)} does not satisfy the schema ({validator})", None


def _problems_for(doc: Document, error: ValidationError, path: PathKey) -> list[Problem]:
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        return list(_unknown_keys(doc, error, path))
    if error.validator == "required" and isinstance(error.instance, Mapping):
        return list(_missing_keys(doc, error, path))
    if error.validator == "oneOf" and not isinstance(error.instance, Mapping):
        # "Exactly one of these keys" says nothing useful about a non-mapping; its type error does.
        return []
    message, hint = _message(error, path)
    return [Problem(doc.position(path), message, hint)]


def schema_problems(doc: Document) -> list[Problem]:
    """Every way ``doc`` breaks the manifest schema, one Problem each."""
    problems: list[Problem] = []
    seen: set[tuple[object, str]] = set()
    for error, path in iter_errors(doc.data):
        if doc.under_alias(path):
            continue  # the alias itself was reported; its missing value would only repeat it
        for problem in _problems_for(doc, error, path):
            identity = (problem.position, problem.message)
            if identity not in seen:
                seen.add(identity)
                problems.append(problem)
    return problems


def iter_errors(data: Any) -> Iterator[tuple[ValidationError, PathKey]]:
    """Schema errors with their paths in ``data``, validating each distinct entry shape once.

    A list of 100,000 entries costs jsonschema some 5 s, yet entries that differ only in strings
    the schema merely requires to be strings (an email, a domain) must validate alike. So the
    entries are projected (such strings blanked), each distinct projection is validated once, and
    its errors are reported for every entry that shares it.
    """
    entries = _entries(data)
    projector = _projector(data["kind"]) if entries is not None else None
    if entries is None or projector is None:
        kind = data.get("kind") if isinstance(data, Mapping) else None
        for error in manifest_validator(kind).iter_errors(data):
            yield error, tuple(error.absolute_path)
        return
    project, shape_of = projector
    index_of: dict[Hashable, int] = {}
    shapes: list[Any] = []
    members: list[list[int]] = []
    for index, entry in enumerate(entries):
        key = project(entry)
        slot = index_of.get(key)
        if slot is None:
            slot = index_of[key] = len(shapes)
            shapes.append(shape_of(entry))
            members.append([])
        members[slot].append(index)
    shadow = dict(data)
    shadow["spec"] = {**data["spec"], "entries": shapes}
    for error in manifest_validator(data["kind"]).iter_errors(shadow):
        path = tuple(error.absolute_path)
        if len(path) > 2 and path[:2] == _ENTRIES and isinstance(path[2], int):
            for index in members[path[2]]:
                yield error, (*_ENTRIES, index, *path[3:])
        else:
            yield error, path


_ENTRIES: PathKey = ("spec", "entries")
_BLANK: Hashable = (str, "")  # _freeze("")
# Keywords that never look at the instance.
_NEUTRAL = frozenset({"description", "title", "default", "$comment", "examples"})
# How to project an entry: its projection's hashable identity, and the projection itself
# (asked for only once per distinct identity).
_Projector = tuple[Callable[[Any], Hashable], Callable[[Any], Any]]


def _entries(data: Any) -> list[Any] | None:
    if not isinstance(data, Mapping) or not isinstance(data.get("kind"), str):
        return None
    spec = data.get("spec")
    if not isinstance(spec, Mapping):
        return None
    entries = spec.get("entries")
    return entries if isinstance(entries, list) else None


def _freeze(value: Any) -> Hashable:
    """A hashable stand-in equal only for equal values of equal types (so 1 is not True)."""
    if isinstance(value, Mapping):
        return ("map", tuple((key, _freeze(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("list", tuple(_freeze(item) for item in value))
    return (type(value), value)


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(validation_schema()["$defs"][ref[len("#/$defs/") :]])
    return schema


def _is_plain_string(schema: Mapping[str, Any]) -> bool:
    schema = _resolve(schema)
    return schema.get("type") == "string" and set(schema) <= _NEUTRAL | {"type"}


def _item_schema(kind: str) -> Mapping[str, Any] | None:
    for branch in validation_schema().get("allOf", ()):
        if branch.get("if", {}).get("properties", {}).get("kind", {}).get("const") != kind:
            continue
        spec = _resolve(branch["then"]["properties"]["spec"])
        entries = _resolve(spec.get("properties", {}).get("entries", {}))
        items = entries.get("items")
        # Keywords on the list itself (minItems, uniqueItems...) would see the projected,
        # deduplicated list instead of the real one.
        if not isinstance(items, Mapping) or not set(entries) <= _NEUTRAL | {"type", "items"}:
            return None
        return _resolve(items)
    return None


@cache
def _projector(kind: str) -> _Projector | None:
    """How to project an entry of ``kind`` so that equal projections validate alike.

    Sound only for item schemas whose verdict cannot depend on a plain string's text; any other
    item schema gets no projector, and its entries are validated one by one.
    """
    schema = _item_schema(kind)
    if schema is None:
        return None
    if _is_plain_string(schema):
        return (
            lambda entry: "" if isinstance(entry, str) else _freeze(entry),
            lambda entry: "" if isinstance(entry, str) else entry,
        )
    structural = _NEUTRAL | {"type", "properties", "additionalProperties", "required", "oneOf"}
    if (
        schema.get("type") != "object"
        or not set(schema) <= structural
        or not isinstance(schema.get("additionalProperties", False), bool)
        or any(set(branch) != {"required"} for branch in schema.get("oneOf", ()))
    ):
        return None
    blank = frozenset(
        name for name, sub in schema.get("properties", {}).items() if _is_plain_string(sub)
    )

    def identity(entry: Any) -> Hashable:
        if not isinstance(entry, dict):
            return _freeze(entry)
        # _freeze of the projection, built directly: this runs once per entry.
        return (
            "map",
            tuple(
                (key, _BLANK if key in blank and isinstance(value, str) else _freeze(value))
                for key, value in entry.items()
            ),
        )

    def shape_of(entry: Any) -> Any:
        if not isinstance(entry, dict):
            return entry
        return {
            key: "" if key in blank and isinstance(value, str) else value
            for key, value in entry.items()
        }

    return identity, shape_of
