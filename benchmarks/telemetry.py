"""``stats --view deliveries`` over many records against a bare client following the same cursors.

    python benchmarks/telemetry.py                  # 100,000 records (1,000 pages): ~3 minutes
    python benchmarks/telemetry.py --records 20000 --repeat 3

Both run as child processes against the same DirectMail, served in this process: the
package's sandbox (``--target sandbox``, the default: a window holding about ``--records`` of
its synthetic messages) or a stub serving prepared pages of exactly ``--records``
(``--target stub``, which checks no signature and costs the least to serve):

- the CLI: ``python -m reconciler stats --view deliveries --format csv`` (stdout to /dev/null);
- the bare client (``bare`` below): one ``requests.Session``, V3-signed calls with the
  parameters in the query, following ``NextStart`` until it is empty and decoding each page,
  nothing checked or kept.

Both keep to the API's quota of 500 calls a minute (seed 000; the sandbox enforces it too), so
1,000 pages take at least a minute whoever reads them: the wall-clock ratio is dominated by the
quota. The CPU time of each child is printed beside it, the cost that the quota hides.

Targets: the CLI within 1.3 x the bare client, and its peak RSS flat in the number of records
(at a tenth of the records, the peak RSS must be within 10 % or 15 MB of the full run's).
The exit status is 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]

from run import checked, run_child  # noqa: E402

PAGE = 100
KEY_ID, SECRET = "bench-key-id", "bench-key-secret"
DETAIL = "SenderStatisticsDetailByParam"
SANDBOX_RATE = 160  # the sandbox demo senders' messages an hour, on average over days
QUOTA, QUOTA_WINDOW = 500, 60.0  # calls per seconds, SenderStatisticsDetailByParam (seed 000)


def _record(n: int) -> dict[str, Any]:
    return {
        "AccountName": "news@mail.example.com",
        "ErrorClassification": "SendOk",
        "LastUpdateTime": "2026-04-28T17:11Z",
        "Message": "250 Send Mail OK",
        "Status": 0,
        "Subject": "Weekly news",
        "ToAddress": f"user{n}@example.net",
        "UtcLastUpdateTime": "1777367460",
        "ConfigSetId": "",
        "ConfigSetName": "",
        "IpPoolId": "",
        "IpPoolName": "",
    }


class Stub:
    """A DirectMail answering only ``SenderStatisticsDetailByParam`` in its SPEC §9 shape, pages
    prepared up front so that serving costs the same for both clients. It does not check
    signatures: the sandbox does (``--target sandbox`` once it serves the sending-data APIs)."""

    def __init__(self, records: int) -> None:
        self.pages: dict[str, bytes] = {}
        for start in range(0, records, PAGE):
            end = min(start + PAGE, records)
            cursor = f"90f0243616#{end}#a***@example.net-1658817837#x" if end < records else ""
            body = {
                "NextStart": cursor,
                "RequestId": f"bench-{start}",
                "data": {"mailDetail": [_record(n) for n in range(start, end)]},
            }
            key = "" if start == 0 else f"90f0243616#{start}#a***@example.net-1658817837#x"
            self.pages[key] = json.dumps(body).encode()

    def __enter__(self) -> str:
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: without this, each answer waits for the
            # client's delayed ACK (40 ms), and both clients would measure that instead.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                query = dict(parse_qsl(urlsplit(self.path).query))
                body = pages.get(query.get("NextStart", ""), b'{"Code": "InvalidNextStart"}')
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SandboxTarget:
    """The package's sandbox, no state file: its synthetic traffic (about 190 messages an hour)
    behind the real wire, signatures and cursors. Its own count of the quota is off: both
    clients keep to it themselves, and a count shared between them would make the second
    child wait out the first one's minute."""

    def __init__(self, records: int) -> None:
        from reconciler.sandbox import Sandbox

        self.sandbox = Sandbox(None, telemetry_quotas=False)

    def __enter__(self) -> str:
        self.sandbox.__enter__()
        return self.sandbox.directmail_endpoint.rstrip("/")

    def __exit__(self, *exc: object) -> None:
        self.sandbox.__exit__(None, None, None)


def window_for(records: int, target: str) -> tuple[str, str]:
    """``--from``/``--to`` of the deliveries read: for the sandbox, the hours back from the
    last full hour that hold about ``records`` messages; for the stub, any window."""
    from reconciler.providers.telemetry import now

    end = now().replace(minute=0, second=0, microsecond=0)
    hours = max(1, round(records / SANDBOX_RATE)) if target == "sandbox" else 24
    start = end - timedelta(hours=hours)
    return f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}"


def bare(endpoint: str, start: str, end: str) -> int:
    """Follow every cursor with one Session, V3-signed, decoding each page; the rows seen."""
    import requests

    from reconciler.signing import canonical_query, v3_headers

    params = {"StartTime": start, "EndTime": end, "Length": str(PAGE)}
    session = requests.Session()
    host = urlsplit(endpoint).netloc
    rows, cursor = 0, ""
    starts: deque[float] = deque()
    while True:
        if len(starts) == QUOTA:  # the same quota as the CLI keeps
            time.sleep(max(0.0, starts.popleft() + QUOTA_WINDOW - time.monotonic()))
        starts.append(time.monotonic())
        query = {**params, "NextStart": cursor} if cursor else params
        headers = v3_headers(
            host=host,
            action=DETAIL,
            version="2015-11-23",
            body=b"",
            access_key_id=os.environ["BENCH_KEY_ID"],
            access_key_secret=os.environ["BENCH_SECRET"],
            query=query,
        )
        page = session.post(f"{endpoint}/?{canonical_query(query)}", headers=headers).json()
        rows += len(page["data"]["mailDetail"])
        cursor = page.get("NextStart") or ""
        if not cursor:
            return rows


def _manifests(directory: Path, endpoint: str) -> Path:
    path = directory / "accounts.yaml"
    path.write_text(
        "apiVersion: reconciler/v1\nkind: Account\nmetadata: {name: dm}\nspec:\n"
        "  provider: aliyun-directmail\n"
        f"  endpoint: {endpoint}\n"
        "  credentials:\n    accessKeyId: {env: BENCH_KEY_ID}\n"
        "    accessKeySecret: {env: BENCH_SECRET}\n"
        "  limits: {requestsPerSecond: 100000, concurrency: 1}\n",
        encoding="utf-8",
    )
    return path


def measure(records: int, repeat: int, target: str) -> dict[str, float]:
    from reconciler import sandbox

    key_id, secret = (
        (sandbox.ACCESS_KEY_ID, sandbox.ACCESS_KEY_SECRET)
        if target == "sandbox"
        else (KEY_ID, SECRET)
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]),
        "BENCH_KEY_ID": key_id,
        "BENCH_SECRET": secret,
    }
    serve: Callable[[int], Any] = SandboxTarget if target == "sandbox" else Stub
    start, end = window_for(records, target)
    with serve(records) as endpoint, tempfile.TemporaryDirectory() as scratch:
        manifests = _manifests(Path(scratch), endpoint)
        cli = [sys.executable, "-m", "reconciler", "stats", str(manifests), "--account", "dm"]
        cli += ["--view", "deliveries", "--from", start, "--to", end, "--format", "csv", "-q"]
        probe = [sys.executable, str(HERE / "telemetry.py"), "--bare", endpoint, start, end]
        best: dict[str, float] = {}
        for _ in range(repeat):
            tool = checked(run_child(cli, env, Path(scratch)), "stats --view deliveries")
            floor = checked(run_child(probe, env, Path(scratch)), "the bare client")
            lines = tool.out.count("\n") - 1  # the header row
            expected = records if target == "stub" else lines
            if lines != expected or int(floor.out) != expected:
                raise SystemExit(f"expected {expected} rows, got {lines} and {floor.out.strip()}")
            if "tool" not in best or tool.wall < best["tool"]:
                best["tool"], best["tool_cpu"] = tool.wall, tool.cpu
            if floor.wall < best.get("floor", float("inf")):
                best["floor"], best["floor_cpu"] = floor.wall, floor.cpu
            best["rss_mb"] = max(best.get("rss_mb", 0.0), tool.rss_mb)
            best["rows"] = lines
        return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--target",
        choices=["sandbox", "stub"],
        default="sandbox",
        help="the package's sandbox (default), or a stub serving prepared pages",
    )
    parser.add_argument(
        "--bare", nargs=3, metavar=("ENDPOINT", "FROM", "TO"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.bare:
        print(bare(*args.bare))
        return 0
    full = measure(args.records, args.repeat, args.target)
    small = measure(args.records // 10, 1, args.target)
    ratio = full["tool"] / full["floor"]
    growth = full["rss_mb"] - small["rss_mb"]
    flat = growth <= max(15.0, 0.10 * small["rss_mb"])
    print(f"{'measure':<26}{'result':<22}{'target':<24}floor")
    print(
        f"{'stats deliveries':<26}{full['tool']:.2f} s = {ratio:.2f} x{'':<7}"
        f"{'<= 1.3 x':<24}bare client {full['floor']:.2f} s ({int(full['rows']):,} rows, "
        f"{args.target})"
    )
    print(
        f"{'  CPU (informative)':<26}{full['tool_cpu']:.2f} s{'':<16}{'':<24}"
        f"bare client {full['floor_cpu']:.2f} s"
    )
    print(
        f"{'peak RSS':<26}{full['rss_mb']:.0f} MB{'':<15}{'flat (+10 % / 15 MB)':<24}"
        f"{small['rss_mb']:.0f} MB at {int(small['rows']):,} rows"
    )
    missed = [name for name, ok in (("ratio", ratio <= 1.3), ("memory", flat)) if not ok]
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
