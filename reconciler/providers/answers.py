"""Checking provider answers before they are used (SPEC §6 "untrusted input", §8).

An answer that does not have the shape, types or values of SPEC §8 is a ``BadAnswer``: a
``ProviderError`` naming the call and its request id, never a traceback and never the basis of a
deletion. A listing that contradicts itself (one id holding two addresses, a ``count`` that
agrees with no reading of it) is ``InconsistentAnswer``: the same, but refused as incomplete or
inconsistent live state (SPEC §5 rule 4, exit 4), which ``--force`` does not override.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.errors import ExitCode, ProviderError

# A list could not be paged to its end beyond this many entries (SPEC §6): a total above it is
# refused before any paging.
MAX_ENTRIES = 1_000_000


class BadAnswer(ProviderError):
    """An answer whose shape, types or values do not match SPEC §8."""

    def __init__(self, provider: str, action: str, what: str, request_id: Any = None) -> None:
        super().__init__(
            f"unexpected answer: {what}",
            provider=provider,
            action=action,
            code="BadAnswer",
            request_id=request_id if isinstance(request_id, str) and request_id else None,
        )


class InconsistentAnswer(BadAnswer):
    """A listing that contradicts itself: SPEC §5 rule 4, nothing is written."""

    exit_code = ExitCode.REFUSED

    def __init__(self, provider: str, action: str, what: str, request_id: Any = None) -> None:
        super().__init__(provider, action, what, request_id)
        self.what = what
        self.code = "InconsistentLiveState"
        self.provider_message = (
            f"incomplete or inconsistent live state: {what}; nothing will be written to this "
            "list (--force does not override this)"
        )
        self.args = (str(self),)


class Checker:
    """Checks the parts of one answer; every failure names the call and the request id."""

    def __init__(self, provider: str, action: str, request_id: Any = None) -> None:
        self.provider = provider
        self.action = action
        self.request_id = request_id

    def bad(self, what: str) -> BadAnswer:
        return BadAnswer(self.provider, self.action, what, self.request_id)

    def inconsistent(self, what: str) -> InconsistentAnswer:
        return InconsistentAnswer(self.provider, self.action, what, self.request_id)

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.bad(f"{where} is {_kind(value)}, not an object")
        return value

    def records(self, value: Any, where: str) -> list[Mapping[str, Any]]:
        """A list of objects; ``None`` (absent) is an empty list."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.bad(f"{where} is {_kind(value)}, not a list")
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.bad(f"{where}[{index}] is {_kind(item)}, not an object")
        return value

    def text(self, value: Any, where: str, *, required: bool = True) -> str:
        """A string (numbers are accepted as their decimal text); non-empty if ``required``."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is None and not required:
            return ""
        if not isinstance(value, str):
            raise self.bad(f"{where} is {_kind(value)}, not a string")
        if required and not value.strip():
            raise self.bad(f"{where} is empty")
        return value

    def count(self, value: Any, where: str) -> int:
        """A non-negative entry count (an int or its decimal text), at most ``MAX_ENTRIES``."""
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.bad(f"{where} is {_kind(value)}, not a count")
        if value > MAX_ENTRIES:
            raise self.bad(
                f"{where} is {value:,}, more entries than could be read (at most {MAX_ENTRIES:,})"
            )
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"a{'n' if type(value).__name__[0] in 'aeiou' else ''} {type(value).__name__}"
