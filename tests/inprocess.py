"""A ``requests`` transport adapter that answers from a sandbox in this process, without a socket.

Give it to a provider client (``client_for(account, secrets, transport=InProcess(sandbox))``)
and the client's whole HTTP path runs (signing, the body bound, retries, paging, checks of
writes whose answer was lost) while the sandbox's own request handling answers: the state,
fault hooks and call counters are the same as over HTTP. A sandbox used this way need not be
started; its endpoints are then any loopback URL, e.g. ``ENDPOINT``.
"""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from reconciler.sandbox import Sandbox
from reconciler.sandbox.wire import Reply, Request

# Never connected to: the adapter answers every URL.
ENDPOINT = "http://127.0.0.1:9"

Dispatch = Callable[[Request], Reply]


class InProcess(HTTPAdapter):
    """Turns each prepared request into the sandbox's ``Request`` and its ``Reply`` into a
    response, as ``sandbox/server.py`` does over a socket."""

    def __init__(self, sandbox: Sandbox | Dispatch) -> None:
        super().__init__()
        self.dispatch: Dispatch = sandbox._dispatch if isinstance(sandbox, Sandbox) else sandbox
        self.sent: list[requests.PreparedRequest] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: object = None,
        verify: object = True,
        cert: object = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        self.sent.append(request)
        split = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        assert isinstance(body, bytes)
        headers = {name.lower(): value for name, value in request.headers.items()}
        is_form = headers.get("content-type", "").split(";")[0].strip() == (
            "application/x-www-form-urlencoded"
        )
        wire = Request(
            method=request.method or "POST",
            path=split.path or "/",
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            form=dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            if is_form
            else {},
            headers=headers,
            body=body,
        )
        reply = self.dispatch(wire)
        if reply.drop:
            # What urllib3 raises when a connection closes with the request sent, unanswered.
            lost = http.client.RemoteDisconnected("Remote end closed connection without response")
            raise requests.ConnectionError(
                urllib3.exceptions.ProtocolError("Connection aborted.", lost), request=request
            )
        data = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(data),
            headers={
                "Content-Type": "application/json;charset=UTF-8",
                "Content-Length": str(len(data)),
                **reply.headers,
            },
            status=reply.status,
            reason=http.client.responses.get(reply.status, ""),
            preload_content=False,
            decode_content=False,
        )
        return self.build_response(request, raw)
