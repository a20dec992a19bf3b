"""What a new plan changes relative to an older one, for a reviewer (``plan --compare OLD``).

Pure: two plan documents in (the JSON of ``plan --format json`` or ``plan --out``), a
``Comparison`` out, and renderers of it as text, JSON and Markdown.

Changes are matched by ``(account, resource, key)`` and refusals by ``(account, resource,
rule)``, each list keyed into a dict first, so matching costs one pass over each plan. Only a
matched pair that differs goes through deepdiff, which finds the fields that differ inside the
two small entries — ``after.types``, ``action``, ``before.id``. deepdiff is imported on first use:
a plain ``plan`` never loads it. (Never ``DeepDiff(ignore_order=True)`` over whole lists: it
pairs every item with every other, 59 s for two lists of 1,000 changes.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import files, strictjson
from reconciler.errors import InputError

FORMAT_VERSION = 1
MARKDOWN_BUDGET = 5_000
Key = tuple[str, ...]


@dataclass(frozen=True)
class FieldChange:
    """One field of a matched entry: its dotted ``path`` and the old and new values."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Changed:
    """An entry present in both plans, with the fields that differ."""

    key: Key
    fields: tuple[FieldChange, ...]


@dataclass(frozen=True)
class Section:
    """Entries only in the new plan, only in the old one, and in both but different."""

    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass(frozen=True)
class Comparison:
    old_summary: Mapping[str, int]
    new_summary: Mapping[str, int]
    changes: Section
    refusals: Section
    old_created_at: str | None = None

    @property
    def same(self) -> bool:
        return not self.changes and not self.refusals


# -- reading ------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    """A plan document from ``path``: a saved plan or ``--format json`` output.

    Anything else is an ``InputError`` (exit 3). Only the plan keys are checked: the
    comparison trusts nothing else in the file, and never applies it.
    """
    text = files.read_text(path, files.PLAN_LIMIT, "--compare")
    try:
        document = strictjson.loads(text)
    except strictjson.BadJSON as exc:
        raise InputError(f"--compare {exc.at(path)} is not JSON: {exc.message}") from None
    problem = _shape_problem(document)
    if problem:
        raise InputError(f"--compare {path} is not a plan made by plan --out: {problem}")
    return dict(document)


def _shape_problem(document: Any) -> str | None:
    if not isinstance(document, dict):
        return "not a JSON object"
    if document.get("format_version") != FORMAT_VERSION:
        return f"format_version is {document.get('format_version')!r}, not {FORMAT_VERSION}"
    for name, required in (("changes", ("account", "resource", "key")), ("refusals", ("rule",))):
        items = document.get(name)
        if not isinstance(items, list):
            return f"{name} is not a list"
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str) for k in required
            ):
                return f"{name}[{index}] lacks one of {', '.join(required)}"
    if not isinstance(document.get("summary"), dict):
        return "summary is not an object"
    return None


# -- comparing ----------------------------------------------------------------------------


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> Comparison:
    """What ``new`` changes relative to ``old``; both are plan documents."""
    return Comparison(
        old_summary=dict(old["summary"]),
        new_summary=dict(new["summary"]),
        changes=_section(old["changes"], new["changes"], ("account", "resource", "key")),
        refusals=_section(old["refusals"], new["refusals"], ("account", "resource", "rule")),
        old_created_at=old.get("created_at"),
    )


def _keyed(items: Iterable[Mapping[str, Any]], names: Sequence[str]) -> dict[Key, Any]:
    keyed: dict[Key, Any] = {}
    for item in items:
        key = tuple(str(item.get(name) or "") for name in names)
        # A plan never holds one key twice; if an edited file does, keep both apart.
        while key in keyed:
            key = (*key, "#")
        keyed[key] = item
    return keyed


def _section(
    old_items: Iterable[Mapping[str, Any]],
    new_items: Iterable[Mapping[str, Any]],
    names: Sequence[str],
) -> Section:
    old = _keyed(old_items, names)
    new = _keyed(new_items, names)
    section = Section()
    for key, item in new.items():
        before = old.get(key)
        if before is None:
            section.added.append(item)
        elif before != item:
            section.changed.append(Changed(key, fields(before, item)))
    section.removed.extend(item for key, item in old.items() if key not in new)
    return section


def fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """The fields that differ between two versions of one entry, in path order.

    A difference inside a list (``types``) is shown as the whole list, old and new: a
    reviewer reads ``bounce -> bounce,complaint``, not an index.
    """
    from deepdiff import DeepDiff

    paths: set[tuple[Any, ...]] = set()
    for levels in DeepDiff(old, new, view="tree").values():
        for level in levels:
            path = tuple(level.path(output_format="list"))
            cut = next((i for i, part in enumerate(path) if isinstance(part, int)), len(path))
            paths.add(path[:cut])
    return tuple(
        FieldChange(".".join(map(str, path)), _get(old, path), _get(new, path))
        for path in sorted(paths, key=lambda p: tuple(map(str, p)))
    )


def _get(value: Any, path: Sequence[Any]) -> Any:
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


# -- rendering ----------------------------------------------------------------------------


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value) or "(empty)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# The words of plan's own summary line ("Plan: 1 to add, 2 to change, 0 to delete.").
_SUMMARY_WORDS = (("create", "add"), ("update", "change"), ("delete", "delete"))


def _summary(summary: Mapping[str, int]) -> str:
    return ", ".join(f"{summary.get(key, 0)} to {word}" for key, word in _SUMMARY_WORDS)


def _change_label(item: Mapping[str, Any] | Key) -> str:
    if isinstance(item, tuple):
        account, resource, key = item[:3]
        return f"{account}  {resource} {key}"
    return f"{item['account']}  {item['resource']} {item['key']} ({item.get('action')})"


def _refusal_label(item: Mapping[str, Any] | Key) -> str:
    if isinstance(item, tuple):
        account, _, rule = item[:3]
        return f"{rule}: {account}" if account else rule
    return f"{item['rule']}: {item.get('message', '')}"


def text(comparison: Comparison, old_name: str) -> str:
    """The comparison as lines of text, for a terminal or a log."""
    since = f" ({comparison.old_created_at})" if comparison.old_created_at else ""
    lines = [f"Compared with {old_name}{since}:"]
    if comparison.same:
        lines.append("  the plans are the same.")
        return "\n".join(lines) + "\n"
    for title, section, label in (
        ("changes", comparison.changes, _change_label),
        ("refusals", comparison.refusals, _refusal_label),
    ):
        for item in section.added:
            lines.append(f"  + {title[:-1]} {label(item)}")
        for item in section.removed:
            lines.append(f"  - {title[:-1]} {label(item)}")
        for changed in section.changed:
            lines.append(f"  ~ {title[:-1]} {label(changed.key)}")
            lines.extend(
                f"      {f.path}: {_value(f.old)} -> {_value(f.new)}" for f in changed.fields
            )
    lines.append(
        f"Old plan: {_summary(comparison.old_summary)}; "
        f"new plan: {_summary(comparison.new_summary)}."
    )
    return "\n".join(lines) + "\n"


def document(comparison: Comparison) -> dict[str, Any]:
    """The comparison as a JSON document (``format_version`` 1)."""

    def section(part: Section, names: Sequence[str]) -> dict[str, Any]:
        return {
            "added": part.added,
            "removed": part.removed,
            "changed": [
                {
                    **dict(zip(names, c.key, strict=False)),
                    "fields": [{"path": f.path, "old": f.old, "new": f.new} for f in c.fields],
                }
                for c in part.changed
            ],
        }

    return {
        "format_version": FORMAT_VERSION,
        "old": {"created_at": comparison.old_created_at, "summary": dict(comparison.old_summary)},
        "new": {"summary": dict(comparison.new_summary)},
        "same": comparison.same,
        "changes": section(comparison.changes, ("account", "resource", "key")),
        "refusals": section(comparison.refusals, ("account", "resource", "rule")),
    }


def markdown(comparison: Comparison, old_name: str, budget: int = MARKDOWN_BUDGET) -> str:
    """The comparison as a Markdown section to follow the plan in a pull-request comment.

    Rows up to ``budget`` characters; the rest are counted. The plan's own Markdown stays under
    60,000 characters, so the two together stay under GitHub's 65,536.
    """
    from reconciler.output.markdown_text import code
    from reconciler.output.markdown_text import text as md_text

    rows: list[str] = []
    for title, section, label in (
        ("change", comparison.changes, _change_label),
        ("refusal", comparison.refusals, _refusal_label),
    ):
        rows.extend(f"| added | {title} | {code(label(i))} | |" for i in section.added)
        rows.extend(f"| removed | {title} | {code(label(i))} | |" for i in section.removed)
        for changed in section.changed:
            detail = "<br>".join(
                code(f"{f.path}: {_value(f.old)} -> {_value(f.new)}") for f in changed.fields
            )
            rows.append(f"| changed | {title} | {code(label(changed.key))} | {detail} |")
    lines = [f"### Compared with {md_text(old_name)}", ""]
    if not rows:
        lines.append("The plans are the same.")
        return "\n".join(lines) + "\n"
    lines += ["| | | entry | fields |", "|---|---|---|---|"]
    used = sum(len(line) + 1 for line in lines) + 100  # the heading and the "… more" line
    shown = 0
    for row in rows:
        if used + len(row) + 1 > budget:
            break
        lines.append(row)
        used += len(row) + 1
        shown += 1
    if shown < len(rows):
        lines += ["", f"… and {len(rows) - shown} more differences."]
    return "\n".join(lines) + "\n"


def render(comparison: Comparison, fmt: str, old_name: str) -> str:
    """The comparison in ``plan``'s ``--format``: text, json or markdown."""
    if fmt == "json":
        return json.dumps(document(comparison), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return markdown(comparison, old_name)
    return text(comparison, old_name)
