"""Reading an answer's body within bounds: at most ``MAX_BODY`` bytes once decompressed, and
no later than a deadline however the provider paces it (SPEC §6)."""

from __future__ import annotations

import socket
import time
import zlib
from typing import Any

import urllib3.exceptions

from reconciler.files import size_text

__all__ = ["MAX_BODY", "UnreadableBody", "read_bounded"]

# Most bytes of one answer, after decompression (SPEC §6).
MAX_BODY = 16 * 1024 * 1024
# Bytes read from the socket at a time; at most 1,024 times as many once decompressed.
READ_CHUNK = 16 * 1024


class UnreadableBody(Exception):
    """An answer this client did not read to the end; the message says why."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def read_bounded(
    raw: Any, encoding: str, until: float, seconds: float, *, limit: int = MAX_BODY
) -> bytes:
    """The body of ``raw`` (urllib3's response, not yet read), decompressed as ``encoding``
    says, read before the monotonic time ``until`` (``seconds`` after the call started), at
    most ``limit`` bytes once decompressed.

    Raises ``UnreadableBody``; errors of the connection itself propagate as they are.
    """
    decoder = _decoder(encoding)
    if decoder is None:
        raise UnreadableBody(
            f"the answer is in an encoding this client did not ask for ({encoding[:40]!r})",
            retryable=True,
        )
    read = getattr(raw, "read1", None) or raw.read
    sock = _socket(raw)
    late = UnreadableBody(f"the answer took over {seconds:g} s; {_NOT_READ}")
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0:
                # Not retried: the same provider is likely to answer the same way again.
                raise late
            if sock is not None:
                # A hard stop: no single wait for bytes may outlast the deadline.
                sock.settimeout(remaining)
            try:
                chunk = read(READ_CHUNK, decode_content=False)
            except (TimeoutError, urllib3.exceptions.ReadTimeoutError):
                if time.monotonic() < until:
                    raise
                raise late from None
            if not chunk:
                break
            pending = chunk
            while pending:
                out = decoder.decompress(pending, limit + 1 - size)
                pending = decoder.unconsumed_tail
                size += len(out)
                if size > limit:
                    raise UnreadableBody(
                        f"the answer is larger than {size_text(limit)}; {_NOT_READ}"
                    )
                parts.append(out)
        parts.append(decoder.flush())
    except zlib.error:
        raise UnreadableBody("the answer's compressed body is corrupt", retryable=True) from None
    return b"".join(parts)


_NOT_READ = "it was not read to the end"


def _socket(raw: Any) -> socket.socket | None:
    """The socket under urllib3's response, if it can be reached, to bound each wait."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    return sock if isinstance(sock, socket.socket) else None


class _Identity:
    """The ``zlib`` decompressor interface for a body sent as it is."""

    unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def _decoder(encoding: str) -> Any:
    """A decompressor whose output can be bounded (``max_length``), or None if unknown."""
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    return None
