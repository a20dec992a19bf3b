"""YAML syntax errors as problems: where PyYAML stopped, what it says, and a hint where one helps
(a tab in the indentation, where the unclosed construct began)."""

from __future__ import annotations

import yaml

from reconciler.errors import Position, Problem


def syntax_problem(error: yaml.YAMLError, file: str, text: str) -> Problem:
    """The problem ``error`` (raised while parsing ``text`` of ``file``) reports."""
    return Problem(
        _error_position(error, file, text), _error_message(error), _error_hint(error, file, text)
    )


def _error_position(error: yaml.YAMLError, file: str, text: str) -> Position | None:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        return Position(file, mark.line + 1, mark.column + 1)
    offset = getattr(error, "position", None)  # ReaderError: an offset into the text
    if isinstance(offset, int):
        line = text.count("\n", 0, offset) + 1
        return Position(file, line, offset - (text.rfind("\n", 0, offset) + 1) + 1)
    return None


def _error_hint(error: yaml.YAMLError, file: str, text: str) -> str | None:
    problem = getattr(error, "problem_mark", None)
    if problem is None:
        return None
    lines = text.splitlines()
    if (
        problem.line < len(lines)
        and lines[problem.line][problem.column : problem.column + 1] == "\t"
    ):
        return "indent with spaces: YAML does not allow tabs there"
    context = getattr(error, "context_mark", None)
    if context is None or (context.line, context.column) == (problem.line, problem.column):
        return None
    return f"the construct began at {Position(file, context.line + 1, context.column + 1)}"


def _error_message(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        parts = [part for part in (error.context, error.problem) if part]
        if parts:
            return "YAML syntax error: " + ", ".join(parts)
    if isinstance(error, yaml.reader.ReaderError):
        return f"unacceptable character #x{error.character:04x}: {error.reason}"
    return f"YAML error: {error}"
