"""The sandbox as a whole: state, fault hooks and call counters behind one HTTP port.

``Sandbox`` is what tests and ``--sandbox`` embed; ``serve_forever`` is ``reconciler sandbox``.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from reconciler.addresses import is_loopback
from reconciler.errors import InputError
from reconciler.model import Provider
from reconciler.sandbox import directmail, sendcloud, sts, telemetry
from reconciler.sandbox.credentials import ACCESS_KEY_ID, ACCESS_KEY_SECRET, API_KEY, API_USER
from reconciler.sandbox.directmail_auth import AcsError, NonceCache
from reconciler.sandbox.faults import Faults, format_injected
from reconciler.sandbox.server import SandboxHTTPServer
from reconciler.sandbox.state import SandboxState
from reconciler.sandbox.traffic import TrafficConfig
from reconciler.sandbox.wire import Reply, Request

log = logging.getLogger("reconciler.sandbox")


class Sandbox:
    """A local emulator of DirectMail and SendCloud on one port.

    The state file, if given, is loaded when it exists and created (with ``initial_state`` or
    the demo state) when it does not; every successful write saves it. Use as a context
    manager, or call ``start`` and ``stop``.

    ``count_means``: what SendCloud's list ``count`` answers, ``"total"`` or ``"page"`` (the
    documents do not say). ``ipfilter_page_size``: the most entries one ``GetIpfilterList``
    answer holds (``None``: the page widens to fit, as it always held every entry).

    The synthetic traffic behind the sending-data calls (``traffic``): ``failure_percent`` and
    ``invalid_percent`` of the requests fail or go to invalid addresses, ``senders`` maps sender
    addresses to the egress IPv4 addresses they send from (changing or adding senders),
    ``messages_per_minute`` sets a steady rate of all senders together (SPEC §11). Given
    knobs are saved in the state file, so later runs on it see the same traffic.
    ``telemetry_quotas``: enforce the calls-a-minute quotas of those calls.

    STS (``AssumeRoleWithOIDC``, ``AssumeRole``) answers on the same URL, routed by action;
    ``keys`` holds the temporary keys it issued and counts the calls made with each key;
    ``sts_min_duration`` is the shortest lifetime (``DurationSeconds``) it grants them (900 s
    as on the real service; lower, keys that expire within seconds show renewal at work).

    Tags, sending domains and sender addresses (SPEC §10, ``directmail_lists``):
    ``list_page_size`` is the most rows a page of their listings holds, ``dns_published`` the
    domains whose DNS records count as published, so that ``CheckDomain`` verifies them. Both
    are saved in the state file (the domains added to those it names).
    """

    def __init__(
        self,
        state_file: Path | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        initial_state: dict[str, Any] | None = None,
        allow_remote: bool = False,
        count_means: str = "total",
        ipfilter_page_size: int | None = None,
        failure_percent: float | None = None,
        invalid_percent: float | None = None,
        senders: Mapping[str, str] | None = None,
        messages_per_minute: float | None = None,
        telemetry_quotas: bool = True,
        sts_min_duration: int = sts.MIN_DURATION,
        list_page_size: int | None = None,
        dns_published: Iterable[str] = (),
    ) -> None:
        if count_means not in sendcloud.COUNT_MEANINGS:
            raise InputError(f"count_means must be total or page, not {count_means!r}")
        if ipfilter_page_size is not None and ipfilter_page_size < 1:
            raise InputError(f"ipfilter_page_size must be 1 or more, not {ipfilter_page_size}")
        self.count_means = count_means
        self.ipfilter_page_size = ipfilter_page_size
        if not allow_remote and not is_loopback(host):
            raise InputError(
                f"refusing to serve the sandbox on {host}: its credentials are public, so it "
                "binds to loopback only (127.0.0.1, ::1, localhost) unless remote access is "
                "explicitly allowed"
            )
        self.faults = faults or Faults()
        self._host = host
        self._requested_port = port
        self._state = SandboxState.open(
            Path(state_file) if state_file is not None else None, initial_state
        )
        given = (failure_percent, invalid_percent, senders, messages_per_minute)
        if any(knob is not None for knob in given):
            try:
                knobs = self._state.traffic.with_knobs(
                    failure_percent=failure_percent,
                    invalid_percent=invalid_percent,
                    senders=senders,
                    messages_per_minute=messages_per_minute,
                )
            except ValueError as exc:
                raise InputError(f"sandbox traffic: {exc}") from exc
            self._state.set_traffic(knobs)
        if list_page_size is not None and list_page_size < 1:
            raise InputError(f"list_page_size must be 1 or more, not {list_page_size}")
        published = list(dns_published)
        if list_page_size is not None or published:
            self._state.set_list_knobs(list_page_size, published)
        self._quotas = telemetry.Quotas(telemetry.QUOTAS) if telemetry_quotas else None
        self._nonces = NonceCache()
        if sts_min_duration < 1:
            raise InputError(f"sts_min_duration must be 1 or more, not {sts_min_duration}")
        self.keys = sts.KeyStore(sts_min_duration)
        self._calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        try:
            server = SandboxHTTPServer(
                (self._host, self._requested_port), self._dispatch, ipv6=":" in self._host
            )
        except OSError as exc:
            raise InputError(
                f"cannot serve the sandbox on {self._host}:{self._requested_port}: {exc}"
            ) from exc
        self._server = server
        self._thread = threading.Thread(target=server.serve, daemon=True, name="sandbox-server")
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, end open connections and release the port. Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.stop_serving()
        thread.join()
        server.close_connections()
        server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def directmail_endpoint(self) -> str:
        return self.url

    @property
    def sendcloud_endpoint(self) -> str:
        return f"{self.url}/apiv2"

    # --- state and counters, for tests --------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A copy of the live state in the state-file format; change it with ``set_state``."""
        return self._state.to_dict()

    def set_state(self, data: dict[str, Any]) -> None:
        """Replace the whole live state (state-file format) and save it."""
        self._state.replace(data)  # copies every record while checking it

    def ip_protection(self) -> str:
        """``"1"`` when protection is on, ``"0"`` when off: the provider's own values."""
        with self._state.lock:
            return self._state.ip_protection

    def backdate_protection(self, by: timedelta) -> None:
        """Move the moment IP protection went on ``by`` into the past (and save it): the
        traffic of that stretch is rejected too, so a test that has just switched protection
        on sees hours of effect at once. Protection must be on."""
        self._state.backdate_protection(int(by.total_seconds()))

    def traffic(self) -> TrafficConfig:
        """The synthetic traffic's knobs in force."""
        with self._state.lock:
            return self._state.traffic

    def list_knobs(self) -> dict[str, Any]:
        """The tag, domain and sender-address knobs in force (state-file fields)."""
        with self._state.lock:
            return self._state.lists.knobs()

    def ipfilters(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [dict(record) for record in self._state.ipfilters]

    def unintercepts(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [{**r, "type": list(r["type"])} for r in self._state.unintercepts]

    @property
    def calls(self) -> Counter[str]:
        """How many calls each action received (a copy), whatever their outcome."""
        with self._calls_lock:
            return Counter(self._calls)

    def reset_calls(self) -> None:
        with self._calls_lock:
            self._calls.clear()

    @property
    def connections(self) -> dict[str, int]:
        """Client connections since the start: ``accepted``, ``open`` now and ``peak`` (the
        most open at once), as the server counts them."""
        server = self._server
        if server is None:
            return {"accepted": 0, "open": 0, "peak": 0}
        return {
            "accepted": server.connections_accepted,
            "open": server.connections_open,
            "peak": server.connections_peak,
        }

    # --- dispatch -----------------------------------------------------------------------------

    def _dispatch(self, request: Request) -> Reply:
        if request.path.startswith(sendcloud.PREFIX):
            return self._sendcloud(request)
        if request.path == "/":
            action = directmail.action_of(request)
            if action in sts.ACTIONS:
                return self._sts(action, request)
            return self._directmail(request)
        return Reply(404, {"message": f"no such path: {request.path}"})

    def _directmail(self, request: Request) -> Reply:
        def crashed() -> Reply:
            error = AcsError("InternalError", "The request processing has failed.", 500)
            return directmail.error_reply(error)

        now = datetime.now(timezone.utc)
        return self._serve(
            Provider.ALIYUN_DM,
            directmail.action_of(request),
            lambda: directmail.handle(
                request,
                self._state,
                self._nonces,
                now,
                self.ipfilter_page_size,
                self._quotas,
                self.keys,
            ),
            crashed,
        )

    def _sts(self, action: str, request: Request) -> Reply:
        now = datetime.now(timezone.utc)
        return self._serve(
            Provider.ALIYUN_DM,
            action,
            lambda: sts.handle(action, request, self.keys, self._nonces, now),
            lambda: sts.error_reply(AcsError("InternalError", "The request failed.", 500)),
        )

    def _sendcloud(self, request: Request) -> Reply:
        action = sendcloud.action_of(request.path)
        if action is None:
            body = {"result": False, "statusCode": 404, "message": "not found", "info": {}}
            return Reply(404, body)
        return self._serve(
            Provider.SENDCLOUD,
            action,
            lambda: sendcloud.handle(action, request.params, self._state, self.count_means),
            lambda: sendcloud.failure(501, "服务器错误"),
        )

    def _serve(
        self,
        provider: Provider,
        action: str,
        handle: Callable[[], Reply],
        crashed: Callable[[], Reply],
    ) -> Reply:
        """Count the call, let the faults intervene before and after it, and answer a crash
        in the provider's own error shape."""
        self._count(action)
        try:
            injected = self.faults.before(provider, action)
            if injected is not None:
                return injected
            return self.faults.after(provider, action, handle())
        except Exception:
            log.exception("sandbox %s %s failed", provider.value, action)
            return crashed()

    def _count(self, action: str) -> None:
        if action:
            with self._calls_lock:
                self._calls[action] += 1


def serve_forever(
    state_file: Path,
    host: str,
    port: int,
    faults: Faults | None = None,
    *,
    allow_remote: bool = False,
    out: TextIO | None = None,
    count_means: str = "total",
    ipfilter_page_size: int | None = None,
    traffic: Mapping[str, Any] | None = None,
    sts_min_duration: int = sts.MIN_DURATION,
    list_page_size: int | None = None,
    dns_published: Iterable[str] = (),
) -> None:
    """Serve until Ctrl-C, after printing the endpoints and the fixed credentials.

    ``traffic``: ``Sandbox``'s traffic knobs (``failure_percent``, ``invalid_percent``,
    ``senders``, ``telemetry_quotas``)."""
    out = out or sys.stdout
    sandbox = Sandbox(
        state_file,
        host=host,
        port=port,
        faults=faults,
        allow_remote=allow_remote,
        count_means=count_means,
        ipfilter_page_size=ipfilter_page_size,
        sts_min_duration=sts_min_duration,
        list_page_size=list_page_size,
        dns_published=dns_published,
        **(traffic or {}),
    )
    lists = sandbox.list_knobs()
    config = sandbox.traffic()
    summary = sandbox.faults.summary()
    sandbox.start()
    try:
        print(
            f"reconciler sandbox listening on {sandbox.url}\n"
            f"  DirectMail endpoint     {sandbox.directmail_endpoint}\n"
            f"  SendCloud endpoint      {sandbox.sendcloud_endpoint}\n"
            f"  STS endpoint            {sandbox.url} (ALIBABA_CLOUD_STS_ENDPOINT)\n"
            + (
                f"  STS keys last at least  {sandbox.keys.min_duration} s\n"
                if sandbox.keys.min_duration != sts.MIN_DURATION
                else ""
            )
            + f"  DirectMail AccessKeyId     {ACCESS_KEY_ID}\n"
            f"  DirectMail AccessKeySecret {ACCESS_KEY_SECRET}\n"
            f"  SendCloud apiUser          {API_USER}\n"
            f"  SendCloud apiKey           {API_KEY}\n"
            f"  state file              {state_file}\n"
            f"  SendCloud count means   {count_means}\n"
            + (
                f"  GetIpfilterList page    {ipfilter_page_size} "
                f"{'entry' if ipfilter_page_size == 1 else 'entries'}\n"
                if ipfilter_page_size
                else ""
            )
            + (
                f"  tag/domain/address page {lists['list_page_size']} rows\n"
                if "list_page_size" in lists
                else ""
            )
            + "".join(f"  DNS published           {d}\n" for d in lists.get("dns_published", ()))
            + f"  traffic                 {config.failure_percent:g}% failed, "
            f"{config.invalid_percent:g}% invalid"
            + (
                f", {config.messages_per_minute:g} messages a minute\n"
                if config.messages_per_minute is not None
                else "\n"
            )
            + "".join(
                f"  sender                  {s.account} from {s.address}\n" for s in config.senders
            )
            + (f"  faults                  {summary}\n" if summary else "")
            + "Press Ctrl-C to stop.",
            file=out,
            flush=True,
        )
        stopped = threading.Event()
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        injected = f"; faults injected: {format_injected(sandbox.faults.injected)}"
        print(f"stopping the sandbox{injected if summary else ''}", file=out, flush=True)
    finally:
        sandbox.stop()
