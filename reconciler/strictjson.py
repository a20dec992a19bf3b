"""JSON from an untrusted local file, read strictly (SPEC §6: saved plans are untrusted).

``json.loads`` accepts text that is not interoperable JSON (RFC 8259 leaves it open, I-JSON,
RFC 7493, forbids it) and meets some of it only later, as a traceback: ``NaN`` and
``Infinity``, a number too large for a float (``1e999``) or too long for an int (Python
refuses more than ``sys.get_int_max_str_digits()`` digits), a key given twice (which value
wins depends on the reader), a lone surrogate escape (``"\\ud800"`` is no character: encoding
it, as every digest does, fails) and nesting deep enough to exhaust the stack. ``loads``
refuses each with a ``BadJSON`` saying what and where.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

# A plan nests about eight levels; anything near the interpreter's stack is not one.
MAX_DEPTH = 64
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BadJSON(ValueError):
    """Text that is not strict JSON. ``line`` and ``column`` are where the parser stopped;
    None when the problem was found after parsing (``message`` then names the place)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def at(self, name: object) -> str:
        """``name:line:column``, or ``name`` alone when the position is not known."""
        return f"{name}:{self.line}:{self.column}" if self.line is not None else f"{name}"


def loads(text: str) -> Any:
    """The value of the JSON ``text``; ``BadJSON`` for anything strict JSON refuses."""
    try:
        value = json.loads(text, **HOOKS)
    except json.JSONDecodeError as error:
        raise BadJSON(error.msg, error.lineno, error.colno) from None
    except RecursionError:
        raise BadJSON(f"nested more than {MAX_DEPTH} levels deep") from None
    check(value, check_text=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def _constant(name: str) -> Any:
    raise BadJSON(f"{name} is not a JSON number")


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise BadJSON(f"the number {_short(literal)} is out of range")
    return value


def _int(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > sys.get_int_max_str_digits():
        raise BadJSON(f"a number with {digits} digits is out of range")
    return int(literal)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadJSON(f"the key {_short(json.dumps(key))} appears twice in one object")
            seen.add(key)
    return result


# What ``json.loads`` (or a parser taking its options) needs to refuse as ``loads`` does.
HOOKS: dict[str, Any] = {
    "parse_constant": _constant,
    "parse_float": _float,
    "parse_int": _int,
    "object_pairs_hook": _object,
}


def check(value: Any, *, check_text: bool = True) -> None:
    """Refuse nesting beyond ``MAX_DEPTH`` and, if ``check_text``, strings (keys included)
    that are not text. Iterative: the value may be nested as deep as the parser allowed.
    With ``HOOKS`` for a parser that is not ``loads`` (``requests``' ``Response.json``)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, (dict, list)) and len(path) >= MAX_DEPTH:
            raise BadJSON(f"nested more than {MAX_DEPTH} levels deep (at {_where(path[:3])}...)")
        if isinstance(item, dict):
            for key, inner in item.items():
                if check_text:
                    _text(key, (*path, key), "a key")
                stack.append((inner, (*path, key)))
        elif isinstance(item, list):
            stack.extend((inner, (*path, i)) for i, inner in enumerate(item))
        elif check_text and isinstance(item, str):
            _text(item, path, "the value")


def _text(value: str, path: tuple[str | int, ...], what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        escape = f"\\u{ord(value[error.start]):04x}"
        raise BadJSON(
            f"{_where(path)}: {what} holds the lone surrogate escape {escape}, which is not a "
            "character"
        ) from None


def _where(path: tuple[str | int, ...]) -> str:
    """A JSON path as the schema errors show one: ``live.sc.entries[3]``."""
    shown = ""
    for part in path:
        if isinstance(part, int):
            shown += f"[{part}]"
        else:
            name = _short(part.encode("utf-8", "backslashreplace").decode("utf-8"))
            shown += f".{name}" if shown else name
    return shown or "(top level)"


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
