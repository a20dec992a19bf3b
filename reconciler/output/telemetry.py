"""Renderers of delivery telemetry: ``stats`` as a text table, JSON or CSV, written a page at a
time; ``check`` results as text, JSON or Markdown.

A ``StatsWriter`` is given the rows page by page and writes each page as it comes, so that a
long read prints as it goes and holds one page in memory: the text table of a streamed view
has fixed column widths, the JSON document is opened before the first row and closed after
the last, and CSV is a header row then rows, with nothing else on stdout.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.output.console import counted, escape

FORMAT_VERSION = 1

# The columns of each view: (key, heading, fixed width for a streamed text table).
COLUMNS: Mapping[str, tuple[tuple[str, str, int], ...]] = {
    "summary": (
        ("date", "DATE", 10),
        ("requests", "REQUESTS", 8),
        ("succeeded", "SUCCEEDED", 9),
        ("failed", "FAILED", 6),
        ("invalid", "INVALID", 7),
        ("success_percent", "SUCCESS%", 8),
        ("invalid_percent", "INVALID%", 8),
        ("opens", "OPENS", 6),
        ("unique_opens", "U.OPENS", 7),
        ("clicks", "CLICKS", 6),
        ("unique_clicks", "U.CLICKS", 8),
    ),
    "tracking": (
        ("time", "TIME", 22),
        ("total", "TOTAL", 6),
        ("opens", "OPENS", 6),
        ("open_rate", "OPEN%", 6),
        ("unique_opens", "U.OPENS", 7),
        ("unique_open_rate", "U.OPEN%", 7),
        ("clicks", "CLICKS", 6),
        ("click_rate", "CLICK%", 6),
        ("unique_clicks", "U.CLICKS", 8),
        ("unique_click_rate", "U.CLICK%", 8),
    ),
    "invalid": (
        ("time", "TIME", 22),
        ("address", "ADDRESS", 40),
    ),
    "deliveries": (
        ("time", "TIME", 22),
        ("sender", "SENDER", 28),
        ("recipient", "RECIPIENT", 32),
        ("status", "STATUS", 7),
        ("classification", "CLASSIFICATION", 20),
        ("message", "MESSAGE", 0),
    ),
}
# Cells a spreadsheet would run as a formula (OWASP "CSV injection"): provider text that starts
# with one of these gets a leading apostrophe in CSV.
_FORMULA_START = frozenset("=+-@\t\r")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else str(value)


class StatsWriter:
    """Writes one view's rows, page by page, through ``write`` (stdout)."""

    def __init__(
        self,
        write: Callable[[str], None],
        fmt: str,
        *,
        account: str,
        view: str,
        start: str,
        end: str,
    ) -> None:
        self.write = write
        self.fmt = fmt
        self.columns = COLUMNS[view]
        self.rows = 0
        self._head = {
            "format_version": FORMAT_VERSION,
            "account": account,
            "view": view,
            "from": start,
            "to": end,
        }

    def begin(self) -> None:
        if self.fmt == "json":
            head = json.dumps(self._head, ensure_ascii=False)[:-1]
            self.write(f'{head}, "rows": [')
        elif self.fmt == "csv":
            # The JSON rows' keys: one name for a column whatever the format.
            self.write(self._csv([[key for key, _, _ in self.columns]]))
        else:
            self.write(self._text_line([heading for _, heading, _ in self.columns]))

    def page(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if self.fmt == "json":
            lead = ",\n  " if self.rows else "\n  "
            self.write(lead + ",\n  ".join(json.dumps(dict(r), ensure_ascii=False) for r in rows))
        elif self.fmt == "csv":
            keys = [key for key, _, _ in self.columns]
            self.write(self._csv([_csv_row(row, keys) for row in rows]))
        else:
            self.write(
                "".join(
                    self._text_line([escape(_cell(r.get(k))) for k, _, _ in self.columns])
                    for r in rows
                )
            )
        self.rows += len(rows)

    def end(self) -> None:
        if self.fmt == "json":
            self.write("\n]}\n" if self.rows else "]}\n")
        elif self.fmt == "text" and not self.rows:
            self.write("(no records in this window)\n")

    def _text_line(self, cells: Sequence[str]) -> str:
        parts = []
        for (_, _, width), cell in zip(self.columns, cells, strict=True):
            if width and len(cell) > width:
                cell = cell[: width - 1] + "…"
            parts.append(cell.ljust(width) if width else cell)
        return "  ".join(parts).rstrip() + "\n"

    @staticmethod
    def _csv(rows: list[list[str]]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        return buffer.getvalue()


def _csv_row(row: Mapping[str, Any], keys: Sequence[str]) -> list[Any]:
    """The row's cells for ``csv.writer``: numbers as they are (floats with two decimals),
    provider text defused where a spreadsheet would run it as a formula."""
    cells = [row.get(key) for key in keys]
    for index, cell in enumerate(cells):
        if type(cell) is str:
            if cell[:1] in _FORMULA_START:
                cells[index] = "'" + cell
        elif type(cell) is float:
            cells[index] = f"{cell:.2f}"
        elif cell is None:
            cells[index] = ""
    return cells


# -- check ---------------------------------------------------------------------------------

STATUS_MARK = {"pass": "PASS", "fail": "FAIL", "insufficient-data": "NO DATA"}


def check_document(results: Sequence[Mapping[str, Any]], warnings: Sequence[str]) -> str:
    return (
        json.dumps(
            {"format_version": FORMAT_VERSION, "checks": list(results), "warnings": list(warnings)},
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def _measured(result: Mapping[str, Any]) -> str:
    m = result["measured"]
    parts = [counted(m["requests"], "request"), f"failed {m['failed_percent']:.2f}%"]
    parts.append(f"invalid {m['invalid_percent']:.2f}%")
    if m.get("open_percent") is not None:
        parts.append(f"opened {m['open_percent']:.2f}%")
    return ", ".join(parts)


def check_text(results: Sequence[Mapping[str, Any]], *, quiet: bool = False) -> str:
    """One line per check (and its reasons and notes), then the counts. ``quiet``: only the
    checks that failed or could not be judged, without the counts; nothing when all passed."""
    lines = []
    for result in results:
        if quiet and result["status"] == "pass":
            continue
        mark = STATUS_MARK[result["status"]]
        window = result["window"]
        lines.append(
            f"{mark:<8} {result['name']} ({result['account']}, {window['from']} to "
            f"{window['to']}): {_measured(result)}"
        )
        lines.extend(f"         - {escape(reason)}" for reason in result["reasons"])
        lines.extend(f"         note: {escape(note)}" for note in result.get("notes", ()))
    if quiet:
        return "".join(line + "\n" for line in lines)
    counts = {s: sum(r["status"] == s for r in results) for s in STATUS_MARK}
    lines.append(
        f"\n{counted(len(results), 'check')}: {counts['pass']} passed, {counts['fail']} "
        f"failed, {counts['insufficient-data']} without enough data."
    )
    return "\n".join(lines) + "\n"


def check_markdown(results: Sequence[Mapping[str, Any]], warnings: Sequence[str]) -> str:
    lines = [
        "### Delivery checks",
        "",
        "| check | account | status | requests | failed % | invalid % | opened % | why |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for result in results:
        m = result["measured"]
        opened = "" if m.get("open_percent") is None else f"{m['open_percent']:.2f}"
        why = "; ".join([*result["reasons"], *result.get("notes", ())]) or "within thresholds"
        lines.append(
            f"| {_md(result['name'])} | {_md(result['account'])} | "
            f"**{STATUS_MARK[result['status']]}** | {m['requests']} | "
            f"{m['failed_percent']:.2f} | {m['invalid_percent']:.2f} | {opened} | {_md(why)} |"
        )
    if warnings:
        lines += ["", "**Warnings**", ""] + [f"- {_md(w)}" for w in warnings]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    cleaned = escape(str(text)).replace("|", "\\|").replace("\n", " ")
    return cleaned.replace("<", "&lt;").replace(">", "&gt;")
