"""An answer's body read within its bounds (``providers/body.py``), without a socket."""

from __future__ import annotations

import gzip
import io
import time
import zlib

import pytest

from reconciler.providers.body import MAX_BODY, UnreadableBody, read_bounded

BODY = b'{"IpProtection": "1", "RequestId": "r"}'


class _Raw:
    """What ``read_bounded`` uses of urllib3's response: ``read1(n, decode_content=False)``."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read1(self, amount: int, decode_content: bool = True) -> bytes:
        assert decode_content is False  # the bound applies to what is decompressed here
        return self._data.read(amount)


def _read(data: bytes, encoding: str, seconds: float = 60.0) -> bytes:
    return read_bounded(_Raw(data), encoding, time.monotonic() + seconds, seconds)


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("", BODY),
        ("identity", BODY),
        ("gzip", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),
    ],
    # Named by encoding: gzip stamps the time into its bytes, and test workers must collect
    # the same ids.
    ids=["none", "identity", "gzip", "x-gzip", "deflate"],
)
def test_each_encoding_asked_for_is_read(encoding: str, data: bytes) -> None:
    assert _read(data, encoding) == BODY


def test_an_encoding_not_asked_for_is_refused_and_may_be_retried() -> None:
    with pytest.raises(UnreadableBody) as caught:
        _read(BODY, "br")
    assert "an encoding this client did not ask for ('br')" in str(caught.value)
    assert caught.value.retryable


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_corrupt_compressed_body_is_refused_and_may_be_retried(encoding: str) -> None:
    with pytest.raises(UnreadableBody) as caught:
        _read(b"\x1f\x8b\x08\x00 this is not deflate data", encoding)
    assert str(caught.value) == "the answer's compressed body is corrupt"
    assert caught.value.retryable


def test_a_body_over_the_bound_is_refused_once_decompressed() -> None:
    with pytest.raises(UnreadableBody) as caught:
        _read(zlib.compress(b" " * (MAX_BODY + 1)), "deflate")
    assert "larger than 16 MiB; it was not read to the end" in str(caught.value)
    assert not caught.value.retryable
    assert _read(zlib.compress(b" " * MAX_BODY), "deflate") == b" " * MAX_BODY  # at the bound


def test_a_body_past_its_deadline_is_refused() -> None:
    with pytest.raises(UnreadableBody) as caught:
        _read(BODY, "", seconds=-1.0)
    assert "took over -1 s" in str(caught.value)
    assert not caught.value.retryable
