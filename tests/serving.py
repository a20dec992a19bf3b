"""Local stand-in servers (GitHub's token service, a chat webhook, a hostile provider) served
in a thread for the length of a block, and stopped at once rather than at their next poll."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator

from reconciler.sandbox.server import serve_until_woken


@contextlib.contextmanager
def serving(server: socketserver.TCPServer) -> Iterator[None]:
    """Serve ``server`` in a daemon thread while the block runs, then close it."""
    wake, waker = socket.socketpair()
    thread = threading.Thread(target=serve_until_woken, args=(server, wake), daemon=True)
    thread.start()
    try:
        yield
    finally:
        waker.send(b"x")
        thread.join()
        server.server_close()
        wake.close()
        waker.close()
