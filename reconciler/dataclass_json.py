"""Dataclass values to JSON and back, field by field and typed.

Generic on purpose: a saved plan carries an account's whole definition, and settings added to
the model later (a new field of ``Account``, ``Limits``, ``ListPolicy`` ...) travel without
changes here.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, fields, is_dataclass
from enum import Enum
from typing import Any


class ShapeError(ValueError):
    """JSON that is not the form of the expected value; the text starts with where it is."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")


def to_json(value: Any) -> Any:
    """A dataclass value as JSON, field by field, so that settings added to the model later
    are carried too. Fields outside the value (``compare=False``: positions) are left out, and
    so are unset ones (``None`` where that is the default: ``{"env": NAME}``, not
    ``{"env": NAME, "file": null}``), and empty ones marked ``omit_empty``; enums become their
    values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json(getattr(value, f.name))
            for f in fields(value)
            if f.compare
            and not (getattr(value, f.name) is None and f.default is None)
            and not (f.metadata.get("omit_empty") and not getattr(value, f.name))
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k.value if isinstance(k, Enum) else str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(to_json(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_json(cls: type[Any], data: Any, where: str) -> Any:
    """An instance of dataclass ``cls`` from ``to_json``'s form, field by field and typed;
    ``where`` names ``data``'s place in the document for errors."""
    if not isinstance(data, dict):
        raise ShapeError(where, "an object was expected")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if f.init and f.compare}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ShapeError(where, f"unknown key {unknown[0]!r} (known: {', '.join(known)})")
    for name, f in known.items():
        if name not in data and f.default is MISSING and f.default_factory is MISSING:
            raise ShapeError(where, f"{name!r} is missing")
    values = {name: _from_json(hints[name], data[name], f"{where}.{name}") for name in data}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ShapeError(where, str(exc)) from None


def _from_json(hint: Any, value: Any, where: str) -> Any:
    if hint is Any:  # decoded by its owner (``kinds.decode``): a kind's own entry type
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _from_json(options[0], value, where)
    elif isinstance(hint, type) and is_dataclass(hint):
        return from_json(hint, value, where)
    elif isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise ShapeError(where, f"unknown value {value!r}") from None
    elif origin in (Mapping, dict) and isinstance(value, dict):
        return {
            _from_json(args[0], str(k), where): _from_json(args[1], v, f"{where}.{k}")
            for k, v in value.items()
        }
    elif origin in (tuple, list, frozenset) and isinstance(value, list):
        items = [_from_json(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
        return origin(items)
    elif hint is float and type(value) in (int, float):
        return float(value)
    elif hint in (int, str, bool) and type(value) is hint:
        return value
    raise ShapeError(where, f"{_describe(value)} is not a valid value here")


def _describe(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__}"
