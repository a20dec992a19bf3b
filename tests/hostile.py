"""A scripted provider on 127.0.0.1 that answers what a broken or malicious one would.

Tests use it to check that the tool does not trust what it is told: give it a function that
turns each request into an answer (or a fixed answer per DirectMail action / SendCloud path),
point an Account's endpoint at ``server.url``, run the real CLI, then look at ``server.requests``
for what reached the server.

    with HostileServer(answers={"GetIpfilterList": Answer.json({...})}) as server:
        result = run_cli("plan", ..., env=...)
        assert [r.action for r in server.requests] == ["GetIpfilterList"]

An answer is raw: status, headers and body bytes as given, so a test can send a redirect,
a gzip bomb, a body longer than its Content-Length, or one byte every few seconds (``trickle``).
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.serving import serving


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, sent exactly as given."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    reason: str | None = None
    # Seconds between single bytes of the body; 0 sends it at once.
    trickle: float = 0.0
    # Close the connection without answering (after reading the request).
    drop: bool = False

    @classmethod
    def json(cls, value: Any, status: int = 200, **headers: str) -> Answer:
        extra = tuple(headers.items())
        return cls(
            status, json.dumps(value).encode(), (("Content-Type", "application/json"), *extra)
        )

    @classmethod
    def gzip_json(cls, value: Any, status: int = 200) -> Answer:
        body = gzip.compress(json.dumps(value).encode())
        return cls(
            status, body, (("Content-Type", "application/json"), ("Content-Encoding", "gzip"))
        )

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Answer:
        return cls(status, b"", (("Location", location),))


@dataclass(frozen=True)
class Request:
    """What reached the server: enough to tell which call it was and what it carried."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace")))

    @property
    def action(self) -> str:
        """The DirectMail action (header or parameter) or the SendCloud path's last part."""
        action = self.headers.get("x-acs-action") or self.query.get("Action")
        action = action or self.form.get("Action")
        return action or self.path.rstrip("/").rsplit("/", 1)[-1]


Script = Callable[[Request], Answer]


@dataclass
class HostileServer:
    """A ThreadingHTTPServer on 127.0.0.1 with an ephemeral port; a context manager."""

    script: Script | None = None
    # action (DirectMail) or path tail (SendCloud: "list", "add", "delete") -> answer, or a list
    # of answers given in turn (the last one repeats).
    answers: Mapping[str, Answer | list[Answer]] = field(default_factory=dict)
    default: Answer = field(default_factory=lambda: Answer(404, b'{"Code": "NotScripted"}'))
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._served: dict[str, int] = {}
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first"
        host, port = self._httpd.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    def actions(self) -> list[str]:
        return [request.action for request in self.requests]

    def answer(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            if self.script is not None:
                return self.script(request)
            scripted = self.answers.get(request.action)
            if scripted is None:
                return self.default
            if isinstance(scripted, Answer):
                return scripted
            turn = self._served.get(request.action, 0)
            self._served[request.action] = turn + 1
            return scripted[min(turn, len(scripted) - 1)]

    def __enter__(self) -> HostileServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parsed = urllib.parse.urlsplit(self.path)
                request = Request(
                    self.command,
                    parsed.path,
                    dict(urllib.parse.parse_qsl(parsed.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                answer = server.answer(request)
                if answer.drop:
                    self.close_connection = True
                    return
                self.send_response(answer.status, answer.reason)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                try:
                    if answer.trickle:
                        for byte in _bytes(answer.body):
                            self.wfile.write(byte)
                            self.wfile.flush()
                            time.sleep(answer.trickle)
                    else:
                        self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._serving = serving(self._httpd)
        self._serving.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._serving.__exit__(None, None, None)


def _bytes(body: bytes) -> Iterator[bytes]:
    for index in range(len(body)):
        yield body[index : index + 1]
