"""The frame of a manifest document as ``export`` writes it, and a literal ``ignore`` pattern:
what each kind's export builds on (``Kind.export``), below the kinds and the engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

API_VERSION = "reconciler/v1"


def document(kind: str, account: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest document of ``kind`` for ``account``, holding ``spec``."""
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": account},
        "spec": {"account": account, **spec},
    }


def literal_pattern(text: str) -> str:
    """A glob pattern (``ignore``) that matches exactly ``text``."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
