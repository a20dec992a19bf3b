"""`reconciler` on PATH for scripts under test, each run a new process forked from a warm one.

The GitHub action's `run.sh` and the GitLab job are shell scripts that run `reconciler` several
times each; a new interpreter importing the HTTP stack, the schemas and the sandbox costs about
0.2 s of CPU a run before any work is done. Here one server process imports all of that once,
and `reconciler` on PATH is a small client that hands the server its argv, environment, working
directory and its three standard streams (as file descriptors, over a Unix socket). The server
forks; the child takes those streams as 0/1/2, runs `cli.main` as `python -m reconciler` would,
and its exit code becomes the client's. So each run is still its own process, writing to the
script's own files and pipes: only the imports are shared.

Tests that are about the process itself (signals, a terminal, the import budget of `--version`)
start a real interpreter instead (`cli_helpers.run_cli_process`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_FDS = 3  # stdin, stdout, stderr

# What the client runs: stdlib only, under `-IS` so that it starts in a few milliseconds (one
# word: a shebang passes a single argument).
_CLIENT = """\
import json, os, socket, sys
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
    server.connect({path!r})
    request = {{"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd()}}
    socket.send_fds(server, [json.dumps(request).encode()], [0, 1, 2])
    server.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := server.recv(64):
        reply += chunk
sys.exit(int(reply) if reply else 70)
"""


@contextlib.contextmanager
def running(directory: Path) -> Iterator[Path]:
    """A warm server for as long as the block runs; yields a `bin` directory for PATH whose
    `reconciler` runs through it."""
    # A socket's path is limited to about 100 bytes: its own short directory, not ``directory``.
    with tempfile.TemporaryDirectory(prefix="reconciler-") as sockets:
        yield from _serving(Path(sockets) / "server.sock", directory)


def _serving(path: Path, directory: Path) -> Iterator[Path]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.forkserver", str(path)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its children are in its process group, killed with it
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        bin_dir = directory / "bin"
        bin_dir.mkdir()
        client = bin_dir / "reconciler"
        client.write_text(f"#!{sys.executable} -IS\n" + _CLIENT.format(path=str(path)))
        client.chmod(0o755)
        yield bin_dir
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # and any child a failed test left running
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


def serve(path: str) -> None:
    """Import what `reconciler` runs, then fork a child for each client until killed."""
    from reconciler import cli, sandbox  # noqa: F401  (imported for the children)
    from reconciler.commands import apply, check, export, plan, validate  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(64)
        print("ready", flush=True)
        while True:
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                _child(conn)
            conn.close()


def _child(conn: socket.socket) -> None:
    """Become the `reconciler` process the client stands for; never returns."""
    code = 70
    try:
        first, fds, _, _ = socket.recv_fds(conn, 1 << 16, _FDS)
        data = [first]
        while chunk := conn.recv(1 << 16):
            data.append(chunk)
        request = json.loads(b"".join(data))
        for target, fd in zip(range(_FDS), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        code = _main(request["argv"])
    except BaseException:  # as an uncaught exception in a real process: a traceback, exit 1
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
            conn.sendall(str(code).encode())
        os._exit(code)


def _main(argv: list[str]) -> int:
    from reconciler.cli import main

    sys.argv = ["reconciler", *argv]
    try:
        return main(argv)
    except SystemExit as exc:  # argparse: --help, bad usage
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1


if __name__ == "__main__":
    serve(sys.argv[1])
