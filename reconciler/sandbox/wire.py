"""One call as the provider handlers see it, and the answer they give back.

The HTTP layer (``server.py``) turns bytes into a ``Request`` and a ``Reply`` into bytes; the
provider modules never touch sockets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # as sent, without the query
    query: Mapping[str, str]  # decoded URL parameters
    form: Mapping[str, str]  # decoded form-body parameters (empty for other bodies)
    headers: Mapping[str, str]  # lower-case names; repeated headers joined as the SDK does
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        """URL parameters merged with form parameters; the form wins a clash."""
        return {**self.query, **self.form}


@dataclass
class Reply:
    """One HTTP response with a JSON body; the server adds content type and length.

    ``drop`` makes the server close the connection without sending a byte of it: the client
    sees the connection end and cannot tell whether the call took effect.
    """

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False

    @classmethod
    def dropped(cls) -> Reply:
        """No response at all: the connection is closed."""
        return cls(0, {}, drop=True)
