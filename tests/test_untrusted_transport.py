"""The HTTP transport does not trust the provider (SPEC §6): no redirect is followed, answers are
bounded in size and time, network failures say what failed and where, credentials that cannot
be sent are refused before sending, and the sandbox's loopback traffic never meets a proxy.

Hostile cases run the real CLI or the provider clients against ``tests/hostile.py``; retry,
paging and lost-answer cases also run without a socket through ``tests/inprocess.py``.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import sandbox as sb
from reconciler.errors import ProviderError
from reconciler.model import Account, Limits, Provider, RetryPolicy, Target, UninterceptEntry
from reconciler.providers import client_for
from reconciler.sandbox import Faults, Sandbox
from tests.cli_helpers import run_cli, write
from tests.hostile import Answer, HostileServer
from tests.inprocess import ENDPOINT, InProcess

FAST = Limits(requests_per_second=1000, concurrency=4)
QUICK = RetryPolicy(attempts=3, max_seconds=5, base_delay=0.001)
DM_SECRETS = {"accessKeyId": "key-id", "accessKeySecret": "s3cret/+= ~x", "securityToken": "t0k"}
SC_SECRETS = {"apiUser": "user", "apiKey": "k3y/+= ~&y"}
REDIRECTS = (301, 302, 307, 308)
MAX_BODY = 16 * 2**20  # SPEC §6


def dm(endpoint: str, retry: RetryPolicy = QUICK, **secrets: str) -> Any:
    account = Account("dm", Provider.ALIYUN_DM, endpoint, limits=FAST, retry=retry)
    return client_for(account, {**DM_SECRETS, **secrets})


def sc(endpoint: str, retry: RetryPolicy = QUICK) -> Any:
    account = Account("sc", Provider.SENDCLOUD, endpoint, limits=FAST, retry=retry)
    return client_for(account, SC_SECRETS)


def _manifests(root: Path, dm_endpoint: str, sc_endpoint: str, retry: str = "") -> Path:
    retry = retry or "{attempts: 2, maxSeconds: 5, baseDelaySeconds: 0.01}"
    return write(
        root / "m" / "all.yaml",
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: dm}\n"
        f"spec:\n  provider: aliyun-directmail\n  endpoint: {dm_endpoint}\n"
        f"  retry: {retry}\n---\n"
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: sc}\n"
        f"spec:\n  provider: sendcloud\n  endpoint: {sc_endpoint}\n"
        f"  retry: {retry}\n---\n"
        "apiVersion: reconciler/v1\nkind: IpProtection\nmetadata: {name: p}\n"
        "spec: {account: dm, enabled: true}\n---\n"
        "apiVersion: reconciler/v1\nkind: UninterceptList\nmetadata: {name: u}\n"
        "spec:\n  account: sc\n  prune: false\n  entries: [{email: vip@example.com}]\n",
    )


ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": DM_SECRETS["accessKeyId"],
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DM_SECRETS["accessKeySecret"],
    "ALIBABA_CLOUD_SECURITY_TOKEN": DM_SECRETS["securityToken"],
    "SENDCLOUD_API_USER": SC_SECRETS["apiUser"],
    "SENDCLOUD_API_KEY": SC_SECRETS["apiKey"],
}
EMPTY_LIST = Answer.json({"result": True, "statusCode": 200, "info": {"dataList": [], "count": 0}})
# Switching protection on is judged against the final whitelist (lock-out): one entry is live.
WHITELISTED = Answer.json(
    {
        "RequestId": "r2",
        "TotalCount": 1,
        "data": {"ipfilters": [{"Id": "1", "IpAddress": "203.0.113.7", "CreateTime": "1"}]},
    }
)


# -- the in-process transport -----------------------------------------------------------------


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def sandbox(faults: Faults) -> Sandbox:
    """A sandbox that is never started: clients reach it through ``InProcess``."""
    return Sandbox(faults=faults)


def _inprocess(sandbox: Sandbox, provider: Provider) -> Any:
    secrets = (
        {"accessKeyId": sb.ACCESS_KEY_ID, "accessKeySecret": sb.ACCESS_KEY_SECRET}
        if provider is Provider.ALIYUN_DM
        else {"apiUser": sb.API_USER, "apiKey": sb.API_KEY}
    )
    endpoint = ENDPOINT if provider is Provider.ALIYUN_DM else f"{ENDPOINT}/apiv2"
    account = Account(provider.value, provider, endpoint, limits=FAST, retry=QUICK)
    return client_for(account, secrets, transport=InProcess(sandbox))


def test_a_read_is_retried_without_a_socket(sandbox: Sandbox, faults: Faults) -> None:
    faults.script("GetIpProtection", "5xx", "drop-after")
    with _inprocess(sandbox, Provider.ALIYUN_DM) as client:  # port 9: nothing listens
        assert client.get_ip_protection() is False
    assert sandbox.calls["GetIpProtection"] == 3


def test_a_lost_write_is_checked_without_a_socket(sandbox: Sandbox, faults: Faults) -> None:
    faults.script("AddIpfilter", "drop-after")
    with _inprocess(sandbox, Provider.ALIYUN_DM) as client:
        ident = client.add_ipfilter("203.0.113.7")
    assert sandbox.calls == Counter({"AddIpfilter": 1, "GetIpfilterList": 1})
    assert any(r["Id"] == ident for r in sandbox.ipfilters())


def test_paging_and_a_short_page_read_again_without_a_socket(
    sandbox: Sandbox, faults: Faults
) -> None:
    state = sandbox.snapshot()
    state["sendcloud"]["unintercepts"] = [
        {
            "apiUserName": "all",
            "domain": "",
            "email": f"u{i}@example.com",
            "type": [1],
            "createTime": "2024-01-01 00:00:00",
        }
        for i in range(250)
    ]
    sandbox.set_state(state)
    sandbox.reset_calls()
    faults.script("unintercept/list", "truncate")
    with _inprocess(sandbox, Provider.SENDCLOUD) as client:
        entries, total = client.list_all()
        client.add(UninterceptEntry("all", Target.EMAIL, "new@example.com", frozenset({1})))
    assert (len(entries), total) == (250, 250)
    assert sandbox.calls == Counter({"unintercept/list": 4, "unintercept/add": 1})


# -- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", REDIRECTS)
def test_no_redirect_is_followed_by_either_provider(status: int) -> None:
    with (
        HostileServer() as target,
        HostileServer(default=Answer.redirect(target.url + "/", status)) as server,
    ):
        with dm(server.url) as client, pytest.raises(ProviderError) as dm_error:
            client.update_ip_protection(True)
        with sc(server.url + "/apiv2") as client, pytest.raises(ProviderError) as sc_error:
            client.list_all()
    assert target.requests == []  # nothing re-sent to the redirect's host
    assert server.actions() == ["UpdateIpProtection", "list"]  # and not retried
    for caught, action in ((dm_error, "UpdateIpProtection"), (sc_error, "unintercept/list")):
        assert caught.value.http_status == status
        assert f"{action} failed" in str(caught.value)
        assert "redirect" in str(caught.value)
        assert not caught.value.uncertain


def test_a_redirected_write_fails_and_no_credential_leaves(tmp_path: Path) -> None:
    with HostileServer() as target:
        answers = {
            "GetIpProtection": Answer.json({"IpProtection": "0", "RequestId": "r1"}),
            "GetIpfilterList": WHITELISTED,
            "UpdateIpProtection": Answer.redirect(target.url + "/", 301),
            "list": EMPTY_LIST,
            "add": Answer.redirect(target.url + "/apiv2/unintercept/add", 308),
        }
        with HostileServer(answers=answers) as server:
            _manifests(tmp_path, server.url, server.url + "/apiv2")
            result = run_cli("apply", "m", "--yes", "--format", "json", cwd=tmp_path, env=ENV)
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert target.requests == []
    assert [o["status"] for o in result.json["outcomes"]] == ["failed", "failed"]
    assert "redirect" in result.out + result.err


# -- bounded answers ----------------------------------------------------------------------------


def test_an_answer_over_the_bound_is_refused() -> None:
    big = Answer(200, b"[" + b"0," * (MAX_BODY // 2) + b"0]")
    with (
        HostileServer(default=big) as server,
        dm(server.url) as client,
        pytest.raises(ProviderError) as caught,
    ):
        client.get_ip_protection()
    assert "larger than 16 MiB" in str(caught.value)
    assert len(server.requests) == 1


def test_a_gzip_bomb_is_refused_before_it_is_decompressed() -> None:
    small = Answer.gzip_json({"IpProtection": "1", "RequestId": "r"})
    with HostileServer(default=small) as server, dm(server.url) as client:
        assert client.get_ip_protection() is True  # gzip within the bound is read
    bomb = gzip.compress(b" " * (64 * 2**20), 9)
    answer = Answer(200, bomb, (("Content-Type", "application/json"), ("Content-Encoding", "gzip")))
    with (
        HostileServer(default=answer) as server,
        sc(server.url + "/apiv2") as client,
        pytest.raises(ProviderError) as caught,
    ):
        client.list_all()
    assert "larger than 16 MiB" in str(caught.value)


def test_an_answer_trickled_byte_by_byte_ends_at_the_deadline(tmp_path: Path) -> None:
    slow = Answer(200, json.dumps({"IpProtection": "1", "RequestId": "r"}).encode(), trickle=0.5)
    with HostileServer(default=slow) as server:
        _manifests(
            tmp_path,
            server.url,
            server.url + "/apiv2",
            "{attempts: 3, maxSeconds: 1.5, baseDelaySeconds: 0.01}",
        )
        started = time.monotonic()
        result = run_cli("plan", "m", cwd=tmp_path, env=ENV)
        took = time.monotonic() - started
    assert result.code == 1, result
    assert "took over 1.5 s" in result.err
    assert "Traceback" not in result.err
    assert took < 15  # the body alone would take 20 s; generous for a loaded machine


def test_no_wait_for_a_byte_outlasts_the_deadline() -> None:
    # A byte every 1.6 s with a 2 s deadline: each wait is shorter than the read timeout, so
    # only a wait bounded by the time left stops the attempt at 2 s rather than at 3.2 s.
    slow = Answer(200, json.dumps({"IpProtection": "1", "RequestId": "r"}).encode(), trickle=1.6)
    with HostileServer(default=slow) as server, dm(server.url, RetryPolicy(1, 2, 0.01)) as c:
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            c.get_ip_protection()
        took = time.monotonic() - started
    assert "took over 2 s" in str(caught.value)
    assert took < 2.8, took


def test_a_server_that_never_answers_times_out_within_the_deadline() -> None:
    with _silent_server() as port, dm(f"http://127.0.0.1:{port}", RetryPolicy(1, 1, 0.01)) as c:
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            c.get_ip_protection()
    assert time.monotonic() - started < 10
    assert f"timed out (ReadTimeout) to 127.0.0.1:{port}" in str(caught.value)
    assert caught.value.uncertain


# -- network errors name their kind and place ---------------------------------------------------


def test_a_refused_connection_says_so_with_host_and_port() -> None:
    port = _free_port()
    with (
        dm(f"http://127.0.0.1:{port}", RetryPolicy(1, 1, 0.01)) as client,
        pytest.raises(ProviderError) as caught,
    ):
        client.get_ip_protection()
    text = str(caught.value)
    assert f"connection refused to 127.0.0.1:{port}, could not connect" in text
    assert text.startswith("account dm: DirectMail GetIpProtection failed")


def test_a_dns_failure_says_so_with_host_and_port() -> None:
    endpoint = "https://no-such-host.invalid/apiv2"
    # A generous deadline: on a loaded machine the resolver's answer may take over a second.
    with sc(endpoint, RetryPolicy(1, 30, 0.01)) as client, pytest.raises(ProviderError) as caught:
        client.list_all()
    assert "DNS lookup failed to no-such-host.invalid:443" in str(caught.value)
    assert not caught.value.uncertain


# -- TLS, CA bundle, credentials, proxies ---------------------------------------------------------


def test_a_certificate_failure_is_clean_and_not_retried(tmp_path: Path) -> None:
    with _tls_server(tmp_path) as (port, handshakes):
        _manifests(tmp_path, f"https://127.0.0.1:{port}", f"https://127.0.0.1:{port}/apiv2")
        result = run_cli("plan", "m", cwd=tmp_path, env=ENV)
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert (
        f"TLS failed (certificate not trusted, expired or for another host) to 127.0.0.1:{port}"
        in (result.err)
    )
    assert "no answer after sending" not in result.err
    assert handshakes == [1, 1]  # one attempt per account: a certificate is not retried


def test_a_missing_ca_bundle_is_a_clean_error(tmp_path: Path) -> None:
    _manifests(tmp_path, "https://127.0.0.1:9", "https://127.0.0.1:9/apiv2")
    env = {**ENV, "REQUESTS_CA_BUNDLE": str(tmp_path / "missing.pem")}
    result = run_cli("plan", "m", cwd=tmp_path, env=env)
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert "REQUESTS_CA_BUNDLE" in result.err


def test_a_credential_that_cannot_go_in_a_header_is_refused_before_sending(
    tmp_path: Path,
) -> None:
    with HostileServer() as server:
        _manifests(tmp_path, server.url, server.url + "/apiv2")
        env = {**ENV, "ALIBABA_CLOUD_SECURITY_TOKEN": "tøken-✓"}
        result = run_cli("plan", "m", cwd=tmp_path, env=env)
        directmail = [r for r in server.requests if not r.path.startswith("/apiv2")]
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert "x-acs-security-token header cannot be sent" in result.err
    assert "tøken" not in result.err
    assert directmail == []


def test_the_embedded_sandbox_bypasses_proxies(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    env = {"HTTP_PROXY": dead, "http_proxy": dead, "NO_PROXY": "", "no_proxy": ""}
    result = run_cli("plan", str(_examples()), "--sandbox", cwd=tmp_path, env=env)
    assert result.code in (0, 2), result


def test_a_loopback_endpoint_never_uses_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with dm("http://127.0.0.1:9") as client:
        assert client.session.proxies == {}
    with dm("http://example.com") as client:
        assert client.session.proxies.get("http") == "http://proxy.example:3128"


# -- helpers ------------------------------------------------------------------------------------


def _examples() -> Path:
    return Path(__file__).resolve().parent.parent / "examples"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Silent:
    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)  # read nothing, answer nothing


def _silent_server() -> Any:
    from contextlib import contextmanager

    @contextmanager
    def run() -> Iterator[int]:
        silent = _Silent()
        try:
            yield int(silent.listener.getsockname()[1])
        finally:
            silent.listener.close()
            for conn in silent.held:
                conn.close()

    return run()


def _tls_server(tmp_path: Path) -> Any:
    """A TLS listener with a self-signed certificate; yields its port and a per-connection
    count of handshakes attempted (one list item per account's connection)."""
    from contextlib import contextmanager

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    @contextmanager
    def run() -> Iterator[tuple[int, list[int]]]:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        handshakes: list[int] = []

        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                handshakes.append(1)
                try:
                    with context.wrap_socket(conn, server_side=True):
                        pass
                except (ssl.SSLError, OSError):
                    pass

        threading.Thread(target=serve, daemon=True).start()
        try:
            yield int(listener.getsockname()[1]), handshakes
        finally:
            listener.close()

    return run()
