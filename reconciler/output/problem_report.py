"""Manifest problems for machines and reviews: JSON, GitHub workflow commands, Markdown.

``validate --format json|github`` and ``plan --format markdown`` of invalid manifests print
these on stdout, so that CI can annotate the pull request's diff or post the errors as the
plan comment. The text format stays in ``cli.Output.problem``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.errors import Problem
from reconciler.output.markdown import MARKER

# (command, --format) that print the problems of invalid manifests on stdout.
ON_STDOUT = frozenset({("validate", "json"), ("validate", "github"), ("plan", "markdown")})
# A comment must stay under GitHub's 65,536 characters; long lists are cut with a count.
_MARKDOWN_LIMIT = 60_000


def _entry(problem: Problem) -> dict[str, object]:
    where = problem.position
    return {
        "file": where.file if where else None,
        "line": where.line if where else None,
        "column": where.column if where else None,
        "message": problem.message,
        "hint": problem.hint,
    }


def to_json(problems: Sequence[Problem]) -> str:
    """``{"format_version": 1, "valid", "errors": [...], "warnings": [...], "summary"}``."""
    errors = [_entry(p) for p in problems if not p.warning]
    warnings = [_entry(p) for p in problems if p.warning]
    document = {
        "format_version": 1,
        "valid": not errors,
        "errors": errors,
        "warnings": warnings,
        "summary": {"errors": len(errors), "warnings": len(warnings)},
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    # GitHub's own escaping (toolkit's command.ts): '%' first, then line breaks.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _message(problem: Problem) -> str:
    return f"{problem.message} ({problem.hint})" if problem.hint else problem.message


def to_github(problems: Sequence[Problem]) -> str:
    """One ``::error file=…,line=…,col=…::message`` workflow command per problem."""
    lines = []
    for problem in problems:
        command = "warning" if problem.warning else "error"
        where = problem.position
        properties = (
            f" file={_escape_property(where.file)},line={where.line},col={where.column}"
            if where
            else ""
        )
        lines.append(f"::{command}{properties}::{_escape_data(_message(problem))}\n")
    errors = sum(1 for p in problems if not p.warning)
    if errors:
        lines.append(f"{errors} error{'s' if errors != 1 else ''} in the manifests\n")
    return "".join(lines)


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def to_markdown(problems: Sequence[Problem]) -> str:
    """The problems as the plan comment: what is wrong and where, in a table."""
    errors = [p for p in problems if not p.warning]
    count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
    head = [
        MARKER,
        f"### reconciler plan: {count} in the manifests",
        "",
        "> [!CAUTION]",
        "> The manifests are invalid; nothing was planned. Fix these and push again.",
        "",
        "| where | problem |",
        "|---|---|",
    ]
    text = "\n".join(head) + "\n"
    for index, problem in enumerate(errors):
        where = str(problem.position) if problem.position else ""
        row = f"| `{_cell(where)}` | {_cell(_message(problem))} |\n"
        if len(text) + len(row) > _MARKDOWN_LIMIT:
            text += f"\n… and {len(errors) - index} more errors: see the job log.\n"
            break
        text += row
    return text


def render(format: str, problems: Sequence[Problem]) -> str:
    """The problems in ``format``: json, github or markdown."""
    match format:
        case "json":
            return to_json(problems)
        case "github":
            return to_github(problems)
        case "markdown":
            return to_markdown(problems)
    raise AssertionError(format)
