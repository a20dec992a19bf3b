"""What the benchmark runs in a child process besides the CLI itself; prints one JSON object.

``floor GC FILE... --url URL``
    The floor for ``plan``: load every manifest with PyYAML's C loader (``GC`` is ``on`` or
    ``paused``), then fetch every SendCloud list page with bare ``requests``, sequentially, from
    one Session. Nothing is checked, kept or compared.
``parse GC FILE...``
    The parse half of the floor alone.
``fetch --url URL --concurrency N``
    The fetch half with ``N`` threads: every list page with bare ``requests``, nothing kept.
``listing FILE...``
    Time one bare first-page fetch, then reconciler's own read of the live state of the
    manifests' accounts (``live.read``), excluding start-up and manifest loading.
``rusage OUT -- COMMAND...``
    Run COMMAND and write its wall time, CPU time and peak RSS to OUT. Linux counts a process's
    peak RSS from before its ``exec``, that is from the process that started it: started from
    the benchmark, which holds a sandbox of 100,000 records, every child would seem as large.
    This small process in between makes the figure the command's own.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from typing import Any

PAGE = 100


def _credentials() -> dict[str, str]:
    from data import SC_KEY_ENV, SC_USER_ENV

    return {"apiUser": os.environ[SC_USER_ENV], "apiKey": os.environ[SC_KEY_ENV]}


def _fetch_all(url: str) -> int:
    import requests

    auth = _credentials()
    pages = 0
    with requests.Session() as session:
        start, count = 0, 1
        while start < count:
            form = {**auth, "start": str(start), "limit": str(PAGE)}
            info = session.post(f"{url}/unintercept/list", data=form).json()["info"]
            count = info["count"]
            start += len(info["dataList"]) or count
            pages += 1
    return pages


def floor(gc_mode: str, url: str, files: list[str]) -> dict[str, Any]:
    parse(gc_mode, files)
    return {"pages": _fetch_all(url)}


def parse(gc_mode: str, files: list[str]) -> dict[str, Any]:
    """The parse half of the floor alone."""
    import yaml

    if gc_mode == "paused":
        gc.disable()
    for file in files:
        with open(file, "rb") as stream:
            for _ in yaml.load_all(stream, Loader=yaml.CSafeLoader):
                pass
    return {}


def fetch(url: str, concurrency: int) -> dict[str, Any]:
    """The fetch half with the plan's concurrency: the first page (for the count), then the
    others from ``concurrency`` threads, one Session each, with bare ``requests``."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    auth = _credentials()
    local = threading.local()

    def page(start: int) -> int:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        form = {**auth, "start": str(start), "limit": str(PAGE)}
        return int(session.post(f"{url}/unintercept/list", data=form).json()["info"]["count"])

    count = page(0)
    with ThreadPoolExecutor(concurrency) as pool:
        pages = 1 + len(list(pool.map(page, range(PAGE, count, PAGE))))
    return {"pages": pages}


def listing(files: list[str]) -> dict[str, Any]:
    import requests

    from reconciler import live
    from reconciler.manifests.load import load_manifests

    state, _ = load_manifests(files)
    wants = [w for w in state.accounts.values() if w.unintercepts is not None]
    url = wants[0].account.endpoint
    with requests.Session() as session:
        started = time.perf_counter()
        form = {**_credentials(), "start": "0", "limit": str(PAGE)}
        session.post(f"{url}/unintercept/list", data=form).raise_for_status()
        first_page = time.perf_counter() - started
    with live.connect(wants) as (wants, clients):
        started = time.perf_counter()
        result = live.read(wants, clients)
        elapsed = time.perf_counter() - started
    entries = sum(len(have.unintercepts or ()) for have in result.values())
    return {"first_page": first_page, "listing": elapsed, "entries": entries}


def rusage(out: str, command: list[str]) -> int:
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    result = {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
    }
    with open(out, "w", encoding="utf-8") as stream:
        json.dump(result, stream)
    return process.returncode


def main(argv: list[str]) -> None:
    match argv:
        case ["rusage", out, "--", *command]:
            raise SystemExit(rusage(out, command))
        case ["floor", gc_mode, "--url", url, *files]:
            result = floor(gc_mode, url, files)
        case ["parse", gc_mode, *files]:
            result = parse(gc_mode, files)
        case ["fetch", "--url", url, "--concurrency", concurrency]:
            result = fetch(url, int(concurrency))
        case ["listing", *files]:
            result = listing(files)
        case _:
            raise SystemExit(f"usage: see {__file__}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
