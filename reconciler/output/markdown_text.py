"""Markdown escaping for a pull-request comment (SPEC §4): a value from manifests or providers
(an address, an e-mail, an apiUser, a message) as a code span in a table cell, as Markdown
text, or inside raw HTML. The plan's Markdown (``output.markdown``) uses it, for the kinds'
cells (``Kind.markdown_cells``, given in parts) too.
"""

from __future__ import annotations

import html
import re

from reconciler.output import redact
from reconciler.output.console import reveal

MAX_VALUE = 200  # characters of one value shown before it is cut
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]~|#!])")


def clean(text: str) -> str:
    """One line, at most ``MAX_VALUE`` characters: a value must not break the layout. Its
    e-mail addresses are masked under ``--redact``."""
    # Controls become spaces; invisible format characters (a bidirectional override would
    # reorder the comment as shown) become visible escapes, as on the terminal.
    text = reveal(_CONTROL.sub(" ", redact.text(text)))
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def code(text: str) -> str:
    """``text`` as a code span that is safe in a table cell.

    Inside a code span nothing is interpreted but backticks (a longer fence holds them) and,
    in a table, ``|`` (escaped as ``\\|``, which GitHub and CommonMark table parsers undo).
    """
    text = clean(text)
    if not text:
        return "(empty)"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    text = text.replace("|", "\\|")
    if text.startswith("`") or text.endswith("`") or (text[0] == " " and text[-1] == " "):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def text(value: str) -> str:
    """``value`` as literal Markdown text (also inside a table cell)."""
    value = html.escape(clean(value), quote=False)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", value)


def html_text(value: str) -> str:
    """``value`` inside raw HTML (``<summary>``), where Markdown is not interpreted."""
    return html.escape(clean(value), quote=True)
