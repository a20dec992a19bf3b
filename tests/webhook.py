"""A chat webhook on 127.0.0.1 that checks DingTalk's and Feishu's signatures as they document
them and records each post, for the ``--notify`` tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.serving import serving

TOKEN = "tok-9f8e7d6c5b4a"
SECRET = "SECsecret-3b2a1f0e"


@dataclass
class Received:
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    valid: bool


@dataclass
class Receiver:
    """Checks signatures as DingTalk and Feishu document them, from the secret it was given."""

    platform: str
    status: int = 200
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def verify(self, query: dict[str, str], body: dict[str, Any]) -> bool:
        now = time.time()
        if self.platform == "dingtalk":
            timestamp = query.get("timestamp", "")
            expected = base64.b64encode(
                hmac.new(
                    SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256
                ).digest()
            ).decode()
            # parse_qs has already undone the URL encoding of sign
            fresh = abs(now * 1000 - int(timestamp or 0)) < 3_600_000
            return fresh and hmac.compare_digest(query.get("sign", ""), expected)
        if self.platform == "feishu":
            timestamp = body.get("timestamp", "")
            key = f"{timestamp}\n{SECRET}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            fresh = abs(now - int(timestamp or 0)) < 3600
            return fresh and hmac.compare_digest(body.get("sign", ""), expected)
        return True


@contextmanager
def receiving(platform: str) -> Iterator[Receiver]:
    """A receiver for ``platform`` serving on 127.0.0.1 while the block runs."""
    state = Receiver(platform)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            valid = state.verify(query, body)
            state.received.append(Received(parts.path, query, body, valid))
            answer = {"errcode": 0 if valid else 310000, "errmsg": "ok" if valid else "sign"}
            payload = json.dumps(answer).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/robot/send?access_token={TOKEN}"
    with serving(server):
        yield state


def text_of(received: Received) -> str:
    """The text a post carries, whatever the platform's body shape."""
    body = received.body
    if "content" in body and isinstance(body["content"], dict):
        return str(body["content"]["text"])
    if "text" in body and isinstance(body["text"], dict):
        return str(body["text"]["content"])
    return str(body["text"])
