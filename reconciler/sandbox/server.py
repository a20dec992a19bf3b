"""The HTTP layer: a threaded HTTP/1.1 server that turns requests into ``Request`` objects.

Connections are kept alive (every reply has a Content-Length), so a client's paged listing
reuses one socket. The server tracks its open connections so that ``close`` can end them and
join their threads: a stopped sandbox leaves no thread or socket behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import selectors
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from reconciler.sandbox.wire import Reply, Request

log = logging.getLogger("reconciler.sandbox")

MAX_BODY = 10 * 1024 * 1024
IDLE_TIMEOUT = 60.0  # seconds a kept-alive connection may sit unused
JSON_TYPE = "application/json;charset=utf-8"

Dispatch = Callable[[Request], Reply]


def serve_until_woken(server: socketserver.TCPServer, wake: socket.socket) -> None:
    """``server.serve_forever()`` until a byte arrives on ``wake``. ``shutdown`` would wait for
    the loop's next poll (0.5 s by default); a byte on ``wake`` ends it at once."""
    with selectors.DefaultSelector() as selector:
        selector.register(server, selectors.EVENT_READ)
        selector.register(wake, selectors.EVENT_READ)
        while True:
            ready = [key.fileobj for key, _ in selector.select()]
            if wake in ready:
                return
            server.handle_request()  # one is waiting: it does not block


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatch: Dispatch, *, ipv6: bool) -> None:
        self.address_family = socket.AF_INET6 if ipv6 else socket.AF_INET
        self.dispatch = dispatch
        self._connections: dict[Any, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        self.connections_accepted = 0  # every connection since the start
        self.connections_peak = 0  # the most open at once
        self._wake, self._waker = socket.socketpair()
        super().__init__(address, _Handler)

    def serve(self) -> None:
        """Serve until ``stop_serving``: a ``--sandbox`` run does not wait for a poll to exit."""
        serve_until_woken(self, self._wake)

    def stop_serving(self) -> None:
        """Make ``serve`` return; call from another thread."""
        self._waker.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake.close()
        self._waker.close()

    def process_request(self, request: Any, client_address: Any) -> None:
        # Daemon threads so a forgotten sandbox never blocks interpreter exit; tracked here so
        # that close() can still end and join them.
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"sandbox-connection-{client_address}",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[request] = thread
            self.connections_accepted += 1
            self.connections_peak = max(self.connections_peak, len(self._connections))
        thread.start()

    @property
    def connections_open(self) -> int:
        with self._connections_lock:
            return len(self._connections)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-reply is routine; anything else is logged, not printed.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_connections(self, timeout: float = 5.0) -> None:
        """End every open connection and wait for its thread; call once ``serve`` returned."""
        with self._connections_lock:
            open_connections = list(self._connections.items())
        for connection, _ in open_connections:
            with contextlib.suppress(OSError):  # already closed by its own thread
                connection.shutdown(socket.SHUT_RDWR)
        for _, thread in open_connections:
            thread.join(timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxHTTPServer
    timeout = IDLE_TIMEOUT
    # Buffer the reply and send it in one go (the handler flushes after each request), and
    # turn off Nagle: a header segment followed by a small body segment otherwise meets the
    # client's delayed ACK and costs 40 ms per call.
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._send(Reply(400, {"message": str(exc)}))
            return
        split = urlsplit(self.path)
        content_type = self.headers.get("Content-Type", "")
        is_form = content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"
        request = Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            form=_form(body) if is_form else {},
            headers=self._header_map(),
            body=body,
        )
        self._send(self.server.dispatch(request))

    def _header_map(self) -> dict[str, str]:
        # Repeated headers are joined the way the official SDK canonicalizes them.
        names = {name.lower() for name in self.headers}
        return {
            name: ",".join(sorted(value.strip() for value in self.headers.get_all(name, [])))
            for name in names
        }

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        text = self.headers.get("Content-Length") or "0"
        if not text.isdigit():
            raise ValueError("invalid Content-Length")
        length = int(text)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                chunk = int(line, 16)
            except ValueError:
                raise ValueError("invalid chunked body") from None
            if chunk == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(parts)
            size += chunk
            if size > MAX_BODY:
                raise ValueError("request body too large")
            parts.append(self.rfile.read(chunk))
            self.rfile.readline(8)

    def _send(self, reply: Reply) -> None:
        if reply.drop:
            # Nothing is buffered yet (no status line either): ending the connection here
            # leaves the client with a request sent and no response, as a lost reply does.
            log.debug(
                "%s %s: connection dropped without a response", self.address_string(), self.path
            )
            self.close_connection = True
            return
        data = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
